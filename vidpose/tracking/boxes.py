"""The boxes ``vidpose predict`` crops: per frame, each person's box, score and track id.

``VideoBoxes`` is what people finding hands to pose estimation, whether the boxes come from the
tracker (``tracking/tracker.py``) or from a file (``load_video_boxes``, the one reader of
box files for a video). ``link_tracks`` gives a file without ``track_id`` its tracks by greedy
IoU between consecutive frames.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidpose.data.annotations import AnnotationError, load_json
from vidpose.data.detections import box_iou
from vidpose.data.frames import FrameSource

log = logging.getLogger(__name__)

@dataclass
class VideoBoxes:
    """Per frame: boxes (N, 4) xywh, scores (N,), track ids (N,)."""

    boxes: list[np.ndarray]
    scores: list[np.ndarray]
    tracks: list[np.ndarray] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # unusable boxes of a file, by reason


def link_tracks(boxes: list[np.ndarray], threshold: float = 0.3) -> list[np.ndarray]:
    """Greedy IoU linking of consecutive frames: each box continues the best-overlapping unused
    box of the previous frame (IoU >= ``threshold``), else starts a new track."""
    tracks, next_id = [], 0
    previous, previous_ids = np.zeros((0, 4)), np.zeros(0, int)
    for frame_boxes in boxes:
        ids = np.full(len(frame_boxes), -1)
        if len(frame_boxes) and len(previous):
            overlap = box_iou(frame_boxes, previous)
            for flat in np.argsort(-overlap, axis=None):
                i, j = np.unravel_index(flat, overlap.shape)
                if overlap[i, j] < threshold:
                    break
                if ids[i] < 0 and previous_ids[j] not in ids:
                    ids[i] = previous_ids[j]
        for i in np.flatnonzero(ids < 0):
            ids[i], next_id = next_id, next_id + 1
        tracks.append(ids)
        previous, previous_ids = frame_boxes, ids
    return tracks


_NUMBER = re.compile(r"(\d+)\D*$")


def _posetrack_video_of(entry: Any) -> str | None:
    """The PoseTrack video an entry names, as its 6-digit number: from a PoseTrack18 image id
    (``1`` + video + 4-digit frame, as in mmpose's detection files) or from the folder of an
    ``image_name`` (``images/val/003418_mpii_test/000000.jpg``); None when it names none."""
    if not isinstance(entry, dict):
        return None
    value = entry.get("image_id")
    if isinstance(value, int) and not isinstance(value, bool) and 10 ** 10 <= value < 2 * 10 ** 10:
        return f"{value // 10000 % 10 ** 6:06d}"
    name = entry.get("image_name")
    if isinstance(name, str):
        parts = name.replace("\\", "/").split("/")
        if len(parts) >= 2:
            m = _VIDEO_NUMBER.match(parts[-2])
            return f"{int(m.group(1)):06d}" if m else parts[-2]
    return None


_VIDEO_NUMBER = re.compile(r"^(\d+)(?:_|$)")


def _this_video(path: Path) -> str | None:
    """The PoseTrack video number in a frame folder's or video file's name (``003418_mpii_test``)."""
    name = path.stem if path.suffix else path.name
    m = _VIDEO_NUMBER.match(name)
    return f"{int(m.group(1)):06d}" if m else None


def _entries_of_this_video(path: str | os.PathLike, data: list, source: FrameSource) -> list[tuple[int, Any]]:
    """A detection file of several videos (mmpose's ``posetrack18_val_human_detections.json``, or
    PoseWarper/DCPose's ``val_boxes.json``) keeps only the entries of the video being predicted,
    found by its number in the folder or file name; entries that name no video are kept."""
    indexed = list(enumerate(data))  # JSON positions stay those of the file in messages
    named = {_posetrack_video_of(e) for e in data} - {None}
    if len(named) <= 1:
        return indexed  # one video (or positions only): the file is this video's
    own = _this_video(Path(source.path))
    examples = ", ".join(sorted(named)[:4]) + (" ..." if len(named) > 4 else "")
    if own is None:
        raise AnnotationError(path, "$", f"holds boxes of {len(named)} videos ({examples}) and {source.path} has no "
                                         "PoseTrack video number in its name to pick its own; name the folder or file "
                                         "like 003418_mpii_test, or give a detection file of this video only")
    kept = [(i, e) for i, e in indexed if _posetrack_video_of(e) in (own, None)]
    if not any(_posetrack_video_of(e) == own for _, e in kept):
        raise AnnotationError(path, "$", f"holds boxes of {len(named)} videos ({examples}) but none of video {own} "
                                         f"({source.path})")
    log.info("%s: %d of %d boxes are of video %s (%s)", path, len(kept), len(data), own, source.path)
    return kept


def load_video_boxes(path: str | os.PathLike, source: FrameSource, min_score: float = 0.0) -> VideoBoxes:
    """Boxes for each frame of ``source`` from a detection file: a list of entries with ``bbox``
    (x, y, w, h), optional ``score`` and ``track_id``, and the frame as ``frame_index`` (an
    integer, 0-based position), ``image_name`` (the number in the file name, as in PoseTrack;
    PoseWarper/DCPose layout) or ``image_id`` (mmpose layout: a PoseTrack18 image id, whose last 4
    digits are the frame). A file of several videos gives only this video's boxes: the one named
    by the number in the folder or file name (``003418_mpii_test``).
    Entries of frames outside the video, and a ``frame_index`` that is not an integer, are errors
    naming the entry. Boxes that cannot be used (not 4 numbers, zero or negative size, NaN or Inf,
    a NaN score) and boxes scored below ``min_score`` are skipped, counted by reason and reported
    in one warning with the first JSON path of each reason; frames without entries have no
    boxes."""
    data = load_json(path)
    n = len(source)
    first = getattr(source, "first", 0)
    if isinstance(data, dict) and isinstance(data.get("annotations"), list) and isinstance(data.get("images"), list):
        data = _posetrack_boxes(path, data)  # a PoseTrack18 file: its people's boxes, frames by image order
    if not isinstance(data, list):
        raise AnnotationError(path, "$", "expected a list of detections (or a PoseTrack18 file)")
    entries = _entries_of_this_video(path, data, source)
    boxes: list[list] = [[] for _ in range(n)]
    skipped: dict[str, list[str]] = {}
    for i, e in entries:
        where = f"$[{i}]"
        if not isinstance(e, dict) or "bbox" not in e:
            raise AnnotationError(path, where, "expected an object with a 'bbox'")
        if "frame_index" in e:
            value = e["frame_index"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
                raise AnnotationError(path, f"{where}.frame_index", f"must be an integer frame position, got {value!r}")
            f = int(value)
        elif "image_name" in e:
            m = _NUMBER.search(Path(str(e["image_name"])).stem)
            if not m:
                raise AnnotationError(path, f"{where}.image_name", f"no frame number in {e['image_name']!r}")
            f = int(m.group(1)) - first
        elif "image_id" in e:  # mmpose layout: PoseTrack18 image ids end in the 4-digit frame number
            value = e["image_id"]
            if isinstance(value, bool) or not isinstance(value, int):
                raise AnnotationError(path, f"{where}.image_id", f"must be an integer image id, got {value!r}")
            f = value % 10000 - first
        else:
            raise AnnotationError(path, where, "needs 'frame_index', 'image_name' or 'image_id' to place it in the "
                                               "video")
        if not 0 <= f < n:
            raise AnnotationError(path, where, f"frame {f} is outside the video ({n} frames: {source.path})")
        reason = _unusable_box(e)
        if reason is None and e.get("category_id", 1) != 1:
            reason = "of another category than person (category_id 1)"
        if reason is None and float(e.get("score", 1.0)) < min_score:
            reason = f"scored below --min-box-score {min_score}"
        if reason is not None:
            skipped.setdefault(reason, []).append(f"{where}.bbox")
            continue
        boxes[f].append((np.asarray(e["bbox"], dtype=np.float64), float(e.get("score", 1.0)), e.get("track_id")))
    if skipped:
        log.warning("%s: skipped %d of %d boxes: %s", path, sum(len(v) for v in skipped.values()), len(entries),
                    "; ".join(f"{len(v)} {reason} (first at {v[0]})" for reason, v in skipped.items()))
    out = VideoBoxes([np.array([b for b, _, _ in fb]).reshape(-1, 4) for fb in boxes],
                     [np.array([s for _, s, _ in fb]) for fb in boxes])
    given = [[t for _, _, t in fb] for fb in boxes]
    if all(t is not None for fb in given for t in fb) and any(given):
        out.tracks = [np.array(fb, dtype=int) for fb in given]
    else:
        out.tracks = link_tracks(out.boxes)
    out.skipped = {reason: len(v) for reason, v in skipped.items()}
    return out


def _posetrack_boxes(path: str | os.PathLike, doc: dict) -> list[dict]:
    """The people of a PoseTrack18 file as detection entries: frame = the image's position in
    ``images``, box and track id from the annotation."""
    position = {}
    for k, image in enumerate(doc["images"]):
        if not isinstance(image, dict) or "id" not in image:
            raise AnnotationError(path, f"$.images[{k}]", "expected an image object with an 'id'")
        position[image["id"]] = k
    entries = []
    for i, a in enumerate(doc["annotations"]):
        if not isinstance(a, dict) or "bbox" not in a:
            continue  # people without a box (ignore entries) are not boxes to crop
        if a.get("image_id") not in position:
            raise AnnotationError(path, f"$.annotations[{i}].image_id", f"no image with id {a.get('image_id')!r}")
        entry = {"bbox": a["bbox"], "score": a.get("score", 1.0), "frame_index": position[a["image_id"]]}
        if "track_id" in a:
            entry["track_id"] = a["track_id"]
        entries.append(entry)
    return entries


def _unusable_box(entry: dict) -> str | None:
    """Why a detection entry's box cannot be cropped, or None."""
    box, score = entry.get("bbox"), entry.get("score", 1.0)
    if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
        return "not 4 numbers"
    if not np.isfinite(np.asarray(box, dtype=np.float64)).all():
        return "with NaN or Inf"
    if box[2] <= 0 or box[3] <= 0:
        return "of zero or negative size"
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not np.isfinite(score):
        return "with a score that is not a finite number"
    return None


def _interpolate(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    """The xywh box a fraction ``w`` of the way from ``a`` to ``b`` (centre and size linear)."""
    ca, cb = a[:2] + a[2:] / 2, b[:2] + b[2:] / 2
    size = (1 - w) * a[2:] + w * b[2:]
    centre = (1 - w) * ca + w * cb
    return np.concatenate([centre - size / 2, size])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(box_iou(a[None], b[None])[0, 0])


def boxes_in_time(found: VideoBoxes, mode: str = "offline", weak_score: float = 0.3, jump_iou: float = 0.3,
                  max_gap: int = 10, coast: int = 3) -> VideoBoxes:
    """Each track's boxes where its own measurement is weak, taken from its neighbouring frames.

    A track's measurement in a frame is *confident* when its score is at least ``weak_score``
    and its box agrees with the track's other confident frames (IoU at least ``jump_iou`` with
    the box they give there: a sudden jump is a measurement of a degraded frame, not a move).
    Every other frame of the track, measured weakly or not at all, is *weak*. Its box comes from
    time:

    - ``offline``: interpolated (centre and size, linearly) between the confident frames before
      and after, when at most ``max_gap`` frames apart; its score is the lower of theirs;
    - ``causal``: the last confident box moved at the track's velocity (from its last two
      confident frames), for at most ``coast`` frames after it, whether or not the track is
      seen again; its score is that box's. Only frames up to the current one are read, so the
      box of frame t is ready when t arrives;
    - ``off``: the boxes as found.

    A weak measurement that time cannot replace is kept as it is. The temporal head then crops
    the person where the neighbours put them, rather than where a blurred frame's own pose did,
    or not at all where the tracker found no one (issue 39: motion blur hides people from the
    detector).
    """
    if mode not in ("offline", "causal", "off"):
        raise ValueError(f"mode must be offline, causal or off, got {mode!r}")
    if mode == "off":
        return found
    n = len(found.boxes)
    if mode == "causal":  # frame by frame, as live use sees them
        live = CausalBoxes(weak_score, jump_iou, coast)
        steps = [live.update(found.boxes[f], found.scores[f], found.tracks[f]) for f in range(n)]
        log.info("boxes in time (causal): %d boxes placed from the track's past frames", live.placed)
        return VideoBoxes([b for b, _, _ in steps], [s for _, s, _ in steps], [t for _, _, t in steps],
                          dict(found.skipped))
    seen: dict[int, dict[int, tuple[np.ndarray, float]]] = {}
    for f in range(n):
        for box, score, track in zip(found.boxes[f], found.scores[f], found.tracks[f]):
            seen.setdefault(int(track), {})[f] = (np.asarray(box, np.float64), float(score))
    out: list[dict[int, tuple[np.ndarray, float]]] = [{} for _ in range(n)]
    filled = 0
    for track, frames in seen.items():
        placed = _offline_track(frames, weak_score, jump_iou, max_gap)
        for f, (box, score, from_time) in placed.items():
            out[f][track] = (box, score)
            filled += from_time
    result = VideoBoxes([np.array([b for b, _ in fr.values()], np.float64).reshape(-1, 4) for fr in out],
                        [np.array([s for _, s in fr.values()], np.float64) for fr in out],
                        [np.array(list(fr), int) for fr in out], dict(found.skipped))
    log.info("boxes in time (offline): %d boxes of %d tracks placed from their neighbouring frames", filled,
             len(seen))
    return result


def _confident(frames: dict[int, tuple[np.ndarray, float]], weak_score: float, jump_iou: float) -> list[int]:
    """The frames whose measurement is confident (``boxes_in_time``), in order: scored at least
    ``weak_score`` and within ``jump_iou`` of the interpolation of the scored frames around it."""
    scored = [f for f in sorted(frames) if frames[f][1] >= weak_score]
    kept = []
    for k, f in enumerate(scored):
        before = scored[k - 1] if k > 0 else None
        after = scored[k + 1] if k + 1 < len(scored) else None
        if before is not None and after is not None:
            expected = _interpolate(frames[before][0], frames[after][0], (f - before) / (after - before))
            if _iou(frames[f][0], expected) < jump_iou:
                continue
        kept.append(f)
    return kept


def _predict(anchors: list[tuple[int, np.ndarray]], f: int) -> np.ndarray:
    """The last confident box moved to frame f at the velocity of the last two confident frames."""
    last_f, last = anchors[-1]
    if len(anchors) < 2:
        return last.copy()
    prev_f, prev = anchors[-2]
    velocity = ((last[:2] + last[2:] / 2) - (prev[:2] + prev[2:] / 2)) / (last_f - prev_f)
    box = last.copy()
    box[:2] += velocity * (f - last_f)
    return box


def _offline_track(frames: dict[int, tuple[np.ndarray, float]], weak_score: float, jump_iou: float,
                   max_gap: int) -> dict[int, tuple[np.ndarray, float, bool]]:
    anchors = _confident(frames, weak_score, jump_iou)
    placed = {f: (box, score, False) for f, (box, score) in frames.items()}
    for a, b in zip(anchors, anchors[1:]):
        if b - a > max_gap:
            continue
        for f in range(a + 1, b):
            box = _interpolate(frames[a][0], frames[b][0], (f - a) / (b - a))
            placed[f] = (box, min(frames[a][1], frames[b][1]), True)
    return placed


class CausalBoxes:
    """``boxes_in_time(mode="causal")`` one frame at a time: ``update`` takes a frame's found boxes,
    scores and track ids and returns that frame's boxes, scores and ids, having read nothing
    later. A track's confident frames (``boxes_in_time``) give its velocity; for at most ``coast``
    frames after its last one, whether or not the track is seen again, a weak or missing
    measurement is replaced by the last confident box moved at that velocity."""

    def __init__(self, weak_score: float = 0.3, jump_iou: float = 0.3, coast: int = 3):
        self.weak_score, self.jump_iou, self.coast = weak_score, jump_iou, coast
        self.anchors: dict[int, list[tuple[int, np.ndarray, float]]] = {}  # track -> its last two confident frames
        self.t = 0
        self.placed = 0

    def update(self, boxes: np.ndarray, scores: np.ndarray, tracks: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = self.t
        out: dict[int, tuple[np.ndarray, float]] = {}
        for box, score, track in zip(boxes, scores, tracks):
            track, box = int(track), np.asarray(box, np.float64)
            history = self.anchors.get(track, [])
            past = [(f, b) for f, b, _ in history]
            if score >= self.weak_score and (not past or _iou(box, _predict(past, t)) >= self.jump_iou):
                self.anchors[track] = (history + [(t, box, float(score))])[-2:]
            out[track] = (box, float(score))
        for track, history in self.anchors.items():
            last_f, _, last_score = history[-1]
            if last_f < t <= last_f + self.coast:  # weak or missing here, confident lately
                out[track] = (_predict([(f, b) for f, b, _ in history], t), last_score)
                self.placed += 1
        self.t += 1
        return (np.array([b for b, _ in out.values()], np.float64).reshape(-1, 4),
                np.array([s for _, s in out.values()], np.float64), np.array(list(out), int))
