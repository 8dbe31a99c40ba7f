"""Each auxiliary loss pulls on the method's own parameters with a strength comparable to the
heatmap loss's, on a trained backbone, at the CPU configs' 32x24 heatmaps and the papers' 96x72
(benchmarks/aux_balance.py writes the full table to benchmarks/results/aux_balance.json)."""

from pathlib import Path

import pytest
import torch

from vidpose.engine.balance import aux_gradient_ratios, estimator_parameters, fit_estimators, own_parameters

ROOT = Path(__file__).resolve().parents[2]
BACKBONE = ROOT / "weights" / "single_frame.pt"

# a term may pull at most this many times harder than the heatmap loss, and at least this fraction
HIGHEST, LOWEST = 10.0, 0.01
# TDMI's Eq. 8 compares M_u and M_n, two channel rescalings of one M; its gradient vanishes where
# they coincide, which is where two gates with the same initial bias start (docs/methods.md)
INERT_AT_START = {"mi_useful_noisy"}
# hinge terms, [err(y | F~) - err(y | X)]_+: exactly 0 (and so without gradient) where X predicts no
# better than the fused feature, which is the estimate, not a defect
HINGES = {"mi_cond_motion", "mi_cond_visual", "io_conditional"}


@pytest.fixture(scope="module")
def balance_inputs(synth_tiny):
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from aux_balance import SIZES, clip_batch

    if not BACKBONE.exists():
        pytest.skip("weights/single_frame.pt is absent")
    return {size: clip_batch(synth_tiny, size, count=2) for size in SIZES}


@pytest.mark.parametrize("method", ["tdmi", "jmpose"])
@pytest.mark.parametrize("size", ["32x24", "96x72"])
def test_auxiliary_gradients_stay_within_a_factor_of_the_heatmap_loss(balance_inputs, method, size):
    from aux_balance import METHODS, method_on_backbone
    from vidpose.engine.trainer import load_checkpoint

    state = load_checkpoint(BACKBONE)
    torch.manual_seed(0)
    model = method_on_backbone(METHODS[method], state["config"]["model"]["backbone"], state["model"])
    batch = balance_inputs[size]
    fit_estimators(model, batch["images"], batch, steps=40)
    rows = aux_gradient_ratios(model, batch["images"], batch)
    terms = {k: v for k, v in rows.items() if k != "heatmap" and not k.startswith("fit_")}
    assert terms, "no auxiliary term was computed"
    for name, row in terms.items():
        if name in HINGES and row["value"] == 0.0:
            continue
        assert row["ratio"] is not None and row["ratio"] <= HIGHEST, f"{name}: {row}"
        if name not in INERT_AT_START:
            assert row["ratio"] >= LOWEST, f"{name}: {row}"
    for name, row in rows.items():  # an estimator's own fit never reaches the method's parameters
        if name.startswith("fit_"):
            assert row["ratio"] is None, f"{name}: {row}"


def test_sdtc_reconstruction_terms_stay_within_a_factor_on_the_trained_vit(synth_tiny):
    """SDTC's Eq. 15 at the bench's lambda = 0.01, on the bench's frozen ViT (stride-2 heatmaps)."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from aux_balance import METHODS, clip_batch, method_on_backbone
    from vidpose.engine.trainer import load_checkpoint

    vit = ROOT / "weights" / "backbones" / "single_frame_vit.pt"
    if not vit.exists():
        pytest.skip("weights/backbones/single_frame_vit.pt is absent")
    state = load_checkpoint(vit)
    torch.manual_seed(0)
    model = method_on_backbone(METHODS["sdtc"], state["config"]["model"]["backbone"], state["model"])
    batch = clip_batch(synth_tiny, "32x24", count=2, stride=int(model.heatmap_stride))
    assert batch["heatmaps"].shape[-2:] == (64, 48)
    rows = aux_gradient_ratios(model, batch["images"], batch)
    for name in ("rec_context", "rec_pose"):
        assert rows[name]["ratio"] is not None and LOWEST <= rows[name]["ratio"] <= HIGHEST, f"{name}: {rows[name]}"


def test_estimators_are_not_the_methods_parameters():
    from vidpose.models.registry import build_model

    model = build_model({"name": "jmpose", "backbone": {"name": "hrnet", "size": "tiny"}})
    estimators = {id(p) for p in estimator_parameters(model)}
    assert estimators and not estimators & {id(p) for p in own_parameters(model)}
    assert not estimators & {id(p) for p in model.backbone.parameters()}
