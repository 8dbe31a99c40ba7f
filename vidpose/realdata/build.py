"""Building RealData: each segment tracked and pseudo-labelled, test_hard's degraded key frames with their
clean twins, the statistics, resumable by segment (docs/realdata.md)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from vidpose.data.annotations import Frame, Person, Video, write_json_atomic
from vidpose.data.degrade import (DEGRADE_WEIGHTS, REF_PERSON_HEIGHT, SCALED_KINDS, SEVERITY, Cutout,
                                  degrade_real_frame, pixel_scale, ragged_patch)
from vidpose.data.frames import FrameSource, open_frames
from vidpose.data.schema import EVALUATED_JOINTS, KEYPOINT_NAMES, NUM_KEYPOINTS
from vidpose.realdata.segments import (ALL_SPLITS, FIRST_VIDEO_ID, HARD, HARD_CLEAN, JPEG_QUALITY, KIND, SEED,
                                       SEGMENTS, SPLITS, VERSION, RealDataError, Segment, SegmentFrames, git_commit,
                                       image_id, segment_index, split_definition, video_name)
from vidpose.realdata.teacher import TEACHER_NAME, Segmenter, Teacher, label_frame, pseudo_label_info, save_pseudo_video

log = logging.getLogger(__name__)


HARD_LABEL_EVERY, HARD_LABEL_OFFSET = 3, 2


CUTOUT_MIN_GAP = 5  # cut-outs come from frames at least this far from the key frame


CUTOUT_FRAMES = 6  # frames per video the cut-out pool is cut from


def frame_cutouts(image: np.ndarray, boxes: Sequence[np.ndarray], masks: Sequence[np.ndarray], tracks: Sequence[int],
                  rng: np.random.Generator) -> list[Cutout]:
    """Occluders cut from one clean frame (float RGB): each segmented person's silhouette (its
    ``source`` is their track id, so it is never pasted over them) and one ragged texture patch
    of about half the median person height."""
    out = []
    for box, mask, track in zip(boxes, masks, tracks):
        if mask is None or mask.sum() < 150:
            continue
        ys, xs = np.nonzero(mask)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        out.append(Cutout(image[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].astype(np.float32), "person", int(track)))
    side = 0.5 * REF_PERSON_HEIGHT * pixel_scale(boxes)
    out.append(ragged_patch(image, rng, side))
    return out


def cutout_frames(length: int, count: int = CUTOUT_FRAMES) -> list[int]:
    """The frames of a video that the occluder pool is cut from: ``count`` spread evenly."""
    return sorted({int(round(x)) for x in np.linspace(0, length - 1, min(count, length))}) if length else []


def eligible_cutouts(pool: dict[int, list[Cutout]], frame: int, min_gap: int = CUTOUT_MIN_GAP) -> list[Cutout]:
    """Cut-outs from frames at least ``min_gap`` from ``frame``; in a video too short for that,
    from the farthest frames outside the +-2 window (none when there are none)."""
    far = [g for g in pool if abs(g - frame) >= min_gap]
    if not far:
        outside = [g for g in pool if abs(g - frame) > 2]
        best = max((abs(g - frame) for g in outside), default=None)
        far = [g for g in outside if abs(g - frame) == best]
    return [c for g in sorted(far) for c in pool[g]]


def hidden_joints(alpha: np.ndarray | None, keypoints: np.ndarray) -> np.ndarray:
    """(17,) bool: annotated joints under the pasted occluders (alpha > 0.5)."""
    out = np.zeros(NUM_KEYPOINTS, bool)
    if alpha is None:
        return out
    h, w = alpha.shape
    for j in np.flatnonzero(keypoints[:, 2] > 0):
        x = min(max(int(round(keypoints[j, 0])), 0), w - 1)
        y = min(max(int(round(keypoints[j, 1])), 0), h - 1)
        out[j] = alpha[y, x] > 0.5
    return out


def _write_jpeg(path: Path, rgb: np.ndarray, quality: int = JPEG_QUALITY) -> None:
    if rgb.dtype != np.uint8:
        rgb = np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise RealDataError(f"{path}: could not write image")


def _fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def asset_fps(asset: str) -> float:
    """Frame rate of an asset's video (Sports2D 30, vtest 10, Pose2Sim 60)."""
    return 60.0 if asset.startswith("pose2sim") else {"sports2d_demo": 30.0, "vtest": 10.0}[asset]


def _image_entry(vid: int, f: int, n: int, w: int, h: int, segment: Segment, source_frame: int) -> dict:
    return {"vid_id": f"{vid:06d}", "frame_id": image_id(vid, f), "nframes": n, "width": w, "height": h,
            "source": {"asset": segment.asset, "segment": segment.name, "frame": int(source_frame)},
            "pseudo_labels": TEACHER_NAME}


def _detection(file_name: str, iid: int, n: int, box: np.ndarray, score: float, track: int) -> dict:
    return {"image_name": file_name, "bbox": [round(float(v), 2) for v in box], "score": round(float(score), 4),
            "category_id": 1, "nframes": n, "frame_id": iid, "track_id": int(track)}


@dataclass
class BuildOptions:
    """What ``vidpose realdata build`` was asked for."""

    max_frames: int | None = None
    detect_every: int = 10
    seed: int = SEED
    progress: bool = False


def build_segment(segment: Segment, out: Path, teacher: Teacher, segmenter: "Segmenter | None",
                  opts: BuildOptions) -> dict[str, Any]:
    """Write one segment (frames, pseudo labels, and for a test segment test_hard and
    test_hard_clean); returns its part record (counts, detections, timings)."""
    from tqdm import tqdm

    from vidpose.assets import asset_path
    from vidpose.tracking import track_people

    t0 = time.perf_counter()
    source = open_frames(asset_path(segment.asset))
    indices = segment.frames(len(source), opts.max_frames)
    if not indices:
        raise RealDataError(f"segment {segment.name}: no frames (the asset has {len(source)})")
    frames = SegmentFrames(source, indices)
    k = segment_index(segment)
    name, vid = video_name(segment.split, k), FIRST_VIDEO_ID[segment.split] + k
    n = len(indices)
    image_dir = _fresh_dir(out / "images" / segment.split / name)
    for f in tqdm(range(n), desc=f"{segment.name}: frames", disable=not opts.progress):
        _write_jpeg(image_dir / f"{f:06d}.jpg", frames.read(f))
    if hasattr(source, "close"):
        source.close()
    t_write = time.perf_counter()

    written = open_frames(image_dir)
    found = track_people(written, detect_every=opts.detect_every, small_people=segment.small_people)
    t_track = time.perf_counter()

    counts: Counter = Counter()
    annotated = np.zeros(NUM_KEYPOINTS)
    frames_out: list[Frame] = []
    detections: dict[str, list[dict]] = {segment.split: []}
    teacher_points: list[tuple[np.ndarray, np.ndarray]] = []
    h = w = 0
    for f in tqdm(range(n), desc=f"{segment.name}: teacher", disable=not opts.progress):
        image = written.read(f)
        h, w = image.shape[:2]
        boxes, tracks, scores = found.boxes[f], found.tracks[f], found.scores[f]
        people, ignore, xy, peaks = label_frame(image, boxes, tracks, teacher)
        teacher_points.append((xy, peaks))
        file_name = f"images/{segment.split}/{name}/{f:06d}.jpg"
        iid = image_id(vid, f)
        frames_out.append(Frame(file_name, iid, bool(people), people, ignore if people else [], w, h,
                                _image_entry(vid, f, n, w, h, segment, indices[f])))
        for box, score, track in zip(boxes, scores, tracks):
            detections[segment.split].append(_detection(file_name, iid, n, box, score, track))
        counts["frames"] += 1
        counts["labeled_frames"] += int(bool(people))
        counts["people"] += len(people)
        counts["tracked_boxes"] += len(boxes)
        counts["ignore_regions"] += len(ignore) if people else 0
        for p in people:
            annotated += p.keypoints[:, 2] > 0
    video = Video(name, frames_out)
    save_pseudo_video(video, out / "annotations" / segment.split / f"{name}.json")
    t_teacher = time.perf_counter()

    hard: dict[str, Any] = {}
    if segment.split == "test":
        hard = build_hard(segment, out, video, written, found, teacher_points, segmenter, opts)
        for split in (HARD, HARD_CLEAN):
            detections[split] = hard.pop(f"detections_{split}")
    t_hard = time.perf_counter()
    return {"segment": segment.name, "asset": segment.asset, "split": segment.split, "video": name,
            "version": VERSION, "max_frames": opts.max_frames, "source_frames": [int(i) for i in indices],
            "fps": asset_fps(segment.asset) / segment.step, "size": [w, h], "counts": dict(counts),
            "annotated": annotated.tolist(), "tracks": int(len({int(t) for tr in found.tracks for t in tr})),
            "detections": detections, "hard": hard,
            "seconds": {"frames": round(t_write - t0, 2), "tracking": round(t_track - t_write, 2),
                        "teacher": round(t_teacher - t_track, 2), "hard": round(t_hard - t_teacher, 2),
                        "total": round(t_hard - t0, 2)}}


def build_hard(segment: Segment, out: Path, video: Video, written: FrameSource, found: Any,
               teacher_points: list[tuple[np.ndarray, np.ndarray]], segmenter: "Segmenter | None",
               opts: BuildOptions) -> dict[str, Any]:
    """test_hard (key frames f % 3 == 2 that have pseudo labels, degraded; every other frame a
    byte copy of the clean test JPEG) and test_hard_clean (every frame a byte copy), with the
    clean frames' pseudo labels; returns counts, degradation records and detections."""
    k = segment_index(segment)
    name, vid = video_name(HARD, k), FIRST_VIDEO_ID[HARD] + k
    n = len(video.frames)
    hard_dir = _fresh_dir(out / "images" / HARD / name)
    clean_dir = _fresh_dir(out / "images" / HARD_CLEAN / name)
    keys = [f for f in range(n) if f % HARD_LABEL_EVERY == HARD_LABEL_OFFSET and video.frames[f].people]

    def as_float(f: int) -> np.ndarray:
        return written.read(f).astype(np.float32) / 255.0

    def masks_of(f: int) -> list[np.ndarray | None]:
        boxes = found.boxes[f]
        if segmenter is None or not len(boxes):
            return [None] * len(boxes)
        return segmenter(written.read(f), [np.asarray(b, float) for b in boxes])

    pool: dict[int, list[Cutout]] = {}
    if keys:
        for g in cutout_frames(n):
            rng = np.random.default_rng([opts.seed, vid, g, 7])
            pool[g] = frame_cutouts(as_float(g), list(found.boxes[g]), masks_of(g), list(found.tracks[g]), rng)
    hard_frames, clean_frames, records = [], [], []
    det_hard, det_clean = [], []
    counts: Counter = Counter()
    for f in range(n):
        src = Path(video.frames[f].file_name).name
        clean_path = out / video.frames[f].file_name
        shutil.copyfile(clean_path, clean_dir / src)
        frame = video.frames[f]
        labeled = f in keys
        hard_name, clean_name = f"images/{HARD}/{name}/{f:06d}.jpg", f"images/{HARD_CLEAN}/{name}/{f:06d}.jpg"
        iid = image_id(vid, f)
        raw = {**frame.raw, "vid_id": f"{vid:06d}", "frame_id": iid}
        people = []
        record = None
        if labeled:
            boxes = [np.asarray(b, float) for b in found.boxes[f]]
            tracks = [int(t) for t in found.tracks[f]]
            by_track = {p.track_id: p for p in frame.people}
            joints = [by_track[t].keypoints if t in by_track else None for t in tracks]
            rng = np.random.default_rng([opts.seed, vid, f])
            cutouts = eligible_cutouts(pool, f)
            image, record, alpha = degrade_real_frame(
                as_float(f), rng, boxes, masks_of(f), joints, tracks,
                prev=as_float(f - 1) if f > 0 else None, nxt=as_float(f + 1) if f + 1 < n else None,
                cutouts=cutouts)
            _write_jpeg(hard_dir / src, image)
            hidden_total = 0
            for p in frame.people:
                hidden = hidden_joints(alpha, p.keypoints)
                hidden_total += int(hidden.sum())
                people.append(Person(p.keypoints.copy(), p.track_id, p.bbox, p.bbox_head, p.scores, occluded=hidden))
            if alpha is not None:
                record["occluded_joints"] = hidden_total
            records.append({"frame": f, **record})
            counts["labeled_frames"] += 1
            counts["people"] += len(people)
            counts[record["type"]] += 1
            counts["occluded_joints"] += hidden_total
        else:
            shutil.copyfile(clean_path, hard_dir / src)
        counts["frames"] += 1
        ignore = frame.ignore_regions if labeled else []
        hard_raw = {**raw, "degradations": [record] if record else []}
        hard_frames.append(Frame(hard_name, iid, labeled, people, ignore, frame.width, frame.height, hard_raw))
        clean_people = [Person(p.keypoints.copy(), p.track_id, p.bbox, p.bbox_head, p.scores) for p in people]
        clean_frames.append(Frame(clean_name, iid, labeled, clean_people, ignore, frame.width, frame.height,
                                  {**raw, "degradations": [], "clean_twin_of": hard_name}))
        for box, score, track in zip(found.boxes[f], found.scores[f], found.tracks[f]):
            det_hard.append(_detection(hard_name, iid, n, box, score, track))
            det_clean.append(_detection(clean_name, iid, n, box, score, track))
    save_pseudo_video(Video(name, hard_frames), out / "annotations" / HARD / f"{name}.json")
    save_pseudo_video(Video(name, clean_frames), out / "annotations" / HARD_CLEAN / f"{name}.json")
    return {"video": name, "counts": dict(counts), "degradations": records,
            f"detections_{HARD}": det_hard, f"detections_{HARD_CLEAN}": det_clean}


def select_segments(names: Sequence[str] | None) -> list[Segment]:
    if not names:
        return list(SEGMENTS)
    known = {s.name: s for s in SEGMENTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise RealDataError(f"unknown segment(s) {', '.join(unknown)}; segments are {', '.join(known)}")
    return [known[n] for n in names]


def prepare_out(out: Path, resume: bool) -> None:
    """RealData is written into an empty (or new) folder, or continued there with ``resume``
    (a folder of another kind or version is refused)."""
    if not out.exists() or not any(out.iterdir()):
        return
    stats = out / "stats.json"
    parts = out / "parts"
    if not resume:
        raise RealDataError(f"{out}: the folder is not empty; RealData is written into an empty folder. Continue an "
                            "interrupted build with --resume, or choose another --out")
    if stats.is_file():
        found = json.loads(stats.read_text())
        if found.get("kind") != KIND or found.get("version") != VERSION:
            raise RealDataError(f"{out}: holds {found.get('kind', 'another data set')} version "
                                f"{found.get('version')}, not RealData version {VERSION}; refusing to mix them")
    elif not parts.is_dir():
        raise RealDataError(f"{out}: holds files but no RealData build (no parts/ or stats.json); refusing to write "
                            "into it")


def _part_ok(path: Path, opts: BuildOptions) -> bool:
    try:
        part = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return part.get("version") == VERSION and part.get("max_frames") == opts.max_frames


def build(out: str | os.PathLike = "data/realdata", segments: Sequence[str] | None = None,
          max_frames: int | None = None, resume: bool = False, progress: bool = True, detect_every: int = 10,
          teacher: Teacher | None = None, segmenter: "Segmenter | None" = None) -> dict[str, Any]:
    """``vidpose realdata build``: every selected segment (all by default), each at most
    ``max_frames`` frames, then the detection files and stats.json over every finished part."""
    from vidpose.assets import asset_path

    if max_frames is not None and max_frames < 1:
        raise RealDataError(f"--max-frames must be at least 1, got {max_frames}")
    out = Path(out)
    chosen = select_segments(segments)
    prepare_out(out, resume)
    for s in chosen:  # every asset first: a missing one stops the build before any work
        asset_path(s.asset)
    opts = BuildOptions(max_frames=max_frames, detect_every=detect_every, progress=progress)
    (out / "parts").mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    todo = [s for s in chosen if not (resume and _part_ok(out / "parts" / f"{s.name}.json", opts))]
    if len(todo) < len(chosen):
        log.info("--resume: %d of %d segments already built", len(chosen) - len(todo), len(chosen))
    if todo:
        teacher = teacher or Teacher()
        if segmenter is None and any(s.split == "test" for s in todo):
            segmenter = Segmenter()
    for s in todo:
        log.info("realdata: building %s (%s, %s)", s.name, s.asset, s.split)
        part = build_segment(s, out, teacher, segmenter, opts)
        part["teacher_crops"] = teacher.crops
        write_json_atomic(part, out / "parts" / f"{s.name}.json")
        log.info("realdata: %s: %d frames, %d people in %.1f s", s.name, part["counts"]["frames"],
                 part["counts"]["people"], part["seconds"]["total"])
    return write_stats(out, opts, time.perf_counter() - began)


def write_stats(out: Path, opts: BuildOptions, seconds: float) -> dict[str, Any]:
    """Merge every finished part into detections/{split}.json and stats.json."""
    parts = []
    for path in sorted((out / "parts").glob("*.json")):
        part = json.loads(path.read_text())
        if part.get("version") == VERSION:
            parts.append(part)
    order = {s.name: i for i, s in enumerate(SEGMENTS)}
    parts.sort(key=lambda p: order.get(p["segment"], len(order)))
    splits: dict[str, Any] = {}
    for split in ALL_SPLITS:
        mine = [p for p in parts if split in p["detections"]]
        if not mine:
            continue
        dets = [d for p in mine for d in p["detections"][split]]
        write_json_atomic(dets, out / "detections" / f"{split}.json")
        if split in SPLITS:
            counts: Counter = Counter()
            annotated = np.zeros(NUM_KEYPOINTS)
            for p in mine:
                counts.update(p["counts"])
                annotated += np.asarray(p["annotated"])
            people = max(counts["people"], 1)
            splits[split] = {"videos": len(mine), **dict(counts), "detections": len(dets),
                             "kept_joint_rate": {KEYPOINT_NAMES[j]: round(float(annotated[j] / people), 3)
                                                 for j in EVALUATED_JOINTS}}
        else:
            counts = Counter()
            for p in mine:
                counts.update(p["hard"]["counts"])
            lab = max(counts["labeled_frames"], 1)
            entry = {"videos": len(mine), "frames": counts["frames"], "labeled_frames": counts["labeled_frames"],
                     "people": counts["people"], "detections": len(dets)}
            if split == HARD:
                entry["rate_by_type"] = {kind: round(counts[kind] / lab, 3) for kind in DEGRADE_WEIGHTS}
                entry["occluded_joints"] = counts["occluded_joints"]
            splits[split] = entry
    built = {p["segment"] for p in parts}
    stats = {
        "kind": KIND, "version": VERSION, **pseudo_label_info(), "seed": opts.seed,
        "max_frames": sorted({p["max_frames"] for p in parts}, key=lambda m: (m is None, m or 0)),
        "complete": built >= {s.name for s in SEGMENTS} and all(p["max_frames"] is None for p in parts),
        "splits": splits, "split_definition": split_definition(),
        "videos": {p["video"]: {"segment": p["segment"], "asset": p["asset"], "split": p["split"],
                                "source_frames": [p["source_frames"][0], p["source_frames"][-1]],
                                "frames": len(p["source_frames"]), "fps": p["fps"], "size": p["size"],
                                **({"hard_video": p["hard"]["video"]} if p.get("hard") else {})} for p in parts},
        "degradation": {"weights": DEGRADE_WEIGHTS, "severity": list(SEVERITY), "ref_person_height": REF_PERSON_HEIGHT,
                        "scaled_kinds": list(SCALED_KINDS), "label_every": HARD_LABEL_EVERY,
                        "label_offset": HARD_LABEL_OFFSET, "cutout_min_gap": CUTOUT_MIN_GAP},
        "seconds": {"this_run": round(seconds, 1),
                    "segments": {p["segment"]: p["seconds"] for p in parts}},
        "commit": git_commit(),
    }
    stats["bytes"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and p.name != "stats.json")
    write_json_atomic(stats, out / "stats.json")
    return stats
