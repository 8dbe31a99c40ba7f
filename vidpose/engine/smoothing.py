"""Keypoint smoothing: what practitioners put after a single-frame model instead of a temporal one.

The baselines of the real-video comparison (issue 19, "Measure on held-out real video"): the
single-frame backbone's predictions, smoothed along each track. Both filters work on the (x, y)
of every joint of every track (``Person.track_id``) independently; people without a track id and
joints that are not predicted are left as they are.

- ``one_euro``: the One Euro filter (Casiez, Roussel and Vogel, "1 Euro Filter: A Simple
  Speed-based Low-pass Filter for Noisy Input in Interactive Systems", CHI 2012), the filter
  MediaPipe's video mode applies to BlazePose's landmarks. It is causal: an exponential low-pass
  whose cutoff rises with the joint's filtered speed, fc = min_cutoff + beta |dx/dt|. The filter
  is the ``OneEuroFilter`` package (version 0.2.1, by the paper's authors), one per track, joint
  and coordinate. The defaults are MediaPipe's for pose landmarks
  (``pose_landmark_filtering``: min_cutoff 0.05 Hz, beta 80, derivative cutoff 1 Hz), whose
  speed is measured in object sizes per second: MediaPipe scales the derivative by 1 / (the
  person's ROI size). Here every coordinate is divided by the track's object scale (the median
  over the track of (w + h) / 2 of the person's box, or of the box of their predicted joints
  enlarged 1.25 when the prediction has none) before filtering and multiplied back after; for a
  constant scale this is the same filter. On a ramp of speed v its steady lag is v / (2 pi fc),
  at most scale / (2 pi beta) whatever v (tested). Scores pass through unchanged (MediaPipe
  smooths visibility on its own, which does not move the joints). The timestamps are
  frame / ``fps``, so frames where a track is missing count as elapsed time.
- ``median``: a centred median over the frames f + o, o in ``offsets`` (default -2..2, the
  temporal models' window delta = 2), taken per coordinate. Window frames outside the track are
  replaced by the track's nearest frame, as the clips' boundary rule replaces frames outside the
  video (``vidpose.data.clips.clip_indices``): at the ends the median sees the end frame
  repeated. A joint's score becomes the median of its window's scores, so a key frame whose
  joint the degradation made uncertain but whose clean neighbours agree gets their confidence.
  It is not causal (it reads two future frames, as the temporal models do).

Only joints with a score of at least ``min_score`` (default 0: every predicted joint) enter
either filter; the others keep their own position (the median does not read them either).

    from vidpose.engine.smoothing import smooth_videos
    smoothed = smooth_videos(predictions, "median")              # list of vidpose Videos
    smoothed = smooth_videos(predictions, "one_euro", fps=30.0)  # or fps={video name: rate}
"""

from __future__ import annotations

import copy
from typing import Mapping, Sequence

import numpy as np

from vidpose.data.annotations import Person, Video
from vidpose.data.schema import NUM_KEYPOINTS

METHODS = ("one_euro", "median")
#: MediaPipe's pose-landmark One Euro settings (speeds in object sizes per second)
MEDIAPIPE_ONE_EURO = {"min_cutoff": 0.05, "beta": 80.0, "d_cutoff": 1.0}
OFFSETS = (-2, -1, 1, 2)
ROI_ENLARGE = 1.25  # the box of the predicted joints -> an object scale like MediaPipe's ROI


class SmoothingError(ValueError):
    """Smoothing asked for something it cannot do (an unknown method, a bad frame rate)."""


def _scores(person: Person) -> np.ndarray:
    return np.asarray(person.scores, float) if person.scores is not None and len(person.scores) == NUM_KEYPOINTS \
        else person.keypoints[:, 2].astype(float)


def _usable(person: Person, min_score: float) -> np.ndarray:
    """(17,) bool: joints that are predicted (not (0, 0, 0)) and scored at least ``min_score``."""
    kp = person.keypoints
    predicted = ~((kp[:, 0] == 0) & (kp[:, 1] == 0) & (kp[:, 2] == 0))
    return predicted & (_scores(person) >= min_score)


def object_scale(person: Person) -> float | None:
    """(w + h) / 2 of the person's box, or of their predicted joints' box enlarged 1.25."""
    if person.bbox is not None and person.bbox[2] > 0 and person.bbox[3] > 0:
        return float((person.bbox[2] + person.bbox[3]) / 2)
    kp = person.keypoints[_usable(person, -np.inf)]
    if len(kp) < 2:
        return None
    w, h = np.ptp(kp[:, 0]), np.ptp(kp[:, 1])
    side = ROI_ENLARGE * (w + h) / 2
    return float(side) if side > 0 else None


def tracks_of(video: Video) -> dict[int, list[tuple[int, int]]]:
    """track id -> [(frame position, person index)] in frame order (people without an id left out)."""
    tracks: dict[int, list[tuple[int, int]]] = {}
    for f, frame in enumerate(video.frames):
        for k, person in enumerate(frame.people):
            if person.track_id is not None:
                tracks.setdefault(int(person.track_id), []).append((f, k))
    return tracks


def median_track(people: list[Person], frames: list[int], offsets: Sequence[int] = OFFSETS,
                 min_score: float = 0.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """The centred median of one track: for each of its people, the smoothed (17, 2) positions
    and (17,) scores (module docstring)."""
    where = {f: i for i, f in enumerate(frames)}
    first, last = frames[0], frames[-1]
    xy = np.stack([p.keypoints[:, :2] for p in people])
    scores = np.stack([_scores(p) for p in people])
    usable = np.stack([_usable(p, min_score) for p in people])
    window = sorted(set(offsets) | {0})
    out = []
    for i, f in enumerate(frames):
        rows = [where[g] for g in (min(max(f + o, first), last) for o in window) if g in where]
        new_xy, new_scores = xy[i].copy(), scores[i].copy()
        for j in np.flatnonzero(usable[i]):
            picked = [r for r in rows if usable[r, j]]
            if picked:
                new_xy[j] = np.median(xy[picked, j], axis=0)
                new_scores[j] = float(np.median(scores[picked, j]))
        out.append((new_xy, new_scores))
    return out


def one_euro_track(people: list[Person], frames: list[int], fps: float, min_cutoff: float = 0.05,
                   beta: float = 80.0, d_cutoff: float = 1.0, min_score: float = 0.0
                   ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The One Euro filter along one track (module docstring): smoothed (17, 2) positions and the
    unchanged (17,) scores of each of its people."""
    from OneEuroFilter import OneEuroFilter

    scales = [s for s in (object_scale(p) for p in people) if s]
    scale = float(np.median(scales)) if scales else 1.0
    filters: dict[tuple[int, int], OneEuroFilter] = {}
    out = []
    for person, f in zip(people, frames):
        xy = person.keypoints[:, :2].copy()
        usable = _usable(person, min_score)
        stamp = 1.0 + f / fps  # > 0: the package reads a timestamp of 0 as "none"
        for j in np.flatnonzero(usable):
            for c in (0, 1):
                key = (j, c)
                if key not in filters:
                    filters[key] = OneEuroFilter(freq=fps, mincutoff=min_cutoff, beta=beta, dcutoff=d_cutoff)
                xy[j, c] = filters[key](xy[j, c] / scale, stamp) * scale
        out.append((xy, _scores(person).copy()))
    return out


def smooth_video(video: Video, method: str = "median", fps: float = 30.0, offsets: Sequence[int] = OFFSETS,
                 min_score: float = 0.0, min_cutoff: float = MEDIAPIPE_ONE_EURO["min_cutoff"],
                 beta: float = MEDIAPIPE_ONE_EURO["beta"], d_cutoff: float = MEDIAPIPE_ONE_EURO["d_cutoff"]) -> Video:
    """A smoothed copy of one video of predictions with track ids (the input is not changed)."""
    if method not in METHODS:
        raise SmoothingError(f"unknown smoothing {method!r}; expected one of {METHODS}")
    if not fps > 0:
        raise SmoothingError(f"{video.name}: the frame rate must be positive, got {fps}")
    out = copy.deepcopy(video)
    for track in tracks_of(out).values():
        frames = [f for f, _ in track]
        people = [out.frames[f].people[k] for f, k in track]
        if method == "median":
            smoothed = median_track(people, frames, offsets, min_score)
        else:
            smoothed = one_euro_track(people, frames, fps, min_cutoff, beta, d_cutoff, min_score)
        for person, (xy, scores) in zip(people, smoothed):
            person.keypoints[:, :2] = np.where(_usable(person, -np.inf)[:, None], xy, person.keypoints[:, :2])
            person.scores = scores
    return out


def smooth_videos(videos: Sequence[Video], method: str = "median", fps: float | Mapping[str, float] = 30.0,
                  **params: float) -> list[Video]:
    """Smoothed copies of predicted videos (``Video`` with track ids, e.g. from ``vidpose
    predict`` or ``vidpose test``): ``method`` "one_euro" or "median"; ``fps`` one rate for all,
    or a rate per video name (One Euro's timestamps); ``params``: ``offsets``, ``min_score``,
    ``min_cutoff``, ``beta``, ``d_cutoff`` (``smooth_video``)."""
    result = []
    for video in videos:
        rate = fps.get(video.name) if isinstance(fps, Mapping) else fps
        if rate is None:
            raise SmoothingError(f"{video.name}: no frame rate given (fps holds {sorted(fps)})")
        result.append(smooth_video(video, method, float(rate), **params))
    return result
