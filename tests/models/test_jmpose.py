"""JM-Pose: temporal spans, gates, the IO estimators, the ablation switches, one training step."""

import pytest
import torch

from vidpose.models.jmpose import GaussianCLUB, InformationOrthogonality, channel_attention
from vidpose.models.registry import build_model

HRNET = {"name": "hrnet", "size": "tiny"}


def build(**kw):
    return build_model({"name": "jmpose", "backbone": HRNET, **kw})


def batch(b=2):
    return {"heatmaps": torch.rand(b, 17, 32, 24) * 0.1, "target_weight": torch.ones(b, 17)}


@pytest.mark.parametrize("offsets", [(-1, 1), (-2, -1, 1, 2), (-3, -2, -1, 1, 2, 3)])
def test_shapes_for_each_temporal_span(offsets):
    model = build(offsets=list(offsets)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, len(offsets) + 1, 3, 128, 96))
    assert out["heatmaps"].shape == (2, 17, 32, 24)
    assert len(out["gates"]) == 3


def test_unbalanced_offsets_are_refused():
    with pytest.raises(ValueError, match="past as future"):
        build(offsets=[-1, 1, 2])


def test_gate_values_lie_in_the_unit_interval():
    torch.manual_seed(0)
    model = build().eval()
    with torch.no_grad():
        gates = model(torch.randn(2, 5, 3, 128, 96) * 3)["gates"]
    for g in gates:
        assert g.min() >= 0 and g.max() <= 1
        assert g.shape == (2, 32, 32, 24)  # both halves: motion and joint, 16 channels each


def test_channel_attention_rows_are_distributions_over_channels():
    q, k = torch.randn(1, 8, 4, 4), torch.randn(1, 8, 4, 4)
    v = torch.ones(1, 8, 4, 4)
    out = channel_attention(q, k, v, heads=2, temperature=torch.ones(2))
    assert torch.allclose(out, torch.ones_like(out), atol=1e-6)  # convex combinations of all-ones maps


def test_club_separates_dependent_from_independent_pairs():
    torch.manual_seed(0)
    club = GaussianCLUB(4, hidden=32)
    opt = torch.optim.Adam(club.parameters(), lr=1e-2)
    x = torch.randn(256, 4)
    y_dep = x + 0.1 * torch.randn(256, 4)
    for _ in range(300):
        opt.zero_grad()
        club.fit_loss(x, y_dep).backward()
        opt.step()
    dependent = club.estimate(x, y_dep).item()
    independent = club.estimate(x, torch.randn(256, 4)).item()
    assert dependent > 1.0 and dependent > 10 * abs(independent)


def test_club_estimate_moves_features_not_the_estimator():
    club = GaussianCLUB(4)
    x = torch.randn(16, 4, requires_grad=True)
    y = torch.randn(16, 4, requires_grad=True)
    club.estimate(x, y).backward()
    assert x.grad is not None and y.grad is not None
    assert all(p.grad is None for p in club.parameters())
    club.fit_loss(x, y).backward()
    assert all(p.grad is not None for p in club.parameters())


def test_conditional_term_is_zero_when_motion_adds_nothing():
    io = InformationOrthogonality(4, 3)
    with torch.no_grad():  # g_MJ ignores M and copies g_J: M adds nothing given J
        io.predict_mj.weight.zero_()
        io.predict_mj.weight[:, 4:] = io.predict_j.weight
        io.predict_mj.bias.copy_(io.predict_j.bias)
    m, j, h = torch.randn(3, 4, 5, 5), torch.randn(3, 4, 5, 5), torch.rand(3, 3, 5, 5)
    assert io(m, j, h)["io_conditional"].item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("switches", [
    {"joint_learner": False}, {"mutual_learning": False}, {"io_weight": 0.0}, {"blocks": 1}, {"blocks": 2},
    {"motion": "flow"},
])
def test_ablation_switches_build_and_run(switches):
    model = build(**switches).train()
    out = model(torch.randn(2, 5, 3, 128, 96), batch())
    assert out["heatmaps"].shape == (2, 17, 32, 24)
    has_io = switches.get("io_weight", 1.0) > 0 and switches.get("joint_learner", True) \
        and switches.get("mutual_learning", True)
    assert bool(out["aux_losses"]) == has_io
    if has_io:
        assert set(out["aux_losses"]) == {"io_joint_motion", "io_motion_context", "io_conditional", "io_fit"}


def test_a_training_step_lowers_the_loss():
    from vidpose.models.layers import heatmap_loss

    torch.manual_seed(0)
    model = build().train()
    frames, b = torch.randn(4, 5, 3, 128, 96), batch(4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def total():
        out = model(frames, b)
        return heatmap_loss(out["heatmaps"], b["heatmaps"], b["target_weight"]) + sum(out["aux_losses"].values())

    first = total().item()
    for _ in range(3):
        opt.zero_grad()
        total().backward()
        opt.step()
    assert total().item() < first
