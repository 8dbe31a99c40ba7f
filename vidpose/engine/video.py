"""Offline inference over a whole video (``vidpose predict``), with a sliding-window feature cache.

For every box of every frame, the model sees the clip of the key frame and its neighbours at
``data.offsets`` (clamped to the video). Boxes are linked into tracks by greedy IoU matching
between consecutive frames (or taken from the file's ``track_id``).

Window boxes (``window_boxes``):
- ``own`` (default): each frame of a window is cropped with *that person's own box in that
  frame* (the key box where the track has no box). A crop then depends only on (frame, box), so
  its backbone features are computed once and reused by every window that contains it: the
  cache. The cost per frame approaches one backbone pass per person plus the temporal head.
- ``key``: every frame is cropped with the key frame's box, exactly as training clips are built
  (``vidpose test`` does this too). Crops differ per window, so nothing is reused.

``cache=False`` recomputes every crop of every window (what the reference code bases do); it
gives the same predictions as the cache (tests/engine/test_video.py checks it). GLPose's global
proposals come from the same per-(frame, box) features, sampled over the whole video
(``data.global_mode: offline``) or the past only (``streaming``). Memory stays bounded: a crop
behind every later window keeps only the feature map the global term reads, and at most
``global_cache_size`` crops outside the current window are kept (least recently used go first;
a crop needed again is recomputed, which gives the same features).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidpose.data.annotations import AnnotationError, Frame, Person, Video, load_json, save_posetrack
from vidpose.data.clips import clip_indices, make_clip, sample_global_frames, to_tensor
from vidpose.data.detections import box_iou
from vidpose.data.frames import FrameSource
from vidpose.engine.data import clip_config
from vidpose.engine.topdown import TopDownSettings, crop_to_image_of, keypoints_from_heatmaps

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


class VideoPredictor:
    """Runs a trained model over every box of a video. ``stats`` describes the last ``predict``:
    backbone crops computed, windows run, and the largest the feature cache grew."""

    def __init__(self, model: torch.nn.Module, cfg: dict[str, Any], device: torch.device | None = None,
                 cache: bool = True, window_boxes: str = "own", batch_size: int = 32,
                 global_cache_size: int = 256):
        if global_cache_size < 0:
            raise ValueError(f"global_cache_size must be >= 0, got {global_cache_size}")
        if window_boxes not in ("own", "key"):
            raise ValueError(f"window_boxes must be own or key, got {window_boxes!r}")
        self.model = model.eval()
        self.device = device or next(model.parameters()).device
        self.clip = clip_config(cfg["data"])
        self.cache_enabled, self.window_boxes, self.batch_size = cache, window_boxes, batch_size
        self.global_cache_size = global_cache_size
        self.settings = TopDownSettings.from_config(cfg)
        self.stats = {"crops_computed": 0, "windows": 0, "cache_peak": 0}

    @torch.no_grad()
    def predict(self, source: FrameSource, boxes: VideoBoxes, progress: bool = True
                ) -> list[list[tuple[np.ndarray, np.ndarray, int]]]:
        """Per frame, per box: (keypoints (17, 2) in image pixels, scores (17,), track id)."""
        from tqdm import tqdm

        n = len(source)
        if len(boxes.boxes) != n:
            raise ValueError(f"{source.path}: {len(boxes.boxes)} frames of boxes for a video of {n} frames")
        self.stats = {"crops_computed": 0, "windows": 0, "cache_peak": 0}
        cache: dict[tuple, dict[str, torch.Tensor]] = {}
        by_track = [{int(t): k for k, t in enumerate(ts)} for ts in boxes.tracks]
        results: list[list] = [[] for _ in range(n)]
        for t in tqdm(range(n), desc="predict", disable=not progress):
            self._trim(cache, t)
            for start in range(0, len(boxes.boxes[t]), self.batch_size):
                idx = list(range(start, min(start + self.batch_size, len(boxes.boxes[t]))))
                # without the cache every window's crops are computed afresh (the reference behaviour)
                results[t] += self._predict_boxes(source, boxes, by_track, t, idx, cache if self.cache_enabled else {})
        return results

    def _trim(self, cache: dict, t: int) -> None:
        """Before key frame t: drop what no later window needs; bound what GLPose keeps for global use."""
        span = self.clip.span
        if not getattr(self.model, "use_global", False):
            for key in [k for k in cache if k[0] < t - span]:
                del cache[key]  # behind every later window
            return
        for key in [k for k in cache if k[0] < t - span and len(cache[k]) > 1]:
            cache[key] = {"feature": cache[key]["feature"]}  # only ever a global proposal again
        outside = [k for k in cache if abs(k[0] - t) > span]  # oldest use first (see _features)
        for key in outside[: max(0, len(outside) - self.global_cache_size)]:
            del cache[key]

    def _crop_key(self, f: int, box: np.ndarray, flip: bool) -> tuple:
        return (f, *np.round(box, 2), flip)

    def _features(self, source: FrameSource, keys: list[tuple], cache: dict) -> None:
        """Compute the backbone features of every crop key not yet cached."""
        for k in dict.fromkeys(k for k in keys if k in cache):
            cache[k] = cache.pop(k)  # most recently used last: _trim evicts from the front
        missing = list(dict.fromkeys(k for k in keys if k not in cache))
        if not missing:
            return
        crops = []
        for f, x, y, w, h, flip in missing:
            sample = make_clip([source.read(f)], np.array([x, y, w, h]), self.clip)
            image = sample.images[0][:, ::-1] if flip else sample.images[0]
            crops.append(to_tensor(image[None])[0])
        feats = self.model.frame_features(torch.stack(crops).to(self.device))
        for i, k in enumerate(missing):
            cache[k] = {name: v[i] for name, v in feats.items()}
            cache[k]["_crop"] = crops[i]
        self.stats["crops_computed"] += len(missing)
        self.stats["cache_peak"] = max(self.stats["cache_peak"], len(cache))

    def _predict_boxes(self, source: FrameSource, boxes: VideoBoxes, by_track: list[dict], t: int, idx: list[int],
                       cache: dict) -> list[tuple[np.ndarray, np.ndarray, int]]:
        n = len(source)

        def heatmaps_of(flip: bool) -> np.ndarray:
            windows = []
            for k in idx:
                key_box = boxes.boxes[t][k]
                track = int(boxes.tracks[t][k])
                window = []
                for f in clip_indices(t, self.clip.offsets, n):
                    box = key_box
                    if self.window_boxes == "own" and track in by_track[f]:
                        box = boxes.boxes[f][by_track[f][track]]
                    window.append(self._crop_key(f, box, flip))
                windows.append(window)
            batch: dict[str, Any] = {}
            if getattr(self.model, "use_global", False):
                batch = self._global_batch(source, boxes, t, len(idx), flip, cache)
            self._features(source, [k for w in windows for k in w], cache)
            feats = {name: torch.stack([torch.stack([cache[k][name] for k in w]) for w in windows])
                     for name in cache[windows[0][0]] if name != "_crop"}
            frames = torch.stack([torch.stack([cache[k]["_crop"] for k in w]) for w in windows]).to(self.device)
            self.stats["windows"] += len(idx)
            return self.model.forward_features(feats, frames, batch)["heatmaps"].float().cpu().numpy()

        crop_to_image = [crop_to_image_of(boxes.boxes[t][k], self.clip) for k in idx]
        xy, peaks = keypoints_from_heatmaps(heatmaps_of, crop_to_image, self.clip.stride, self.settings)
        return [(xy[i], peaks[i] * float(boxes.scores[t][k]), int(boxes.tracks[t][k])) for i, k in enumerate(idx)]

    def _global_batch(self, source: FrameSource, boxes: VideoBoxes, t: int, count: int, flip: bool,
                      cache: dict) -> dict[str, torch.Tensor]:
        """GLPose's global proposals for key frame t from the per-(frame, box) feature cache."""
        c = self.clip
        candidates = [f for f in range(len(source)) if len(boxes.boxes[f])]
        picks = sample_global_frames(candidates, t, c.span, c.global_frames, c.global_mode)
        keys = []
        for f in picks:
            order = np.argsort(-boxes.scores[f], kind="stable")[: c.global_per_frame]
            keys += [self._crop_key(f, boxes.boxes[f][j], flip) for j in order]
        if not keys:
            return {}
        self._features(source, keys, cache)
        feats = torch.stack([cache[k]["feature"] for k in keys])
        return {"global_features": feats[None].expand(count, *feats.shape),
                "global_valid": torch.ones(count, len(keys), dtype=torch.bool)}


def predictions_video(name: str, results: list[list], frames: int) -> Video:
    """PoseTrack18 predictions of a video: one image per frame, one person per box."""
    video = Video(name, [])
    for f in range(frames):
        people = [Person.predicted(xy, scores, track_id=track) for xy, scores, track in results[f]]
        video.frames.append(Frame(f"{name}/{f:06d}.jpg", f, True, people))
    return video


def write_predictions(path: str | os.PathLike, name: str, results: list[list], frames: int) -> Video:
    video = predictions_video(name, results, frames)
    save_posetrack(video, path)
    return video


def render_video(path: str | os.PathLike, source: FrameSource, video: Video, fps: int = 25) -> None:
    from vidpose.data.draw import draw_frame
    from vidpose.data.frames import write_video

    write_video(path, [draw_frame(source.read(f), video.frames[f], min_score=0.2) for f in range(len(source))], fps)
