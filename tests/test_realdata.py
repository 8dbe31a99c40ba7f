"""RealData (vidpose/realdata/), the keypoint smoothing baselines (vidpose/engine/smoothing.py)
and the temporal heads on the real BlazePose backbone (configs/real/*_blazepose.yaml).

- the pseudo-label writer: valid PoseTrack18 files that vidpose's reader and evaluator accept,
  marked as pseudo labels, with every joint under ``KEEP_THRESHOLD`` written as (0, 0, 0);
- test_hard: key frames degraded, every other frame a byte copy of test_hard_clean (itself a byte
  copy of test), the same seed giving the same bytes; the training-time key-frame degradation
  leaves the neighbours untouched;
- smoothing: a constant track stays constant, the median removes a one-frame outlier, the One
  Euro filter's lag on a ramp is bounded;
- each temporal head (naive, TDMI, TDMI-ST, JM-Pose, GLPose, SDTC with the token adapter) builds from its
  config on the real backbone, gives (B, 17, 64, 64) heatmaps and one step lowers its loss; the
  trainer runs from cached features on a tiny RealData.

Tests that need the fetched assets are marked ``needs_assets`` (they skip with the reason without
them, and fail under CI, which fetches them). The tiny RealData is 5 frames of each Sports2D segment (built once).
"""

from __future__ import annotations

import copy
import filecmp
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import require_assets

from vidpose.data.annotations import Frame, Person, Video, load_posetrack
from vidpose.data.clips import KeyFrameDegradation
from vidpose.data.degrade import DEGRADE_WEIGHTS, REF_PERSON_HEIGHT, SCALED_KINDS, degrade_real_frame, ragged_patch
from vidpose.evaluation.pckh import head_size
from vidpose.data.schema import EVALUATED_JOINTS
from vidpose import realdata as rd

ROOT = Path(__file__).resolve().parents[1]
BUILD_ASSETS = ("blazepose_full", "blazepose_heavy", "movenet_multipose", "movenet_multipose_weights",
                "sports2d_demo")
HEADS = ("naive_temporal", "tdmi", "tdmi_st", "jmpose", "glpose", "sdtc", "posewarper", "dcpose", "fami_pose")


@pytest.fixture(scope="module")
def tools():
    require_assets(*BUILD_ASSETS)
    return rd.Teacher(), rd.Segmenter()


@pytest.fixture(scope="module")
def realdata(tmp_path_factory, tools):
    """5 frames of each Sports2D segment: train, test, test_hard, test_hard_clean."""
    root = tmp_path_factory.mktemp("realdata") / "rd"
    teacher, segmenter = tools
    rd.build(root, segments=["sports2d_train", "sports2d_test"], max_frames=5, progress=False, teacher=teacher,
             segmenter=segmenter)
    return root


# --- pseudo labels --------------------------------------------------------------------------------


def test_pseudo_person_keeps_only_confident_joints():
    rng = np.random.default_rng(0)
    xy = rng.uniform(100, 300, (17, 2))
    peaks = np.full(17, 0.9)
    peaks[[0, 7, 9, 16]] = [0.49, 0.2, 0.5, 0.0]  # 0.5 itself is kept
    box = np.array([90.0, 90.0, 220.0, 220.0])
    person = rd.pseudo_person(xy, peaks, box, track_id=3)
    kp = person.keypoints
    for j in (0, 7, 16):
        assert kp[j].tolist() == [0.0, 0.0, 0.0]
    assert kp[9, 2] == 1 and np.allclose(kp[9, :2], np.round(xy[9], 2))
    assert kp[3].tolist() == kp[4].tolist() == [0.0, 0.0, 0.0]  # PoseTrack never annotates the ears
    assert person.track_id == 3 and person.bbox_head is not None and person.bbox_head[2] > 0
    assert np.allclose(person.scores[list(EVALUATED_JOINTS)], np.round(peaks[list(EVALUATED_JOINTS)], 4))
    few = np.zeros(17)
    few[[5, 6, 11]] = 0.9
    assert rd.pseudo_person(xy, few, box, 1) is None  # under MIN_JOINTS kept joints
    assert rd.pseudo_person(xy, peaks, np.array([0, 0, 20.0, 30.0]), 1) is None  # under MIN_HEIGHT


@pytest.mark.needs_assets(*BUILD_ASSETS)
def test_label_files_are_posetrack18_that_reader_and_evaluator_accept(realdata):
    from vidpose.data.detections import load_detections
    from vidpose.engine.data import ensure_dataset
    from vidpose.evaluation import evaluate_posetrack

    stats = json.loads((realdata / "stats.json").read_text())
    assert stats["kind"] == "realdata" and stats["pseudo_labels"] is True and stats["teacher"] == rd.TEACHER_NAME
    assert set(stats["splits"]) == set(rd.ALL_SPLITS)
    assert ensure_dataset({"root": str(realdata)}) == realdata  # vidpose's data loading accepts it
    for split in rd.ALL_SPLITS:
        folder = realdata / "annotations" / split
        videos, summary = load_posetrack(folder)
        assert len(videos) == 1 and len(videos[0].frames) == 5
        people = [p for f in videos[0].frames for p in f.people]
        assert people, split
        for person in people:
            kept = person.keypoints[:, 2] > 0
            assert kept.sum() >= rd.MIN_JOINTS
            assert (person.scores[kept] >= rd.KEEP_THRESHOLD).all()  # the file's scores are the teacher's peaks
            dropped = ~kept
            assert (person.keypoints[dropped] == 0).all()  # (0, 0, 0), as PoseTrack18 writes unannotated joints
        doc = json.loads(next(folder.glob("*.json")).read_text())
        assert doc["info"]["pseudo_labels"] is True and doc["info"]["keep_threshold"] == rd.KEEP_THRESHOLD
        assert all(im["pseudo_labels"] == rd.TEACHER_NAME and im["source"]["asset"] == "sports2d_demo"
                   for im in doc["images"])
        result = evaluate_posetrack(folder, folder, workers=1)
        assert result["Total"] == pytest.approx(100.0)
        dets = load_detections(realdata / "detections" / f"{split}.json")
        assert dets.total == stats["splits"][split]["detections"] > 0  # the tracker's boxes, with track ids


# --- degradations ---------------------------------------------------------------------------------


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


@pytest.mark.needs_assets(*BUILD_ASSETS)
def test_test_hard_degrades_key_frames_and_copies_the_rest(realdata, tools, tmp_path):
    name = rd.video_name(rd.HARD, 0)
    hard, clean = realdata / "images" / rd.HARD / name, realdata / "images" / rd.HARD_CLEAN / name
    test = realdata / "images" / "test" / rd.video_name("test", 0)
    videos, _ = load_posetrack(realdata / "annotations" / rd.HARD)
    records = 0
    for f, frame in enumerate(videos[0].frames):
        jpg = f"{f:06d}.jpg"
        assert filecmp.cmp(clean / jpg, test / jpg, shallow=False)  # the clean twin is the test frame
        if f % 3 == 2 and frame.people:
            assert frame.is_labeled and _bytes(hard / jpg) != _bytes(clean / jpg)
            assert len(frame.raw["degradations"]) == 1
            records += 1
        else:
            assert not frame.is_labeled
            assert filecmp.cmp(hard / jpg, clean / jpg, shallow=False)  # neighbours untouched, byte for byte
    assert records == 1  # frame 2 of 5
    again = tmp_path / "again"
    teacher, segmenter = tools
    rd.build(again, segments=["sports2d_test"], max_frames=5, progress=False, teacher=teacher, segmenter=segmenter)
    for path in sorted(hard.iterdir()):  # the same seed gives the same bytes
        assert _bytes(path) == _bytes(again / "images" / rd.HARD / name / path.name)
    assert _bytes(realdata / "annotations" / rd.HARD / f"{name}.json") == \
        _bytes(again / "annotations" / rd.HARD / f"{name}.json")


@pytest.mark.parametrize("kind", ["motion_blur", "defocus", "occluder", "noise", "jpeg", "lighting"])
def test_real_frame_degradation_is_seeded(kind):
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, (120, 160, 3)).astype(np.float32)
    prev, nxt = np.roll(image, -2, 1), np.roll(image, 2, 1)
    boxes = [np.array([40.0, 10.0, 50.0, 100.0])]
    joints = [np.c_[rng.uniform(45, 85, (17, 2)), np.ones(17)]]
    cut = ragged_patch(np.roll(image, 50, 0), np.random.default_rng(2), 30)
    runs = []
    for _ in range(2):
        out, record, _ = degrade_real_frame(image, np.random.default_rng([0, 7, 2]), boxes, joints=joints, ids=[1],
                                               prev=prev, nxt=nxt, cutouts=[cut], kind=kind, severity=0.8)
        runs.append((out.tobytes(), json.dumps(record, sort_keys=True)))
    assert runs[0] == runs[1]
    assert runs[0][0] != image.tobytes()
    if kind in SCALED_KINDS:
        assert json.loads(runs[0][1])["px_scale"] == pytest.approx(100 / REF_PERSON_HEIGHT, abs=1e-3)


@pytest.mark.needs_assets(*BUILD_ASSETS)
def test_training_key_frame_degradation_leaves_neighbours_clean(realdata):
    from vidpose.engine.config import load_config
    from vidpose.engine.data import make_dataset

    data = load_config(ROOT / "vidpose/configs/real/naive_temporal_blazepose.yaml")["data"]
    data = {**data, "root": str(realdata), "key_degrade": 1.0, "workers": 0}
    wrapped = make_dataset(data, "train", train=True)
    plain = make_dataset({**data, "key_degrade": 0.0}, "train", train=True)
    assert isinstance(wrapped, KeyFrameDegradation) and len(wrapped) == len(plain) > 0
    wrapped.epoch = plain.epoch = 1
    assert wrapped.dataset.epoch == 1
    a, b = wrapped[0], plain[0]
    assert not torch.equal(a["images"][0], b["images"][0])  # the key frame is degraded
    assert torch.equal(a["images"][1:], b["images"][1:])  # the neighbours are not, bit for bit
    assert torch.equal(a["heatmaps"], b["heatmaps"])
    assert torch.equal(wrapped[0]["images"], a["images"])  # (seed, epoch, item) fixes the draw


# --- smoothing ------------------------------------------------------------------------------------


def _track_video(xs: np.ndarray, ys: np.ndarray | float = 300.0, box: float = 100.0, scores: float = 0.9) -> Video:
    frames = []
    for f, x in enumerate(xs):
        kp = np.ones((17, 3))
        kp[:, 0] = x + np.arange(17)
        kp[:, 1] = ys[f] if isinstance(ys, np.ndarray) else ys
        person = Person(kp, track_id=4, bbox=np.array([x - 50, 250, box, box]), scores=np.full(17, scores))
        frames.append(Frame(f"v/{f:06d}.jpg", f, True, [person]))
    return Video("v", frames)


def _xy(video: Video) -> np.ndarray:
    return np.stack([f.people[0].keypoints[:, :2] for f in video.frames])


@pytest.mark.parametrize("method", ["median", "one_euro"])
def test_a_constant_track_stays_constant(method):
    from vidpose.engine.smoothing import smooth_videos

    video = _track_video(np.full(20, 200.0))
    out = smooth_videos([video], method, fps=30.0)[0]
    assert np.allclose(_xy(out), _xy(video))
    assert _xy(video)[0, 0, 0] == 200.0  # the input is not changed


def test_the_median_removes_a_one_frame_outlier():
    from vidpose.engine.smoothing import smooth_videos

    still = np.full(15, 200.0)
    still[7] += 80.0  # one frame's joints thrown far off (a degraded key frame), its neighbours clean
    video = _track_video(still)
    video.frames[7].people[0].scores = np.full(17, 0.1)
    out = smooth_videos([video], "median")[0]
    assert np.allclose(_xy(out)[:, :, 0], 200.0 + np.arange(17))  # gone, and nothing else moved
    assert np.allclose(out.frames[7].people[0].scores, 0.9)  # the window's confidence
    ramp = 200.0 + 2.0 * np.arange(15)
    bad = ramp.copy()
    bad[7] += 80.0
    moved = _xy(smooth_videos([_track_video(bad)], "median")[0])[:, 0, 0]
    assert abs(moved[7] - ramp[7]) <= 2.0  # on a ramp: within one frame's motion of the truth
    assert np.allclose(moved[2:5], ramp[2:5])  # a window without the outlier passes a ramp unchanged


def test_one_euro_lag_is_bounded_on_a_ramp():
    from vidpose.engine.smoothing import MEDIAPIPE_ONE_EURO, smooth_videos

    fps, scale = 30.0, 100.0
    bound = scale / (2 * np.pi * MEDIAPIPE_ONE_EURO["beta"])  # steady lag v / (2 pi fc) <= scale / (2 pi beta)
    for speed in (30.0, 300.0, 3000.0):  # pixels per second
        xs = 100.0 + speed * np.arange(90) / fps
        out = smooth_videos([_track_video(xs)], "one_euro", fps=fps)[0]
        lag = xs[30:] - _xy(out)[30:, 0, 0]
        assert (lag > 0).all() and lag.max() <= bound * 1.01


def test_people_without_a_track_are_left_alone():
    from vidpose.engine.smoothing import SmoothingError, smooth_videos

    video = _track_video(np.array([100.0, 300.0, 100.0]))
    for frame in video.frames:
        frame.people[0].track_id = None
    assert np.allclose(_xy(smooth_videos([video], "median")[0]), _xy(video))
    with pytest.raises(SmoothingError, match="unknown smoothing"):
        smooth_videos([video], "kalman")
    with pytest.raises(SmoothingError, match="no frame rate"):
        smooth_videos([video], "one_euro", fps={"other": 30.0})


# --- temporal heads on the real backbone -----------------------------------------------------------


def _head_config(head: str, realdata: Path) -> dict:
    from vidpose.engine.config import load_config

    cfg = load_config(ROOT / f"vidpose/configs/real/{head}_blazepose.yaml")
    cfg["data"].update(root=str(realdata), key_degrade=0.0, workers=0)
    return cfg


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.needs_assets(*BUILD_ASSETS)
def test_each_head_on_the_real_backbone_shapes_and_one_step(head, realdata):
    from vidpose.engine.data import make_dataset
    from vidpose.data.clips import collate
    from vidpose.engine.trainer import set_frozen
    from vidpose.models.layers import heatmap_loss
    from vidpose.models.registry import build_model

    cfg = _head_config(head, realdata)
    torch.manual_seed(0)
    model = build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"]))
    model.backbone.requires_grad_(False)  # train.freeze_backbone, as the trainer sets it
    for name in getattr(model, "trainable_in_backbone", ()):
        getattr(model.backbone, name).requires_grad_(True)
    dataset = make_dataset(cfg["data"], "train", train=True)
    batch = collate([dataset[i] for i in range(2)])
    params = [p for p in model.parameters() if p.requires_grad]
    assert params
    from vidpose.engine.trainer import lr_factor

    lr = float(cfg["train"]["lr"]) * lr_factor(0, 1000, cfg["train"], 100)  # the trainer's first step (warm-up)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=float(cfg["train"]["weight_decay"]))

    def loss() -> torch.Tensor:
        torch.manual_seed(1)  # the same SDTC masks in both passes
        model.train()
        set_frozen(model, True)
        out = model(batch["images"], batch)
        assert out["heatmaps"].shape == (2, 17, 64, 64)
        total = heatmap_loss(out["heatmaps"], batch["heatmaps"], batch["target_weight"])
        return total + sum(out["aux_losses"].values()) if out["aux_losses"] else total

    before = loss()
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = loss()
    assert torch.isfinite(before) and after.item() < before.item()
    if head == "sdtc":
        from vidpose.models.sdtc import FeatureMapTokens

        assert isinstance(model.backbone, FeatureMapTokens)
        assert model.backbone.grid == (16, 16) and model.backbone.dim == 48 * 16


@pytest.mark.needs_assets(*BUILD_ASSETS)
def test_the_trainer_runs_a_real_head_from_cached_features(realdata, tmp_path):
    from vidpose.engine.trainer import train

    cfg = _head_config("sdtc", realdata)
    cfg["data"]["key_degrade"] = 0.5
    cfg["train"].update(batch_size=2, max_steps=2, feature_cache_dir=str(tmp_path / "cache"), warmup_steps=0)
    summary = train(copy.deepcopy(cfg), tmp_path / "run", progress=False)
    assert summary["steps"] == 2 and np.isfinite(summary["loss"])
    meta = json.loads(next((tmp_path / "cache").glob("*/meta.json")).read_text())
    assert meta["shapes"]["feature.feature"] == [5, 48, 64, 64]  # tokens follow from the map
    # the shipped form: the head alone, the frozen backbone loaded from its asset again
    from vidpose.engine.tester import load_trained
    from vidpose.engine.trainer import CheckpointError
    from vidpose.engine.checkpoint import export_head, load_checkpoint

    full = load_checkpoint(tmp_path / "run" / "model.pt")
    head = export_head(tmp_path / "run" / "model.pt", tmp_path / "head.pt")
    assert head["backbone_from_asset"] and not any(k.startswith("backbone.") for k in head["model"])
    assert (tmp_path / "head.pt").stat().st_size < (tmp_path / "run" / "model.pt").stat().st_size - 10_000_000  # BlazePose full: 12.7 MB
    model = load_trained(full["config"], tmp_path / "head.pt", torch.device("cpu"))
    loaded = model.state_dict()
    assert set(loaded) == set(full["model"])
    assert all(torch.equal(loaded[k], v) for k, v in full["model"].items())
    manifest = json.loads(rd.export_heads(["run"], runs=tmp_path, dest=tmp_path / "weights",
                                          results=tmp_path / "absent.json").read_text())
    import hashlib

    assert manifest["run"]["sha256"] == hashlib.sha256((tmp_path / "weights" / "run.pt").read_bytes()).hexdigest()
    assert manifest["run"]["method"] == "sdtc" and manifest["run"]["steps"] == 2
    assert manifest["run"]["precision"] == "fp32"  # the trainer's record: no autocast on a CPU without bf16
    with pytest.raises(rd.RealDataError, match="train it first"):
        rd.export_heads(["absent"], runs=tmp_path, dest=tmp_path / "weights")
    # a head whose tensors were removed is refused, not half-loaded
    broken = dict(head, model={k: v for k, v in head["model"].items() if not k.startswith("head.")})
    torch.save(broken, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match="missing"):
        load_trained(full["config"], tmp_path / "broken.pt", torch.device("cpu"))


@pytest.mark.needs_assets("blazepose_full")
def test_the_baselines_final_layer_is_part_of_the_exported_head():
    from vidpose.engine.config import load_config
    from vidpose.engine.checkpoint import frozen_backbone_keys
    from vidpose.models.registry import build_model

    cfg = load_config(ROOT / "vidpose/configs/real/naive_temporal_blazepose.yaml")
    model = build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"]))
    frozen = frozen_backbone_keys(model)
    trained = [k for k in model.state_dict() if k not in frozen]
    assert trained and all(k.startswith("backbone.final_layer.") for k in trained)


def test_the_demo_burst_degrades_every_third_frame_only_and_is_seeded():
    from vidpose.demo import DegradedFrames, degradation_burst
    from vidpose.tracking.boxes import VideoBoxes

    class Frames:
        path = Path("fake")

        def __init__(self):
            rng = np.random.default_rng(0)
            self.images = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(9)]

        def __len__(self):
            return len(self.images)

        def read(self, i):
            return self.images[i]

    source = Frames()
    boxes = VideoBoxes([np.array([[40.0, 10, 50, 100]])] * 9, [np.ones(1)] * 9, [np.zeros(1, int)] * 9)
    replaced, kinds = degradation_burst(source, boxes)
    assert sorted(replaced) == [2, 5, 8] and list(kinds.values()) == ["motion_blur", "defocus", "occluder"]
    again, _ = degradation_burst(source, boxes)
    assert all(np.array_equal(replaced[f], again[f]) for f in replaced)
    burst = DegradedFrames(source, replaced)
    for f in range(9):
        assert np.array_equal(burst.read(f), source.read(f)) == (f not in replaced)


@pytest.mark.needs_assets(*BUILD_ASSETS)
def test_realvideo_benchmark_scores_pseudo_labels_and_runs_on_a_tiny_build(realdata, tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import realvideo

    gt = realvideo.load_split(realdata, "test_hard")
    exact = [v.empty_like() for v in gt]
    shifted = [v.empty_like() for v in gt]
    for g, e, s in zip(gt, exact, shifted):
        for f, frame in enumerate(g.frames):
            e.frames[f].people = [Person.predicted(p.keypoints[:, :2], np.ones(17), p.track_id) for p in frame.people]
            s.frames[f].people = [Person.predicted(p.keypoints[:, :2] + 0.6 * head_size(p), np.ones(17),
                                                   p.track_id) for p in frame.people]
    assert realvideo.score(gt, exact)["PCKh"]["Total"] == 100.0
    assert realvideo.score(gt, shifted)["PCKh"]["Total"] == 0.0
    assert set(realvideo.score(gt, exact)["PCKh_by_kind"]) <= set(DEGRADE_WEIGHTS)
    out = tmp_path / "realvideo.json"
    assert realvideo.main(["--data", str(realdata), "--models", "blazepose", "--fixtures", str(tmp_path / "none"),
                           "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["rows"]) == {"blazepose", "blazepose+median", "blazepose+one_euro"}
    for row in report["rows"].values():
        assert 0 <= row["test_hard"]["PCKh"]["Total"] <= 100 and row["test"]["PCKh"]["joints"] > 0
        by_track = row["test_hard"]["PCKh_by_track"]  # the per-track counts add up to the split's
        assert sum(h for h, _ in by_track.values()) == row["test_hard"]["PCKh"]["joints_within"]
        assert sum(t for _, t in by_track.values()) == row["test_hard"]["PCKh"]["joints"]
    sys.path.insert(0, str(ROOT / "analysis"))
    import realvideo_intervals

    intervals = tmp_path / "intervals.json"
    assert realvideo_intervals.main([f"blazepose+median@{out}", f"blazepose@{out}", "--resamples", "50",
                                     "--out", str(intervals)]) == 0
    pair = json.loads(intervals.read_text())["pairs"][f"blazepose+median@{out} - blazepose@{out} on test_hard"]
    rows = report["rows"]
    assert pair["delta"] == pytest.approx(rows["blazepose+median"]["test_hard"]["PCKh"]["Total"]
                                          - rows["blazepose"]["test_hard"]["PCKh"]["Total"], abs=0.01)
    assert pair["ci_low"] <= pair["delta"] <= pair["ci_high"]
    with pytest.raises(SystemExit, match="no row"):
        realvideo_intervals.main([f"dcpose@{out}", f"blazepose@{out}", "--out", str(intervals)])
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(SystemExit, match="broken.json: not a JSON results file"):
        realvideo_intervals.main([f"blazepose@{broken}", f"blazepose@{out}", "--out", str(intervals)])


@pytest.mark.parametrize("head", ("tdmi", "tdmi_st", "jmpose", "glpose", "sdtc"))
@pytest.mark.needs_assets(*BUILD_ASSETS)
def test_a_head_started_from_the_backbone_first_predicts_the_backbones_heatmaps(head, realdata):
    """configs/real set model.start_from_backbone: at step 0 the head's output is BlazePose's own
    heatmaps of the key frame (layers.StartFromBackbone), whatever the neighbours show."""
    from vidpose.engine.data import make_dataset
    from vidpose.data.clips import collate
    from vidpose.models.registry import build_model

    cfg = _head_config(head, realdata)
    assert cfg["model"]["start_from_backbone"] is True
    torch.manual_seed(0)
    model = build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"])).eval()
    batch = collate([make_dataset(cfg["data"], "train", train=True)[i] for i in range(2)])
    with torch.no_grad():
        out = model(batch["images"], batch)["heatmaps"]
        single = model.backbone.head(model.backbone.forward_features(batch["images"][:, 0])["feature"])
    assert single.abs().max() > 0.1
    torch.testing.assert_close(out, single, atol=1e-5, rtol=1e-4)


def test_the_manifest_names_a_heads_precision_from_its_record_or_its_config():
    from vidpose.realdata.export import _precision

    assert _precision({"precision": "fp32", "config": {"train": {"amp_dtype": "bf16"}}}) == "fp32"
    # a checkpoint from before the trainer recorded it: only what its config can tell
    assert _precision({"config": {"train": {"amp": True, "amp_dtype": "bf16"}}}) == "bf16"
    assert _precision({"config": {"train": {"amp": True}}}) is None


def test_the_manifest_command_carries_a_heads_overrides(tmp_path):
    from vidpose.engine.config import load_config
    from vidpose.realdata.export import _overrides
    from vidpose.resources import package_path

    cfg = load_config(package_path("configs/real/dcpose_blazepose.yaml"))
    assert _overrides(cfg, "dcpose_blazepose") == []
    cfg["train"]["amp_dtype"], cfg["data"]["offsets"], cfg["output"] = "bf16", [-2, 2], str(tmp_path)
    assert _overrides(cfg, "dcpose_blazepose") == ["data.offsets=[-2,2]", "+train.amp_dtype=bf16"]
    from vidpose.engine.config import apply_overrides  # the command reads them back

    assert apply_overrides(load_config(package_path("configs/real/dcpose_blazepose.yaml")),
                           _overrides(cfg, "dcpose_blazepose"))["train"]["amp_dtype"] == "bf16"
    assert _overrides(cfg, "no_such_head") == []


def test_rescoring_replaces_only_the_scores(tmp_path):
    entry = {"method": "naive_temporal", "sha256": "abc", "PCKh_Total": {"test": 1.0}}
    (tmp_path / "manifest.json").write_text(json.dumps({"head": entry, "other": dict(entry)}))
    results = tmp_path / "realvideo.json"
    results.write_text(json.dumps({"commit": "c0ffee", "rows": {
        "head": {"test": {"PCKh": {"Total": 93.0}}, "test_hard": {"PCKh": {"Total": 90.0}}}}}))
    manifest = json.loads(rd.rescore_heads(["head"], dest=tmp_path, results=results).read_text())
    assert manifest["head"]["PCKh_Total"] == {"test": 93.0, "test_hard": 90.0}
    assert manifest["head"]["scores_measured_at_commit"] == "c0ffee" and manifest["head"]["sha256"] == "abc"
    assert manifest["other"] == entry
    with pytest.raises(rd.RealDataError, match="has no row 'other'"):
        rd.rescore_heads(["head", "other"], dest=tmp_path, results=results)
    with pytest.raises(rd.RealDataError, match="ships no head 'absent'"):
        rd.rescore_heads(["absent"], dest=tmp_path, results=results)
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest  # nothing written by a refused call
    from vidpose.cli import main

    results.write_text(json.dumps({"commit": "beef", "rows": {"other": {"test": {"PCKh": {"Total": 50.0}}}}}))
    assert main(["realdata", "export", "other", "--scores-only", "--dest", str(tmp_path),
                 "--results", str(results)]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["other"]["PCKh_Total"] == {"test": 50.0} and manifest["head"]["PCKh_Total"]["test"] == 93.0
