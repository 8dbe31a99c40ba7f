"""Render poses on images: skeleton, joints, head boxes, track ids and ignore regions."""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from vidpose.data.annotations import Frame
from vidpose.data.schema import SKELETON


def track_color(track_id: int | None) -> tuple[int, int, int]:
    """A stable, distinct RGB colour per track id (golden-ratio hue walk)."""
    hue = ((track_id or 0) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_frame(image: np.ndarray, frame: Frame, min_score: float = 0.0, thickness: int | None = None) -> np.ndarray:
    """A copy of an RGB image with the frame's people and ignore regions drawn on it.

    A joint is drawn when it is present (v > 0) and, if the person has ``scores``, its score is
    at least ``min_score``.
    """
    out = image.copy()
    t = thickness or max(1, round(min(image.shape[:2]) / 300))
    if frame.ignore_regions:
        shade = out.copy()
        for region in frame.ignore_regions:
            if len(region) >= 3:
                cv2.fillPoly(shade, [np.round(region).astype(np.int32)], (128, 128, 128))
        out = cv2.addWeighted(shade, 0.4, out, 0.6, 0)
    for k, person in enumerate(frame.people):
        color = track_color(person.track_id if person.track_id is not None else k)
        kp = person.keypoints
        ok = kp[:, 2] > 0
        if person.scores is not None:
            ok &= person.scores >= min_score
        for a, b in SKELETON:
            if ok[a] and ok[b]:
                cv2.line(out, tuple(np.round(kp[a, :2]).astype(int)), tuple(np.round(kp[b, :2]).astype(int)),
                         color, t, cv2.LINE_AA)
        for j in np.flatnonzero(ok):
            cv2.circle(out, tuple(np.round(kp[j, :2]).astype(int)), t + 1, (255, 255, 255), -1, cv2.LINE_AA)
        if person.bbox_head is not None:
            x, y, w, h = person.bbox_head
            cv2.rectangle(out, (int(x), int(y)), (int(x + w), int(y + h)), color, 1)
        anchor = kp[ok, :2].min(0) if ok.any() else (person.bbox[:2] if person.bbox is not None else None)
        if anchor is not None and person.track_id is not None:
            cv2.putText(out, str(person.track_id), (int(anchor[0]), max(10, int(anchor[1]) - 4)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4 * t, color, t, cv2.LINE_AA)
    return out


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def save_rgb(path: str, image: np.ndarray) -> None:
    """Write an RGB image; the format comes from the extension (.png, .jpg, ...)."""
    from pathlib import Path

    from vidpose.data.frames import FrameError

    if Path(path).suffix.lower() not in IMAGE_SUFFIXES:
        raise FrameError(f"{path}: an image file needs an extension that names its format "
                         f"({', '.join(IMAGE_SUFFIXES)})")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise FrameError(f"{path}: could not write image")
