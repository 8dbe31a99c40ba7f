"""Person-detection files, the boxes a top-down estimator crops at test time.

Two common layouts are read (shared/specs/posetrack-data.md §3 and §1.2):
- PoseWarper/DCPose: a list of ``{image_name, bbox [x,y,w,h], score, category_id, nframes, frame_id}``;
- mmpose: a list of ``{image_id, bbox [x,y,w,h], score, category_id}``.

Boxes of zero or negative width or height cannot be cropped. By default they are skipped,
counted in ``DetectionSet.skipped_degenerate`` and reported in a log warning that names the file
and the first bad entry; ``strict=True`` raises instead.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from vidpose.data.annotations import AnnotationError, Frame, _Reader, load_json

log = logging.getLogger(__name__)


@dataclass
class Detection:
    """One person found in a frame: ``box`` (x, y, w, h) in frame pixels and ``score``; a detector
    that also sees joints (MoveNet) adds ``keypoints`` (17, 2) in COCO order and their scores, and
    the tracker an ``appearance`` histogram. A person found by the pose model in a region
    (``tracking/pose_regions.py``) carries the ``crop`` box (xywh) it was found in."""

    box: np.ndarray
    score: float
    keypoints: np.ndarray | None = None
    keypoint_scores: np.ndarray | None = None
    appearance: np.ndarray | None = None
    crop: np.ndarray | None = None


@dataclass
class DetectionSet:
    """Boxes indexed by image id and by image path, so either layout finds its frame."""

    source: str
    by_id: dict[int, list[Detection]] = field(default_factory=dict)
    by_name: dict[str, list[Detection]] = field(default_factory=dict)
    total: int = 0
    skipped_degenerate: int = 0
    skipped_category: int = 0

    def for_frame(self, frame: Frame, min_score: float = 0.0) -> list[Detection]:
        """The detections of a frame with score >= ``min_score``, highest score first."""
        dets = self.by_id.get(frame.image_id)
        if dets is None:
            dets = self.by_name.get(_normalise_name(frame.file_name), [])
        return sorted((d for d in dets if d.score >= min_score), key=lambda d: -d.score)


def _normalise_name(name: str) -> str:
    """Match names by their last two path parts (``<video>/<frame>.jpg``); files differ in prefix."""
    parts = name.replace("\\", "/").split("/")
    return "/".join(parts[-2:])


def load_detections(path: str | os.PathLike, strict: bool = False, person_category: int = 1) -> DetectionSet:
    """Read a detection file in either layout. Entries of another category are skipped and counted."""
    data = load_json(path)
    reader = _Reader(path)
    entries = reader.list_(data, "$")
    result = DetectionSet(source=str(path))
    first_bad = None
    for i, entry in enumerate(entries):
        where = f"$[{i}]"
        bbox = reader.numbers(reader.key(entry, "bbox", where), f"{where}.bbox", length=4)
        score = reader.number(reader.key(entry, "score", where, default=1.0), f"{where}.score")
        category = entry.get("category_id", person_category)
        result.total += 1
        if category != person_category:
            result.skipped_category += 1
            continue
        if bbox[2] <= 0 or bbox[3] <= 0:
            if strict:
                raise AnnotationError(path, f"{where}.bbox", f"box has zero or negative size: {bbox.tolist()}")
            result.skipped_degenerate += 1
            first_bad = first_bad or where
            continue
        det = Detection(bbox, score)
        if "image_id" in entry:
            result.by_id.setdefault(reader.integer(entry["image_id"], f"{where}.image_id"), []).append(det)
        elif "image_name" in entry:
            name = entry["image_name"]
            if not isinstance(name, str):
                raise reader.fail(f"{where}.image_name", f"expected a string, got {name!r}")
            result.by_name.setdefault(_normalise_name(name), []).append(det)
        else:
            raise reader.fail(where, "entry has neither 'image_id' (mmpose) nor 'image_name' (PoseWarper/DCPose)")
    if result.skipped_degenerate:
        log.warning("%s: skipped %d of %d boxes with zero or negative size (first at %s)",
                    path, result.skipped_degenerate, result.total, first_bad)
    return result


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of xywh boxes a (N, 4) and b (M, 4)."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return inter / np.maximum(union, 1e-9)


def nms(dets: list[Detection], iou_threshold: float = 0.5) -> list[Detection]:
    """Greedy NMS on boxes, highest score first."""
    dets = sorted(dets, key=lambda d: -d.score)
    keep: list[Detection] = []
    for d in dets:
        if not keep or box_iou(d.box[None], np.stack([k.box for k in keep])).max() < iou_threshold:
            keep.append(d)
    return keep
