"""JM-Pose: temporal spans, gates, the IO estimators, the ablation switches, one training step."""

import pytest
import torch

from vidpose.models.jmpose import InformationOrthogonality, channel_attention
from vidpose.models.registry import build_model

from conftest import assert_adam_steps_lower

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


def test_io_terms_move_the_features_and_the_fits_move_only_the_probes():
    io = InformationOrthogonality(4, 3)
    m = torch.randn(2, 4, 5, 5, requires_grad=True)
    j = torch.randn(2, 4, 5, 5, requires_grad=True)
    h = torch.rand(2, 3, 5, 5)
    terms = io(m, j, h)
    (terms["io_joint_motion"] + terms["io_motion_context"]).backward(retain_graph=True)
    assert m.grad.abs().sum() > 0 and j.grad.abs().sum() > 0
    assert all(p.grad is None for p in io.parameters())
    m.grad = j.grad = None
    terms["fit_io"].backward()
    assert m.grad is None and j.grad is None
    assert all(p.grad is not None for p in io.parameters())


def test_the_conditional_term_moves_only_the_joint_stream():
    io = InformationOrthogonality(4, 3)
    with torch.no_grad():  # a probe on (M, J) that predicts better than the probe on J alone
        io.probe_mj.conv.weight.normal_()
    m = torch.randn(2, 4, 5, 5, requires_grad=True)
    j = torch.randn(2, 4, 5, 5, requires_grad=True)
    h = torch.rand(2, 3, 5, 5) * 5
    value = io(m, j, h)["io_conditional"]
    if value.item() > 0:
        value.backward()
        assert m.grad is None or m.grad.abs().sum() == 0
        assert j.grad.abs().sum() > 0


def test_conditional_term_is_zero_when_motion_adds_nothing():
    io = InformationOrthogonality(4, 3)
    with torch.no_grad():  # the (M, J) probe ignores M and copies the J probe: M adds nothing given J
        io.probe_mj.conv.weight.zero_()
        io.probe_mj.conv.weight[:, 4:] = io.probe_j.conv.weight
        io.probe_mj.conv.bias.copy_(io.probe_j.conv.bias)
    m, j, h = torch.randn(3, 4, 5, 5), torch.randn(3, 4, 5, 5), torch.rand(3, 3, 5, 5)
    assert io(m, j, h)["io_conditional"].item() == pytest.approx(0.0, abs=1e-7)


def test_a_batch_of_one_trains():
    torch.manual_seed(0)
    model = build().train()
    out = model(torch.randn(1, 5, 3, 128, 96), batch(1))
    loss = sum(out["aux_losses"].values()) + out["heatmaps"].pow(2).mean()
    assert torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_the_head_sees_the_key_frames_appearance_even_with_flow_motion():
    clip = torch.randn(1, 1, 3, 128, 96).expand(1, 5, 3, 128, 96).contiguous()  # a still clip: zero flow
    changed = clip.clone()
    changed[:, :, :, 40:80, 30:60] += 1.0  # the same change in every frame: still zero flow

    def change(appearance):
        torch.manual_seed(0)
        model = build(motion="flow", appearance=appearance).eval()
        with torch.no_grad():
            a = model.forward_features(model_features(model, clip), clip)["heatmaps"]
            b = model.forward_features(model_features(model, changed), changed)["heatmaps"]
        return (a - b).abs().max().item()

    assert change(False) == 0.0 and change(True) > 0.0


def model_features(model, clip):
    from vidpose.models.layers import clip_features

    return clip_features(model, clip)


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
        assert set(out["aux_losses"]) == {"io_joint_motion", "io_motion_context", "io_conditional", "fit_io"}


def test_a_training_step_lowers_the_loss():
    from vidpose.models.layers import heatmap_loss

    torch.manual_seed(0)
    model = build().train()
    frames, b = torch.randn(4, 5, 3, 128, 96), batch(4)

    def total():
        out = model(frames, b)
        return heatmap_loss(out["heatmaps"], b["heatmaps"], b["target_weight"]) + sum(out["aux_losses"].values())

    assert_adam_steps_lower(total, model.parameters(), steps=3, lr=1e-3)


@pytest.mark.parametrize("route, reaches", [
    ("all", {"motion": True, "cjl": True, "attention": True, "gate": True}),
    ("detached", {"motion": True, "cjl": True, "attention": True, "gate": True}),
    ("gates", {"motion": False, "cjl": False, "attention": False, "gate": True}),
])
def test_io_route_decides_what_the_io_terms_train(route, reaches):
    """all: everything before the IO terms (the lineage); detached: the same parts, but only
    through the gates' input (smaller); gates: the blocks' gate convolutions alone."""
    torch.manual_seed(0)
    model = build(io_route=route).train()
    for io in model.io:  # probes that read something
        for probe in (io.probe_m, io.probe_j, io.probe_mj):
            torch.nn.init.normal_(probe.conv.weight, std=0.3)
    out = model(torch.randn(2, 5, 3, 128, 96), batch())
    model.zero_grad(set_to_none=True)
    sum(v for k, v in out["aux_losses"].items() if not k.startswith("fit_")).backward()

    def reached(params):
        return any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    attention = [p for b in model.blocks for n, p in b.named_parameters() if not n.startswith("gate")]
    gate = [p for b in model.blocks for p in b.gate.parameters()]
    got = {"motion": reached(model.motion.parameters()), "cjl": reached(model.cjl.parameters()),
           "attention": reached(attention), "gate": reached(gate)}
    assert got == reaches
    with pytest.raises(ValueError, match="io_route"):
        build(io_route="nowhere")
