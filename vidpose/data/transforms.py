"""Top-down geometry: box -> crop affine transform, its inverse, and clip-wide augmentation.

SimpleBaseline/HRNet convention (shared/specs/posetrack-data.md §1.2): a box is padded to the
crop's aspect ratio (w/h = 0.75 by default) and enlarged by 1.25. Here the crop size is kept in
pixels (not the reference code's pixels/200 "scale"). One affine matrix maps image -> crop
and is shared by every frame of a clip, so augmentation is identical across time.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidpose.data.schema import flip_permutation


def box_to_center_size(bbox_xywh: np.ndarray, aspect_ratio: float = 0.75, enlarge: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """Centre (2,) and size (w, h) in pixels of the crop region of a box, padded to
    ``aspect_ratio`` = w/h and multiplied by ``enlarge``."""
    x, y, w, h = (float(v) for v in bbox_xywh)
    if w <= 0 or h <= 0:
        raise ValueError(f"box has zero or negative size: {[x, y, w, h]}")
    center = np.array([x + w / 2, y + h / 2])
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    return center, np.array([w, h]) * enlarge


def crop_transform(center: np.ndarray, size: np.ndarray, out_size: tuple[int, int],
                   rotation_deg: float = 0.0, flip: bool = False) -> np.ndarray:
    """2x3 matrix mapping image coordinates to crop coordinates.

    The region of ``size`` (w, h) around ``center``, rotated by ``rotation_deg`` (counter-clockwise
    in the image), fills an ``out_size`` (w, h) crop; ``flip`` mirrors the crop horizontally.
    Composed exactly, so ``invert_transform`` gives the exact inverse.
    """
    out_w, out_h = out_size
    t = np.deg2rad(rotation_deg)
    c, s = np.cos(t), np.sin(t)
    # image -> centred -> rotated -> scaled -> crop centre
    to_origin = np.array([[1, 0, -center[0]], [0, 1, -center[1]], [0, 0, 1]], dtype=np.float64)
    rotate = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]], dtype=np.float64)
    scale = np.diag([out_w / size[0], out_h / size[1], 1.0])
    mirror = np.diag([-1.0 if flip else 1.0, 1.0, 1.0])
    to_crop = np.array([[1, 0, (out_w - 1) / 2], [0, 1, (out_h - 1) / 2], [0, 0, 1]], dtype=np.float64)
    return (to_crop @ mirror @ scale @ rotate @ to_origin)[:2]


def invert_transform(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix."""
    full = np.vstack([matrix, [0, 0, 1]])
    return np.linalg.inv(full)[:2]


def apply_transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 matrix to (..., 2) points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def warp_image(image: np.ndarray, matrix: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """Crop an image with a 2x3 matrix (bilinear, zero border)."""
    return cv2.warpAffine(image, matrix, (int(out_size[0]), int(out_size[1])), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def keypoints_box(keypoints: np.ndarray, min_size: float = 1.0) -> np.ndarray | None:
    """x, y, w, h of the visible keypoints (v > 0), or None if there are none."""
    vis = keypoints[:, 2] > 0
    if not vis.any():
        return None
    pts = keypoints[vis, :2]
    lo, hi = pts.min(0), pts.max(0)
    wh = np.maximum(hi - lo, min_size)
    return np.array([lo[0], lo[1], wh[0], wh[1]])


# --- augmentation ---------------------------------------------------------------------------

UPPER_BODY = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
LOWER_BODY = (11, 12, 13, 14, 15, 16)


@dataclass
class AugmentConfig:
    """Training augmentation, drawn once per clip (values of the DCPose/HRNet recipe)."""

    scale_sigma: float = 0.35  # scale = clip(1 + N(0, sigma), 1 - sigma, 1 + sigma)
    rotation_sigma: float = 45.0  # degrees; clipped to +-2 sigma
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8


@dataclass
class AugmentParams:
    scale: float = 1.0
    rotation: float = 0.0
    flip: bool = False
    half_body: str | None = None  # "upper" or "lower"


def sample_augmentation(rng: np.random.Generator, cfg: AugmentConfig, keypoints: np.ndarray) -> AugmentParams:
    """Draw one set of clip-wide augmentation parameters."""
    s = cfg.scale_sigma
    scale = float(np.clip(1 + rng.normal() * s, 1 - s, 1 + s))
    rotation = 0.0
    if rng.random() < cfg.rotation_prob:
        rotation = float(np.clip(rng.normal() * cfg.rotation_sigma, -2 * cfg.rotation_sigma, 2 * cfg.rotation_sigma))
    flip = bool(rng.random() < cfg.flip_prob)
    half = None
    if (keypoints[:, 2] > 0).sum() > cfg.half_body_min_joints and rng.random() < cfg.half_body_prob:
        half = "upper" if rng.random() < 0.5 else "lower"
    return AugmentParams(scale, rotation, flip, half)


def half_body_box(keypoints: np.ndarray, part: str) -> np.ndarray | None:
    """The box of the upper or lower body's visible joints, enlarged by 1.5 (HRNet recipe)."""
    joints = UPPER_BODY if part == "upper" else LOWER_BODY
    sub = np.zeros_like(keypoints)
    sub[list(joints)] = keypoints[list(joints)]
    box = keypoints_box(sub)
    if box is None or (sub[:, 2] > 0).sum() < 2:
        return None
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    w, h = box[2] * 1.5, box[3] * 1.5
    return np.array([cx - w / 2, cy - h / 2, w, h])


def flip_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """Swap left/right slots of (..., 17, C) keypoints (coordinates are mirrored by the affine)."""
    return keypoints[..., flip_permutation(), :]
