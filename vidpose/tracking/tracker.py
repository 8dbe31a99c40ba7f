"""Person detection and tracking over a video: the one home for it (boxes for ``vidpose predict``).

Pose-guided tracking as MediaPipe does it, for several people:

1. **Detector frames.** The whole-frame detector (``MoveNetMultiPose``) runs on the first frame,
   every ``detect_every`` frames, on every frame while no one is tracked, on any frame where a
   tracked person is lost, and on every frame while a lost person's track is kept (at most
   ``max_missed`` frames), as MediaPipe runs its detector until the person is found again.
2. **Other frames** (the pose-guided pass). Each track's keypoints in frame t-1 (moved by the track's velocity) give
   its region in frame t: the box around its confident keypoints, squared and enlarged by
   ``roi_scale``. The detector's pose model (MoveNet; or the pipeline's own pose model,
   ``pose_regions.py``, ``vidpose predict``'s default) runs on all regions in one batch; the
   candidates found in them, in frame pixels, are the measurements of that frame. A track
   whose region holds no candidate it links to is *lost*: the detector runs on that same frame
   and its people are linked as on a detector frame. ``region_pass``: ``"always"`` runs this
   pass on every frame that is not a detector frame; ``"never"`` makes every frame a detector
   frame (tracking by detection); ``"auto"`` (default) runs it only when it costs less than the
   detector, i.e. when (tracks x ``roi_size``^2) is under the detector's input pixels, so a
   crowd is tracked with the whole-frame detector. On detector frames the tracks the detector
   missed are still sought in their regions (unless ``"never"``).
3. **Linking (the rule).** Tracks and candidates are paired by Hungarian assignment
   (``scipy.optimize.linear_sum_assignment``) maximising the summed similarity. The similarity
   of a track and a candidate is the larger of (a) the OKS of the track's predicted keypoints
   and the candidate's over keypoints confident in both (COCO sigmas, the predicted box's area
   as the scale; the better of the pose and its left-right mirror, since pose models swap the
   sides of a person seen from behind or upside down; only with at least
   ``min_common_keypoints`` such keypoints) and (b) the IoU of the predicted box and the
   candidate's box, multiplied by (1 - w + w * B) where B is the Bhattacharyya coefficient of
   their colour histograms (the track's averaged over frames where it overlapped no one) and w
   is ``appearance_weight`` (0 turns it off). A pair is linked only if its similarity is at
   least ``link_threshold``. Each candidate goes to at most one track, so two people who
   cross keep their ids: during the crossing each track's prediction (constant velocity)
   stays nearer its own person, and a person hidden behind the other coasts on its velocity
   until seen again. Unlinked detections (detector frames only) start new tracks; a track
   unseen for more than ``max_missed`` frames ends. When two linked tracks end up on the same
   person (intersection over the smaller box above ``duplicate_iou``) the older track keeps it
   and the other coasts; a detection that overlaps a person measured in the same frame that
   much starts no track.

Measured (MoveNet at 512, defaults): Sports2D's demo clip (230 frames, a jumping-jacks and
backflip person and a walker) gives 2 tracks and no id switch, the detector running on 78
frames; on 7 checked frames of ``vtest.avi`` tracking finds 95% of the people against 88% for
the detector alone, with no false boxes. Crowded crossings there still swap or renew ids now
and then (a person hidden behind another for several frames).

Output per frame: ``(track_id, box xywh, score)`` of every track measured in that frame, and in
``crops`` (track id -> xywh) the crop box of each person the pose model found in its region
(``pose_regions.py``): the pipeline's temporal head can crop that same box and reuse its features,
one backbone pass per person and frame (MediaPipe: the pose model's crop in frame t comes from its
keypoints in frame t-1). ``frame_boxes`` turns one frame's output into arrays.
Candidates below ``min_score`` are ignored; boxes with zero or negative size, NaN or Inf are
dropped and counted, and a ``BoxWarning`` says how many and why (never silently).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

import numpy as np
from scipy.optimize import linear_sum_assignment

from vidpose.data.detections import Detection, box_iou, nms
from vidpose.data.frames import FrameSource
from vidpose.models.movenet import MoveNetMultiPose
from vidpose.tracking.boxes import VideoBoxes

log = logging.getLogger(__name__)

#: COCO keypoint sigmas (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles).
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0


#: COCO keypoint order mirrored left to right.
FLIP = np.array([0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15])


class BoxWarning(UserWarning):
    """Boxes that were dropped (zero or negative size, NaN or Inf), with their count."""


class Detector(Protocol):
    """What the tracker needs of a detector (``MoveNetMultiPose`` is one)."""

    def __call__(self, frame: np.ndarray) -> list[Detection]: ...

    def in_regions(self, frame: np.ndarray, regions: list[tuple[int, int, int, int]], input_size: int
                   ) -> list[list[Detection]]: ...


@dataclass
class Track:
    id: int
    keypoints: np.ndarray  # (17, 2) at the last measurement
    keypoint_scores: np.ndarray
    box: np.ndarray  # xywh at the last measurement
    score: float
    last_frame: int
    first_frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # pixels per frame
    appearance: np.ndarray | None = None  # colour histogram, averaged over clear views
    crop: np.ndarray | None = None  # xywh: the region crop the pose model found it in at the last measurement

    def predicted(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints and box moved by the velocity to frame t."""
        shift = self.velocity * (t - self.last_frame)
        box = self.box.copy()
        box[:2] += shift
        return self.keypoints + shift, box


@dataclass
class DropCounts:
    bad_size: int = 0
    not_finite: int = 0

    def __bool__(self) -> bool:
        return bool(self.bad_size or self.not_finite)

    def add(self, other: "DropCounts") -> None:
        self.bad_size += other.bad_size
        self.not_finite += other.not_finite

    def message(self, where: str) -> str:
        parts = []
        if self.not_finite:
            parts.append(f"{self.not_finite} with NaN or Inf")
        if self.bad_size:
            parts.append(f"{self.bad_size} with zero or negative size")
        return f"{where}: dropped {self.bad_size + self.not_finite} boxes ({', '.join(parts)})"


def valid_detections(dets: list[Detection]) -> tuple[list[Detection], DropCounts]:
    """Detections whose box is finite with positive width and height (keypoints finite too),
    and the counts of the others by reason."""
    kept, drops = [], DropCounts()
    for d in dets:
        box = np.asarray(d.box, dtype=np.float64)
        if not (np.all(np.isfinite(box)) and np.all(np.isfinite(d.keypoints)) and np.isfinite(d.score)):
            drops.not_finite += 1
        elif box[2] <= 0 or box[3] <= 0:
            drops.bad_size += 1
        else:
            kept.append(d)
    return kept, drops


def box_overlap(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over the smaller box, of an xywh box and each of others (M, 4): 1 when one
    box holds the other (a person's partial box inside their whole one)."""
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[0] + box[2], others[:, 0] + others[:, 2])
    y1 = np.minimum(box[1] + box[3], others[:, 1] + others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return inter / np.maximum(np.minimum(box[2] * box[3], others[:, 2] * others[:, 3]), 1e-9)


def colour_histogram(frame: np.ndarray, box: np.ndarray, bins: int = 4) -> np.ndarray | None:
    """Normalised RGB histogram (bins^3) of the middle of a person's box (the torso and legs:
    the central half in width, 15-80% in height), or None when that is empty."""
    h, w = frame.shape[:2]
    x0, x1 = int(max(0, box[0] + 0.25 * box[2])), int(min(w, box[0] + 0.75 * box[2]))
    y0, y1 = int(max(0, box[1] + 0.15 * box[3])), int(min(h, box[1] + 0.8 * box[3]))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    q = (frame[y0:y1, x0:x1].reshape(-1, 3) // (256 // bins)).astype(np.int64)
    hist = np.bincount((q[:, 0] * bins + q[:, 1]) * bins + q[:, 2], minlength=bins ** 3).astype(np.float64)
    return hist / hist.sum()


def oks(kp_a: np.ndarray, kp_b: np.ndarray, common: np.ndarray, area: float) -> float:
    """Object keypoint similarity of two poses over the keypoints in ``common``."""
    d2 = ((kp_a - kp_b) ** 2).sum(-1)
    var = (2 * COCO_SIGMAS) ** 2
    e = np.exp(-d2 / (2 * max(area, 1.0) * var))
    return float(e[common].mean()) if common.any() else 0.0


def keypoint_box(keypoints: np.ndarray, scores: np.ndarray, threshold: float, fallback: np.ndarray) -> np.ndarray:
    """xywh around the keypoints scoring at least ``threshold`` (``fallback`` when under 3)."""
    good = scores >= threshold
    if good.sum() < 3:
        return fallback
    lo, hi = keypoints[good].min(0), keypoints[good].max(0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])


class PoseTracker:
    """Detection plus pose-guided tracking. ``update(frame)`` per frame, or ``run(frames)``."""

    def __init__(self, detector: Detector, detect_every: int = 10, roi_size: int = 256, roi_scale: float = 1.5,
                 min_score: float = 0.2, keypoint_threshold: float = 0.2, link_threshold: float = 0.3,
                 min_common_keypoints: int = 3, max_missed: int = 30, duplicate_iou: float = 0.7,
                 velocity_smoothing: float = 0.5, region_pass: str = "auto", appearance_weight: float = 0.5):
        if detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        if region_pass not in ("auto", "always", "never"):
            raise ValueError(f"region_pass must be auto, always or never, got {region_pass!r}")
        self.region_pass, self.appearance_weight = region_pass, appearance_weight
        self.detector = detector
        self.detect_every, self.roi_size, self.roi_scale = detect_every, roi_size, roi_scale
        self.min_score, self.keypoint_threshold = min_score, keypoint_threshold
        self.link_threshold, self.min_common_keypoints = link_threshold, min_common_keypoints
        self.max_missed, self.duplicate_iou, self.velocity_smoothing = max_missed, duplicate_iou, velocity_smoothing
        self.reset()

    def reset(self) -> None:
        self.tracks: list[Track] = []
        self.t = 0
        self.next_id = 0
        self.last_detection = -10 ** 9
        self.stats = {"detector_runs": 0, "roi_runs": 0, "lost": 0, "new_tracks": 0}
        self.crops: dict[int, np.ndarray] = {}  # after update: track id -> its region crop box, this frame
        self.crop_history: list[dict[int, np.ndarray]] = []  # run: every frame's crops
        self.dropped = DropCounts()

    # --- similarity and linking ---------------------------------------------------------

    def similarity(self, track: Track, det: Detection) -> float:
        """max(OKS, IoU) of the track's prediction and a candidate; IoU alone when fewer than
        ``min_common_keypoints`` keypoints are confident in both (see the module docstring)."""
        kp, box = track.predicted(self.t)
        iou = float(box_iou(box[None], det.box[None])[0, 0])
        ok_track = track.keypoint_scores >= self.keypoint_threshold
        ok_det = det.keypoint_scores >= self.keypoint_threshold
        area = float(box[2] * box[3])
        best = 0.0
        for order in (np.arange(17), FLIP):  # the pose as is, and mirrored left to right
            common = ok_track & ok_det[order]
            if common.sum() >= self.min_common_keypoints:
                best = max(best, oks(kp, det.keypoints[order], common, area))
        motion = max(best, iou)
        if self.appearance_weight and track.appearance is not None and det.appearance is not None:
            likeness = float(np.sqrt(track.appearance * det.appearance).sum())  # Bhattacharyya coefficient
            return motion * (1 - self.appearance_weight + self.appearance_weight * likeness)
        return motion

    def _link(self, tracks: list[Track], dets: list[Detection]) -> tuple[dict[int, int], list[int]]:
        """Hungarian linking: {track index: detection index}, and the unlinked detections."""
        if not tracks or not dets:
            return {}, list(range(len(dets)))
        sim = np.array([[self.similarity(tr, d) for d in dets] for tr in tracks])
        rows, cols = linear_sum_assignment(-sim)
        pairs = {int(r): int(c) for r, c in zip(rows, cols) if sim[r, c] >= self.link_threshold}
        used = set(pairs.values())
        return pairs, [j for j in range(len(dets)) if j not in used]

    def _measure(self, track: Track, det: Detection, clear: bool = True) -> None:
        gap = max(1, self.t - track.last_frame)
        centre_old = track.box[:2] + track.box[2:] / 2
        centre_new = det.box[:2] + det.box[2:] / 2
        a = self.velocity_smoothing
        track.velocity = a * (centre_new - centre_old) / gap + (1 - a) * track.velocity
        track.keypoints, track.keypoint_scores = det.keypoints.copy(), det.keypoint_scores.copy()
        track.box, track.score, track.last_frame = det.box.copy(), float(det.score), self.t
        track.crop = None if det.crop is None else np.asarray(det.crop, np.float64).copy()
        if det.appearance is not None and clear:
            track.appearance = det.appearance if track.appearance is None else (
                0.7 * track.appearance + 0.3 * det.appearance)

    def _new_track(self, det: Detection) -> Track:
        tr = Track(self.next_id, det.keypoints.copy(), det.keypoint_scores.copy(), det.box.copy(), float(det.score),
                   self.t, self.t, appearance=det.appearance,
                   crop=None if det.crop is None else np.asarray(det.crop, np.float64).copy())
        self.next_id += 1
        self.stats["new_tracks"] += 1
        self.tracks.append(tr)
        return tr

    # --- the two passes -----------------------------------------------------------------

    def _clean(self, frame: np.ndarray, dets: list[Detection]) -> list[Detection]:
        dets = [d for d in dets if d.score >= self.min_score]
        dets, drops = valid_detections(dets)
        self._frame_drops.add(drops)
        if self.appearance_weight:
            for d in dets:
                d.appearance = colour_histogram(frame, d.box)
        return dets

    def _detect(self, frame: np.ndarray, tracks: list[Track], measured: dict[int, Detection]) -> None:
        """Whole-frame detection: link to ``tracks``; unlinked people start tracks."""
        self.stats["detector_runs"] += 1
        self.last_detection = self.t
        dets = self._clean(frame, self.detector(frame))
        # a person already measured in this frame is not a new person
        taken = [d.box for d in measured.values()]
        if taken:
            dets = [d for d in dets if box_overlap(d.box, np.stack(taken)).max() < self.duplicate_iou]
        pairs, unlinked = self._link(tracks, dets)
        for i, j in pairs.items():
            measured[tracks[i].id] = dets[j]
        for j in unlinked:
            tr = self._new_track(dets[j])
            measured[tr.id] = dets[j]

    def _regions_pay(self, frame: np.ndarray, n: int) -> bool:
        """Whether the pose-guided pass runs on this frame (see ``region_pass``)."""
        if self.region_pass == "never":
            return False
        if self.region_pass == "always" or not hasattr(self.detector, "input_pixels"):
            return True
        return n * self.roi_size ** 2 < self.detector.input_pixels(frame.shape)

    def _regions(self, tracks: list[Track]) -> list[tuple[int, int, int, int]]:
        out = []
        for tr in tracks:
            kp, box = tr.predicted(self.t)
            b = keypoint_box(kp, tr.keypoint_scores, self.keypoint_threshold, box)
            cx, cy = b[0] + b[2] / 2, b[1] + b[3] / 2
            side = max(b[2], b[3], 8.0) * self.roi_scale
            x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
            s = int(round(side))
            out.append((x0, y0, x0 + s, y0 + s))
        return out

    def _follow(self, frame: np.ndarray, tracks: list[Track], taken: list[Detection] = ()
                ) -> tuple[dict[int, Detection], list[Track]]:
        """Pose-guided pass: run the pose model in each track's region; returns the measured
        tracks and the tracks not found. People in ``taken`` (already measured) are skipped."""
        if not tracks:
            return {}, []
        self.stats["roi_runs"] += len(tracks)
        found = self.detector.in_regions(frame, self._regions(tracks), self.roi_size)
        candidates = nms(self._clean(frame, [d for ds in found for d in ds]), self.duplicate_iou)
        if taken:
            boxes = np.stack([d.box for d in taken])
            candidates = [d for d in candidates if box_overlap(d.box, boxes).max() < self.duplicate_iou]
        pairs, _ = self._link(tracks, candidates)
        measured = {tracks[i].id: candidates[j] for i, j in pairs.items()}
        return measured, [tr for k, tr in enumerate(tracks) if k not in pairs]

    def update(self, frame: np.ndarray, warn: bool = True) -> list[tuple[int, np.ndarray, float]]:
        """Track one frame (frames in order). Returns (track_id, box xywh, score) per person."""
        self._frame_drops = DropCounts()
        measured: dict[int, Detection] = {}
        live = list(self.tracks)
        coasting = any(tr.last_frame < self.t - 1 for tr in live)
        due = not live or coasting or self.t - self.last_detection >= self.detect_every or not self._regions_pay(
            frame, len(live))
        if due:
            self._detect(frame, live, measured)
            unmatched = [tr for tr in live if tr.id not in measured]
            if self.region_pass != "never":
                more, _ = self._follow(frame, unmatched, list(measured.values()))
                measured.update(more)
        else:
            measured, missing = self._follow(frame, live)
            newly_lost = [tr for tr in missing if tr.last_frame == self.t - 1]
            if newly_lost:
                self.stats["lost"] += len(newly_lost)
                self._detect(frame, missing, measured)
        self._resolve_duplicates(measured)
        boxes = {i: d.box for i, d in measured.items()}
        for tr in self.tracks:
            if tr.id in measured:
                others = [b for i, b in boxes.items() if i != tr.id]
                clear = not others or box_overlap(boxes[tr.id], np.stack(others)).max() < 0.3
                self._measure(tr, measured[tr.id], clear)
        self.tracks = [tr for tr in self.tracks if self.t - tr.last_frame <= self.max_missed]
        out = [(tr.id, tr.box.copy(), tr.score) for tr in self.tracks if tr.last_frame == self.t]
        self.crops = {tr.id: tr.crop.copy() for tr in self.tracks if tr.last_frame == self.t and tr.crop is not None}
        if self._frame_drops:
            self.dropped.add(self._frame_drops)
            if warn:
                warnings.warn(self._frame_drops.message(f"frame {self.t}"), BoxWarning, stacklevel=2)
        self.t += 1
        return out

    def _resolve_duplicates(self, measured: dict[int, Detection]) -> None:
        ids = sorted(measured, key=lambda i: next(tr.first_frame for tr in self.tracks if tr.id == i))
        kept: list[int] = []
        for i in ids:
            if kept and box_overlap(measured[i].box, np.stack([measured[k].box for k in kept])).max() > self.duplicate_iou:
                del measured[i]  # the older track keeps the person; this one coasts
                self.tracks = [tr for tr in self.tracks if not (tr.id == i and tr.first_frame == self.t)]
            else:
                kept.append(i)

    def run(self, frames: Iterable[np.ndarray], progress: bool = False) -> list[list[tuple[int, np.ndarray, float]]]:
        """Track every frame of ``frames`` (a FrameSource or any iterable of RGB frames) from a
        fresh state (``crop_history`` then holds every frame's ``crops``). Dropped boxes are reported
        once, in one ``BoxWarning``, at the end."""
        from tqdm import tqdm

        self.reset()
        if hasattr(frames, "read") and hasattr(frames, "__len__"):
            source = frames
            frames = (source.read(i) for i in range(len(source)))
            total = len(source)
        else:
            total = None
        results = []
        for frame in tqdm(frames, total=total, desc="track", disable=not progress):
            results.append(self.update(frame, warn=False))
            self.crop_history.append(self.crops)
        self.report()
        return results

    def report(self) -> None:
        """After the last frame of ``update(frame, warn=False)`` calls: one ``BoxWarning`` for the
        boxes dropped on the way, and the tracking counts in the log."""
        if self.dropped:
            warnings.warn(self.dropped.message(f"{self.t} frames"), BoxWarning, stacklevel=3)
        log.info("tracking: %s", json.dumps({"frames": self.t, "tracks": self.next_id, **self.stats}))


def id_switches(results: list[list[tuple[int, np.ndarray, float]]], truth: list[dict[int, np.ndarray]],
                iou_threshold: float = 0.5) -> int:
    """Identity switches of tracker output against ground-truth boxes per frame ({gt id: xywh}):
    a ground-truth person matched (IoU) to a different track id than at its previous match."""
    last: dict[int, int] = {}
    switches = 0
    for out, gt in zip(results, truth):
        if not out or not gt:
            continue
        gid = list(gt)
        iou = box_iou(np.stack([gt[g] for g in gid]), np.stack([b for _, b, _ in out]))
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols):
            if iou[r, c] >= iou_threshold:
                tid = out[c][0]
                if gid[r] in last and last[gid[r]] != tid:
                    switches += 1
                last[gid[r]] = tid
    return switches


def to_detection_entries(results: list[list[tuple[int, np.ndarray, float]]]) -> list[dict[str, Any]]:
    """Tracker output as the entries of a detection file that ``vidpose predict --boxes`` reads
    (``frame_index``, ``bbox`` xywh, ``score``, ``track_id``)."""
    return [{"frame_index": f, "bbox": [round(float(v), 2) for v in box], "score": round(float(score), 4),
             "track_id": int(tid)} for f, people in enumerate(results) for tid, box, score in people]


def write_boxes(path: str | os.PathLike, results: list[list[tuple[int, np.ndarray, float]]]) -> None:
    """Write tracker output as a detection file for ``vidpose predict --boxes``."""
    with open(path, "w") as fh:
        json.dump(to_detection_entries(results), fh)


def people_tracker(detect_every: int = 10, small_people: bool = False) -> PoseTracker:
    """The tracker ``vidpose predict`` uses: MoveNet-MultiPose at 512 (768 for small people)."""
    return PoseTracker(MoveNetMultiPose(input_size=768 if small_people else 512), detect_every=detect_every)


def track_people(source: FrameSource, detect_every: int = 10, small_people: bool = False, progress: bool = False,
                 tracker: PoseTracker | None = None) -> VideoBoxes:
    """Boxes and track ids of every person in every frame, from the detector and the tracker
    (``tracker``, default ``people_tracker(detect_every, small_people)``)."""
    tracker = tracker or people_tracker(detect_every, small_people)
    results = tracker.run(source, progress=progress)
    found = VideoBoxes([], [], [])
    for step, crops in zip(results, tracker.crop_history):
        found.append(*frame_boxes(step, crops))
    return found


def frame_boxes(step: list[tuple[int, np.ndarray, float]], crops: dict[int, np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One frame of ``PoseTracker.update`` output and its ``crops`` as arrays: boxes (N, 4),
    scores (N,), track ids (N,) and crop boxes (N, 4), NaN for a person without one."""
    nan = np.full(4, np.nan)
    return (np.array([b for _, b, _ in step], np.float64).reshape(-1, 4),
            np.array([s for _, _, s in step], np.float64), np.array([i for i, _, _ in step], int),
            np.array([crops.get(i, nan) for i, _, _ in step], np.float64).reshape(-1, 4))
