"""Columnar per-video tables for the evaluator: what AP and MOTA need, as numpy arrays.

The evaluator never needs ``Person`` objects. For a regular PoseTrack18/21 per-video file,
``table_from_document`` builds the arrays straight from the parsed JSON in a few numpy
conversions. Anything irregular (a merged multi-video file, PoseTrack17, a malformed entry)
returns None, and the caller parses the file with the careful reader in
``vidpose.data.annotations``, which names the fault; ``table_from_video`` then converts its result.
Both routes give identical tables (tested).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidpose.data.annotations import AnnotationError, Video, _optional_rows, _Reader, _slot_table
from vidpose.data.schema import NUM_KEYPOINTS


NO_TRACK = np.iinfo(np.int64).min  # a person without a track id (any negative id is an id, and invalid)


@dataclass
class VideoTable:
    """One video's frames and people. People are sorted by frame, keeping file order within
    a frame. ``track`` is ``NO_TRACK`` where a person has no track id; ``head`` is NaN where a person has
    no head box; ``has_scores`` is False where a person has no per-joint scores."""

    name: str
    source: str | None
    file_names: list[str]
    labeled: np.ndarray  # (F,) bool
    regions: list[list[np.ndarray]]  # per frame, polygons as (V, 2)
    person_frame: np.ndarray  # (N,) int64
    keypoints: np.ndarray  # (N, 17, 3)
    scores: np.ndarray  # (N, 17), 0 where has_scores is False
    has_scores: np.ndarray  # (N,) bool
    track: np.ndarray  # (N,) int64
    head: np.ndarray  # (N, 4)

    @property
    def num_frames(self) -> int:
        return len(self.file_names)

    @property
    def label(self) -> str:
        return self.source or self.name


def table_from_video(video: Video) -> VideoTable:
    """Convert a parsed ``Video``."""
    people = [(f, p) for f, frame in enumerate(video.frames) for p in frame.people]
    n = len(people)
    keypoints = np.stack([p.keypoints for _, p in people]) if n else np.zeros((0, NUM_KEYPOINTS, 3))
    scores = np.zeros((n, NUM_KEYPOINTS))
    has_scores = np.zeros(n, dtype=bool)
    head = np.full((n, 4), np.nan)
    for i, (_, p) in enumerate(people):
        if p.scores is not None:
            scores[i], has_scores[i] = p.scores, True
        if p.bbox_head is not None:
            head[i] = p.bbox_head
    return VideoTable(
        name=video.name,
        source=video.source,
        file_names=[f.file_name for f in video.frames],
        labeled=np.array([f.is_labeled for f in video.frames], dtype=bool),
        regions=[[np.asarray(r, dtype=np.float64).reshape(-1, 2) for r in f.ignore_regions] for f in video.frames],
        person_frame=np.array([f for f, _ in people], dtype=np.int64),
        keypoints=keypoints,
        scores=scores,
        has_scores=has_scores,
        track=np.array([NO_TRACK if p.track_id is None else p.track_id for _, p in people], dtype=np.int64),
        head=head,
    )


def frame_key(name: str) -> str:
    """A frame's identity across files: the last two parts of its path (``<video>/<frame>.jpg``)."""
    return "/".join(name.replace("\\", "/").split("/")[-2:])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fast_polygons(image: dict) -> list[np.ndarray] | None:
    xs, ys = image.get("ignore_regions_x"), image.get("ignore_regions_y")
    if xs is None and ys is None:
        return []
    if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
        return None
    polygons = []
    for px, py in zip(xs, ys):
        if not isinstance(px, list) or not isinstance(py, list) or len(px) != len(py):
            return None
        try:
            poly = np.array([px, py], dtype=np.float64).T.reshape(-1, 2)
        except (TypeError, ValueError):
            return None
        if not np.isfinite(poly).all() or any(isinstance(v, bool) for v in px + py):
            return None
        polygons.append(poly)
    return polygons


def table_from_document(data: Any, file: str | os.PathLike | None, name: str,
                        keep_frames: set[str] | None = None) -> VideoTable | None:
    """The table of a regular per-video PoseTrack18/21 document, or None when the careful
    reader must look at it (merged files, PoseTrack17, missing ``is_labeled``, any bad entry).

    ``keep_frames`` (frame keys, ``<video folder>/<file>``): only the people of these frames are
    converted to arrays, the others are left out of the table; every image is still listed and
    every annotation still checked for its ``image_id``. The evaluator passes the frames the GT
    evaluates, since people on other frames cannot change the result."""
    if not isinstance(data, dict) or "annolist" in data:
        return None
    images, annotations = data.get("images"), data.get("annotations", [])
    if not isinstance(images, list) or not isinstance(annotations, list):
        return None
    try:
        table = _slot_table(_Reader(file), data)
    except AnnotationError:
        return None
    file_names, labeled, frame_of_id, folders = [], [], {}, set()
    for f, image in enumerate(images):
        if not isinstance(image, dict):
            return None
        file_name, image_id, is_labeled = image.get("file_name"), image.get("id"), image.get("is_labeled")
        if not isinstance(file_name, str) or not _is_int(image_id) or image_id in frame_of_id or is_labeled is None:
            return None
        folder = image["vid_id"] if "vid_id" in image else file_name.rpartition("/")[0]
        if not isinstance(folder, (str, int)):
            return None  # the careful reader names the fault
        folders.add(folder)
        frame_of_id[image_id] = f
        file_names.append(file_name)
        labeled.append(bool(is_labeled))
    if len(folders) > 1:  # a merged file: the careful reader splits it into videos
        return None

    n = len(table)
    if not all(isinstance(a, dict) and _is_int(a.get("image_id")) and a["image_id"] in frame_of_id
               for a in annotations):
        return None
    if keep_frames is not None:
        kept = [frame_key(f) in keep_frames for f in file_names]
        annotations = [a for a in annotations if kept[frame_of_id[a["image_id"]]]]
    kp = _optional_rows([a.get("keypoints") for a in annotations], 3 * n)
    sc = _optional_rows([a.get("scores") for a in annotations], n)
    hd = _optional_rows([a.get("bbox_head") for a in annotations], 4)
    if kp is None or sc is None or hd is None or not kp[0].all():
        return None
    tracks = [a.get("track_id") for a in annotations]
    if not all(t is None or _is_int(t) for t in tracks):
        return None

    count = len(annotations)
    slots = [slot for slot in table if slot is not None]
    cols = [i for i, slot in enumerate(table) if slot is not None]
    keypoints = np.zeros((count, NUM_KEYPOINTS, 3))
    keypoints[:, slots] = kp[1].reshape(-1, n, 3)[:, cols]
    scores = np.zeros((count, NUM_KEYPOINTS))
    scores[np.ix_(sc[0], slots)] = sc[1][:, cols]
    head = np.full((count, 4), np.nan)
    head[hd[0]] = hd[1]
    person_frame = np.array([frame_of_id[a["image_id"]] for a in annotations], dtype=np.int64)
    # Ignore regions matter only where there are people: those frames' polygons are read (and
    # checked); the other frames' are left empty, unread.
    regions = [[] for _ in images]
    for f in np.unique(person_frame).tolist():
        polygons = _fast_polygons(images[f])
        if polygons is None:
            return None
        regions[f] = polygons
    order = np.argsort(person_frame, kind="stable")
    return VideoTable(
        name=name,
        source=str(file) if file is not None else None,
        file_names=file_names,
        labeled=np.array(labeled, dtype=bool),
        regions=regions,
        person_frame=person_frame[order],
        keypoints=keypoints[order],
        scores=scores[order],
        has_scores=sc[0][order],
        track=np.array([NO_TRACK if t is None else t for t in tracks], dtype=np.int64)[order],
        head=head[order],
    )
