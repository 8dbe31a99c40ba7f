"""RealData's sources and split: the fixed segments of the registry videos, their renumbered frames,
the split's names and ids (docs/realdata.md)."""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import cv2
import numpy as np

from vidpose.data.frames import FrameSource
from vidpose.data.versions import REALDATA_KIND, REALDATA_VERSION
from vidpose.errors import VidposeError
from vidpose.resources import package_path


#: bumped whenever what is written changes (vidpose/data/versions.py); a --resume of another version is refused
KIND, VERSION = REALDATA_KIND, REALDATA_VERSION


SPLITS = ("train", "test")


HARD, HARD_CLEAN = "test_hard", "test_hard_clean"


ALL_SPLITS = SPLITS + (HARD, HARD_CLEAN)


FIRST_VIDEO_ID = {"train": 910000, "test": 911000, HARD: 912000}


MAX_SIDE = 1280


JPEG_QUALITY = 92  # SynthTrack's


SEED = 0


class RealDataError(VidposeError, ValueError):
    """A RealData build that cannot run as asked (missing assets, a folder in the way)."""


@dataclass(frozen=True)
class Segment:
    """Frames ``start, start + step, ...`` (< ``stop``) of ``asset``, as one video of ``split``."""

    name: str
    asset: str
    split: str
    start: int
    stop: int
    step: int = 1
    small_people: bool = False

    def frames(self, length: int, max_frames: int | None = None) -> list[int]:
        picked = list(range(self.start, min(self.stop, length), self.step))
        return picked[:max_frames] if max_frames else picked


#: the fixed split (module docstring); the index of a segment within its split gives its video id
SEGMENTS: tuple[Segment, ...] = (
    Segment("sports2d_train", "sports2d_demo", "train", 0, 150),
    Segment("vtest_train", "vtest", "train", 0, 600, small_people=True),
    Segment("pose2sim_single_cam01", "pose2sim_single_cam01", "train", 0, 100, 2),
    Segment("pose2sim_single_cam02", "pose2sim_single_cam02", "train", 0, 100, 2),
    Segment("pose2sim_single_cam03", "pose2sim_single_cam03", "train", 0, 100, 2),
    Segment("pose2sim_multi_cam01", "pose2sim_multi_cam01", "train", 0, 100, 2),
    Segment("pose2sim_multi_cam02", "pose2sim_multi_cam02", "train", 0, 100, 2),
    Segment("pose2sim_multi_cam03", "pose2sim_multi_cam03", "train", 0, 100, 2),
    Segment("sports2d_test", "sports2d_demo", "test", 160, 230),
    Segment("vtest_test", "vtest", "test", 620, 795, small_people=True),
    Segment("pose2sim_single_cam04", "pose2sim_single_cam04", "test", 0, 100, 2),
    Segment("pose2sim_multi_cam04", "pose2sim_multi_cam04", "test", 0, 100, 2),
)


def segment_index(segment: Segment) -> int:
    return [s.name for s in SEGMENTS if s.split == segment.split].index(segment.name)


def video_name(split: str, index: int) -> str:
    """``{id:06d}_mpii_{split}``; test_hard_clean shares test_hard's names, as SynthTrack's twins."""
    split_of_id = HARD if split == HARD_CLEAN else split
    return f"{FIRST_VIDEO_ID[split_of_id] + index:06d}_mpii_{split_of_id}"


def image_id(video_id: int, frame: int) -> int:
    """PoseTrack18's scheme: '1', the 6-digit video id, the 4-digit frame index."""
    return int(f"1{video_id:06d}{frame:04d}")


def split_definition() -> dict[str, Any]:
    """The split as stats.json records it: every segment, its video names and frames."""
    out = []
    for s in SEGMENTS:
        k = segment_index(s)
        entry = {**asdict(s), "video": video_name(s.split, k)}
        if s.split == "test":
            entry["hard_video"] = video_name(HARD, k)
        out.append(entry)
    return {"segments": out, "max_side": MAX_SIDE,
            "rule": "held-out segments are whole cameras (Pose2Sim cam04) or later frame ranges with a gap "
                    "(Sports2D 160-229, vtest 620-794); no held-out frame is in a training segment"}


class SegmentFrames(FrameSource):
    """The frames of a segment from its asset's video, resized to at most ``max_side``."""

    def __init__(self, source: FrameSource, indices: Sequence[int], max_side: int = MAX_SIDE):
        super().__init__(cache_size=4)
        self.source, self.indices, self.max_side, self.path = source, list(indices), max_side, source.path

    def __len__(self) -> int:
        return len(self.indices)

    def _read(self, index: int) -> np.ndarray:
        return resize_to(self.source.read(self.indices[index]), self.max_side)


def resize_to(image: np.ndarray, max_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_AREA)


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=package_path(""), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
