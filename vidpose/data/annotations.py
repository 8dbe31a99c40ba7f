"""PoseTrack annotations: one small typed data model, its readers and its writers.

Model: a ``Video`` holds ``Frame``s in file order; a ``Frame`` holds ``Person``s, ignore polygons
and ``is_labeled``; a ``Person`` holds 17x3 keypoints in PoseTrack slot order (x, y, v).

Readers accept PoseTrack18/21 per-video JSON, merged COCO-style PoseTrack JSON (several videos in
one file, as mmpose ships), and PoseTrack17 ``annolist`` JSON. Writers produce files the official
poseval accepts (formats: shared/specs/posetrack-evaluation.md §2.10).

A malformed file raises ``AnnotationError`` naming the file and the JSON path of the fault.
Nothing is dropped silently: people without any annotated keypoint are kept and counted in
the ``LoadSummary``.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import orjson

from vidpose.data.schema import (
    CATEGORY_SKELETON,
    EVALUATED_JOINTS,
    KEYPOINT_INDEX,
    KEYPOINT_NAMES,
    NUM_KEYPOINTS,
    POSEVAL_TO_SLOT,
    SLOT_TO_POSEVAL,
)
from vidpose.errors import VidposeError


class AnnotationError(VidposeError, ValueError):
    """A PoseTrack file that cannot be read as it is. Names the file and the JSON path."""

    def __init__(self, file: str | os.PathLike | None, json_path: str, message: str):
        self.file = str(file) if file is not None else "<memory>"
        self.json_path = json_path
        self.message = message
        super().__init__(f"{self.file}: {json_path}: {message}")

    def __reduce__(self) -> tuple:  # survive pickling across worker processes
        return (AnnotationError, (self.file, self.json_path, self.message))


@dataclass
class Person:
    """One person in one frame. ``keypoints`` is (17, 3): x, y, v in PoseTrack slot order.

    v is the file's third value (visibility in GT; many prediction files put a score there).
    An unannotated / not-predicted joint is (0, 0, 0), as in PoseTrack18 files.
    """

    keypoints: np.ndarray
    track_id: int | None = None
    bbox: np.ndarray | None = None  # (4,) x, y, w, h
    bbox_head: np.ndarray | None = None  # (4,) x, y, w, h
    scores: np.ndarray | None = None  # (17,) per-joint confidence (predictions)
    score: float | None = None  # person / box confidence
    occluded: np.ndarray | None = None  # (17,) bool, written by SynthTrack
    person_id: int | None = None  # PoseTrack21 re-ID identity

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)

    @classmethod
    def predicted(cls, xy: np.ndarray, scores: np.ndarray, track_id: int | None = None,
                  bbox: np.ndarray | None = None) -> "Person":
        """A predicted person: every joint present (v = 1) at ``xy`` (17, 2), with ``scores`` (17,)
        and optionally the ``bbox`` (x, y, w, h) it was found in."""
        kp = np.ones((NUM_KEYPOINTS, 3))
        kp[:, :2] = xy
        return cls(kp, track_id=track_id, scores=np.asarray(scores, dtype=np.float64),
                   bbox=None if bbox is None else np.asarray(bbox, dtype=np.float64))

    @property
    def visible(self) -> np.ndarray:
        """(17,) bool: joints with v > 0 (annotated in GT)."""
        return self.keypoints[:, 2] > 0

    @property
    def num_annotated(self) -> int:
        return int(self.visible[list(EVALUATED_JOINTS)].sum())


@dataclass
class Frame:
    """One image of a video. ``raw`` keeps the file's image entry so writers can reproduce it."""

    file_name: str
    image_id: int
    is_labeled: bool
    people: list[Person] = field(default_factory=list)
    ignore_regions: list[np.ndarray] = field(default_factory=list)  # each (N, 2) x, y
    width: int | None = None
    height: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Video:
    """A sequence of frames in file order. ``name`` is the file stem, e.g. ``003418_mpii_test``."""

    name: str
    frames: list[Frame]
    source: str | None = None

    def __len__(self) -> int:
        return len(self.frames)

    def empty_like(self) -> "Video":
        """The same frames (names, ids, image entries) with no people: the skeleton of a
        prediction file that poseval will align with this GT by position."""
        frames = [
            Frame(f.file_name, f.image_id, f.is_labeled, [], [r.copy() for r in f.ignore_regions],
                  f.width, f.height, dict(f.raw))
            for f in self.frames
        ]
        return Video(self.name, frames, None)


@dataclass
class LoadSummary:
    """What a reader found, for logs and ``vidpose data inspect``."""

    files: int = 0
    videos: int = 0
    frames: int = 0
    labeled_frames: int = 0
    people: int = 0
    people_without_keypoints: int = 0
    ignore_regions: int = 0
    joints: Counter = field(default_factory=Counter)  # joint name -> annotated count

    def add(self, video: Video) -> None:
        self.videos += 1
        self.frames += len(video.frames)
        for frame in video.frames:
            self.labeled_frames += int(frame.is_labeled)
            self.ignore_regions += len(frame.ignore_regions)
            for person in frame.people:
                self.people += 1
                if not person.visible.any():
                    self.people_without_keypoints += 1
                for j in np.flatnonzero(person.visible):
                    self.joints[KEYPOINT_NAMES[j]] += 1

    def format(self) -> str:
        lines = [
            f"files: {self.files}  videos: {self.videos}  frames: {self.frames}  "
            f"labeled frames: {self.labeled_frames}",
            f"people: {self.people}  (without any annotated keypoint: {self.people_without_keypoints})"
            f"  ignore regions: {self.ignore_regions}",
            "annotated joints:",
        ]
        for j in EVALUATED_JOINTS:
            name = KEYPOINT_NAMES[j]
            lines.append(f"  {name:<15} {self.joints.get(name, 0)}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------


def load_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; a syntax error or truncation becomes an ``AnnotationError``."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return orjson.loads(raw)  # several times faster than json on large PoseTrack files
    except orjson.JSONDecodeError:
        pass
    try:  # the standard parser gives the line and column of the fault
        return json.loads(raw.decode("utf-8"))
    except json.JSONDecodeError as e:
        raise AnnotationError(path, "$", f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg});"
                              " the file may be truncated") from None
    except UnicodeDecodeError as e:
        raise AnnotationError(path, "$", f"not UTF-8 text ({e.reason})") from None
    raise AnnotationError(path, "$", "not valid JSON")


class _Reader:
    """Checks types while walking a parsed JSON document, so errors name their JSON path."""

    def __init__(self, file: str | os.PathLike | None):
        self.file = file

    def fail(self, where: str, message: str) -> AnnotationError:
        return AnnotationError(self.file, where, message)

    def key(self, obj: dict, name: str, where: str, default: Any = ...) -> Any:
        if not isinstance(obj, dict):
            raise self.fail(where, f"expected an object, got {type(obj).__name__}")
        if name not in obj:
            if default is ...:
                raise self.fail(f"{where}.{name}", "missing required key")
            return default
        return obj[name]

    def list_(self, value: Any, where: str) -> list:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {type(value).__name__}")
        return value

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise self.fail(where, f"expected a finite number, got {value!r}")
        return float(value)

    def integer(self, value: Any, where: str) -> int:
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or (isinstance(value, float) and not math.isfinite(value)) or value != int(value)):
            raise self.fail(where, f"expected an integer, got {value!r}")
        return int(value)

    def numbers(self, value: Any, where: str, length: int | None = None) -> np.ndarray:
        values = self.list_(value, where)
        if length is not None and len(values) != length:
            raise self.fail(where, f"expected {length} numbers, got {len(values)}")
        try:  # fast path: one conversion; the slow path below only locates a bad element
            array = np.array(values, dtype=np.float64)
            if array.ndim == 1 and np.isfinite(array).all() and not any(isinstance(v, bool) for v in values):
                return array
        except (TypeError, ValueError):
            pass
        return np.array([self.number(v, f"{where}[{i}]") for i, v in enumerate(values)], dtype=np.float64)

    def scalar_list(self, value: Any, where: str) -> Any:
        """PoseTrack17 wraps scalars in 1-element lists."""
        if isinstance(value, list):
            if len(value) != 1:
                raise self.fail(where, f"expected a 1-element list, got {len(value)} elements")
            return value[0]
        return value


def _slot_table(reader: _Reader, data: dict) -> list[int | None]:
    """Map the file's keypoint list (by name, from ``categories``) to our 17 slots."""
    categories = data.get("categories")
    if categories is None:
        return list(range(NUM_KEYPOINTS))
    categories = reader.list_(categories, "$.categories")
    if len(categories) != 1:
        raise reader.fail("$.categories", f"expected exactly 1 category (person), got {len(categories)}")
    names = reader.key(categories[0], "keypoints", "$.categories[0]", default=None)
    if names is None:
        return list(range(NUM_KEYPOINTS))
    names = reader.list_(names, "$.categories[0].keypoints")
    if len(names) not in (15, 17):
        raise reader.fail("$.categories[0].keypoints", f"expected 15 or 17 keypoint names, got {len(names)}")
    table: list[int | None] = []
    for i, name in enumerate(names):
        # poseval calls head_bottom "neck" in PoseTrack17; accept both spellings.
        name = "head_bottom" if name == "neck" else name
        if not isinstance(name, str) or name not in KEYPOINT_INDEX:
            raise reader.fail(f"$.categories[0].keypoints[{i}]", f"unknown keypoint name {name!r}")
        table.append(KEYPOINT_INDEX[name])
    return table


def _polygons(reader: _Reader, image: dict, where: str) -> list[np.ndarray]:
    xs = image.get("ignore_regions_x")
    ys = image.get("ignore_regions_y")
    if xs is None and ys is None:
        return []
    xs = reader.list_(xs if xs is not None else [], f"{where}.ignore_regions_x")
    ys = reader.list_(ys if ys is not None else [], f"{where}.ignore_regions_y")
    if len(xs) != len(ys):
        raise reader.fail(f"{where}.ignore_regions_x", f"{len(xs)} x lists but {len(ys)} y lists")
    polygons = []
    for k, (px, py) in enumerate(zip(xs, ys)):
        px = reader.numbers(px, f"{where}.ignore_regions_x[{k}]")
        py = reader.numbers(py, f"{where}.ignore_regions_y[{k}]", length=len(px))
        polygons.append(np.stack([px, py], axis=1) if len(px) else np.zeros((0, 2)))
    return polygons


def _person_pt18(reader: _Reader, ann: dict, where: str, table: list[int | None]) -> Person:
    flat = reader.numbers(reader.key(ann, "keypoints", where), f"{where}.keypoints", length=3 * len(table))
    raw = flat.reshape(len(table), 3)
    keypoints = np.zeros((NUM_KEYPOINTS, 3))
    for i, slot in enumerate(table):
        if slot is not None:
            keypoints[slot] = raw[i]
    scores = None
    raw_scores = ann.get("scores")
    # An empty list means "no scores" (that is how PoseTrack18 GT files store it).
    if raw_scores is not None and len(reader.list_(raw_scores, f"{where}.scores")) > 0:
        values = reader.numbers(raw_scores, f"{where}.scores", length=len(table))
        scores = np.zeros(NUM_KEYPOINTS)
        for i, slot in enumerate(table):
            if slot is not None:
                scores[slot] = values[i]
    occluded = None
    if ann.get("occluded") is not None:
        occ = reader.numbers(ann["occluded"], f"{where}.occluded", length=len(table))
        occluded = np.zeros(NUM_KEYPOINTS, dtype=bool)
        for i, slot in enumerate(table):
            if slot is not None:
                occluded[slot] = occ[i] > 0
    track_id = ann.get("track_id")
    person_id = ann.get("person_id")
    score = ann.get("score")
    return Person(
        keypoints=keypoints,
        track_id=None if track_id is None else reader.integer(track_id, f"{where}.track_id"),
        bbox=None if ann.get("bbox") is None else reader.numbers(ann["bbox"], f"{where}.bbox", length=4),
        bbox_head=None if ann.get("bbox_head") is None
        else reader.numbers(ann["bbox_head"], f"{where}.bbox_head", length=4),
        scores=scores,
        score=None if score is None else reader.number(score, f"{where}.score"),
        occluded=occluded,
        person_id=None if person_id is None else reader.integer(person_id, f"{where}.person_id"),
    )


def _optional_rows(values: list, length: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Stack optional fixed-length number lists: (present mask, rows). None if any entry is not
    None, an empty list, or a list of ``length`` finite numbers."""
    if not all(v is None or isinstance(v, list) for v in values):
        return None
    present = np.array([v is not None and len(v) > 0 for v in values], dtype=bool)
    rows = [v for v, p in zip(values, present) if p]
    if not rows:
        return present, np.zeros((0, length))
    try:
        array = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if array.shape != (len(rows), length) or not np.isfinite(array).all():
        return None
    return present, array


def _people_pt18_fast(annotations: list, table: list[int | None]) -> list[Person] | None:
    """All people of a file in a few numpy conversions; None when anything is irregular (then
    ``_person_pt18`` checks each entry and names the fault). One leniency for speed: JSON
    booleans inside the number lists are read as 1/0 here, where the per-value path rejects them."""
    n = len(table)
    if not all(isinstance(a, dict) and "keypoints" in a and "image_id" in a for a in annotations):
        return None
    parts = {}
    for key, length in (("keypoints", 3 * n), ("scores", n), ("bbox", 4), ("bbox_head", 4), ("occluded", n)):
        parts[key] = _optional_rows([a.get(key) for a in annotations], length)
        if parts[key] is None:
            return None
    kp_present, kp_rows = parts["keypoints"]
    if not kp_present.all():
        return None
    for a in annotations:
        for key in ("track_id", "person_id"):
            value = a.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                return None
        score = a.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
            return None
    slots = [slot for slot in table if slot is not None]
    cols = [i for i, slot in enumerate(table) if slot is not None]
    keypoints = np.zeros((len(annotations), NUM_KEYPOINTS, 3))
    keypoints[:, slots] = kp_rows.reshape(-1, n, 3)[:, cols]

    def per_person(key: str, to_slots: bool) -> list:
        present, rows = parts[key]
        out: list = [None] * len(annotations)
        for row, i in zip(rows, np.flatnonzero(present)):
            if to_slots:
                full = np.zeros(NUM_KEYPOINTS)
                full[slots] = row[cols]
                out[i] = full
            else:
                out[i] = row
        return out

    scores, occluded = per_person("scores", True), per_person("occluded", True)
    boxes, heads = per_person("bbox", False), per_person("bbox_head", False)
    return [
        Person(keypoints[i], a.get("track_id"), boxes[i], heads[i], scores[i],
               None if a.get("score") is None else float(a["score"]),
               None if occluded[i] is None else occluded[i] > 0, a.get("person_id"))
        for i, a in enumerate(annotations)
    ]


def _video_name_from_file_name(file_name: str) -> str:
    parent = os.path.basename(os.path.dirname(file_name))
    return parent or "video"


def parse_posetrack18(data: Any, file: str | os.PathLike | None = None) -> list[Video]:
    """Parse a PoseTrack18/21 document (per-video or merged COCO-style) into videos.

    Frames keep the order of ``images``; people keep the order of ``annotations``. A merged file
    is split into videos by ``vid_id`` when present, else by the folder of ``file_name``.
    """
    reader = _Reader(file)
    if not isinstance(data, dict):
        raise reader.fail("$", f"expected a JSON object with 'images' and 'annotations', got {type(data).__name__}")
    images = reader.list_(reader.key(data, "images", "$"), "$.images")
    annotations = reader.list_(data.get("annotations", []), "$.annotations")
    table = _slot_table(reader, data)

    frames: list[Frame] = []
    frame_of_id: dict[int, Frame] = {}
    video_keys: list[str] = []
    for i, image in enumerate(images):
        where = f"$.images[{i}]"
        file_name = reader.key(image, "file_name", where)
        if not isinstance(file_name, str):
            raise reader.fail(f"{where}.file_name", f"expected a string, got {file_name!r}")
        image_id = reader.integer(reader.key(image, "id", where), f"{where}.id")
        if image_id in frame_of_id:
            raise reader.fail(f"{where}.id", f"duplicate image id {image_id}")
        labeled = image.get("is_labeled")
        frame = Frame(
            file_name=file_name,
            image_id=image_id,
            # PoseTrack18 always has is_labeled; without it, a frame is labeled if it has people.
            is_labeled=bool(labeled) if labeled is not None else False,
            ignore_regions=_polygons(reader, image, where),
            width=image.get("width"),
            height=image.get("height"),
            raw=dict(image),
        )
        frame.raw["_has_is_labeled"] = labeled is not None
        frames.append(frame)
        frame_of_id[image_id] = frame
        vid = image.get("vid_id")
        video_keys.append(str(vid) if vid is not None else _video_name_from_file_name(file_name))

    people = _people_pt18_fast(annotations, table)
    if people is None:  # something is off: the careful path finds and names it
        people = [_person_pt18(reader, ann, f"$.annotations[{i}]", table) for i, ann in enumerate(annotations)]
    for i, (ann, person) in enumerate(zip(annotations, people)):
        where = f"$.annotations[{i}]"
        image_id = reader.integer(reader.key(ann, "image_id", where), f"{where}.image_id")
        if image_id not in frame_of_id:
            raise reader.fail(f"{where}.image_id", f"image id {image_id} is not listed in $.images")
        frame_of_id[image_id].people.append(person)

    for frame in frames:
        if not frame.raw.pop("_has_is_labeled"):
            frame.is_labeled = len(frame.people) > 0

    # Group into videos, keeping first-appearance order.
    groups: dict[str, list[Frame]] = {}
    for key, frame in zip(video_keys, frames):
        groups.setdefault(key, []).append(frame)
    stem = Path(file).stem if file is not None else "video"
    if len(groups) <= 1:
        return [Video(stem, frames, str(file) if file is not None else None)]
    return [
        Video(_video_name_from_file_name(fr[0].file_name), fr, str(file) if file is not None else None)
        for fr in groups.values()
    ]


def parse_posetrack17(data: Any, file: str | os.PathLike | None = None) -> list[Video]:
    """Parse a PoseTrack17 ``annolist`` document (one video). Point ids are poseval ids.

    PoseTrack17 has no person box; ``bbox`` stays None (derive one from keypoints when cropping).
    A point without ``is_visible`` gets v = 1; without ``is_labeled`` a frame is labeled when
    it has people.
    """
    reader = _Reader(file)
    annolist = reader.list_(reader.key(data, "annolist", "$"), "$.annolist")
    frames = []
    for i, entry in enumerate(annolist):
        where = f"$.annolist[{i}]"
        image = reader.scalar_list(reader.key(entry, "image", where), f"{where}.image")
        name = reader.key(image, "name", f"{where}.image[0]")
        rects = reader.list_(entry.get("annorect", []), f"{where}.annorect")
        people = []
        for r, rect in enumerate(rects):
            rw = f"{where}.annorect[{r}]"
            keypoints = np.zeros((NUM_KEYPOINTS, 3))
            scores = np.zeros(NUM_KEYPOINTS)
            has_scores = False
            annopoints = rect.get("annopoints") or []
            annopoints = reader.list_(annopoints, f"{rw}.annopoints")
            points = reader.list_(annopoints[0].get("point", []), f"{rw}.annopoints[0].point") if annopoints else []
            for p, point in enumerate(points):
                pw = f"{rw}.annopoints[0].point[{p}]"
                pid = reader.integer(reader.scalar_list(reader.key(point, "id", pw), f"{pw}.id"), f"{pw}.id")
                if not 0 <= pid < len(POSEVAL_TO_SLOT):
                    raise reader.fail(f"{pw}.id", f"joint id {pid} is not a poseval id (0..14)")
                slot = POSEVAL_TO_SLOT[pid]
                x = reader.number(reader.scalar_list(reader.key(point, "x", pw), f"{pw}.x"), f"{pw}.x")
                y = reader.number(reader.scalar_list(reader.key(point, "y", pw), f"{pw}.y"), f"{pw}.y")
                vis = point.get("is_visible", [1])
                v = reader.number(reader.scalar_list(vis, f"{pw}.is_visible"), f"{pw}.is_visible")
                keypoints[slot] = (x, y, v)
                if "score" in point:
                    scores[slot] = reader.number(reader.scalar_list(point["score"], f"{pw}.score"), f"{pw}.score")
                    has_scores = True
            head = None
            if all(k in rect for k in ("x1", "y1", "x2", "y2")):
                x1, y1, x2, y2 = (reader.number(reader.scalar_list(rect[k], f"{rw}.{k}"), f"{rw}.{k}")
                                  for k in ("x1", "y1", "x2", "y2"))
                head = np.array([x1, y1, x2 - x1, y2 - y1])
            track = rect.get("track_id")
            score = rect.get("score")
            people.append(Person(
                keypoints=keypoints,
                track_id=None if track is None else reader.integer(reader.scalar_list(track, f"{rw}.track_id"), f"{rw}.track_id"),
                bbox_head=head,
                scores=scores if has_scores else None,
                score=None if score is None else reader.number(reader.scalar_list(score, f"{rw}.score"), f"{rw}.score"),
            ))
        regions = []
        for k, region in enumerate(reader.list_(entry.get("ignore_regions", []), f"{where}.ignore_regions")):
            rw = f"{where}.ignore_regions[{k}]"
            pts = reader.list_(reader.key(region, "point", rw), f"{rw}.point")
            regions.append(np.array([
                (reader.number(reader.scalar_list(p["x"], f"{rw}.point[{q}].x"), f"{rw}.point[{q}].x"),
                 reader.number(reader.scalar_list(p["y"], f"{rw}.point[{q}].y"), f"{rw}.point[{q}].y"))
                for q, p in enumerate(pts)
            ]).reshape(-1, 2))
        labeled = entry.get("is_labeled")
        imgnum = entry.get("imgnum", [i + 1])
        frames.append(Frame(
            file_name=name,
            image_id=reader.integer(reader.scalar_list(imgnum, f"{where}.imgnum"), f"{where}.imgnum"),
            is_labeled=bool(reader.scalar_list(labeled, f"{where}.is_labeled")) if labeled is not None else bool(people),
            people=people,
            ignore_regions=regions,
        ))
    stem = Path(file).stem if file is not None else "video"
    return [Video(stem, frames, str(file) if file is not None else None)]


def parse_posetrack(data: Any, file: str | os.PathLike | None = None) -> list[Video]:
    """Parse either format, told apart by the ``annolist`` key (as poseval does)."""
    if isinstance(data, dict) and "annolist" in data:
        return parse_posetrack17(data, file)
    return parse_posetrack18(data, file)


def annotation_files(path: str | os.PathLike) -> list[Path]:
    """A file, or the sorted ``*.json`` files of a folder."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.json") if p.is_file())
        if not files:
            raise AnnotationError(path, "$", "folder contains no .json annotation files")
        return files
    if not path.exists():
        raise AnnotationError(path, "$", "no such file or folder")
    return [path]


def load_posetrack(path: str | os.PathLike) -> tuple[list[Video], LoadSummary]:
    """Read a PoseTrack file or a folder of per-video files. Returns videos and a summary."""
    videos: list[Video] = []
    summary = LoadSummary()
    for file in annotation_files(path):
        summary.files += 1
        for video in parse_posetrack(load_json(file), file):
            summary.add(video)
            videos.append(video)
    return videos, summary


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------


def _number(v: float) -> float | int:
    v = float(v)
    return int(v) if v.is_integer() else v


def _check_track_ids(video: Video, where: str) -> list[list[int]]:
    """Per frame, the integer track id of each person; missing ids get the person's index.
    Duplicates within a frame are an error (poseval rejects them)."""
    result = []
    for f, frame in enumerate(video.frames):
        ids = [p.track_id if p.track_id is not None else k for k, p in enumerate(frame.people)]
        dup = [t for t, n in Counter(ids).items() if n > 1]
        if dup:
            raise AnnotationError(where, f"$.frames[{f}]",
                                  f"duplicate track_id {dup[0]} in frame {frame.file_name}")
        result.append([int(t) for t in ids])
    return result


def to_posetrack18_dict(video: Video) -> dict:
    """The PoseTrack18 document of a video: ``images`` as read (same list and order),
    ``annotations`` with 17x3 keypoints, 17 ``scores``, an integer ``track_id`` unique per
    frame, and the person ``categories`` poseval needs."""
    track_ids = _check_track_ids(video, video.name)
    images, annotations = [], []
    for f, frame in enumerate(video.frames):
        image = dict(frame.raw)
        image.update(file_name=frame.file_name, id=frame.image_id, is_labeled=bool(frame.is_labeled))
        image.setdefault("frame_id", frame.image_id)
        image.setdefault("nframes", len(video.frames))
        if frame.ignore_regions:
            image["ignore_regions_x"] = [[_number(v) for v in r[:, 0]] for r in frame.ignore_regions]
            image["ignore_regions_y"] = [[_number(v) for v in r[:, 1]] for r in frame.ignore_regions]
        images.append(image)
        for k, person in enumerate(frame.people):
            ann: dict[str, Any] = {
                "image_id": frame.image_id,
                "id": frame.image_id * 100 + k,
                "category_id": 1,
                "track_id": track_ids[f][k],
                "keypoints": [_number(v) for v in person.keypoints.reshape(-1)],
                "scores": [] if person.scores is None else [float(s) for s in person.scores],
            }
            if person.bbox is not None:
                ann["bbox"] = [float(v) for v in person.bbox]
            if person.bbox_head is not None:
                ann["bbox_head"] = [_number(v) for v in person.bbox_head]
            if person.score is not None:
                ann["score"] = float(person.score)
            if person.occluded is not None:
                ann["occluded"] = [int(o) for o in person.occluded]
            if person.person_id is not None:
                ann["person_id"] = int(person.person_id)
            annotations.append(ann)
    categories = [{
        "supercategory": "person", "id": 1, "name": "person",
        "keypoints": list(KEYPOINT_NAMES),
        "skeleton": [list(link) for link in CATEGORY_SKELETON],
    }]
    return {"images": images, "annotations": annotations, "categories": categories}


def to_posetrack17_dict(video: Video) -> dict:
    """The PoseTrack17 ``annolist`` document: 15 joints with poseval ids, scalars wrapped in
    1-element lists, one entry per frame in order. Unannotated joints (0, 0, 0) are left out."""
    track_ids = _check_track_ids(video, video.name)
    annolist = []
    for f, frame in enumerate(video.frames):
        rects = []
        for k, person in enumerate(frame.people):
            points = []
            for slot, pid in enumerate(SLOT_TO_POSEVAL):
                if pid is None:
                    continue
                x, y, v = person.keypoints[slot]
                if x == 0 and y == 0 and v == 0:
                    continue
                point = {"id": [pid], "x": [_number(x)], "y": [_number(y)], "is_visible": [_number(v)]}
                if person.scores is not None:
                    point["score"] = [float(person.scores[slot])]
                points.append(point)
            rect: dict[str, Any] = {"track_id": [track_ids[f][k]], "annopoints": [{"point": points}]}
            if person.bbox_head is not None:
                x, y, w, h = (float(v) for v in person.bbox_head)
                rect.update(x1=[x], y1=[y], x2=[x + w], y2=[y + h])
            if person.score is not None:
                rect["score"] = [float(person.score)]
            rects.append(rect)
        entry: dict[str, Any] = {
            "image": [{"name": frame.file_name}],
            "imgnum": [frame.image_id],
            "is_labeled": [int(frame.is_labeled)],
            "annorect": rects,
        }
        if frame.ignore_regions:
            entry["ignore_regions"] = [
                {"point": [{"x": [_number(x)], "y": [_number(y)]} for x, y in region]}
                for region in frame.ignore_regions
            ]
        annolist.append(entry)
    return {"annolist": annolist}


def write_json_atomic(data: Any, path: str | os.PathLike, indent: int | None = None) -> None:
    """Write JSON to a temporary file beside ``path``, then rename: never a half-written file
    (``indent``: pretty-printed, for result files people read)."""
    path = Path(path)
    if path.is_dir():
        raise AnnotationError(path, "$", "is a folder; give a file name to write (for example preds.json)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=indent)
            if indent is not None:
                f.write("\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_posetrack(video: Video, path: str | os.PathLike, fmt: str = "posetrack18") -> None:
    """Write one video as a PoseTrack18 (default) or PoseTrack17 file."""
    if fmt == "posetrack18":
        write_json_atomic(to_posetrack18_dict(video), path)
    elif fmt == "posetrack17":
        write_json_atomic(to_posetrack17_dict(video), path)
    else:
        raise ValueError(f"unknown format {fmt!r}; expected 'posetrack18' or 'posetrack17'")


def save_videos(videos: Iterable[Video], folder: str | os.PathLike, fmt: str = "posetrack18") -> list[Path]:
    """Write each video to ``folder/<name>.json`` (the GT file's base name, as poseval requires)."""
    paths = []
    for video in videos:
        path = Path(folder) / f"{video.name}.json"
        save_posetrack(video, path, fmt)
        paths.append(path)
    return paths
