"""TDMI: temporal spans, ablation switches, the information estimators, one training step."""

import math

import numpy as np
import pytest
import torch

from vidpose.models.mutual_info import (Probe, cell_fraction, dependence, kl_positions, map_errors, preservation,
                                       spatial_log_softmax, standardise_maps)
from vidpose.models.registry import build_model
from vidpose.models.tdmi import temporal_order

from conftest import assert_adam_steps_lower

HRNET = {"name": "hrnet", "size": "tiny"}


def batch(b=2, seed=0):
    """Gaussian targets (sigma 1.5) at random joint positions, as the clips carry."""
    from vidpose.data.heatmaps import encode_gaussian

    rng = np.random.default_rng(seed)
    maps = [encode_gaussian(rng.uniform(2, 20, (17, 2)), np.ones(17, bool), (24, 32), 1.5)[0] for _ in range(b)]
    return {"heatmaps": torch.from_numpy(np.stack(maps)), "target_weight": torch.ones(b, 17)}


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
        assert set(out["aux_losses"]) == {"mi_useful_noisy", "mi_motion_useful", "mi_cond_motion", "mi_cond_visual",
                                          "fit_probe"}


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
    assert dependence(a, a.clone()).item() == pytest.approx(math.log(2), abs=1e-6)
    disjoint = dependence(peaked([0]), peaked([15]), tau=0.05)
    assert disjoint.item() == pytest.approx(0.0, abs=1e-6)
    half = dependence(peaked([0]), peaked([15]), tau=5.0).item()
    assert 0.0 < half < math.log(2)


def test_preservation_is_zero_for_identical_maps_and_a_true_kl_otherwise():
    a = torch.randn(2, 3, 5, 5)
    assert preservation(a, a.clone()).item() == pytest.approx(0.0, abs=1e-6)
    # against a hand-computed KL of two small distributions
    p = torch.tensor([[0.7, 0.2, 0.1]])
    q = torch.tensor([[0.2, 0.3, 0.5]])
    expected = float((p * (p / q).log()).sum())
    assert kl_positions(p.log(), q.log()).item() == pytest.approx(expected, rel=1e-6)
    x, y = torch.randn(1, 2, 3, 3), torch.randn(1, 2, 3, 3)
    assert preservation(x, y, tau=1.0).item() > 0
    assert spatial_log_softmax(x, 1.0).exp().sum(1).allclose(torch.ones(2))


def test_gradients_flow_where_intended():
    source = torch.randn(1, 2, 4, 4, requires_grad=True)
    target = torch.randn(1, 2, 4, 4, requires_grad=True)
    preservation(source, target, tau=1.0).backward()
    assert source.grad is None and target.grad.abs().sum() > 0
    a = torch.randn(1, 2, 4, 4, requires_grad=True)
    b = torch.randn(1, 2, 4, 4, requires_grad=True)
    dependence(a, b, tau=1.0).backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0


def test_cell_fraction_is_the_share_of_the_map_a_gaussian_covers():
    from vidpose.data.heatmaps import encode_gaussian

    for (w, h), sigma in [((24, 32), 1.5), ((72, 96), 3.0)]:
        maps, _ = encode_gaussian(np.array([[w / 2, h / 2]] * 17), np.ones(17, bool), (w, h), sigma)
        share = cell_fraction(torch.from_numpy(maps)[None]).item()
        assert share == pytest.approx(2 * math.pi * sigma ** 2 / (w * h), rel=0.05)


def test_standardised_maps_ignore_magnitude():
    x = torch.rand(2, 3, 6, 5)
    assert torch.allclose(standardise_maps(x), standardise_maps(7.0 * x + 2.0), atol=1e-3)


def test_a_probe_fits_without_moving_its_input_and_reads_without_moving_itself():
    probe = Probe(4, 2)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    target = torch.rand(2, 2, 5, 5)
    probe.fit_loss(x, target).backward()
    assert x.grad is None and probe.conv.weight.grad is not None
    probe.zero_grad()
    map_errors(probe(x), target).mean().backward()
    assert x.grad.abs().sum() > 0 and probe.conv.weight.grad is None


def test_conditional_terms_are_zero_where_the_fused_feature_predicts_better():
    torch.manual_seed(0)
    model = build_model({"name": "tdmi", "backbone": HRNET}).train()
    b = batch()
    frames = torch.randn(2, 5, 3, 128, 96)
    with torch.no_grad():  # a head that outputs the targets exactly: nothing left to learn from X
        out = model(frames, b)
    parts = {"motion": out["motion"], "useful": out["useful"], "noisy": out["useful"] * 0.5,
             "key_visual": torch.randn(2, 16, 32, 24)}
    terms = model.information_terms(parts, b["heatmaps"].clone(), b)
    assert terms["mi_cond_motion"].item() == 0.0 and terms["mi_cond_visual"].item() == 0.0


@pytest.mark.parametrize("read", ["standardised", "raw"])
def test_the_divergence_terms_ignore_a_rescaled_motion_feature_only_when_read_standardised(read):
    """Mutual information does not change when M is scaled, M_u and M_n with it; the standardised
    reading of Eq. 8-9 does not either, while the raw one at tau 0.05 rewards a larger M."""
    torch.manual_seed(0)
    tau = 1.0 if read == "standardised" else 0.05
    # mi_route all: the terms read the parts given here (gates would recompute M_u, M_n from M)
    model = build_model({"name": "tdmi", "backbone": HRNET, "mi_read": read, "mi_tau": tau, "mi_route": "all"}).train()
    torch.nn.init.normal_(model.probe.conv.weight, std=0.3)  # a probe that reads something
    b = batch()
    m = torch.randn(2, model.probe.conv.in_channels, 32, 24)
    gate_u, gate_n = torch.rand(1, m.shape[1], 1, 1), torch.rand(1, m.shape[1], 1, 1)

    def terms(k: float) -> dict:
        parts = {"motion": k * m, "useful": k * m * gate_u, "noisy": k * m * gate_n,
                 "key_visual": torch.randn(2, 16, 32, 24)}
        return model.information_terms(parts, b["heatmaps"].clone(), b)

    small, large = terms(1.0), terms(8.0)
    for name in ("mi_useful_noisy", "mi_motion_useful"):
        if read == "standardised":
            assert large[name].item() == pytest.approx(small[name].item(), rel=1e-3, abs=1e-9), name
    if read == "raw":
        assert large["mi_useful_noisy"].item() < 0.95 * small["mi_useful_noisy"].item()  # a larger M pays less


def test_mi_terms_selects_which_information_terms_train_the_network():
    torch.manual_seed(0)
    model = build_model({"name": "tdmi", "backbone": HRNET, "mi_terms": ["mi_cond_motion", "mi_cond_visual"]}).train()
    out = model(torch.randn(2, 5, 3, 128, 96), batch())
    assert set(out["aux_losses"]) == {"mi_cond_motion", "mi_cond_visual", "fit_probe"}
    with pytest.raises(ValueError, match="mi_terms"):
        build_model({"name": "tdmi", "backbone": HRNET, "mi_terms": ["mi_everything"]})


def test_an_unknown_mi_reading_is_refused():
    with pytest.raises(ValueError, match="mi_read"):
        build_model({"name": "tdmi", "backbone": HRNET, "mi_read": "softmax"})


def test_training_steps_on_a_frozen_backbone_lower_the_loss():
    """As TDMI trains (frozen backbone): the heatmap loss plus the MI objective goes down. The
    probe's own fit is left out of the sum: as the probe sharpens, the terms read through it
    grow, which is the estimator improving, not the model getting worse."""
    from vidpose.engine.trainer import heatmap_loss, set_frozen

    torch.manual_seed(0)
    model = build_model({"name": "tdmi", "backbone": HRNET}).train()
    model.backbone.requires_grad_(False)
    set_frozen(model, True)
    frames, b = torch.randn(2, 5, 3, 128, 96), batch()

    def losses():
        out = model(frames, b)
        aux = out["aux_losses"]
        objective = heatmap_loss(out["heatmaps"], b["heatmaps"], b["target_weight"])
        return objective + sum(v for k, v in aux.items() if not k.startswith("fit_")), sum(aux.values()) + objective

    assert_adam_steps_lower(lambda: losses()[0], model.parameters(), steps=10, lr=2e-4, trained=lambda: losses()[1])


@pytest.mark.parametrize("name", ["tdmi", "jmpose", "glpose"])
@pytest.mark.parametrize("head_stride", [None, 2])
def test_start_from_backbone_begins_as_the_single_frame_model_and_then_moves(name, head_stride):
    """model.start_from_backbone (layers.StartFromBackbone): at step 0 the heatmaps are the
    backbone head's on the key frame (also through a stride-2 head's upsampling); the residual
    path then trains."""
    torch.manual_seed(0)
    model = build_model({"name": name, "backbone": {**HRNET, "head_stride": head_stride},
                         "start_from_backbone": True})
    conv, final = model.head.head.conv.weight, model.backbone.final_layer.weight
    assert torch.equal(conv[:, :, 1, 1], final[:, :, 0, 0]) and conv.abs().sum() == final.abs().sum()  # centre tap only
    with torch.no_grad():  # a trained-looking final layer, so that the check is not about near-zeros
        model.backbone.final_layer.weight.normal_(std=0.1)
        model.head.head.conv.weight[:, :, 1, 1] = model.backbone.final_layer.weight[:, :, 0, 0]
    model.eval()
    frames = torch.randn(2, 5, 3, 128, 96)
    with torch.no_grad():
        out = model(frames)["heatmaps"]
        single = model.backbone(frames[:, 0])["heatmaps"]
    torch.testing.assert_close(out, single, atol=1e-5, rtol=1e-4)
    assert model.head.to_feature.weight.abs().max() == 0
    model.train()
    b = batch(2) if head_stride is None else {"heatmaps": torch.rand(2, 17, 64, 48), "target_weight": torch.ones(2, 17)}
    out = model(frames, b)["heatmaps"]
    ((out - b["heatmaps"]) ** 2).mean().backward()
    assert model.head.to_feature.weight.grad.abs().max() > 0  # the temporal path is reached at once


def _term_gradients(spec: dict, term: str) -> dict[str, bool]:
    """Whether ``term`` of a fresh TDMI (probe made readable) sends gradient to the encoder, the RDM
    gates and the probe."""
    torch.manual_seed(0)
    model = build_model({"name": "tdmi", "backbone": HRNET, **spec}).train()
    torch.nn.init.normal_(model.probe.conv.weight, std=0.3)
    out = model(torch.randn(2, 5, 3, 128, 96), batch())
    model.zero_grad(set_to_none=True)
    out["aux_losses"][term].backward()

    def reached(module):
        return any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    return {"encoder": reached(model.encoder), "gates": reached(model.disentangle), "probe": reached(model.probe)}


@pytest.mark.parametrize("term", ["mi_useful_noisy", "mi_motion_useful"])
def test_mi_route_decides_what_eq_8_and_9_train(term):
    """all: the encoder and the gates (the lineage); detached: the gates, and the encoder only
    through the gates' pooled input; gates: the RDM alone. Never the probe (an estimator)."""
    assert _term_gradients({"mi_route": "all"}, term) == {"encoder": True, "gates": True, "probe": False}
    assert _term_gradients({"mi_route": "gates"}, term) == {"encoder": False, "gates": True, "probe": False}
    torch.manual_seed(0)
    full = build_model({"name": "tdmi", "backbone": HRNET, "mi_route": "all"}).train()
    torch.manual_seed(0)
    cut = build_model({"name": "tdmi", "backbone": HRNET, "mi_route": "detached"}).train()
    for model in (full, cut):
        torch.nn.init.normal_(model.probe.conv.weight, generator=torch.Generator().manual_seed(1), std=0.3)
    frames, b = torch.randn(2, 5, 3, 128, 96), batch()
    norms = []
    for model in (full, cut):
        model(frames, b)["aux_losses"][term].backward()
        norms.append(sum(float(p.grad.norm()) ** 2 for p in model.encoder.parameters() if p.grad is not None) ** 0.5)
    assert 0 < norms[1] < norms[0]


def test_eq9_readings_and_scale():
    """motion_probe gives Eq. 9 a teacher of its own, fitted on M; lineage flips Eq. 9's sign;
    positions scales Eq. 8-9 by 1 / (H W) instead of the targets' cell fraction."""
    from vidpose.models.mutual_info import cell_fraction

    frames, b = torch.randn(2, 5, 3, 128, 96), batch()

    def terms(**spec):
        torch.manual_seed(0)
        model = build_model({"name": "tdmi", "backbone": HRNET, **spec}).train()
        torch.nn.init.normal_(model.probe.conv.weight, generator=torch.Generator().manual_seed(1), std=0.3)
        return model, model(frames, b)["aux_losses"]

    model, own = terms(mi_eq9="motion_probe")
    assert model.probe_motion is not None
    _, shared = terms()
    _, lineage = terms(mi_eq9="lineage")
    _, positions = terms(mi_scale="positions")
    assert lineage["mi_motion_useful"].item() == pytest.approx(-shared["mi_motion_useful"].item())
    assert own["mi_motion_useful"].item() != pytest.approx(shared["mi_motion_useful"].item())
    hw = b["heatmaps"].shape[-1] * b["heatmaps"].shape[-2]
    ratio = (1 / hw) / float(cell_fraction(b["heatmaps"]))
    assert positions["mi_useful_noisy"].item() == pytest.approx(shared["mi_useful_noisy"].item() * ratio, rel=1e-4)
    for key, bad in (("mi_route", "some"), ("mi_eq9", "teacher"), ("mi_scale", "pixels")):
        with pytest.raises(ValueError, match=key):
            build_model({"name": "tdmi", "backbone": HRNET, key: bad})
