"""Accuracy of the shipped real models (``vidpose.pipeline.SHIPPED``) on the real PoseTrack18
fixture frames, with ground-truth boxes and with the detector's boxes.

    OMP_NUM_THREADS=1 python benchmarks/real_fixtures.py [--fixtures ../shared/fixtures/posetrack18]
        [--models blazepose blazepose_lite blazepose_heavy] [--out benchmarks/results/real_fixtures.json]

What is measured:

- **Frames and people.** Every labeled frame of ``annotations/val/*.json`` (per-video files)
  whose image file exists under the fixture folder; every GT person of those frames with a box:
  the annotation ``bbox``, or, where a person has none, the box around its annotated keypoints
  (``vidpose.data.transforms.keypoints_box``; such people are counted in the output).
- **The code path.** The GT boxes of each video are written to a detection file (PoseWarper
  layout: ``frame_index``, ``bbox``, ``score`` 1, ``track_id``) and read back with
  ``vidpose.tracking.boxes.load_video_boxes``, then ``VideoPredictor`` runs, as
  ``vidpose predict --boxes`` does (``Pipeline.boxes`` + ``Pipeline.predictor``). The frames are a
  ``FrameSource`` over the evaluated images only (so a video whose other frames are absent still
  works). For the shipped framing, the ``vidpose predict IMAGE_FOLDER --boxes FILE`` command
  itself is also run on each video whose image folder holds exactly the evaluated frames, and its
  keypoints are compared with this path (``cli_check``).
- **PCKh@0.5** per joint and per group (Head, Shoulder, ..., Ankle; Total over the 15 PoseTrack
  joints), pooled over joints: a group's PCKh is (joints within 0.5 x head size) / (annotated
  joints of the group), head size = 0.6 x the diagonal of the GT ``bbox_head`` (PoseTrack's rule,
  ``vidpose/evaluation/posetrack.py``). Each GT person is scored against the prediction made from
  its own box (no assignment). Ignore regions are not applied to PCKh (the people are GT people);
  how many annotated joints lie inside one is reported.
- **AP** of the same predictions with ``vidpose.evaluation.evaluate_posetrack`` (posetrack18
  mode: poseval's assignment, ignore regions, joint scores = heatmap peak x box score).
- **Framing sweep.** ``data.enlarge`` in {1.0, 1.1, 1.25, 1.4, 1.6} (square crop, aspect 1.0) x
  {no flip, flip test with the one-pixel shift, flip test without it}. The best framing per model
  is the one with the highest Total PCKh, ties broken by Total AP.
- **Detector boxes.** MoveNet-MultiPose (the pipeline's detector, input 512 as ``track_people``;
  768 = ``small_people``) on each evaluated frame; detections are matched one-to-one to GT boxes
  (Hungarian on IoU, IoU >= 0.5). Reported: recall, false boxes, PCKh of the matched people with
  the detector's box, PCKh over all GT people (a missed person's joints count as wrong), and AP
  of all detections' poses. The 5-frame fixture clip is not annotated, so the tracker is not
  scored here.

The sample is small (the fixtures hold 3 frames and 14 people): one joint is about 0.5 PCKh
points of Total, so differences of a point or two between framings are within noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpose.bench import git_state  # noqa: E402
from vidpose.data.annotations import Person, Video, load_posetrack  # noqa: E402
from vidpose.data.frames import FrameSource, ImageFolderFrames, read_image  # noqa: E402
from vidpose.data.schema import EVALUATED_JOINTS, GROUP_NAMES, KEYPOINT_NAMES  # noqa: E402
from vidpose.data.transforms import keypoints_box  # noqa: E402
from vidpose.engine.config import load_config  # noqa: E402
from vidpose.data.detections import box_iou  # noqa: E402
from vidpose.engine.video import VideoPredictor  # noqa: E402
from vidpose.tracking.boxes import load_video_boxes  # noqa: E402
from vidpose.evaluation import evaluate_posetrack  # noqa: E402
from vidpose.evaluation.pckh import PCKh  # noqa: E402
from vidpose.pipeline import SHIPPED, load_model  # noqa: E402

DEFAULT_FIXTURES = ROOT.parent / "shared" / "fixtures" / "posetrack18"
ENLARGE = (1.0, 1.1, 1.25, 1.4, 1.6)
#: (name, test.flip, test.flip_shift)
FLIPS = (("no_flip", False, True), ("flip_shift", True, True), ("flip_noshift", True, False))
GROUPS = GROUP_NAMES


class ListFrames(FrameSource):
    """The evaluated frames of one video, in order: position i is ``files[i]``."""

    def __init__(self, files: list[Path]):
        super().__init__(cache_size=max(1, len(files)))
        self.files = files
        self.path = files[0].parent
        self.first = 0

    def __len__(self) -> int:
        return len(self.files)

    def _read(self, index: int) -> np.ndarray:
        return read_image(self.files[index])


@dataclass
class Case:
    """One video: its GT, the evaluated frames (positions in ``source``) and their people."""

    video: Video
    frames: list[int]  # frame indices into video.frames, one per source position
    source: ListFrames
    people: list[list[tuple[int, np.ndarray]]] = field(default_factory=list)  # per position: (person index, box)


def gather(fixtures: Path) -> tuple[list[Case], dict[str, Any]]:
    videos, _ = load_posetrack(fixtures / "annotations" / "val")
    ratios: list[np.ndarray] = []
    cases, counts = [], {"videos": 0, "labeled_frames": 0, "labeled_frames_without_image": 0, "frames": 0,
                         "gt_people": 0, "people_with_bbox": 0, "people_box_from_keypoints": 0,
                         "people_without_any_box": 0, "people_scored": 0, "people_without_head_box": 0,
                         "joints": {}, "joints_total": 0, "per_video": {}}
    for video in videos:
        frames, files, people = [], [], []
        for f, frame in enumerate(video.frames):
            if not frame.is_labeled:
                continue
            counts["labeled_frames"] += 1
            path = fixtures / frame.file_name
            if not path.is_file():
                counts["labeled_frames_without_image"] += 1
                continue
            row = []
            for k, person in enumerate(frame.people):
                counts["gt_people"] += 1
                if person.bbox is not None and person.bbox[2] > 0 and person.bbox[3] > 0:
                    box, counts["people_with_bbox"] = np.asarray(person.bbox, float), counts["people_with_bbox"] + 1
                    kb = keypoints_box(person.keypoints)
                    if kb is not None:
                        ratios.append(box[2:] / kb[2:])
                else:
                    box = keypoints_box(person.keypoints)
                    if box is None:
                        counts["people_without_any_box"] += 1
                        continue
                    counts["people_box_from_keypoints"] += 1
                row.append((k, box))
            frames.append(f)
            files.append(path)
            people.append(row)
        if not frames:
            continue
        case = Case(video, frames, ListFrames(files), people)
        cases.append(case)
        counts["videos"] += 1
        counts["frames"] += len(frames)
        n_people = sum(len(r) for r in people)
        counts["per_video"][video.name] = {"frames": len(frames), "people": n_people}
        for f, row in zip(frames, people):
            for k, _ in row:
                person = video.frames[f].people[k]
                if person.bbox_head is None:
                    counts["people_without_head_box"] += 1
                    continue
                counts["people_scored"] += 1
                for slot in EVALUATED_JOINTS:
                    if person.keypoints[slot, 2] > 0:
                        name = KEYPOINT_NAMES[slot]
                        counts["joints"][name] = counts["joints"].get(name, 0) + 1
                        counts["joints_total"] += 1
    if ratios:  # how the file's boxes relate to the annotated keypoints (mmpose's are 1.3x their extent)
        r = np.stack(ratios)
        counts["bbox_over_keypoint_extent"] = {"median_w": round(float(np.median(r[:, 0])), 3),
                                               "median_h": round(float(np.median(r[:, 1])), 3),
                                               "min": round(float(r.min()), 3), "max": round(float(r.max()), 3)}
    return cases, counts


def joints_in_ignore_regions(cases: list[Case]) -> int:
    import shapely

    n = 0
    for case in cases:
        for f, row in zip(case.frames, case.people):
            frame = case.video.frames[f]
            polygons = [shapely.Polygon(r) for r in frame.ignore_regions if len(r) >= 3]
            for k, _ in row:
                kp = frame.people[k].keypoints
                for slot in EVALUATED_JOINTS:
                    if kp[slot, 2] > 0 and any(p.contains(shapely.Point(kp[slot, :2])) for p in polygons):
                        n += 1
    return n


def write_boxes_file(path: Path, boxes: list[list[tuple[np.ndarray, float]]]) -> None:
    """A PoseWarper-layout detection file, as ``vidpose predict --boxes`` reads it; one track id
    per box (unique per frame)."""
    entries = [{"frame_index": p, "bbox": [float(v) for v in box], "score": float(score), "track_id": j}
               for p, row in enumerate(boxes) for j, (box, score) in enumerate(row)]
    path.write_text(json.dumps(entries))


def predict_case(predictor: VideoPredictor, case: Case, boxes: list[list[tuple[np.ndarray, float]]], tmp: Path,
                 min_box_score: float) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """(keypoints (17, 2), scores (17,)) per box per position, through the --boxes code path."""
    file = tmp / f"{case.video.name}_boxes.json"
    write_boxes_file(file, boxes)
    found = load_video_boxes(file, case.source, min_box_score)
    if [len(b) for b in found.boxes] != [len(r) for r in boxes]:
        raise RuntimeError(f"{case.video.name}: load_video_boxes kept {[len(b) for b in found.boxes]} boxes of "
                           f"{[len(r) for r in boxes]}")
    results = predictor.predict(case.source, found, progress=False)
    return [[(xy, scores) for xy, scores, _ in frame] for frame in results]


def eval_gt(cases: list[Case]) -> list[Video]:
    """GT videos with people only on the evaluated frames (frames without an image drop out of
    poseval's frame selection: it keeps frames with at least one GT person)."""
    out = []
    for case in cases:
        keep = set(case.frames)
        frames = [f if i in keep else replace(f, people=[]) for i, f in enumerate(case.video.frames)]
        out.append(Video(case.video.name, frames, case.video.source))
    return out


def pred_videos(cases: list[Case], predictions: list[list[list[tuple[np.ndarray, np.ndarray]]]]) -> list[Video]:
    out = []
    for case, per_case in zip(cases, predictions):
        video = case.video.empty_like()
        for f, row in zip(case.frames, per_case):
            video.frames[f].people = [Person.predicted(xy, sc, track_id=j) for j, (xy, sc) in enumerate(row)]
        out.append(video)
    return out


def ap_summary(result: dict[str, Any]) -> dict[str, Any]:
    r = lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else round(float(v), 2)  # noqa: E731
    return {**{g: r(result[g]) for g in GROUPS}, "precision_Total": r(result["precision"]["Total"]),
            "recall_Total": r(result["recall"]["Total"]), "num_gt_people": result["num_gt_people"],
            "num_pred_people": result["num_pred_people"], "num_frames": result["num_frames"]}


def framing_overrides(enlarge: float, flip: bool, shift: bool) -> list[str]:
    return [f"data.enlarge={enlarge}", "data.aspect_ratio=1.0", f"test.flip={str(flip).lower()}",
            f"test.flip_shift={str(shift).lower()}"]


def gt_boxes(cases: list[Case]) -> list[list[list[tuple[np.ndarray, float]]]]:
    return [[[(box, 1.0) for _, box in row] for row in case.people] for case in cases]


def score_gt_boxes(cases, predictions, only=None) -> dict[str, Any]:
    """PCKh of the predictions from GT boxes; ``only``: per case, per position, the GT row
    indices to score (the people the detector found), else everyone."""
    pckh, per_video = PCKh(), {}
    for c, (case, per_case) in enumerate(zip(cases, predictions)):
        video = per_video[case.video.name] = PCKh()
        for p, (f, row, preds) in enumerate(zip(case.frames, case.people, per_case)):
            for r, ((k, _), (xy, _)) in enumerate(zip(row, preds)):
                if only is None or r in only[c][p]:
                    pckh.add(case.video.frames[f].people[k], xy)
                    video.add(case.video.frames[f].people[k], xy)
    out = pckh.result(per_joint=True)
    out["per_video_Total"] = {name: {k: v.result()[k] for k in ("Total", "joints_within", "joints", "people")}
                              for name, v in per_video.items()}
    return out


# --- the detector ----------------------------------------------------------------------------

def detect(cases: list[Case], input_size: int) -> tuple[list[list[list[tuple[np.ndarray, float]]]], float]:
    from vidpose.models.movenet import MoveNetMultiPose

    detector = MoveNetMultiPose(input_size=input_size)  # min_score 0.2, as the tracker
    began = time.perf_counter()
    out = [[[(d.box.copy(), d.score) for d in detector(case.source.read(p)) if d.box[2] > 0 and d.box[3] > 0]
            for p in range(len(case.source))] for case in cases]
    return out, time.perf_counter() - began


def match_detections(cases: list[Case], dets, keypoint_boxes: bool = False
                     ) -> tuple[list[list[dict[int, int]]], dict[str, Any]]:
    """Per case, per position: {GT row index: detection index} with IoU >= 0.5 (Hungarian).
    ``keypoint_boxes``: match against the box around the annotated keypoints instead of the GT
    box (the fixtures' boxes are 1.3x that extent, a detector's are tight)."""
    from scipy.optimize import linear_sum_assignment

    if keypoint_boxes:
        cases = [replace(c, people=[[(k, keypoints_box(c.video.frames[f].people[k].keypoints)
                                      if keypoints_box(c.video.frames[f].people[k].keypoints) is not None else b)
                                     for k, b in row] for f, row in zip(c.frames, c.people)]) for c in cases]

    matches, n_gt, n_det, n_match, ious, people = [], 0, 0, 0, [], []
    for case, per_case in zip(cases, dets):
        rows = []
        for f, row, found in zip(case.frames, case.people, per_case):
            n_gt += len(row)
            n_det += len(found)
            pairs: dict[int, int] = {}
            m = (box_iou(np.stack([b for _, b in row]), np.stack([b for b, _ in found])) if row and found
                 else np.zeros((len(row), len(found))))
            if row and found:
                for r, c in zip(*linear_sum_assignment(-m)):
                    if m[r, c] >= 0.5:
                        pairs[int(r)] = int(c)
                        ious.append(float(m[r, c]))
            for r, (k, box) in enumerate(row):
                people.append({"video": case.video.name, "frame": f, "person": k,
                               "box_wh": [round(float(box[2])), round(float(box[3]))],
                               "best_iou": round(float(m[r].max()), 3) if len(found) else 0.0,
                               "matched": r in pairs})
            n_match += len(pairs)
            rows.append(pairs)
        matches.append(rows)
    stats = {"gt_people": n_gt, "detections": n_det, "matched": n_match, "false_boxes": n_det - n_match,
             "recall": round(100.0 * n_match / max(n_gt, 1), 2),
             "precision": round(100.0 * n_match / max(n_det, 1), 2),
             "median_iou_matched": round(float(np.median(ious)), 3) if ious else None, "per_person": people}
    return matches, stats


def score_detector_boxes(cases, matches, predictions) -> tuple[dict[str, Any], dict[str, Any]]:
    matched, everyone = PCKh(), PCKh()
    for case, per_match, per_case in zip(cases, matches, predictions):
        for f, row, pairs, preds in zip(case.frames, case.people, per_match, per_case):
            for r, (k, _) in enumerate(row):
                gt = case.video.frames[f].people[k]
                xy = preds[pairs[r]][0] if r in pairs else None
                if xy is not None:
                    matched.add(gt, xy)
                everyone.add(gt, xy)
    return matched.result(per_joint=True), everyone.result(per_joint=True)


# --- the command itself, once per model ------------------------------------------------------

def cli_check(name: str, cases: list[Case], predictions, tmp: Path) -> dict[str, Any]:
    """``vidpose predict IMAGE_FOLDER --boxes FILE --model NAME`` (shipped framing) against this
    script's path: the largest keypoint difference in pixels over the videos it can run on."""
    from vidpose.cli import main

    worst, videos = 0.0, []
    for case, per_case in zip(cases, predictions):
        folder = case.source.path
        try:
            src = ImageFolderFrames(folder)
        except Exception:  # noqa: BLE001 - not a frame folder the command can read
            continue
        if [src.file(i) for i in range(len(src))] != case.source.files:
            continue  # the folder holds other frames too: positions would differ
        boxes_file, out = tmp / f"cli_{case.video.name}.json", tmp / f"cli_{name}_{case.video.name}_pred.json"
        write_boxes_file(boxes_file, [[(b, 1.0) for _, b in row] for row in case.people])
        if main(["predict", str(folder), "--boxes", str(boxes_file), "--model", name, "--out", str(out),
                 "--quiet"]) != 0:
            raise RuntimeError(f"vidpose predict failed on {folder}")
        (video,), _ = load_posetrack(out)
        for frame, preds in zip(video.frames, per_case):
            for person, (xy, sc) in zip(frame.people, preds):
                worst = max(worst, float(np.abs(person.keypoints[:, :2] - xy).max()),
                            float(np.abs(person.scores - sc).max()))
        videos.append(case.video.name)
    return {"videos": videos, "max_abs_difference": round(worst, 6)}


def best_framing(rows: dict[str, dict]) -> str:
    def key(item):
        _, r = item
        ap = r["ap"]["Total"]
        return (r["pckh"]["Total"] or 0.0, ap if ap is not None else -1.0)

    return max(rows.items(), key=key)[0]


def table(title: str, rows: list[tuple[str, dict, dict | None]]) -> str:
    head = f"{title:<34}" + "".join(f"{g:>9}" for g in GROUPS) + f"{'AP':>9}"
    lines = [head, "-" * len(head)]
    for label, pckh, ap in rows:
        cells = "".join(f"{pckh[g]:9.1f}" if pckh[g] is not None else f"{'-':>9}" for g in GROUPS)
        apv = ap["Total"] if ap else None
        lines.append(f"{label:<34}{cells}" + (f"{apv:9.1f}" if apv is not None else f"{'-':>9}"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--models", nargs="+", default=list(SHIPPED), choices=list(SHIPPED))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "real_fixtures.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import logging

    logging.basicConfig(level=logging.WARNING)
    began = time.perf_counter()
    if not (args.fixtures / "annotations" / "val").is_dir():
        print(f"error: {args.fixtures}/annotations/val is absent", file=sys.stderr)
        return 2
    cases, counts = gather(args.fixtures)
    counts["joints_inside_ignore_regions"] = joints_in_ignore_regions(cases)
    gt = eval_gt(cases)
    boxes = gt_boxes(cases)
    commit, dirty = git_state(ROOT)
    report: dict[str, Any] = {
        "command": "python benchmarks/real_fixtures.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": commit, "tracked_files_modified": dirty, "fixtures": str(args.fixtures),
        "torch_threads": args.threads, "torch": torch.__version__,
        "people": counts,
        "metric": "PCKh@0.5 pooled over joints (head size 0.6 x GT head-box diagonal, no ignore regions); "
                  "AP: vidpose.evaluation.evaluate_posetrack (posetrack18), joint score = heatmap peak x box score",
        "selection": "best framing = highest Total PCKh, ties broken by Total AP",
        "models": {},
    }
    print(f"{counts['videos']} videos, {counts['frames']} frames, {counts['people_scored']} people scored "
          f"({counts['people_with_bbox']} with a bbox, {counts['people_box_from_keypoints']} with a box from "
          f"keypoints), {counts['joints_total']} annotated joints")
    with tempfile.TemporaryDirectory(prefix="real_fixtures_") as tmpdir:
        tmp = Path(tmpdir)
        dets = {}
        det_stats = {}
        for size in (512, 768):
            dets[size], seconds = detect(cases, size)
            matches, stats = match_detections(cases, dets[size])
            _, kp_stats = match_detections(cases, dets[size], keypoint_boxes=True)
            det_stats[size] = (matches, {**stats, "input_size": size, "seconds": round(seconds, 2),
                                         "vs_keypoint_extent_boxes": {k: kp_stats[k] for k in (
                                             "matched", "recall", "false_boxes", "median_iou_matched")}})
        report["detector"] = {str(s): det_stats[s][1] for s in det_stats}
        for name in args.models:
            spec = SHIPPED[name]
            t0 = time.perf_counter()
            model, shipped_cfg = load_model(name, device=torch.device("cpu"))
            rows: dict[str, dict] = {}
            shipped_key = None
            for enlarge in ENLARGE:
                for flip_name, flip, shift in FLIPS:
                    key = f"enlarge={enlarge} {flip_name}"
                    cfg = load_config(spec.config, framing_overrides(enlarge, flip, shift))
                    predictor = VideoPredictor(model, cfg)
                    min_score = float(cfg["test"]["min_box_score"])
                    preds = [predict_case(predictor, c, b, tmp, min_score) for c, b in zip(cases, boxes)]
                    row: dict[str, Any] = {
                        "enlarge": enlarge, "aspect_ratio": 1.0, "flip": flip, "flip_shift": shift if flip else None,
                        "pckh": score_gt_boxes(cases, preds),
                        "ap": ap_summary(evaluate_posetrack(gt, pred_videos(cases, preds)))}
                    for size in (512, 768):
                        matches, stats = det_stats[size]
                        det_preds = [predict_case(predictor, c, b, tmp, min_score) for c, b in zip(cases, dets[size])]
                        matched, everyone = score_detector_boxes(cases, matches, det_preds)
                        row[f"detector_{size}"] = {
                            "pckh_matched": matched, "pckh_all_gt": everyone,
                            "pckh_gt_boxes_same_people": score_gt_boxes(cases, preds, matches),
                            "ap": ap_summary(evaluate_posetrack(gt, pred_videos(cases, det_preds)))}
                    rows[key] = row
                    d, t = shipped_cfg["data"], shipped_cfg["test"]
                    if (abs(float(d["enlarge"]) - enlarge) < 1e-9 and float(d["aspect_ratio"]) == 1.0
                            and bool(t["flip"]) == flip and (not flip or bool(t["flip_shift"]) == shift)):
                        shipped_key = key
                        shipped_preds = preds
            best = best_framing(rows)
            best_det = best_framing({k: {"pckh": r["detector_512"]["pckh_matched"], "ap": r["detector_512"]["ap"]}
                                     for k, r in rows.items()})
            pick = lambda key: None if key is None else {  # noqa: E731
                "framing": key, "pckh_Total": rows[key]["pckh"]["Total"], "ap_Total": rows[key]["ap"]["Total"],
                "detector_512": {"pckh_matched_Total": rows[key]["detector_512"]["pckh_matched"]["Total"],
                                 "pckh_gt_boxes_same_people_Total":
                                     rows[key]["detector_512"]["pckh_gt_boxes_same_people"]["Total"],
                                 "pckh_all_gt_Total": rows[key]["detector_512"]["pckh_all_gt"]["Total"],
                                 "ap_Total": rows[key]["detector_512"]["ap"]["Total"]}}
            entry: dict[str, Any] = {"config": spec.config, "shipped_framing": shipped_key, "best_framing": best,
                                     "best": pick(best), "shipped": pick(shipped_key),
                                     "best_on_detector_boxes_512": pick(best_det), "framings": rows}
            if shipped_key is not None:
                entry["cli_check"] = cli_check(name, cases, shipped_preds, tmp)
            entry["seconds"] = round(time.perf_counter() - t0, 1)
            report["models"][name] = entry
            order = sorted(rows, key=lambda k: (rows[k]["enlarge"], [f[0] for f in FLIPS].index(k.split()[1])))
            print()
            print(table(f"{name}: PCKh@0.5, GT boxes", [(k + (" *" if k == shipped_key else "")
                                                          + (" <best" if k == best else ""),
                                                          rows[k]["pckh"], rows[k]["ap"]) for k in order]))
            marks = lambda k, b: k + (" *" if k == shipped_key else "") + (" <best" if k == b else "")  # noqa: E731
            for size in (512, 768):
                print(table(f"{name}: detector {size}, matched", [
                    (marks(k, best_det if size == 512 else None), rows[k][f"detector_{size}"]["pckh_matched"],
                     rows[k][f"detector_{size}"]["ap"]) for k in order]))
            print(table(f"{name}: GT boxes, same people", [
                (marks(k, None), rows[k]["detector_512"]["pckh_gt_boxes_same_people"], None) for k in order]))
            if "cli_check" in entry:
                print(f"cli_check (vidpose predict --boxes vs this path): {entry['cli_check']}")
    report["best_per_model"] = {n: e["best"] for n, e in report["models"].items()}
    report["seconds"] = round(time.perf_counter() - began, 1)
    print()
    for size, (_, s) in det_stats.items():
        print(f"MoveNet at {size}: recall {s['recall']}% ({s['matched']}/{s['gt_people']}), "
              f"{s['false_boxes']} false boxes of {s['detections']}; against keypoint-extent boxes: recall "
              f"{s['vs_keypoint_extent_boxes']['recall']}%")
    for n, e in report["models"].items():
        for label in ("best", "shipped", "best_on_detector_boxes_512"):
            b = e[label]
            if b:
                print(f"{n:<16} {label:<27} {b['framing']:<26} GT boxes: PCKh {b['pckh_Total']:5.1f} AP "
                      f"{b['ap_Total']:5.1f} | detector 512: PCKh matched {b['detector_512']['pckh_matched_Total']:5.1f}"
                      f" (GT boxes, same people {b['detector_512']['pckh_gt_boxes_same_people_Total']:5.1f}), "
                      f"all GT {b['detector_512']['pckh_all_gt_Total']:5.1f}, AP {b['detector_512']['ap_Total']:5.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
