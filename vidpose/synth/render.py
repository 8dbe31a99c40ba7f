"""SynthTrack rasteriser: shaded 3D primitives with a z-buffer and a person-id buffer.

Bodies are drawn as tapered capsules (limbs, torso) and an ellipsoidal head with a face
(eyes, nose) and hair, lit by one directional light. Each primitive writes colour, depth and
the id of its owner, so the id and depth buffers say exactly which person (or occluder) is seen
at each pixel; the ground truth's per-joint ``occluded`` flag is read from them.

Everything here is plain numpy and OpenCV on small regions of interest. Image degradations live
in ``vidpose/data/degrade.py``, shared with real video.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BACKGROUND_ID = -1
OCCLUDER_ID = -2  # the owner recorded for joints hidden by a pasted occluder


@dataclass
class Camera:
    """Pinhole camera at (x, height, 0) looking along +Z; ``cx, cy`` include shake."""

    focal: float
    cx: float
    cy: float
    x: float
    height: float

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World (..., 3) -> pixel (..., 2) and depth (...,)."""
        z = np.maximum(points[..., 2], 0.1)
        u = self.cx + self.focal * (points[..., 0] - self.x) / z
        v = self.cy - self.focal * (points[..., 1] - self.height) / z
        return np.stack([u, v], -1), z


class Canvas:
    """Colour (float RGB 0..1), depth and owner-id buffers of one frame."""

    def __init__(self, background: np.ndarray):
        self.image = background.astype(np.float32) / 255.0 if background.dtype == np.uint8 else background.copy()
        self.height, self.width = self.image.shape[:2]
        self.depth = np.full((self.height, self.width), np.inf, dtype=np.float32)
        self.owner = np.full((self.height, self.width), BACKGROUND_ID, dtype=np.int32)

    def _roi(self, lo: np.ndarray, hi: np.ndarray) -> tuple[int, int, int, int] | None:
        x0, y0 = max(int(np.floor(lo[0])), 0), max(int(np.floor(lo[1])), 0)
        x1, y1 = min(int(np.ceil(hi[0])) + 1, self.width), min(int(np.ceil(hi[1])) + 1, self.height)
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1, y1

    def _write(self, roi: tuple[int, int, int, int], alpha: np.ndarray, color: np.ndarray, depth: np.ndarray,
               owner: int) -> None:
        """Composite with a depth test: a pixel is drawn where the primitive is nearer."""
        x0, y0, x1, y1 = roi
        zb = self.depth[y0:y1, x0:x1]
        a = np.where(depth < zb, alpha, 0.0).astype(np.float32)
        img = self.image[y0:y1, x0:x1]
        img += (color - img) * a[..., None]
        solid = a > 0.5
        zb[solid] = depth[solid]
        self.owner[y0:y1, x0:x1][solid] = owner

    def capsule(self, p1: np.ndarray, p2: np.ndarray, r1: float, r2: float, z1: float, z2: float,
                base: np.ndarray, owner: int, texture: tuple | None = None, light: float = 0.6,
                bulge: float = 0.05) -> None:
        """A tapered capsule from pixel p1 (radius r1, depth z1) to p2 (r2, z2), shaded as a
        cylinder lit from the upper left. ``texture`` = (kind, period_px, second colour)."""
        r = max(r1, r2) + 1
        roi = self._roi(np.minimum(p1, p2) - r, np.maximum(p1, p2) + r)
        if roi is None or max(r1, r2) < 0.3:
            return
        x0, y0, x1, y1 = roi
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        axis = (p2 - p1).astype(np.float32)
        length2 = float(axis @ axis)
        if length2 < 1e-6:
            t = np.zeros_like(xs)
        else:
            t = np.clip(((xs - p1[0]) * axis[0] + (ys - p1[1]) * axis[1]) / length2, 0.0, 1.0)
        cx, cy = p1[0] + t * axis[0], p1[1] + t * axis[1]
        dx, dy = xs - cx, ys - cy
        d = np.sqrt(dx * dx + dy * dy)
        rad = r1 + (r2 - r1) * t
        alpha = np.clip(rad - d + 0.5, 0.0, 1.0)
        if not alpha.any():
            return
        across = np.clip(d / np.maximum(rad, 1e-3), 0, 1)
        nz = np.sqrt(1.0 - across ** 2)
        # lateral normal component: light from the upper left (image coordinates)
        lateral = -(dx * 0.7 + dy * 0.7) / np.maximum(rad, 1e-3)
        shade = np.clip(0.42 + light * (0.75 * nz + 0.35 * lateral), 0.2, 1.2)
        color = np.broadcast_to(base, xs.shape + (3,)).astype(np.float32)
        if texture is not None:
            kind, period, other = texture
            length = np.sqrt(length2)
            if kind == "stripes":
                mask = np.sin(2 * np.pi * t * length / period) > 0.2
            elif kind == "checks":
                u = t * length / period
                w = (dx * -axis[1] + dy * axis[0]) / max(length, 1e-3) / period
                mask = (np.floor(u) + np.floor(w)) % 2 == 0
            else:  # "band": a single band near the end (a cuff, a watch)
                mask = (t > 0.78) & (t < 0.93)
            color = np.where(mask[..., None], np.asarray(other, dtype=np.float32), color)
        depth = (z1 + (z2 - z1) * t - bulge * nz).astype(np.float32)
        self._write(roi, alpha, color * shade[..., None], depth, owner)

    def head(self, center: np.ndarray, radius: float, z: float, skin: np.ndarray, hair: np.ndarray,
             hair_normal: np.ndarray, forward: np.ndarray, owner: int, world_radius: float) -> None:
        """An ellipsoidal head: skin where the surface faces the head's front, hair on the crown
        and the back. ``hair_normal`` and ``forward`` are the head's up and facing directions in
        camera-aligned coordinates (x right, y down, z toward the viewer)."""
        rx, ry = 0.86 * radius, radius
        roi = self._roi(center - np.array([rx, ry]) - 1, center + np.array([rx, ry]) + 1)
        if roi is None or radius < 0.5:
            return
        x0, y0, x1, y1 = roi
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        ex, ey = (xs - center[0]) / rx, (ys - center[1]) / ry
        rr = ex * ex + ey * ey
        alpha = np.clip((1.0 - np.sqrt(rr)) * min(rx, ry) + 0.5, 0.0, 1.0)
        nz = np.sqrt(np.clip(1.0 - rr, 0.0, 1.0))
        normal = np.stack([ex, ey, nz], -1)
        is_hair = (normal @ hair_normal > 0.2) | (normal @ forward < -0.05)
        color = np.where(is_hair[..., None], hair, skin).astype(np.float32)
        shade = np.clip(0.45 + 0.6 * (0.8 * nz - 0.3 * ex - 0.3 * ey), 0.2, 1.2)
        depth = (z - world_radius * nz).astype(np.float32)
        self._write(roi, alpha, color * shade[..., None], depth, owner)

    def dot(self, center: np.ndarray, radius: float, z: float, color: np.ndarray, owner: int) -> None:
        """A small flat disc (eyes, nose tip) slightly in front of ``z``."""
        self.capsule(center, center, radius, radius, z, z, np.asarray(color), owner, light=0.0, bulge=0.0)

    def shadow(self, center: np.ndarray, axes: tuple[float, float], strength: float = 0.35) -> None:
        """Darken an elliptical patch of the ground (drawn before any body)."""
        mask = np.zeros((self.height, self.width), dtype=np.float32)
        cv2.ellipse(mask, (int(round(center[0])), int(round(center[1]))),
                    (max(1, int(axes[0])), max(1, int(axes[1]))), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, axes[1] * 0.5))
        self.image *= (1.0 - strength * mask)[..., None]

    def to_uint8(self) -> np.ndarray:
        return np.clip(self.image * 255.0 + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Backgrounds
# ----------------------------------------------------------------------------------------------


def _value_noise(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> np.ndarray:
    """Smooth noise in [0, 1] by upsampling random values with bicubic interpolation."""
    h, w = shape
    small = rng.random((h // cell + 3, w // cell + 3)).astype(np.float32)
    big = cv2.resize(small, ((w // cell + 3) * cell, (h // cell + 3) * cell), interpolation=cv2.INTER_CUBIC)
    return np.clip(big[cell: cell + h, cell: cell + w], 0, 1)


def make_panorama(rng: np.random.Generator, height: int, width: int, horizon: int) -> np.ndarray:
    """A wide procedural backdrop (float RGB): sky or wall, buildings, trees, poles and
    posters above the horizon, a textured ground plane below it."""
    img = np.zeros((height, width, 3), dtype=np.float32)
    indoor = rng.random() < 0.35
    top = rng.uniform(0.4, 0.9, 3) if not indoor else rng.uniform(0.35, 0.75, 3)
    bottom = np.clip(top + rng.uniform(-0.2, 0.2, 3), 0, 1)
    ramp = np.linspace(0, 1, horizon, dtype=np.float32)[:, None, None]
    img[:horizon] = top * (1 - ramp) + bottom * ramp
    img[:horizon] *= (0.85 + 0.3 * _value_noise(rng, (horizon, width), 24))[..., None]
    # clutter: buildings / shelves, trees / plants, poles, posters
    for _ in range(int(rng.integers(6, 14))):
        kind = rng.choice(["block", "tree", "pole", "poster"])
        x = int(rng.integers(0, width))
        col = rng.uniform(0.15, 0.85, 3).astype(np.float32)
        if kind == "block":
            w, h = int(rng.integers(40, 160)), int(rng.integers(30, horizon))
            cv2.rectangle(img, (x, horizon - h), (x + w, horizon), col.tolist(), -1)
            win = np.clip(col * rng.uniform(0.5, 1.4), 0, 1).tolist()
            for wy in range(horizon - h + 6, horizon - 10, 16):
                for wx in range(x + 5, x + w - 8, 14):
                    cv2.rectangle(img, (wx, wy), (wx + 7, wy + 8), win, -1)
        elif kind == "tree":
            r = int(rng.integers(15, 45))
            trunk = (0.3, 0.2, 0.1)
            cv2.rectangle(img, (x - 3, horizon - r * 2), (x + 3, horizon), trunk, -1)
            green = np.clip(np.array([0.15, 0.45, 0.15]) * rng.uniform(0.6, 1.4, 3), 0, 1).tolist()
            cv2.circle(img, (x, horizon - 2 * r), r, green, -1, cv2.LINE_AA)
        elif kind == "pole":
            cv2.line(img, (x, horizon - int(rng.integers(60, horizon + 1))), (x, horizon), col.tolist(), 3)
        else:
            y = int(rng.integers(5, max(6, horizon - 40)))
            cv2.rectangle(img, (x, y), (x + int(rng.integers(20, 60)), y + int(rng.integers(15, 45))), col.tolist(), -1)
    # ground
    ground = rng.uniform(0.25, 0.6, 3).astype(np.float32)
    h_ground = height - horizon
    tex = 0.75 + 0.5 * _value_noise(rng, (h_ground, width), 8)
    img[horizon:] = ground * tex[..., None]
    if rng.random() < 0.5:  # paving lines that converge to the horizon
        for k in range(-20, 21):
            x_far = width / 2 + k * 30
            x_near = width / 2 + k * 140
            cv2.line(img, (int(x_far), horizon), (int(x_near), height), (ground * 0.7).tolist(), 1, cv2.LINE_AA)
    return np.clip(img, 0, 1)


def view_background(panorama: np.ndarray, shift_x: float, zoom: float, out_w: int, out_h: int,
                    offset: tuple[float, float], horizon: float) -> np.ndarray:
    """The frame's view of the panorama: panned, zoomed about the horizon, shaken."""
    ph, pw = panorama.shape[:2]
    cx_p = pw / 2 + shift_x
    m = np.array([[zoom, 0, out_w / 2 + offset[0] - zoom * cx_p],
                  [0, zoom, horizon + offset[1] - zoom * (ph * 0.5)]], dtype=np.float32)
    return cv2.warpAffine(panorama, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
