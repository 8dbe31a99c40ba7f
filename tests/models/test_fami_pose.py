"""FAMI-Pose: shapes, the alignment starting at the identity, the "without global alignment"
ablation, what the information terms train, one training step."""

import pytest
import torch

from vidpose.models.fami_pose import GlobalTransformation
from vidpose.models.registry import build_model

from conftest import assert_adam_steps_lower

HRNET = {"name": "hrnet", "size": "tiny"}


def build(**kw):
    return build_model({"name": "fami_pose", "backbone": HRNET, **kw})


def batch(b=2):
    return {"heatmaps": torch.rand(b, 17, 32, 24) * 0.1, "target_weight": torch.ones(b, 17)}


@pytest.mark.parametrize("offsets", [(-1, 1), (-2, -1, 1, 2), (-2, -1)])
def test_shapes(offsets):
    model = build(offsets=list(offsets)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, len(offsets) + 1, 3, 128, 96))
    assert out["heatmaps"].shape == (2, 17, 32, 24)
    assert out["aligned"].shape == (2, len(offsets), 16, 32, 24)
    assert out["weights"].shape == (2, len(offsets) + 1, 32, 24)
    torch.testing.assert_close(out["weights"].sum(1), torch.ones(2, 32, 24))
    assert out["aux_losses"] == {}  # evaluation: no information terms


def test_width_and_stride_2():
    model = build_model({"name": "fami_pose", "backbone": {**HRNET, "head_stride": 2}, "width": 24,
                         "offset_groups": 12}, input_size=(96, 128)).train()
    b = {"heatmaps": torch.rand(1, 17, 64, 48), "target_weight": torch.ones(1, 17)}
    out = model(torch.randn(1, 5, 3, 128, 96), b)
    assert out["heatmaps"].shape == (1, 17, 64, 48) and out["aligned"].shape[2] == 24
    assert set(out["aux_losses"]) == {"mi_support", "mi_complement", "fit_probe"}


@pytest.mark.parametrize("transform", ["affine", "translation"])
def test_the_global_transformation_starts_as_the_identity_and_moves_the_feature(transform):
    torch.manual_seed(0)
    gt = GlobalTransformation(8, transform).eval()
    key, support = torch.randn(2, 8, 16, 12), torch.randn(2, 8, 16, 12)
    torch.testing.assert_close(gt(key, support), support, atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # theta's x translation 0.5 (a quarter of the width, 3 columns): read 3 to the right
        gt.regress[-1].bias[2 if transform == "affine" else 0] = 0.5
    shifted = gt(key, support)
    torch.testing.assert_close(shifted[..., :-3], support[..., 3:], atol=1e-5, rtol=1e-5)


def test_without_global_alignment_the_forward_changes():
    """The ablation: with the same weights elsewhere and a global transformation that is not the
    identity, dropping it changes the heatmaps."""
    torch.manual_seed(0)
    full = build().eval()
    ablated = build(global_alignment=False).eval()
    assert ablated.global_align is None
    missing = ablated.load_state_dict(full.state_dict(), strict=False)
    assert not missing.missing_keys and all(k.startswith("global_align.") for k in missing.unexpected_keys)
    frames = torch.randn(1, 5, 3, 128, 96)
    with torch.no_grad():
        reference = ablated(frames)["heatmaps"]
        same = (full(frames)["heatmaps"] - reference).abs().max()
        full.global_align.regress[-1].bias[2] = 0.3
        changed = (full(frames)["heatmaps"] - reference).abs().max()
    scale = reference.abs().max()
    assert same < 1e-4 * scale and changed > 1e-2 * scale  # identity at the start, then the switch matters


def test_information_terms_move_the_alignment_and_the_fits_move_only_the_probes():
    torch.manual_seed(0)
    model = build().train()
    for probe in (model.probe_support, model.probe_fused):
        torch.nn.init.normal_(probe.conv.weight, std=0.3)
    out = model(torch.randn(2, 5, 3, 128, 96), batch())
    aux = out["aux_losses"]
    assert set(aux) == {"mi_support", "mi_complement", "fit_probe"}

    def reached(params):
        return any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)

    aux["mi_support"].backward(retain_graph=True)
    assert reached(model.local_align.parameters()) and reached(model.global_align.parameters())
    assert not reached(model.probe_support.parameters()) and not reached(model.aggregate.parameters())
    model.zero_grad(set_to_none=True)
    aux["mi_complement"].backward(retain_graph=True)
    assert reached(model.aggregate.parameters()) and not reached(model.probe_fused.parameters())
    assert not reached(model.backbone.final_layer.parameters())  # err(y | z_t), the key frame's side, is held fixed
    model.zero_grad(set_to_none=True)
    aux["fit_probe"].backward()
    assert reached(model.probe_support.parameters()) and reached(model.probe_fused.parameters())
    assert not reached(model.local_align.parameters()) and not reached(model.aggregate.parameters())


@pytest.mark.parametrize("switches, terms", [({"mi_weight": 0.0}, set()), ({"mi_terms": ["mi_support"]},
                                                                          {"mi_support", "fit_probe"})])
def test_mi_switches(switches, terms):
    out = build(**switches).train()(torch.randn(1, 5, 3, 128, 96), batch(1))
    assert set(out["aux_losses"]) == terms
    with pytest.raises(ValueError, match="mi_terms"):
        build(mi_terms=["mi_everything"])


def test_training_steps_on_a_frozen_backbone_lower_the_loss():
    """The heatmap loss plus the information terms goes down; the probes' own fit is left out of
    the sum, as in the TDMI test (a sharper probe makes its terms larger)."""
    from vidpose.engine.trainer import heatmap_loss, set_frozen

    torch.manual_seed(0)
    model = build().train()
    model.backbone.requires_grad_(False)
    set_frozen(model, True)
    frames, b = torch.randn(2, 5, 3, 128, 96), batch()

    def losses():
        out = model(frames, b)
        aux = out["aux_losses"]
        objective = heatmap_loss(out["heatmaps"], b["heatmaps"], b["target_weight"])
        return objective + sum(v for k, v in aux.items() if not k.startswith("fit_")), objective + sum(aux.values())

    assert_adam_steps_lower(lambda: losses()[0], model.parameters(), steps=5, lr=1e-3, trained=lambda: losses()[1])
