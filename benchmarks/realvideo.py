"""What the temporal heads recover on held-out real video (issue 19): RealData's test splits,
scored against the teacher's pseudo labels, for the single-frame BlazePose backbone, the
smoothing baselines practitioners use instead, and every temporal head on the same backbone.

    vidpose realdata build --out data/realdata                      # once (vidpose/realdata/)
    OMP_NUM_THREADS=2 python benchmarks/realvideo.py [--data data/realdata]
        [--models blazepose naive_temporal_blazepose ...]   # shipped names, or NAME=CHECKPOINT (default: every shipped head)
        [--out benchmarks/results/realvideo.json]

What is measured (everything on the frames and people RealData labels; see vidpose/realdata/):

- **Splits.** ``test``: the held-out segments, every frame labeled, clean. ``test_hard``: the
  same segments with every third labeled frame (f % 3 == 2) degraded and its neighbours clean
  (motion blur along the person's motion, defocus, occluders cut from other frames, mild noise,
  JPEG and lighting; seeded, fixed). ``test_hard_clean``: the same frames clean (the twins).
  The single-frame backbone on ``test_hard_clean`` is the *oracle*.
- **Boxes.** Every model runs on the tracker's boxes and track ids of ``detections/{split}.json``
  (the boxes the pseudo labels were made from; identical in ``test_hard`` and its twin), through
  ``VideoPredictor``, the code path of ``vidpose predict --boxes``: ``--window-boxes own`` (the
  default, with the sliding-window cache, as ``vidpose predict`` runs) crops each frame of a
  window with that person's own box in that frame; ``key`` crops every frame with the key frame's
  box, as the heads were trained and as ``vidpose test`` does (no cache: 5 backbone passes per box).
- **PCKh@0.5** per joint group (Head .. Ankle, Total over the 15 PoseTrack joints), pooled over
  joints: each pseudo-labeled person against the prediction from the box of the same track in
  the same frame; head size = 0.6 x the diagonal of the pseudo ``bbox_head`` (PoseTrack's rule).
  On ``test_hard`` it is also split by the frame's degradation kind, and reported for the joints
  an occluder covers. **AP**: ``vidpose.evaluation.evaluate_posetrack`` (posetrack18 mode).
- **Smoothing baselines** on the single-frame predictions of every frame, along the track ids
  (``vidpose.engine.smoothing``): ``median`` over the temporal models' window (-2..2) and
  ``one_euro`` (MediaPipe's pose settings, at each video's frame rate).
- **Recovery** = (model - single frame) / (oracle - single frame) on ``test_hard``, in percent, as
  in the SynthTrack benchmark (docs/results.md).
- **Fast motion.** On ``test`` (clean), the PCKh of joints whose pseudo label moves at least
  ``FAST_SPEED`` head sizes per frame (central difference over the track; ``PCKh_fast_joints``),
  and of those moving at least ``VERY_FAST_SPEED`` (``PCKh_very_fast_joints``): where smoothing lags.
- **Own boxes** (``--own-boxes MODE ...``): on ``test_hard``, vidpose's own detector and tracker
  run on the frames as they are, degraded ones included (``track_people``, small people where
  the build looked for them; kept in ``DATA/own_boxes/``, delete it after changing the tracker),
  then ``boxes_in_time`` in each MODE; each own box stands for the
  pseudo-labelled person whose source box it overlaps most (one to one, IoU >= 0.5), and a
  person with no such box counts as missed. This is ``vidpose predict`` without ``--boxes``.
  ``--region-model pose``: the tracker's per-person pass run by the pose model instead of MoveNet
  (``vidpose predict --region-model pose``; its boxes kept in ``DATA/own_boxes/pose/``), and with
  ``--crop-boxes region`` every model crops the region the tracker's pass read where it found the
  person there (``vidpose predict --crop-boxes region``; kept in ``DATA/own_boxes/pose_region_crops/``).
- **Per track**: every split's ``PCKh_by_track`` holds, for each "video/track", the joints within
  0.5 head sizes and the joints scored, so ``analysis/realvideo_intervals.py`` can put a paired
  bootstrap interval (resampling tracks) on the difference between two models.
- **PoseTrack18 fixtures** (``../shared/fixtures/posetrack18``, when present): the real
  annotated frames with GT boxes, one frame per video, so every window is the frame repeated
  (``benchmarks/real_fixtures.py``'s protocol at each model's own framing, no flip).

A model is a shipped name (``vidpose models``) or ``NAME=CHECKPOINT`` (a run's ``model.pt``,
before it is shipped). The results carry the command, commit, data version and seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from vidpose.bench import git_state  # noqa: E402
from vidpose.data.annotations import Video, load_posetrack  # noqa: E402
from vidpose.data.frames import open_frames  # noqa: E402
from vidpose.evaluation.pckh import PCKh, head_size  # noqa: E402
from vidpose.data.schema import GROUP_NAMES  # noqa: E402
from vidpose.engine.smoothing import smooth_videos  # noqa: E402
from vidpose.engine.checkpoint import frozen_backbone_keys  # noqa: E402
from vidpose.engine.video import VideoPredictor, predictions_video  # noqa: E402
from vidpose.data.detections import box_iou  # noqa: E402
from vidpose.realdata.segments import SEGMENTS, video_name  # noqa: E402
from vidpose.tracking import track_people  # noqa: E402
from vidpose.tracking.boxes import VideoBoxes, boxes_in_time, load_video_boxes  # noqa: E402
from vidpose.evaluation import evaluate_posetrack  # noqa: E402
from vidpose.pipeline import SHIPPED, Pipeline, load_model  # noqa: E402

SPLITS = ("test", "test_hard", "test_hard_clean")
SINGLE = "blazepose"
SMOOTHERS = ("median", "one_euro")
FAST_SPEED = 0.25  # head sizes per frame (a head size is ~0.6 x head-box diagonal)
VERY_FAST_SPEED = 1.0
GROUPS = GROUP_NAMES
#: the single-frame backbone first, then every shipped temporal head (``vidpose models``)
DEFAULT_MODELS = (SINGLE,) + tuple(name for name, spec in SHIPPED.items() if spec.kind == "temporal")


def fast_masks(video: Video, threshold: float = FAST_SPEED) -> dict[tuple[int, int], np.ndarray]:
    """(frame, track) -> joints moving >= ``threshold`` head sizes per frame (central difference
    of the pseudo labels; both neighbours must label the joint)."""
    by = {(f, p.track_id): p for f, fr in enumerate(video.frames) for p in fr.people}
    out = {}
    for (f, t), p in by.items():
        a, b = by.get((f - 1, t)), by.get((f + 1, t))
        size = head_size(p)
        if a is None or b is None or not size:
            continue
        both = (a.keypoints[:, 2] > 0) & (b.keypoints[:, 2] > 0)
        speed = np.hypot(*(b.keypoints[:, :2] - a.keypoints[:, :2]).T) / 2 / size
        out[(f, t)] = both & (speed >= threshold)
    return out


def load_split(data: Path, split: str) -> list[Video]:
    videos, _ = load_posetrack(data / "annotations" / split)
    return sorted(videos, key=lambda v: v.name)


def predict_split(predictor: VideoPredictor, data: Path, split: str, videos: list[Video]) -> list[Video]:
    out = []
    for video in videos:
        source = open_frames(data / "images" / split / video.name)
        boxes = load_video_boxes(data / "detections" / f"{split}.json", source)
        results = predictor.predict(source, boxes, progress=False)
        out.append(predictions_video(video.name, results, len(source)))
    return out


def small_people(name: str) -> bool:
    """Whether the tracker looks for small people in this RealData test video (as the build did)."""
    tests = [seg for seg in SEGMENTS if seg.split == "test"]
    return any(video_name(split, i) == name and seg.small_people for i, seg in enumerate(tests)
               for split in ("test", "test_hard"))


def own_boxes(data: Path, split: str, videos: list[Video], modes: list[str], region_model: str = "movenet",
              crop_boxes: str = "measured") -> dict[str, dict[str, VideoBoxes]]:
    """vidpose's own detector and tracker on the split's frames as they are (degraded ones
    included), once per video; then ``boxes_in_time`` in each mode: {mode: {video: boxes}}.
    ``region_model``: what finds each tracked person between detector frames; ``crop_boxes``:
    what the pose model crops where the pose model found them (``Pipeline``'s)."""
    out: dict[str, dict[str, VideoBoxes]] = {mode: {} for mode in modes}
    folder = data / "own_boxes" / split if region_model == "movenet" else data / "own_boxes" / region_model / split
    if region_model == "pose" and crop_boxes == "region":
        folder = data / "own_boxes" / "pose_region_crops" / split
    pipelines: dict[bool, Pipeline] = {}  # made when a video's boxes are not kept yet: each loads a model

    def tracker_for(name: str):
        flag = small_people(name)
        if flag not in pipelines:
            pipelines[flag] = Pipeline(region_model=region_model, small_people=flag, crop_boxes=crop_boxes)
        return pipelines[flag].tracker()

    for video in videos:
        kept = folder / f"{video.name}.json"  # the tracker's boxes, kept: tracking is slow
        if kept.is_file():
            raw = json.loads(kept.read_text())
            found = VideoBoxes([np.array(b, np.float64).reshape(-1, 4) for b in raw["boxes"]],
                               [np.array(s, np.float64) for s in raw["scores"]], [np.array(t, int) for t in raw["tracks"]],
                               crops=[np.array(c, np.float64).reshape(-1, 4) for c in raw.get("crops", [])])
        else:
            found = track_people(open_frames(data / "images" / split / video.name),
                                 tracker=tracker_for(video.name))
            kept.parent.mkdir(parents=True, exist_ok=True)
            kept.write_text(json.dumps({"boxes": [b.tolist() for b in found.boxes],
                                        "scores": [s.tolist() for s in found.scores],
                                        "tracks": [t.tolist() for t in found.tracks],
                                        "crops": [c.tolist() for c in found.crops]}))
        for mode in modes:
            out[mode][video.name] = boxes_in_time(found, mode)
    return out


def as_labelled_people(results: list[list], found: VideoBoxes, labels: VideoBoxes, min_iou: float = 0.5
                       ) -> list[list]:
    """Own-box predictions renamed to the pseudo-labelled person whose box (the one its label was
    made from) they overlap most, one to one (Hungarian on IoU >= ``min_iou``); the others get
    track ids from 5000 on, which no label has (RealData's tracks are numbered from 0), so a
    person the tracker missed counts as missed."""
    from scipy.optimize import linear_sum_assignment

    renamed = []
    for f, frame in enumerate(results):
        ids = [5000 + int(track) for _, _, track in frame]
        if len(frame) and len(labels.boxes[f]):
            iou = box_iou(found.boxes[f], labels.boxes[f])
            for i, j in zip(*linear_sum_assignment(-iou)):
                if iou[i, j] >= min_iou:
                    ids[i] = int(labels.tracks[f][j])
        renamed.append([(xy, scores, ids[k]) for k, (xy, scores, _) in enumerate(frame)])
    return renamed


def predict_own_boxes(predictor: VideoPredictor, data: Path, split: str, videos: list[Video],
                      found: dict[str, VideoBoxes]) -> list[Video]:
    out = []
    for video in videos:
        source = open_frames(data / "images" / split / video.name)
        labels = load_video_boxes(data / "detections" / f"{split}.json", source)
        results = predictor.predict(source, found[video.name], progress=False)
        out.append(predictions_video(video.name, as_labelled_people(results, found[video.name], labels), len(source)))
    return out


def score(gt: list[Video], pred: list[Video], fast: dict | None = None) -> dict[str, Any]:
    """PCKh per group (all, by degradation kind, occluded joints, fast joints) and AP. ``fast``:
    {result key: {video: fast_masks}}."""
    total, occluded = PCKh(), PCKh()
    tracks: dict[str, PCKh] = {}  # per "video/track": the units of analysis/realvideo_intervals.py's bootstrap
    fast_pckh = {key: PCKh() for key in (fast or {})}
    kinds: dict[str, PCKh] = {}
    for g, p in zip(gt, pred):
        for f, frame in enumerate(g.frames):
            if not frame.is_labeled or not frame.people:
                continue
            by_track = {q.track_id: q.keypoints[:, :2] for q in p.frames[f].people}
            records = (frame.raw or {}).get("degradations") or []
            kind = records[0]["type"] if records else None
            for person in frame.people:
                xy = by_track.get(person.track_id)
                total.add(person, xy)
                tracks.setdefault(f"{g.name}/{person.track_id}", PCKh()).add(person, xy)
                if kind is not None:
                    kinds.setdefault(kind, PCKh()).add(person, xy)
                if person.occluded is not None and np.any(person.occluded):
                    occluded.add(person, xy, np.asarray(person.occluded, bool))
                for key, masks in (fast or {}).items():
                    if (f, person.track_id) in masks[g.name]:
                        fast_pckh[key].add(person, xy, masks[g.name][(f, person.track_id)])
    ap = evaluate_posetrack(gt, pred)
    out: dict[str, Any] = {"PCKh": total.result(), "AP": {k: _round(ap[k]) for k in GROUPS},
                           "PCKh_by_track": {key: [int(t.hit.sum()), int(t.total.sum())]
                                             for key, t in sorted(tracks.items())}}
    if kinds:
        out["PCKh_by_kind"] = {k: v.result() for k, v in sorted(kinds.items())}
    if occluded.people:
        out["PCKh_occluded_joints"] = occluded.result()
    for key, pckh in fast_pckh.items():
        out[key] = pckh.result()
    return out


def _round(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else round(float(v), 2)


def model_of(spec: str) -> tuple[str, torch.nn.Module, dict[str, Any]]:
    if "=" in spec:
        name, checkpoint = spec.split("=", 1)
        model, cfg = load_model(checkpoint=checkpoint, device=torch.device("cpu"))
    else:
        name = spec
        model, cfg = load_model(spec, device=torch.device("cpu"))
    return name, model, cfg


def fixtures_score(model: torch.nn.Module, cfg: dict[str, Any], fixtures: Path) -> dict[str, Any] | None:
    """PCKh and AP on the PoseTrack18 fixture frames with GT boxes at the model's own framing."""
    import real_fixtures as rf

    if not (fixtures / "annotations" / "val").is_dir():
        return None
    cases, counts = rf.gather(fixtures)
    predictor = VideoPredictor(model, cfg)
    with tempfile.TemporaryDirectory(prefix="realvideo_fixtures_") as tmp:
        preds = [rf.predict_case(predictor, c, b, Path(tmp), 0.0) for c, b in zip(cases, rf.gt_boxes(cases))]
    pckh = rf.score_gt_boxes(cases, preds)
    ap = rf.ap_summary(evaluate_posetrack(rf.eval_gt(cases), rf.pred_videos(cases, preds)))
    return {"PCKh": {k: pckh[k] for k in GROUPS}, "AP_Total": ap["Total"], "people": counts["people_scored"],
            "joints": counts["joints_total"], "frames_per_video": sorted({len(c.frames) for c in cases})}


def recovery(value: float | None, single: float | None, oracle: float | None) -> float | None:
    if None in (value, single, oracle) or oracle - single <= 0:
        return None
    return round(100.0 * (value - single) / (oracle - single), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "realdata")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                        help="shipped model names, or NAME=CHECKPOINT (the first must be the single-frame model)")
    parser.add_argument("--window-boxes", choices=("key", "own"), default="own")
    parser.add_argument("--all-splits", action="store_true", help="also run the temporal models on test_hard_clean "
                        "(by default only the single-frame model, the oracle, runs there)")
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures" / "posetrack18")
    parser.add_argument("--own-boxes", nargs="*", default=[], choices=("off", "offline", "causal"),
                        metavar="MODE", help="also run every model on test_hard with vidpose's own detector and "
                        "tracker on the degraded frames, with boxes_in_time in each MODE (off, offline, causal)")
    parser.add_argument("--region-model", choices=("movenet", "pose"), default="movenet",
                        help="with --own-boxes: what finds each tracked person between detector frames "
                             "(vidpose predict --region-model)")
    parser.add_argument("--crop-boxes", choices=("measured", "region"), default="measured",
                        help="with --region-model pose: crop each person the pose model found in its region with "
                             "that region's crop (region) or with a box around what it found (measured) "
                             "(vidpose predict --crop-boxes)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "realvideo.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import logging

    logging.basicConfig(level=logging.WARNING)
    stats_path = args.data / "stats.json"
    if not stats_path.is_file():
        print(f"error: {stats_path} is absent; build it: vidpose realdata build --out {args.data}", file=sys.stderr)
        return 2
    stats = json.loads(stats_path.read_text())
    fps = {}
    for name, v in stats["videos"].items():
        fps[name] = v["fps"]
        if "hard_video" in v:
            fps[v["hard_video"]] = v["fps"]
    gt = {split: load_split(args.data, split) for split in SPLITS}
    fast = {key: {v.name: fast_masks(v, speed) for v in gt["test"]}
            for key, speed in (("PCKh_fast_joints", FAST_SPEED), ("PCKh_very_fast_joints", VERY_FAST_SPEED))}
    began = time.perf_counter()
    commit, dirty = git_state(ROOT)
    report: dict[str, Any] = {
        "command": "python benchmarks/realvideo.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": commit, "tracked_files_modified": dirty, "data": str(args.data),
        "data_version": stats["version"], "data_commit": stats.get("commit"), "teacher": stats.get("teacher"),
        "window_boxes": args.window_boxes, "torch_threads": args.threads,
        "counts": {s: {"videos": len(gt[s]), "labeled_frames": sum(f.is_labeled for v in gt[s] for f in v.frames),
                       "people": sum(len(f.people) for v in gt[s] for f in v.frames if f.is_labeled)}
                   for s in SPLITS},
        "metric": "PCKh@0.5 against the pseudo labels, pooled over joints (head size 0.6 x pseudo head-box "
                  "diagonal), each person scored by the prediction from its own tracked box; AP: "
                  "vidpose.evaluation.evaluate_posetrack (posetrack18)",
        "fast_speed_head_sizes_per_frame": FAST_SPEED, "very_fast_speed_head_sizes_per_frame": VERY_FAST_SPEED,
        "rows": {},
    }
    single_preds: dict[str, list[Video]] = {}
    own = own_boxes(args.data, "test_hard", gt["test_hard"], args.own_boxes, args.region_model,
                    args.crop_boxes) if args.own_boxes else {}
    if own:
        report["own_boxes"] = {
            "split": "test_hard", "region_model": args.region_model, "crop_boxes": args.crop_boxes, "matching": "each own box to the pseudo label whose source box it overlaps "
            "most, one to one, IoU >= 0.5; a pseudo-labelled person without one counts as missed",
            "boxes": {mode: sum(len(b) for v in found.values() for b in v.boxes) for mode, found in own.items()}}
    for spec in args.models:
        t0 = time.perf_counter()
        name, model, cfg = model_of(spec)
        predictor = VideoPredictor(model, cfg, cache=args.window_boxes == "own", window_boxes=args.window_boxes)
        frozen = set(frozen_backbone_keys(model))  # what a trained head adds to the BlazePose asset
        row: dict[str, Any] = {"model": spec, "config_model": cfg["model"]["name"],
                               "trainable_params_m": round(sum(p.numel() for n, p in model.named_parameters()
                                                               if n not in frozen and name != SINGLE) / 1e6, 3)}
        for split in SPLITS:
            if split == "test_hard_clean" and name != SINGLE and not args.all_splits:
                continue
            preds = predict_split(predictor, args.data, split, gt[split])
            row[split] = score(gt[split], preds, fast if split == "test" else None)
            if name == SINGLE:
                single_preds[split] = preds
        for mode, found in own.items():
            row.setdefault("test_hard_own_boxes", {})[mode] = score(
                gt["test_hard"], predict_own_boxes(predictor, args.data, "test_hard", gt["test_hard"], found))
            print(f"{name}: test_hard with own boxes ({mode}) "
                  f"{row['test_hard_own_boxes'][mode]['PCKh']['Total']}", flush=True)
        row["fixtures"] = fixtures_score(model, cfg, args.fixtures)
        row["seconds"] = round(time.perf_counter() - t0, 1)
        report["rows"][name] = row
        print(f"{name}: test {row['test']['PCKh']['Total']}  test_hard {row['test_hard']['PCKh']['Total']}  "
              f"clean twins {row.get('test_hard_clean', {}).get('PCKh', {}).get('Total')}  ({row['seconds']} s)",
              flush=True)
        if name == SINGLE:
            for method in SMOOTHERS:
                srow: dict[str, Any] = {"model": f"{SINGLE} + {method} smoothing"}
                for split in SPLITS:
                    srow[split] = score(gt[split], smooth_videos(single_preds[split], method, fps=fps),
                                        fast if split == "test" else None)
                report["rows"][f"{SINGLE}+{method}"] = srow
                print(f"{SINGLE}+{method}: test {srow['test']['PCKh']['Total']}  "
                      f"test_hard {srow['test_hard']['PCKh']['Total']}", flush=True)
    single = report["rows"].get(SINGLE)
    if single:
        for metric in ("PCKh", "AP"):
            base, oracle = single["test_hard"][metric]["Total"], single["test_hard_clean"][metric]["Total"]
            report[f"oracle_gap_{metric}"] = None if None in (base, oracle) else round(oracle - base, 2)
            for name, row in report["rows"].items():
                row[f"recovery_{metric}"] = recovery(row["test_hard"][metric]["Total"], base, oracle)
                value = row["test_hard"][metric]["Total"]
                row[f"gain_over_single_{metric}"] = None if None in (value, base) else round(value - base, 2)
    report["seconds"] = round(time.perf_counter() - began, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    from vidpose.bench import realvideo_markdown

    print("\n".join(realvideo_markdown(report, args.out)[8:]))
    print(f"wrote {args.out} ({report['seconds']} s)")
    if args.out.resolve() == (ROOT / "benchmarks" / "results" / "realvideo.json").resolve():
        import os

        from vidpose.bench import write_report

        os.chdir(ROOT)  # docs/results.md links the results files relative to the repository
        print(f"wrote {write_report(realvideo='benchmarks/results/realvideo.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
