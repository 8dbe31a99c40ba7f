"""Offline inference over a whole video (``vidpose predict``), with a sliding-window feature cache.

For every box of every frame, the model sees the clip of the key frame and its neighbours at
``data.offsets`` (clamped to the video). Boxes are linked into tracks by greedy IoU matching
between consecutive frames (or taken from the file's ``track_id``; ``tracking/boxes.py``).

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
from typing import Any, Callable

import numpy as np
import torch

from vidpose.data.annotations import Frame, Person, Video, save_posetrack
from vidpose.data.clips import clip_indices, make_clip, sample_global_frames, to_tensor
from vidpose.data.frames import FrameSource
from vidpose.engine.data import clip_config
from vidpose.engine.topdown import TopDownSettings, keypoints_from_heatmaps
from vidpose.tracking.boxes import VideoBoxes

log = logging.getLogger(__name__)


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
        # the backbone's per-crop pass: the model's own; the pipeline may put the same graph in another
        # runtime here (engine/export.py, ``--runtime onnx``)
        self.frame_features: Callable[[torch.Tensor], dict[str, torch.Tensor]] = model.frame_features
        self.clip = clip_config(cfg["data"])
        self.cache_enabled, self.window_boxes, self.batch_size = cache, window_boxes, batch_size
        self.global_cache_size = global_cache_size
        self.settings = TopDownSettings.from_config(cfg)
        self.reset_stats()

    @torch.no_grad()
    def predict(self, source: FrameSource, boxes: VideoBoxes, progress: bool = True
                ) -> list[list[tuple[np.ndarray, np.ndarray, int]]]:
        """Per frame, per box: (keypoints (17, 2) in image pixels, scores (17,), track id)."""
        from tqdm import tqdm

        n = len(source)
        if len(boxes.boxes) != n:
            raise ValueError(f"{source.path}: {len(boxes.boxes)} frames of boxes for a video of {n} frames")
        self.reset_stats()
        cache: dict[tuple, dict[str, torch.Tensor]] = {}
        by_track = [{int(t): k for k, t in enumerate(ts)} for ts in boxes.tracks]
        return [self.predict_frame(source, boxes, t, cache, by_track)
                for t in tqdm(range(n), desc="predict", disable=not progress)]

    def reset_stats(self) -> None:
        self.stats = {"crops_computed": 0, "windows": 0, "cache_peak": 0}

    @torch.no_grad()
    def predict_frame(self, source: FrameSource, boxes: VideoBoxes, t: int, cache: dict, by_track: list[dict]
                      ) -> list[tuple[np.ndarray, np.ndarray, int]]:
        """Key frame t's people, reading the frames of its windows from ``source`` and their boxes
        from ``boxes`` (``by_track[f]``: track id -> box position in frame f); ``cache`` holds
        backbone features between calls. Live use calls it as frames arrive (``Pipeline.stream``)."""
        self._trim(cache, t)
        out: list[tuple[np.ndarray, np.ndarray, int]] = []
        for start in range(0, len(boxes.boxes[t]), self.batch_size):
            idx = list(range(start, min(start + self.batch_size, len(boxes.boxes[t]))))
            # without the cache every window's crops are computed afresh (the reference behaviour)
            out += self._predict_boxes(source, boxes, by_track, t, idx, cache if self.cache_enabled else {})
        return out

    def future_frames(self) -> list[str]:
        """What of the model's window lies after the key frame (empty: it is causal)."""
        later = [f"t+{o}" for o in self.clip.offsets if o > 0]
        if getattr(self.model, "use_global", False) and self.clip.global_mode != "streaming":
            later.append("global proposals from the whole video (data.global_mode: offline)")
        return later

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

    def crop_key(self, f: int, box: np.ndarray, flip: bool) -> tuple:
        """The feature cache's key of frame f's crop of ``box`` (mirrored with ``flip``)."""
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
        feats = self.frame_features(torch.stack(crops).to(self.device))
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
                key_box = boxes.crop_of(t, k)
                track = int(boxes.tracks[t][k])
                window = []
                for f in clip_indices(t, self.clip.offsets, n):
                    box = key_box
                    if self.window_boxes == "own" and track in by_track[f]:
                        box = boxes.crop_of(f, by_track[f][track])
                    window.append(self.crop_key(f, box, flip))
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

        crop_to_image = [self.clip.crop_to_image(boxes.crop_of(t, k)) for k in idx]
        xy, peaks = keypoints_from_heatmaps(heatmaps_of, crop_to_image, self.clip.stride, self.settings)
        return [(xy[i], peaks[i] * float(boxes.scores[t][k]), int(boxes.tracks[t][k])) for i, k in enumerate(idx)]

    def _global_batch(self, source: FrameSource, boxes: VideoBoxes, t: int, count: int, flip: bool,
                      cache: dict) -> dict[str, torch.Tensor]:
        """GLPose's global proposals for key frame t from the per-(frame, box) feature cache."""
        c = self.clip
        # the frames whose boxes are decided so far (all of them but while tracking runs ahead)
        candidates = [f for f in range(min(len(source), len(boxes.boxes))) if len(boxes.boxes[f])]
        picks = sample_global_frames(candidates, t, c.span, c.global_frames, c.global_mode)
        keys = []
        for f in picks:
            order = np.argsort(-boxes.scores[f], kind="stable")[: c.global_per_frame]
            keys += [self.crop_key(f, boxes.crop_of(f, j), flip) for j in order]
        if not keys:
            return {}
        self._features(source, keys, cache)
        feats = torch.stack([cache[k]["feature"] for k in keys])
        return {"global_features": feats[None].expand(count, *feats.shape),
                "global_valid": torch.ones(count, len(keys), dtype=torch.bool)}


def predictions_video(name: str, results: list[list], frames: int, boxes: VideoBoxes | None = None,
                      file_names: list[str] | None = None) -> Video:
    """PoseTrack18 predictions of a video: one image per frame (``file_names``: each frame's image
    name, default ``000000.jpg`` ...), one person per box, with its box as its ``bbox`` when
    ``boxes`` (what ``VideoPredictor.predict`` ran on) is given: a later run can take the file as
    ``--boxes`` (it then crops these boxes, not the tracker's region crops, ``VideoBoxes.crops``)."""
    video = Video(name, [])
    for f in range(frames):
        people = [Person.predicted(xy, scores, track_id=track,
                                   bbox=None if boxes is None else boxes.boxes[f][k])
                  for k, (xy, scores, track) in enumerate(results[f])]
        image = file_names[f] if file_names is not None else f"{f:06d}.jpg"
        video.frames.append(Frame(f"{name}/{image}", f, True, people))
    return video


def write_predictions(path: str | os.PathLike, name: str, results: list[list], frames: int) -> Video:
    video = predictions_video(name, results, frames)
    save_posetrack(video, path)
    return video


#: the frame rate of a render of frames that have none (a folder of images, an array)
RENDER_FPS = 25


def render_video(path: str | os.PathLike, source: FrameSource, video: Video, fps: float | None = None) -> None:
    """The frames of ``source`` with ``video``'s skeletons and track ids, encoded one frame at a
    time (memory holds a frame, not the video), at the source's frame rate and frame times (a
    variable rate is kept); a source without a rate renders at ``RENDER_FPS``, or ``fps``."""
    from vidpose.data.draw import draw_frame
    from vidpose.data.frames import write_video

    rate = fps or source.fps or RENDER_FPS
    times = None if fps or source.fps is None else (source.frame_time(f) for f in range(len(source)))
    drawn = (draw_frame(source.read(f), video.frames[f], min_score=0.2) for f in range(len(source)))
    write_video(path, drawn, rate, times)
