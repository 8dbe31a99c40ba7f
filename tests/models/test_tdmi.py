"""TDMI: temporal spans, ablation switches, the information estimators, one training step."""

import math

import pytest
import torch

from vidpose.models.mutual_info import dependence_js, kl_spatial, spatial_log_softmax, vsd_preservation
from vidpose.models.registry import build_model
from vidpose.models.tdmi import temporal_order

HRNET = {"name": "hrnet", "size": "tiny"}


def batch(b=2):
    return {"heatmaps": torch.rand(b, 17, 32, 24) * 0.1, "target_weight": torch.ones(b, 17)}


@pytest.mark.parametrize("offsets", [(-1, 1), (-2, -1, 1, 2), (-3, -2, -1, 1, 2, 3)])
def test_any_temporal_span(offsets):
    model = build_model({"name": "tdmi", "backbone": HRNET, "offsets": list(offsets)}).eval()
    with torch.no_grad():
        out = model(torch.randn(2, len(offsets) + 1, 3, 128, 96))
    assert out["heatmaps"].shape == (2, 17, 32, 24)
    assert out["motion"].shape == (2, 16, 32, 24)
    with pytest.raises(ValueError, match="built for"):
        model(torch.randn(1, len(offsets) + 2, 3, 128, 96))


def test_temporal_order_puts_the_key_frame_in_the_middle():
    assert temporal_order((-2, -1, 1, 2)) == [1, 2, 0, 3, 4]


@pytest.mark.parametrize("switches", [
    {"stages": [3]}, {"fusion": "concat"}, {"modulation": False},  # Table 5
    {"rdm": "none"}, {"mi_weight": 0.0}, {"rdm": "split"},  # Table 7
    {"spatiotemporal": True},  # TDMI-ST
])
def test_ablation_switches_build_and_run(switches):
    model = build_model({"name": "tdmi", "backbone": HRNET, **switches}).train()
    out = model(torch.randn(2, 5, 3, 128, 96), batch())
    assert out["heatmaps"].shape == (2, 17, 32, 24)
    if switches.get("rdm") == "none" or switches.get("mi_weight") == 0.0:
        assert out["aux_losses"] == {}
    else:
        assert {"mi_useful_noisy", "mi_motion_useful", "mi_cond_motion", "mi_cond_visual"} <= set(out["aux_losses"])


def test_a_backbone_without_four_stages_is_refused():
    with pytest.raises(ValueError, match="four stage features"):
        build_model({"name": "tdmi", "backbone": {"name": "vit", "size": "tiny"}})


# --- estimators ---------------------------------------------------------------------------------


def peaked(positions, shape=(1, 1, 4, 4), value=10.0):
    x = torch.zeros(shape)
    for c, p in enumerate(positions):
        x[0, c].view(-1)[p] = value
    return x


def test_dependence_is_log2_for_identical_maps_and_zero_for_disjoint_ones():
    a = torch.randn(2, 3, 5, 5)
    assert dependence_js(a, a.clone()).item() == pytest.approx(math.log(2), abs=1e-6)
    disjoint = dependence_js(peaked([0]), peaked([15]), tau=0.05)
    assert disjoint.item() == pytest.approx(0.0, abs=1e-6)
    half = dependence_js(peaked([0]), peaked([15]), tau=5.0).item()
    assert 0.0 < half < math.log(2)


def test_vsd_preservation_is_zero_for_identical_maps_and_a_true_kl_otherwise():
    a = torch.randn(2, 3, 5, 5)
    assert vsd_preservation(a, a.clone()).item() == pytest.approx(0.0, abs=1e-6)
    # against a hand-computed KL of two small distributions
    p = torch.tensor([[0.7, 0.2, 0.1]])
    q = torch.tensor([[0.2, 0.3, 0.5]])
    expected = float((p * (p / q).log()).sum())
    assert kl_spatial(p.log(), q.log()).item() == pytest.approx(expected, rel=1e-6)
    x, y = torch.randn(1, 2, 3, 3), torch.randn(1, 2, 3, 3)
    assert vsd_preservation(x, y, tau=1.0).item() > 0
    assert spatial_log_softmax(x, 1.0).exp().sum(1).allclose(torch.ones(2))


def test_gradients_flow_where_intended():
    source = torch.randn(1, 2, 4, 4, requires_grad=True)
    target = torch.randn(1, 2, 4, 4, requires_grad=True)
    vsd_preservation(source, target, tau=1.0).backward()
    assert source.grad is None and target.grad.abs().sum() > 0
    a = torch.randn(1, 2, 4, 4, requires_grad=True)
    b = torch.randn(1, 2, 4, 4, requires_grad=True)
    dependence_js(a, b, tau=1.0).backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0


def test_a_training_step_lowers_the_total_loss():
    from vidpose.engine.trainer import heatmap_loss

    torch.manual_seed(0)
    model = build_model({"name": "tdmi", "backbone": HRNET}).train()
    frames, b = torch.randn(2, 5, 3, 128, 96), batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def total():
        out = model(frames, b)
        return heatmap_loss(out["heatmaps"], b["heatmaps"], b["target_weight"]) + sum(out["aux_losses"].values())

    first = total()
    for _ in range(3):
        opt.zero_grad()
        loss = total()
        loss.backward()
        opt.step()
    assert total().item() < first.item()
