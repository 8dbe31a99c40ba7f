"""Heatmap codec: Gaussian targets, decoding (argmax + quarter offset, or DARK), flip test.

- Targets: an unnormalised Gaussian per joint at the joint's sub-pixel position in heatmap
  coordinates (heatmap pixel i has coordinate i; input coordinate = heatmap coordinate * stride);
  optionally limb maps, a Gaussian of the distance to each skeleton segment (``encode_limbs``).
- ``decode_argmax``: argmax, then a 0.25 px shift toward the larger neighbour (SimpleBaseline).
- ``decode_dark``: Distribution-Aware coordinate Representation (Zhang et al., CVPR 2020):
  Gaussian-smooth the heatmap, take the log, and refine the argmax by one Newton step of the
  second-order Taylor expansion (DARK Eq. 6-8). The blur uses reflected borders, which biases
  peaks within about half the kernel of the map's edge; ``blur=False`` is exact there for clean
  Gaussian maps (tests/data/test_geometry_and_codec.py).
- ``flip_back`` / ``flip_test_average``: average the original and the flipped image's heatmaps,
  with the optional one-pixel shift the reference code applies to the flipped map.
"""

from __future__ import annotations

import cv2
import numpy as np

from vidpose.data.schema import SKELETON, flip_permutation
from vidpose.data.transforms import apply_transform


def encode_gaussian(joints: np.ndarray, visible: np.ndarray, size: tuple[int, int], sigma: float = 2.0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (K, h, w) and target weights (K,) for joints (K, 2) in heatmap coordinates.

    A joint is given weight 0 (and an all-zero map) when it is not visible or its Gaussian's
    3-sigma support lies entirely outside the heatmap.
    """
    w, h = size
    k = joints.shape[0]
    xs = np.arange(w, dtype=np.float64)
    ys = np.arange(h, dtype=np.float64)
    heatmaps = np.zeros((k, h, w), dtype=np.float32)
    weights = np.asarray(visible, dtype=np.float32).copy()
    radius = 3 * sigma
    for j in range(k):
        x, y = joints[j]
        if weights[j] <= 0 or not (-radius <= x <= w - 1 + radius and -radius <= y <= h - 1 + radius):
            weights[j] = 0
            continue
        gx = np.exp(-((xs - x) ** 2) / (2 * sigma**2))
        gy = np.exp(-((ys - y) ** 2) / (2 * sigma**2))
        heatmaps[j] = np.outer(gy, gx)
    return heatmaps, weights


def encode_limbs(joints: np.ndarray, weights: np.ndarray, size: tuple[int, int], sigma: float = 2.0,
                 limbs: tuple[tuple[int, int], ...] = SKELETON) -> tuple[np.ndarray, np.ndarray]:
    """Limb maps (L, h, w) and their weights (L,): for each limb (a, b) of ``limbs``, an
    unnormalised Gaussian of the distance to the segment from joint a to joint b, in heatmap
    coordinates (the "bone" maps of OpenPose-style part supervision, without direction).

    ``weights`` are the joints' target weights (``encode_gaussian``'s); a limb whose two ends are
    not both weighted gets weight 0 and an all-zero map. The single-frame models use these as a
    training-only auxiliary target (``model.limb_weight``, docs/synthtrack.md): a dense left/right
    signal along each arm and leg, where a joint's blob alone is a point far from the torso."""
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    maps = np.zeros((len(limbs), h, w), dtype=np.float32)
    limb_weights = np.zeros(len(limbs), dtype=np.float32)
    for i, (a, b) in enumerate(limbs):
        if weights[a] <= 0 or weights[b] <= 0:
            continue
        (ax, ay), (bx, by) = joints[a], joints[b]
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / length2, 0.0, 1.0) if length2 > 1e-12 else 0.0
        d2 = (xs - (ax + t * dx)) ** 2 + (ys - (ay + t * dy)) ** 2
        maps[i] = np.exp(-d2 / (2 * sigma**2))
        limb_weights[i] = 1.0
    return maps, limb_weights


def decode_argmax(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., K, h, w) -> coordinates (..., K, 2) in heatmap pixels and max values (..., K).
    The argmax moves 0.25 px toward the higher neighbour on each axis."""
    heatmaps = np.asarray(heatmaps, dtype=np.float64)
    *lead, h, w = heatmaps.shape
    flat = heatmaps.reshape(-1, h * w)
    idx = flat.argmax(1)
    maxvals = flat[np.arange(flat.shape[0]), idx]
    px, py = idx % w, idx // w
    hm = heatmaps.reshape(-1, h, w)
    n = np.arange(hm.shape[0])
    dx = np.where((px > 0) & (px < w - 1), hm[n, py, np.minimum(px + 1, w - 1)] - hm[n, py, np.maximum(px - 1, 0)], 0)
    dy = np.where((py > 0) & (py < h - 1), hm[n, np.minimum(py + 1, h - 1), px] - hm[n, np.maximum(py - 1, 0), px], 0)
    coords = np.stack([px + 0.25 * np.sign(dx), py + 0.25 * np.sign(dy)], axis=-1).astype(np.float64)
    coords[maxvals <= 0] = 0  # nothing detected: report (0, 0) with a non-positive score
    return coords.reshape(*lead, 2), maxvals.reshape(lead)


def decode_dark(heatmaps: np.ndarray, blur_kernel: int = 11, blur: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """DARK decoding. ``blur_kernel`` (odd) is the Gaussian modulation kernel (11 for 64x48
    heatmaps in the DARK paper; use smaller kernels for smaller maps)."""
    heatmaps = np.asarray(heatmaps, dtype=np.float64)
    *lead, h, w = heatmaps.shape
    hm = heatmaps.reshape(-1, h, w).copy()
    _, maxvals = decode_argmax(hm)
    flat = hm.reshape(hm.shape[0], -1)
    idx = flat.argmax(1)
    px, py = idx % w, idx // w
    if blur:
        for i in range(hm.shape[0]):
            peak = hm[i].max()
            hm[i] = cv2.GaussianBlur(hm[i], (blur_kernel, blur_kernel), 0)
            if hm[i].max() > 0:  # DARK keeps the original maximum after modulation
                hm[i] *= peak / hm[i].max()
    logh = np.log(np.maximum(hm, 1e-10))
    pad = np.pad(logh, ((0, 0), (1, 1), (1, 1)), mode="edge")
    n = np.arange(hm.shape[0])
    cx, cy = px + 1, py + 1
    v = pad[n, cy, cx]
    dx = 0.5 * (pad[n, cy, cx + 1] - pad[n, cy, cx - 1])
    dy = 0.5 * (pad[n, cy + 1, cx] - pad[n, cy - 1, cx])
    dxx = pad[n, cy, cx + 1] - 2 * v + pad[n, cy, cx - 1]
    dyy = pad[n, cy + 1, cx] - 2 * v + pad[n, cy - 1, cx]
    dxy = 0.25 * (pad[n, cy + 1, cx + 1] - pad[n, cy + 1, cx - 1] - pad[n, cy - 1, cx + 1] + pad[n, cy - 1, cx - 1])
    det = dxx * dyy - dxy**2
    ok = (np.abs(det) > 1e-12) & (dxx < 0) & (dyy < 0)  # only refine at a true (concave) maximum
    safe = np.where(ok, det, 1.0)
    ox = np.where(ok, -(dyy * dx - dxy * dy) / safe, 0.0)
    oy = np.where(ok, -(dxx * dy - dxy * dx) / safe, 0.0)
    # A Newton step larger than a pixel means the quadratic model is not trustworthy there.
    ok_step = (np.abs(ox) <= 1) & (np.abs(oy) <= 1)
    coords = np.stack([px + np.where(ok_step, ox, 0), py + np.where(ok_step, oy, 0)], axis=-1)
    coords[maxvals <= 0] = 0
    return coords.reshape(*lead, 2), maxvals.reshape(lead)


def decode(heatmaps: np.ndarray, method: str = "dark", blur_kernel: int = 11, blur: bool = True
           ) -> tuple[np.ndarray, np.ndarray]:
    """Decode with ``method`` in {"argmax", "dark"}."""
    if method == "argmax":
        return decode_argmax(heatmaps)
    if method == "dark":
        return decode_dark(heatmaps, blur_kernel, blur)
    raise ValueError(f"unknown heatmap decoding {method!r}; expected 'argmax' or 'dark'")


def decode_heatmaps(heatmaps: np.ndarray, method: str = "dark") -> tuple[np.ndarray, np.ndarray]:
    """``decode`` with DARK's modulation kernel scaled to the map: odd, about a sixth of its
    shorter side, at least 3 (9 at 64x48, 5 at 32x24; the DARK paper uses 11 at 64x48)."""
    kernel = max(3, (min(heatmaps.shape[-2:]) // 6) | 1)
    return decode(heatmaps, method, blur_kernel=kernel)


def flip_back(flipped: np.ndarray) -> np.ndarray:
    """Heatmaps (..., K, h, w) of a horizontally flipped input, mapped back to the original:
    mirror the width axis and swap left/right channels."""
    return np.asarray(flipped)[..., flip_permutation(), :, ::-1]


def flip_test_average(heatmaps: np.ndarray, flipped: np.ndarray, shift: bool = True) -> np.ndarray:
    """Average of the heatmaps and the flipped input's heatmaps (after ``flip_back``). With
    ``shift`` the flipped map moves one pixel right, as in the SimpleBaseline/HRNet code, which
    compensates the half-pixel misalignment of their flip with even heatmap widths."""
    back = flip_back(flipped).copy()
    if shift:
        back[..., 1:] = back[..., :-1].copy()
    return (np.asarray(heatmaps) + back) / 2


def heatmap_to_image(coords: np.ndarray, crop_to_image: np.ndarray, stride: float) -> np.ndarray:
    """Heatmap coordinates (..., 2) -> image coordinates, through the input crop (coordinates
    scaled by ``stride`` = input size / heatmap size) and the inverse crop transform."""
    return apply_transform(np.asarray(coords) * stride, crop_to_image)
