"""The BlazePose backbone: the 33 -> PoseTrack / COCO mapping on synthetic landmarks, the
heatmap helpers, and (when the assets are fetched) shapes, score ranges, the registry and the
joint error on the real PoseTrack18 fixture crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidpose.data.clips import to_tensor
from vidpose.data.schema import COCO_NAMES, KEYPOINT_NAMES
from vidpose.models import blazepose as bp
from vidpose.models.blazepose import (COCO_FROM_BLAZEPOSE, LANDMARK_NAMES, POSETRACK_FROM_BLAZEPOSE, _gaussian,
                                      _local_mean, to_coco, to_posetrack)

# --- mapping, no model needed ------------------------------------------------------------


def _landmarks(seed: int = 0, batch: tuple[int, ...] = ()) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lm = np.zeros((*batch, 33, 3))
    lm[..., :2] = rng.uniform(0, 256, size=(*batch, 33, 2))
    lm[..., 2] = rng.uniform(0, 1, size=(*batch, 33))
    return lm


def test_shared_joints_have_the_same_names():
    for slot, lm in POSETRACK_FROM_BLAZEPOSE.items():
        assert KEYPOINT_NAMES[slot] == LANDMARK_NAMES[lm]
    for k, lm in enumerate(COCO_FROM_BLAZEPOSE):
        assert LANDMARK_NAMES[lm] == COCO_NAMES[k]


def test_posetrack_mapping_on_synthetic_landmarks():
    lm = _landmarks()
    pt = to_posetrack(lm)
    assert pt.shape == (17, 3)
    for slot, j in POSETRACK_FROM_BLAZEPOSE.items():
        assert np.array_equal(pt[slot], lm[j])
    assert not pt[[3, 4]].any()  # ears: never annotated in PoseTrack, zero as in schema.coco_to_posetrack
    L = bp.L
    mouth = (lm[L["mouth_left"], :2] + lm[L["mouth_right"], :2]) / 2
    shoulders = (lm[L["left_shoulder"], :2] + lm[L["right_shoulder"], :2]) / 2
    eyes = (lm[L["left_eye"], :2] + lm[L["right_eye"], :2]) / 2
    assert np.allclose(pt[1, :2], mouth + 0.5 * (shoulders - mouth))
    assert np.allclose(pt[2, :2], eyes + 2.5 * (eyes - mouth))
    names = lambda *n: [L[x] for x in n]  # noqa: E731
    assert pt[1, 2] == lm[names("mouth_left", "mouth_right", "left_shoulder", "right_shoulder"), 2].min()
    assert pt[2, 2] == lm[names("mouth_left", "mouth_right", "left_eye", "right_eye"), 2].min()


def test_head_points_on_an_upright_face():
    """A frontal upright face: eyes at y=100, mouth at y=120, shoulders at y=160 -> head_bottom
    at y=140 (halfway mouth-shoulders), head_top at y=50 (2.5 eye-mouth distances above the eyes)."""
    lm = np.zeros((33, 3))
    lm[:, 2] = 1
    L = bp.L
    lm[L["left_eye"], :2], lm[L["right_eye"], :2] = (110, 100), (90, 100)
    lm[L["mouth_left"], :2], lm[L["mouth_right"], :2] = (105, 120), (95, 120)
    lm[L["left_shoulder"], :2], lm[L["right_shoulder"], :2] = (140, 160), (60, 160)
    pt = to_posetrack(lm)
    assert np.allclose(pt[1], (100, 140, 1)) and np.allclose(pt[2], (100, 50, 1))
    assert pt[2, 1] < pt[0, 1] < pt[1, 1] or pt[0, 1] == 0  # head_top above, head_bottom below


def test_mapping_is_the_same_for_numpy_torch_and_batches():
    lm = _landmarks(1, batch=(2, 3))
    pt = to_posetrack(lm)
    assert pt.shape == (2, 3, 17, 3)
    assert np.allclose(pt[1, 2], to_posetrack(lm[1, 2]))
    assert np.allclose(to_posetrack(torch.from_numpy(lm)).numpy(), pt)
    coco = to_coco(lm)
    assert coco.shape == (2, 3, 17, 3) and np.array_equal(coco[..., 1, :], lm[..., 2, :])
    with pytest.raises(ValueError, match=r"\(\.\.\., 33, 3\)"):
        to_posetrack(lm[..., :2])


def test_local_mean_and_gaussian_round_trip():
    pts = torch.tensor([[[20.3, 31.7], [2.0, 62.5], [40.0, 10.25]]])
    peaks = torch.tensor([[0.9, 0.4, 0.6]])
    maps = _gaussian(pts, peaks, 64, 64, sigma=1.5)
    found, top = _local_mean(maps)
    assert torch.allclose(top, peaks, atol=0.05)
    assert torch.allclose(found[0, 0], pts[0, 0], atol=0.05) and torch.allclose(found[0, 2], pts[0, 2], atol=0.05)
    assert torch.allclose(found[0, 1], pts[0, 1], atol=1.0)  # at the border the cut window pulls inward (as MediaPipe)


# --- the model (skips when the assets are not fetched) ---------------------------------------


def _build(variant: str = "full", **kw):
    from conftest import require_assets
    from vidpose.models.registry import build_backbone

    require_assets(f"blazepose_{variant}")
    return build_backbone({"name": "blazepose", "variant": variant, **kw}).eval()


@pytest.fixture(scope="module")
def full():
    torch.set_num_threads(1)
    return _build("full")


@pytest.mark.needs_assets("blazepose_full")
def test_interface_shapes_and_ranges(full):
    x = torch.randn(2, 3, 256, 256)
    with torch.no_grad():
        feats = full.forward_features(x)
        out = full(x)
        pred = full.predict(x)
        kp = full.keypoints(x)
    assert feats["feature"].shape == (2, 48, 64, 64) and len(feats["features"]) == 1
    assert full.feature_channels == 48 and full.heatmap_stride == 4 and full.input_size == (256, 256)
    assert not hasattr(full, "stage_channels")
    hm = out["heatmaps"]
    assert hm.shape == (2, 17, 64, 64) and hm.min() >= 0 and hm.max() <= 1
    assert not hm[:, [3, 4]].any()
    assert torch.allclose(hm, pred["heatmaps"])
    logits = full.head_logits(feats["feature"])
    assert logits.shape == (2, 39, 64, 64)
    assert torch.allclose(hm[:, 5], torch.sigmoid(logits[:, bp.L["left_shoulder"]]))
    assert pred["landmarks"].shape == (2, 33, 5) and pred["auxiliary"].shape == (2, 6, 5)
    assert pred["world_landmarks"].shape == (2, 33, 3) and pred["pose_score"].shape == (2,)
    for scores in (pred["landmarks"][..., 3:], pred["pose_score"], kp[..., 2]):
        assert scores.min() >= 0 and scores.max() <= 1
    assert kp.shape == (2, 17, 3)


@pytest.mark.needs_assets("blazepose_full")
def test_input_checks_and_unit_input(full):
    with pytest.raises(ValueError, match="256, 256"):
        full.forward_features(torch.zeros(1, 3, 256, 192))
    unit = bp.BlazePose(full.source, input_norm="unit")
    images = np.random.default_rng(0).integers(0, 256, size=(1, 256, 256, 3), dtype=np.uint8)
    with torch.no_grad():
        a = full.landmarks(to_tensor(images))
        b = unit.landmarks(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255)
    assert torch.allclose(a, b, atol=1e-3)
    with pytest.raises(ValueError, match="17 PoseTrack slots"):
        bp.build_blazepose(joints=15)
    with pytest.raises(ValueError, match="unknown BlazePose variant"):
        bp.build_blazepose(variant="huge")


@pytest.mark.needs_assets("blazepose_full")
def test_single_frame_model_from_the_registry(full):
    from vidpose.models.registry import build_model

    model = build_model({"name": "single_frame", "backbone": {"name": "blazepose"}}).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 1, 3, 256, 256))
    assert out["heatmaps"].shape == (1, 17, 64, 64)


@pytest.mark.parametrize("variant,channels", [("lite", 32), ("heavy", 48)])
@pytest.mark.needs_assets("blazepose_lite", "blazepose_heavy")
def test_other_variants(variant, channels):
    model = _build(variant)
    with torch.no_grad():
        pred = model.predict(torch.randn(1, 3, 256, 256))
    assert pred["feature"].shape == (1, channels, 64, 64) and pred["heatmaps"].shape == (1, 17, 64, 64)


@pytest.mark.needs_assets("blazepose_full")
def test_joints_on_real_crops(full, person_crops):
    """On the 14 fixture people (crowded MPII scenes) the median error over the 15 evaluated
    joints is about 14 px from the landmarks and 10 px from the heatmaps in 256-pixel crops;
    swapping left and right makes it much worse, which checks the mapping's sides."""
    from vidpose.data.heatmaps import decode_heatmaps
    from vidpose.data.schema import EVALUATED_JOINTS, flip_permutation

    crops, gt = person_crops
    with torch.no_grad():
        pred = full.predict(to_tensor(crops))
        kp = to_posetrack(pred["landmarks"][..., [0, 1, 3]]).numpy()
    coords, _ = decode_heatmaps(pred["heatmaps"].numpy().astype(np.float64))
    mask = gt[:, list(EVALUATED_JOINTS), 2] > 0

    def median_error(points):
        d = np.linalg.norm(points[:, list(EVALUATED_JOINTS)] - gt[:, list(EVALUATED_JOINTS), :2], axis=-1)
        return float(np.median(d[mask]))

    from_landmarks, from_heatmaps = median_error(kp[..., :2]), median_error(coords * 4)
    swapped = median_error(kp[:, flip_permutation(), :2])
    assert from_landmarks < 20 and from_heatmaps < 16, (from_landmarks, from_heatmaps)
    assert swapped > 1.5 * from_landmarks


@pytest.mark.needs_assets("blazepose_full")
def test_backbone_outputs_are_litert_outputs_in_vidpose_conventions(full, person_crops):
    """Through ImageNet normalisation, channels-last and the split graph, the backbone gives
    LiteRT's outputs: x, y - 0.5 (pixel centres), sigmoid visibility and presence."""
    interpreter_mod = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert==2.3.0 (dev extra)")
    crops, _ = person_crops
    crops = crops[:4]
    it = interpreter_mod.Interpreter(model_path=full.source, num_threads=1)
    it.allocate_tensors()
    with torch.no_grad():
        pred = full.predict(to_tensor(crops))
        logits = full.head_logits(pred["feature"])
    out = {d["name"]: d["index"] for d in it.get_output_details()}
    for i, crop in enumerate(crops):
        it.set_tensor(it.get_input_details()[0]["index"], crop[None].astype(np.float32) / 255)
        it.invoke()
        raw = it.get_tensor(out["Identity"])[0].reshape(39, 5)
        lm = pred["landmarks"][i].numpy()
        assert np.abs(lm[:, :2] - (raw[:33, :2] - 0.5)).max() < 0.05
        assert np.abs(lm[:, 3:] - 1 / (1 + np.exp(-raw[:33, 3:]))).max() < 1e-3
        assert abs(float(pred["pose_score"][i]) - float(it.get_tensor(out["Identity_1"])[0, 0])) < 1e-4
        heat = it.get_tensor(out["Identity_3"])[0].transpose(2, 0, 1)
        assert np.abs(logits[i].numpy() - heat).max() < 5e-3
