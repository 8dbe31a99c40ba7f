"""The boxes ``vidpose predict`` crops: per frame, each person's box, score and track id.

``VideoBoxes`` is what people finding hands to pose estimation, whether the boxes come from the
tracker (``tracking/tracker.py``) or from a file (``load_video_boxes``, the one reader of
box files for a video). ``link_tracks`` gives a file without ``track_id`` its tracks by greedy
IoU between consecutive frames.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidpose.data.annotations import AnnotationError, load_json
from vidpose.data.detections import box_iou
from vidpose.data.frames import FrameRange, FrameSource

log = logging.getLogger(__name__)

@dataclass
class VideoBoxes:
    """Per frame: boxes (N, 4) xywh, scores (N,), track ids (N,), and optionally the crop box
    (N, 4) xywh the pose model reads for each person, NaN where it crops the box itself (``crops``
    empty: every box is cropped as it is). The tracker's pose-model regions give crops
    (``tracking/pose_regions.py``): the box says where the person is, the crop what the temporal
    head reads, the region the tracker's pass already ran the backbone on."""

    boxes: list[np.ndarray]
    scores: list[np.ndarray]
    tracks: list[np.ndarray] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # unusable boxes of a file, by reason
    crops: list[np.ndarray] = field(default_factory=list)

    def append(self, boxes: np.ndarray, scores: np.ndarray, tracks: np.ndarray,
               crops: np.ndarray | None = None) -> None:
        """One more frame (crops: NaN rows where the box itself is cropped)."""
        if crops is None:
            crops = np.full((len(boxes), 4), np.nan)
        if len(self.crops) < len(self.boxes):  # crops so far: none, i.e. every box cropped as it is
            self.crops += [np.full((len(b), 4), np.nan) for b in self.boxes[len(self.crops):]]
        self.boxes.append(boxes)
        self.scores.append(scores)
        self.tracks.append(tracks)
        self.crops.append(crops)

    def crop_of(self, f: int, k: int) -> np.ndarray:
        """What the pose model crops for frame f's k-th person: its crop box, else its box."""
        if f < len(self.crops) and np.isfinite(self.crops[f][k]).all():
            return self.crops[f][k]
        return self.boxes[f][k]


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
    own = _this_video(Path(source.path))
    if len(named) == 1:
        (other,) = named
        if own is not None and other.isdigit() and other != own:
            raise AnnotationError(path, "$", f"holds boxes of PoseTrack video {other} only, but {source.path} is video "
                                             f"{own}; give the box file of this video")
        return indexed
    if not named:
        return indexed  # positions only: the file is this video's
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


#: a box larger than this many times the frame's diagonal (width or height) is not a person's
ABSURD_BOX = 10.0


def load_video_boxes(path: str | os.PathLike, source: FrameSource, min_score: float = 0.0) -> VideoBoxes:
    """Boxes for each frame of ``source`` from a detection file: a list of entries with ``bbox``
    (x, y, w, h), optional ``score`` and ``track_id``, and the frame as ``frame_index`` (an
    integer, 0-based position), ``image_name`` (the number in the file name, as in PoseTrack;
    PoseWarper/DCPose layout) or ``image_id`` (mmpose layout: a PoseTrack18 image id, whose last 4
    digits are the frame); or a PoseTrack18 file (vidpose's own output too), whose images place
    its people's boxes by the numbers in their file names.

    Frames are those of the whole video, also when ``source`` is a ``FrameRange``
    (``--frames``): the boxes of frames in the range are used, the others dropped, and a file
    with none in the range is an error. A file that names videos gives only this video's boxes:
    the one named by the number in the folder or file name (``003418_mpii_test``); a file of
    another PoseTrack video only is an error naming both.
    Entries of frames outside the video, a ``frame_index`` or ``track_id`` that is not an integer,
    are errors naming the entry. Boxes that cannot be used are skipped, counted by reason and
    reported in one warning with the first JSON path of each reason: not 4 numbers, zero or
    negative size, NaN or Inf, a NaN score, scored below ``min_score``, wholly outside the frame,
    or wider or taller than ``ABSURD_BOX`` times the frame's diagonal. A box that straddles the
    frame's border is clipped to the frame. Frames without entries have no boxes."""
    data = load_json(path)
    if isinstance(data, dict) and isinstance(data.get("annotations"), list) and isinstance(data.get("images"), list):
        data = _posetrack_boxes(path, data)  # a PoseTrack18 file: its people's boxes, frames by image name
    if not isinstance(data, list):
        raise AnnotationError(path, "$", "expected a list of detections (or a PoseTrack18 file)")
    entries = _entries_of_this_video(path, data, source)
    video, offset = (source.source, source.start) if isinstance(source, FrameRange) else (source, 0)
    n = len(source)
    height, width = source.size()
    boxes: list[list] = [[] for _ in range(n)]
    skipped: dict[str, list[str]] = {}
    outside_range: list[int] = []
    clipped = 0
    for i, e in entries:
        where = f"$[{i}]"
        f = _frame_of(path, where, e, video)
        if not offset <= f < offset + n:
            outside_range.append(f)
            continue
        reason = _unusable_box(e, min_score) or _off_frame(e["bbox"], width, height)
        if reason is not None:
            skipped.setdefault(reason, []).append(f"{where}.bbox")
            continue
        box = _clip_box(np.asarray(e["bbox"], dtype=np.float64), width, height)
        clipped += not np.array_equal(box, np.asarray(e["bbox"], dtype=np.float64))
        boxes[f - offset].append((box, float(e.get("score", 1.0)), _track_of(path, where, e)))
    _report(path, source, len(entries), skipped, outside_range, offset, n, clipped)
    return _video_boxes(boxes, skipped)


def _frame_of(path: str | os.PathLike, where: str, e: Any, video: FrameSource) -> int:
    """The 0-based position in the whole video of a detection entry's frame; an error naming the
    entry when it has none or it is outside the video."""
    if not isinstance(e, dict) or "bbox" not in e:
        raise AnnotationError(path, where, "expected an object with a 'bbox'")
    first = getattr(video, "first", 0)
    if "frame_index" in e:
        value = e["frame_index"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or (isinstance(value, float) and not value.is_integer()):
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
        raise AnnotationError(path, where, "needs 'frame_index', 'image_name' or 'image_id' to place it in the video")
    if not 0 <= f < len(video):
        raise AnnotationError(path, where, f"frame {f} is outside the video ({len(video)} frames: {video.path})")
    return f


def _track_of(path: str | os.PathLike, where: str, e: dict) -> int | None:
    value = e.get("track_id")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise AnnotationError(path, f"{where}.track_id", f"must be an integer track id, got {value!r}")
    return value


def _report(path: str | os.PathLike, source: FrameSource, total: int, skipped: dict[str, list[str]],
            outside_range: list[int], offset: int, n: int, clipped: int) -> None:
    """The warning of skipped boxes, and the error of a file with no box in the frame range."""
    if outside_range and len(outside_range) == total:
        raise AnnotationError(path, "$", f"none of its boxes is in frames {offset}:{offset + n} of {source.path} "
                                         f"(its boxes are of frames {min(outside_range)}..{max(outside_range)}); "
                                         "box-file frames are positions in the whole video")
    if outside_range:
        log.info("%s: %d boxes of frames outside %d:%d left out", path, len(outside_range), offset, offset + n)
    if clipped:
        log.info("%s: %d boxes straddling the frame's border clipped to it", path, clipped)
    if skipped:
        log.warning("%s: skipped %d of %d boxes: %s", path, sum(len(v) for v in skipped.values()), total,
                    "; ".join(f"{len(v)} {reason} (first at {v[0]})" for reason, v in skipped.items()))


def _video_boxes(boxes: list[list], skipped: dict[str, list[str]]) -> VideoBoxes:
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
    """The people of a PoseTrack18 file as detection entries: the frame is the number in the
    image's file name (its video the file name's folder), or its position in ``images`` when the
    name has no number; box and track id from the annotation."""
    place = {}
    for k, image in enumerate(doc["images"]):
        if not isinstance(image, dict) or "id" not in image:
            raise AnnotationError(path, f"$.images[{k}]", "expected an image object with an 'id'")
        name = image.get("file_name")
        numbered = isinstance(name, str) and _NUMBER.search(Path(name).stem)
        place[image["id"]] = {"image_name": name} if numbered else {"frame_index": k}
    entries = []
    for i, a in enumerate(doc["annotations"]):
        if not isinstance(a, dict) or "bbox" not in a:
            continue  # people without a box (ignore entries) are not boxes to crop
        if a.get("image_id") not in place:
            raise AnnotationError(path, f"$.annotations[{i}].image_id", f"no image with id {a.get('image_id')!r}")
        entry = {"bbox": a["bbox"], "score": a.get("score", 1.0), **place[a["image_id"]]}
        if "track_id" in a:
            entry["track_id"] = a["track_id"]
        entries.append(entry)
    return entries


def _unusable_box(entry: dict, min_score: float) -> str | None:
    """Why a detection entry's box cannot be cropped, or None."""
    box, score = entry.get("bbox"), entry.get("score", 1.0)
    if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
        return "not 4 numbers"
    if not all(abs(v) < 1e308 for v in box):  # NaN, Inf, or an integer beyond any float
        return "with NaN or Inf"
    if box[2] <= 0 or box[3] <= 0:
        return "of zero or negative size"
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        return "with a score that is not a finite number"
    if entry.get("category_id", 1) != 1:
        return "of another category than person (category_id 1)"
    if score < min_score:
        return f"scored below --min-box-score {min_score}"
    return None


def _off_frame(box: list, width: int, height: int) -> str | None:
    """Why a box cannot be a person in a ``width`` x ``height`` frame, or None."""
    x, y, w, h = (float(v) for v in box)
    if max(w, h) > ABSURD_BOX * math.hypot(width, height):
        return f"larger than {ABSURD_BOX:g} times the frame's diagonal"
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        return f"wholly outside the {width}x{height} frame"
    return None


def _clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """The part of an xywh box inside the frame."""
    x0, y0 = max(box[0], 0.0), max(box[1], 0.0)
    x1, y1 = min(box[0] + box[2], float(width)), min(box[1] + box[3], float(height))
    return np.array([x0, y0, x1 - x0, y1 - y0])


def _interpolate(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    """The xywh box a fraction ``w`` of the way from ``a`` to ``b`` (centre and size linear)."""
    ca, cb = a[:2] + a[2:] / 2, b[:2] + b[2:] / 2
    size = (1 - w) * a[2:] + w * b[2:]
    centre = (1 - w) * ca + w * cb
    return np.concatenate([centre - size / 2, size])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(box_iou(a[None], b[None])[0, 0])


def boxes_in_time(found: VideoBoxes, mode: str = "offline", weak_score: float = 0.3, jump_iou: float = 0.3,
                  max_gap: int = 10, coast: int = 3, quiet: bool = False) -> VideoBoxes:
    """Each track's boxes where its own measurement is weak, taken from its neighbouring frames.

    A track's measurement in a frame is *confident* when its score is at least ``weak_score``
    and its box agrees with the track's other confident frames (IoU at least ``jump_iou`` with
    the box they give there: a sudden jump is a measurement of a degraded frame, not a move).
    Every other frame of the track, measured weakly or not at all, is *weak*. Its box comes from
    time:

    - ``offline``: interpolated (centre and size, linearly) between the confident frames before
      and after, when at most ``max_gap`` frames apart; its score is the lower of theirs. A frame's
      box depends only on the frames within 2 ``max_gap`` of it (``decided_after``);
    - ``causal``: the last confident box moved at the track's velocity (from its last two
      confident frames), for at most ``coast`` frames after it, whether or not the track is
      seen again; its score is that box's. Only frames up to the current one are read, so the
      box of frame t is ready when t arrives;
    - ``off``: the boxes as found.

    A weak measurement that time cannot replace is kept as it is. The temporal head then crops
    the person where the neighbours put them, rather than where a blurred frame's own pose did,
    or not at all where the tracker found no one (issue 39: motion blur hides people from the
    detector). A measurement kept keeps its crop box (``VideoBoxes.crops``); a box placed from
    time is cropped as it is. ``quiet`` logs the count at debug level (for a caller that decides a
    growing video again and again).
    """
    if mode not in ("offline", "causal", "off"):
        raise ValueError(f"mode must be offline, causal or off, got {mode!r}")
    if mode == "off":
        return found
    n = len(found.boxes)
    crops = [found.crops[f] if f < len(found.crops) else None for f in range(n)]
    result = VideoBoxes([], [], [], dict(found.skipped))
    if mode == "causal":  # frame by frame, as live use sees them
        live = CausalBoxes(weak_score, jump_iou, coast)
        for f in range(n):
            result.append(*live.update(found.boxes[f], found.scores[f], found.tracks[f], crops[f]))
        log.log(logging.DEBUG if quiet else logging.INFO,
                "boxes in time (causal): %d boxes placed from the track's past frames", live.placed)
        return result
    seen: dict[int, dict[int, tuple[np.ndarray, float]]] = {}
    crop_of: dict[tuple[int, int], np.ndarray] = {}
    for f in range(n):
        for k, (box, score, track) in enumerate(zip(found.boxes[f], found.scores[f], found.tracks[f])):
            seen.setdefault(int(track), {})[f] = (np.asarray(box, np.float64), float(score))
            if crops[f] is not None:
                crop_of[f, int(track)] = crops[f][k]
    out: list[dict[int, tuple[np.ndarray, float, np.ndarray]]] = [{} for _ in range(n)]
    filled = 0
    nan = np.full(4, np.nan)
    for track, frames in seen.items():
        placed = _offline_track(frames, weak_score, jump_iou, max_gap)
        for f, (box, score, from_time) in placed.items():
            out[f][track] = (box, score, nan if from_time else crop_of.get((f, track), nan))
            filled += from_time
    for fr in out:
        result.append(*_frame_arrays(fr))
    log.log(logging.DEBUG if quiet else logging.INFO,
            "boxes in time (offline): %d boxes of %d tracks placed from their neighbouring frames", filled, len(seen))
    return result


def _frame_arrays(people: dict[int, tuple[np.ndarray, float, np.ndarray]]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One frame's {track: (box, score, crop box)} as ``VideoBoxes.append``'s boxes (N, 4),
    scores (N,), track ids (N,) and crop boxes (N, 4)."""
    return (np.array([b for b, _, _ in people.values()], np.float64).reshape(-1, 4),
            np.array([s for _, s, _ in people.values()], np.float64), np.array(list(people), int),
            np.array([c for _, _, c in people.values()], np.float64).reshape(-1, 4))


def decided_after(max_gap: int) -> int:
    """How many frames past frame f an offline decision of f's boxes reads (``_confident``)."""
    return 2 * max_gap


def _confident(frames: dict[int, tuple[np.ndarray, float]], weak_score: float, jump_iou: float,
               max_gap: int) -> list[int]:
    """The frames whose measurement is confident (``boxes_in_time``), in order: scored at least
    ``weak_score`` and within ``jump_iou`` of the interpolation of the scored frames around it,
    when both lie within ``max_gap`` frames. So a frame's box depends on the frames at most
    2 ``max_gap`` away, and a video decided while it is tracked (``Pipeline.track_and_predict``)
    gets the boxes of the whole video decided at once."""
    scored = [f for f in sorted(frames) if frames[f][1] >= weak_score]
    kept = []
    for k, f in enumerate(scored):
        before = scored[k - 1] if k > 0 and f - scored[k - 1] <= max_gap else None
        after = scored[k + 1] if k + 1 < len(scored) and scored[k + 1] - f <= max_gap else None
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
    anchors = _confident(frames, weak_score, jump_iou, max_gap)
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

    def update(self, boxes: np.ndarray, scores: np.ndarray, tracks: np.ndarray, crops: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Boxes, scores, track ids and crop boxes (NaN: crop the box; a placed box is cropped as
        it is) of this frame."""
        t = self.t
        nan = np.full(4, np.nan)
        out: dict[int, tuple[np.ndarray, float, np.ndarray]] = {}
        for k, (box, score, track) in enumerate(zip(boxes, scores, tracks)):
            track, box = int(track), np.asarray(box, np.float64)
            history = self.anchors.get(track, [])
            past = [(f, b) for f, b, _ in history]
            if score >= self.weak_score and (not past or _iou(box, _predict(past, t)) >= self.jump_iou):
                self.anchors[track] = (history + [(t, box, float(score))])[-2:]
            out[track] = (box, float(score), nan if crops is None else crops[k])
        for track, history in self.anchors.items():
            last_f, _, last_score = history[-1]
            if last_f < t <= last_f + self.coast:  # weak or missing here, confident lately
                out[track] = (_predict([(f, b) for f, b, _ in history], t), last_score, nan)
                self.placed += 1
        self.t += 1
        return _frame_arrays(out)
