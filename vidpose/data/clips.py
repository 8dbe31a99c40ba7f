"""Top-down clips: a person box in a key frame -> crops of the key frame and its neighbours.

A clip is the key frame plus supporting frames at ``offsets`` (default [-2, -1, 1, 2], the
temporal span delta = 2 of TDMI/SDTC/JM-Pose). All frames of a clip share one affine transform,
so a joint that does not move stays at the same crop pixel, and training augmentation (scale,
rotation, flip with joint swap, half-body) is drawn once per clip.

Boundary rule: a neighbour outside the video is replaced by the nearest existing frame, i.e. its
index is clamped to [0, n - 1]. A clip at frame 0 of a 1-frame video is that frame repeated.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vidpose.data.annotations import Video
from vidpose.data.detections import DetectionSet
from vidpose.data.frames import FrameError, FrameSource, open_frames
from vidpose.data.heatmaps import encode_gaussian
from vidpose.data.transforms import (
    AugmentConfig,
    AugmentParams,
    apply_transform,
    box_to_center_size,
    crop_transform,
    flip_keypoints,
    half_body_box,
    invert_transform,
    keypoints_box,
    sample_augmentation,
    warp_image,
)

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass
class ClipConfig:
    """Geometry of a top-down clip. Sizes are (width, height)."""

    input_size: tuple[int, int] = (192, 256)
    heatmap_size: tuple[int, int] = (48, 64)
    sigma: float = 2.0
    aspect_ratio: float = 0.75
    enlarge: float = 1.25
    offsets: tuple[int, ...] = (-2, -1, 1, 2)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    @property
    def stride(self) -> float:
        return self.input_size[0] / self.heatmap_size[0]


def clip_indices(key: int, offsets: tuple[int, ...] | list[int], num_frames: int) -> list[int]:
    """[key, key + o for o in offsets], each clamped to the video (nearest existing frame)."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    if not 0 <= key < num_frames:
        raise ValueError(f"key frame {key} outside a video of {num_frames} frames")
    return [key] + [min(max(key + o, 0), num_frames - 1) for o in offsets]


@dataclass
class ClipSample:
    """One person's clip. ``images`` (T, H, W, 3) uint8 with the key frame first."""

    images: np.ndarray
    heatmaps: np.ndarray  # (17, h, w) targets for the key frame
    target_weight: np.ndarray  # (17,)
    image_to_crop: np.ndarray  # (2, 3)
    crop_to_image: np.ndarray  # (2, 3)
    frame_indices: list[int]


def make_clip(frames: list[np.ndarray], bbox: np.ndarray, cfg: ClipConfig, keypoints: np.ndarray | None = None,
              aug: AugmentParams | None = None) -> ClipSample:
    """Crop every frame of a clip with one transform and build the key frame's targets.

    ``keypoints`` (17, 3) are the key frame's GT in image coordinates (None at test time).
    With ``aug`` the crop is scaled, rotated, flipped (joints swapped) or cut to half the body.
    """
    aug = aug or AugmentParams()
    box = np.asarray(bbox, dtype=np.float64)
    if aug.half_body and keypoints is not None:
        box = half_body_box(keypoints, aug.half_body)
        box = np.asarray(bbox, dtype=np.float64) if box is None else box
    center, size = box_to_center_size(box, cfg.aspect_ratio, cfg.enlarge)
    size = size * aug.scale
    matrix = crop_transform(center, size, cfg.input_size, aug.rotation, aug.flip)
    images = np.stack([warp_image(f, matrix, cfg.input_size) for f in frames])
    hw, hh = cfg.heatmap_size
    if keypoints is None:
        heatmaps = np.zeros((17, hh, hw), dtype=np.float32)
        weights = np.zeros(17, dtype=np.float32)
    else:
        kp = np.asarray(keypoints, dtype=np.float64).copy()
        kp[:, :2] = apply_transform(kp[:, :2], matrix)
        if aug.flip:
            kp = flip_keypoints(kp)
        heatmaps, weights = encode_gaussian(kp[:, :2] / cfg.stride, kp[:, 2] > 0, cfg.heatmap_size, cfg.sigma)
    return ClipSample(images, heatmaps, weights, matrix, invert_transform(matrix), [])


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float, ImageNet-normalised."""
    x = (images.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


_NUMBER = re.compile(r"(\d+)$")


def frame_number(file_name: str) -> int:
    """The frame number in a PoseTrack file name (``.../000123.jpg`` -> 123)."""
    match = _NUMBER.search(Path(file_name).stem)
    if not match:
        raise ValueError(f"{file_name}: frame file name has no frame number")
    return int(match.group(1))


class TopDownClipDataset(Dataset):
    """Person clips of PoseTrack-layout videos, for training (GT boxes) or testing (GT boxes or
    detections). ``image_root`` is the folder that holds the ``images/`` tree.

    Items are (video, frame, person or detection) for every labeled frame. In training, people
    without any visible joint are kept in the index but skipped (counted in ``skipped``), since
    they carry no target; frames are matched to image files by the number in ``file_name``.
    """

    def __init__(self, videos: list[Video], image_root: str | os.PathLike, cfg: ClipConfig, train: bool = False,
                 detections: DetectionSet | None = None, min_box_score: float = 0.2, seed: int = 0):
        self.videos = videos
        self.image_root = Path(image_root)
        self.cfg = cfg
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.items: list[tuple[int, int, np.ndarray, np.ndarray | None, float]] = []
        self.skipped = 0
        for v, video in enumerate(videos):
            for f, frame in enumerate(video.frames):
                if not frame.is_labeled:
                    continue
                if detections is not None:
                    for det in detections.for_frame(frame, min_box_score):
                        self.items.append((v, f, det.bbox, None, det.score))
                    continue
                for person in frame.people:
                    box = person.bbox if person.bbox is not None else keypoints_box(person.keypoints)
                    if box is None or box[2] <= 0 or box[3] <= 0 or (train and not person.visible.any()):
                        self.skipped += 1
                        continue
                    self.items.append((v, f, box, person.keypoints, 1.0))
        self._sources: dict[int, FrameSource] = {}

    def __len__(self) -> int:
        return len(self.items)

    def source(self, v: int) -> FrameSource:
        if v not in self._sources:
            folder = self.image_root / os.path.dirname(self.videos[v].frames[0].file_name)
            self._sources[v] = open_frames(folder)
        return self._sources[v]

    def __getitem__(self, i: int) -> dict:
        v, f, box, keypoints, score = self.items[i]
        video = self.videos[v]
        source = self.source(v)
        key = frame_number(video.frames[f].file_name) - getattr(source, "first", 0)
        try:
            indices = clip_indices(key, self.cfg.offsets, len(source))
        except ValueError as e:
            raise FrameError(f"{source.path}: {video.frames[f].file_name}: {e}") from None
        frames = [source.read(k) for k in indices]
        aug = None
        if self.train and keypoints is not None:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            aug = sample_augmentation(rng, self.cfg.augment, keypoints)
        sample = make_clip(frames, box, self.cfg, keypoints, aug)
        return {
            "images": to_tensor(sample.images),
            "heatmaps": torch.from_numpy(sample.heatmaps),
            "target_weight": torch.from_numpy(sample.target_weight),
            "crop_to_image": torch.from_numpy(sample.crop_to_image),
            "box_score": torch.tensor(score, dtype=torch.float32),
            "video": v,
            "frame": f,
        }
