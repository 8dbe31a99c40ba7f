"""Image degradations of a key frame: the one module SynthTrack and real-video data share.

The papers' hard cases are key frames whose local evidence is destroyed while the neighbouring
frames are fine: a person moving fast under a long exposure, an out-of-focus frame, an object or
another person in front of the limbs. This module degrades one frame (float RGB in 0..1, H x W x
3) given what any video offers, so that the same code serves rendered SynthTrack frames and real
footage:

- ``motion_blur``: every pixel smeared along its own motion, measured by OpenCV's DIS optical flow
  from the previous to the next (clean) frame, over an exposure of ``exposure`` frame intervals;
  inside the people's masks, plus a linear camera-shake kernel over the whole frame.
- ``defocus``: a disc point-spread function (an out-of-focus lens).
- ``occlude``: a cut-out (RGB + alpha: another person's silhouette, or a textured patch cut from
  another frame) pasted over each person, covering a set share of the person's box, centred on
  one of the person's joints so that it hides limbs. Returns the alpha it pasted, from which the
  caller marks the joints it hides.
- ``sensor_noise``, ``jpeg_artefacts``, ``relight``: mild extras.

``degrade`` dispatches on a kind and a severity in [0, 1] and returns the degraded image, a
record (kind, severity and the parameters drawn, written into the annotations so results can be
split by kind) and the occlusion alpha. Everything random comes from the ``rng`` passed in: the
same seed gives the same bytes. The input image is never modified.

Real frames (RealData's test_hard, the demo's panel, training-time key frames): ``degrade_real_frame``
draws the kind with SynthTrack's mix and the severity, and applies pixel-sized kinds at the people's
scale (``pixel_scale``); ``degrade_key_frame`` degrades a clip's key frame and leaves its neighbours
untouched (``vidpose.data.clips.KeyFrameDegradation`` applies it while training).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import cv2
import numpy as np

KINDS = ("motion_blur", "defocus", "occluder", "noise", "jpeg", "lighting")
#: SynthTrack's mix (vidpose.synth.scene.SceneConfig) and severities
DEGRADE_WEIGHTS = {"motion_blur": 0.3, "defocus": 0.25, "occluder": 0.3, "noise": 0.05, "jpeg": 0.05, "lighting": 0.05}
SEVERITY = (0.5, 1.0)
REF_PERSON_HEIGHT = 106.0  # median person box height of SynthTrack standard val_hard, pixels
SCALED_KINDS = ("motion_blur", "defocus")  # pixel-sized kinds, applied at the people's scale


@dataclass
class Cutout:
    """An occluder to paste: float RGB (h, w, 3) and alpha (h, w) in 0..1."""

    rgb: np.ndarray
    alpha: np.ndarray
    kind: str  # "person" or "patch"
    source: int = -1  # the person (track id) it was cut from; never pasted over that person


@dataclass
class FrameContext:
    """What a degradation may use besides the frame: the clean neighbours (for the motion), the
    people's boxes (x, y, w, h), masks (H, W bool, or None: the boxes are used) and joints
    (K, 3 with visibility), and a pool of cut-outs taken from other frames of the video."""

    prev: np.ndarray | None = None
    next: np.ndarray | None = None
    boxes: list[np.ndarray] | None = None
    masks: list[np.ndarray | None] | None = None
    joints: list[np.ndarray | None] | None = None
    cutouts: list[Cutout] | None = None
    ids: list[int] | None = None  # the people's track ids (a person's own cut-out is not pasted on them)


# ----------------------------------------------------------------------------------------------
# Motion
# ----------------------------------------------------------------------------------------------


def dense_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """DIS optical flow (H, W, 2) in pixels from frame ``a`` to frame ``b`` (float RGB)."""
    gray = [cv2.cvtColor(np.clip(x * 255, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY) for x in (a, b)]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(gray[0], gray[1], None)


def smear(image: np.ndarray, flow: np.ndarray, samples: int = 11) -> np.ndarray:
    """Average of ``samples`` copies of the image sampled along each pixel's ``flow`` vector,
    centred on the pixel (a long exposure of motion ``flow``)."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros_like(image, dtype=np.float32)
    src = image.astype(np.float32)
    fx, fy = flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32)
    for s in np.linspace(-0.5, 0.5, samples, dtype=np.float32):
        out += cv2.remap(src, xs + s * fx, ys + s * fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out / samples


def linear_kernel(length: float, angle: float) -> np.ndarray:
    """A normalised line kernel of ``length`` pixels at ``angle`` radians (camera shake)."""
    n = max(3, int(np.ceil(length)) | 1)
    kernel = np.zeros((n, n), dtype=np.float32)
    c = n // 2
    d = np.array([np.cos(angle), np.sin(angle)]) * (length / 2)
    cv2.line(kernel, (int(round(c - d[0])), int(round(c - d[1]))), (int(round(c + d[0])), int(round(c + d[1]))),
             1.0, 1, cv2.LINE_AA)
    return kernel / max(kernel.sum(), 1e-6)


def people_mask(shape: tuple[int, int], boxes: list[np.ndarray] | None, masks: list[np.ndarray | None] | None,
                grow: int = 6) -> np.ndarray:
    """Float (H, W) in 0..1: the union of the people's masks (or boxes), grown and feathered."""
    h, w = shape
    out = np.zeros((h, w), dtype=np.float32)
    for k, box in enumerate(boxes or []):
        m = masks[k] if masks is not None and k < len(masks) else None
        if m is not None:
            out = np.maximum(out, m.astype(np.float32))
        else:
            x, y, bw, bh = box
            out[max(int(y), 0): max(int(y + bh), 0), max(int(x), 0): max(int(x + bw), 0)] = 1.0
    if grow:
        out = cv2.dilate(out, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
        out = cv2.GaussianBlur(out, (0, 0), grow / 2)
    return np.clip(out, 0, 1)


def motion_blur(image: np.ndarray, ctx: FrameContext, exposure: float, min_smear: float, shake_px: float,
                angle: float, samples: int = 11) -> tuple[np.ndarray, dict]:
    """Each person smeared along their own motion over ``exposure`` frame intervals (flow from
    the previous to the next clean frame, halved per interval). A person who barely moves is
    smeared further along a line (their motion's direction, or ``angle``) until the smear is
    ``min_smear`` of their box height: a fast movement this frame. Then the whole frame along a
    line of ``shake_px`` pixels (camera shake)."""
    out = image.astype(np.float32)
    h, w = image.shape[:2]
    flow = np.zeros((h, w, 2), np.float32)
    if ctx.prev is not None and ctx.next is not None:
        flow = dense_flow(ctx.prev, ctx.next) * (0.5 * exposure)
    smears = []
    for k, box in enumerate(ctx.boxes or []):
        mask = people_mask((h, w), [box], [ctx.masks[k]] if ctx.masks is not None else None)
        inside = mask > 0.5
        if not inside.any():
            continue
        median = np.median(flow[inside], axis=0)
        length = float(np.linalg.norm(median))
        blurred = smear(out, flow * mask[..., None], samples)
        extra = min_smear * box[3] - length
        if extra > 1.0:
            theta = float(np.arctan2(median[1], median[0])) if length > 0.5 else angle
            blurred = cv2.filter2D(blurred, -1, linear_kernel(extra, theta), borderType=cv2.BORDER_REFLECT)
        out = out + (blurred - out) * mask[..., None]
        smears.append(round(max(length, min_smear * box[3]), 1))
    if shake_px >= 1.0:
        out = cv2.filter2D(out, -1, linear_kernel(shake_px, angle), borderType=cv2.BORDER_REFLECT)
    return out, {"exposure_frames": round(float(exposure), 2), "smear_px": smears, "shake_px": round(float(shake_px), 2)}


# ----------------------------------------------------------------------------------------------
# Focus, occlusion and the mild extras
# ----------------------------------------------------------------------------------------------


def defocus(image: np.ndarray, radius: float) -> np.ndarray:
    """Blur with a disc kernel (the point-spread function of an out-of-focus lens)."""
    r = max(1, int(round(radius)))
    kernel = np.zeros((2 * r + 1, 2 * r + 1), dtype=np.float32)
    cv2.circle(kernel, (r, r), r, 1.0, -1, cv2.LINE_AA)
    return cv2.filter2D(image.astype(np.float32), -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def paste(image: np.ndarray, cutout: Cutout, centre: np.ndarray, scale: float, alpha_acc: np.ndarray) -> None:
    """Composite ``cutout`` scaled by ``scale`` with its centre at ``centre`` (in place), and
    accumulate its alpha into ``alpha_acc``."""
    h, w = cutout.alpha.shape
    nh, nw = max(2, int(round(h * scale))), max(2, int(round(w * scale)))
    rgb = cv2.resize(cutout.rgb.astype(np.float32), (nw, nh), interpolation=cv2.INTER_LINEAR)
    alpha = cv2.resize(cutout.alpha.astype(np.float32), (nw, nh), interpolation=cv2.INTER_LINEAR)
    x0, y0 = int(round(centre[0] - nw / 2)), int(round(centre[1] - nh / 2))
    H, W = image.shape[:2]
    ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + nw, W), min(y0 + nh, H)
    if ax1 <= ax0 or ay1 <= ay0:
        return
    a = alpha[ay0 - y0: ay1 - y0, ax0 - x0: ax1 - x0, None]
    region = image[ay0:ay1, ax0:ax1]
    region += (rgb[ay0 - y0: ay1 - y0, ax0 - x0: ax1 - x0] - region) * a
    alpha_acc[ay0:ay1, ax0:ax1] = np.maximum(alpha_acc[ay0:ay1, ax0:ax1], a[..., 0])


def occlude(image: np.ndarray, ctx: FrameContext, coverage: float, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Paste one cut-out over each person so that its alpha covers ``coverage`` of the person's
    box area, centred on one of the person's visible joints (so it hides limbs). Returns the
    image, the pasted alpha (H, W) and a record."""
    out = image.astype(np.float32).copy()
    alpha = np.zeros(image.shape[:2], dtype=np.float32)
    pool = ctx.cutouts or []
    kinds = []
    for k, box in enumerate(ctx.boxes or []):
        own = ctx.ids[k] if ctx.ids is not None else None
        choices = [c for c in pool if own is None or c.source != own]
        if not choices:
            continue
        cut = choices[int(rng.integers(len(choices)))]
        area = max(float(cut.alpha.sum()), 1.0)
        scale = np.sqrt(coverage * box[2] * box[3] / area)
        joints = ctx.joints[k] if ctx.joints is not None else None
        if joints is not None and (joints[:, 2] > 0).any():
            visible = np.flatnonzero(joints[:, 2] > 0)
            centre = joints[visible[int(rng.integers(len(visible)))], :2]
        else:
            centre = np.array([box[0] + box[2] * rng.uniform(0.3, 0.7), box[1] + box[3] * rng.uniform(0.3, 0.7)])
        paste(out, cut, centre + rng.normal(0, 0.05, 2) * box[2:4], scale, alpha)
        kinds.append(cut.kind)
    return out, alpha, {"coverage": round(float(coverage), 3), "cutouts": kinds}


def sensor_noise(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Signal-dependent Gaussian noise (sigma in 0..1 units, larger in bright pixels)."""
    noise = rng.normal(0.0, 1.0, image.shape).astype(np.float32)
    return np.clip(image + noise * sigma * (0.5 + 0.5 * np.sqrt(np.clip(image, 0, 1))), 0, 1)


def jpeg_artefacts(image: np.ndarray, quality: int) -> np.ndarray:
    """Round trip through a low-quality JPEG."""
    rgb8 = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", rgb8, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0


def relight(image: np.ndarray, gain: float, gamma: float, tint: np.ndarray) -> np.ndarray:
    """A lighting change: exposure gain, gamma and a colour cast."""
    return np.clip((np.clip(image, 0, 1) ** gamma) * gain * tint, 0, 1).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# One entry point
# ----------------------------------------------------------------------------------------------


def degrade(image: np.ndarray, kind: str, severity: float, rng: np.random.Generator, ctx: FrameContext | None = None,
            scale: float = 1.0) -> tuple[np.ndarray, dict, np.ndarray | None]:
    """Degrade one frame: ``kind`` in ``KINDS``, ``severity`` in [0, 1]. Returns (image, record,
    occlusion alpha or None). The strengths at severity 1: motion blur over 4 frame intervals,
    at least a quarter of each person's height, plus up to 8 px of shake, a defocus disc of 7 px radius, occluders over 55% of each box;
    the extras stay mild (noise sigma 0.08, JPEG quality 10, +-50% exposure).

    ``scale`` multiplies the strengths given in pixels (the shake length and its smear samples,
    the defocus radius), so that a severity means the same at another people's size: SynthTrack's
    people are about 106 pixels tall (scale 1, the default: SynthTrack's bytes are unchanged);
    real video passes its median person height / 106 (``vidpose.realdata``). Strengths relative to
    the person (smear length, occluder coverage) and the extras do not depend on it."""
    if kind not in KINDS:
        raise ValueError(f"unknown degradation {kind!r}; expected one of {KINDS}")
    if not 0.0 <= severity <= 1.0:
        raise ValueError(f"degradation severity must lie in [0, 1], got {severity}")
    ctx = ctx or FrameContext()
    record: dict = {"type": kind, "severity": round(float(severity), 3)}
    alpha = None
    if not scale > 0:
        raise ValueError(f"degradation scale must be positive, got {scale}")
    if scale != 1.0:
        record["px_scale"] = round(float(scale), 3)
    if kind == "motion_blur":
        exposure = 1.5 + 2.5 * severity
        shake = severity * rng.uniform(2.0, 8.0) * scale
        out, params = motion_blur(image, ctx, exposure, 0.1 + 0.15 * severity, shake, float(rng.uniform(0, np.pi)),
                                  samples=max(11, int(round(11 * scale))))
        record.update(params)
    elif kind == "defocus":
        radius = (2.5 + 4.5 * severity) * scale
        out = defocus(image, radius)
        record["radius_px"] = round(radius, 2)
    elif kind == "occluder":
        coverage = 0.33 + 0.22 * severity
        out, alpha, params = occlude(image, ctx, coverage, rng)
        record.update(params)
    elif kind == "noise":
        sigma = 0.03 + 0.05 * severity
        out = sensor_noise(image, rng, sigma)
        record["sigma"] = round(sigma, 4)
    elif kind == "jpeg":
        quality = int(round(25 - 15 * severity))
        out = jpeg_artefacts(image, quality)
        record["quality"] = quality
    else:
        dark = rng.random() < 0.6
        gain = 1 - 0.5 * severity if dark else 1 + 0.5 * severity
        gamma = 1 + 0.4 * severity if dark else 1 - 0.25 * severity
        tint = (1 + rng.uniform(-0.1, 0.1, 3) * severity).astype(np.float32)
        out = relight(image, gain, gamma, tint)
        record.update({"gain": round(gain, 3), "gamma": round(gamma, 3)})
    return np.clip(out, 0, 1).astype(np.float32), record, alpha


# ----------------------------------------------------------------------------------------------
# Real frames
# ----------------------------------------------------------------------------------------------


def draw_kind(rng: np.random.Generator, exclude: Iterable[str] = ()) -> str:
    kinds = [k for k in DEGRADE_WEIGHTS if k not in set(exclude)]
    weights = np.array([DEGRADE_WEIGHTS[k] for k in kinds], dtype=float)
    return kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]


def pixel_scale(boxes: Sequence[np.ndarray]) -> float:
    """Median person box height / ``REF_PERSON_HEIGHT`` (1 without people), clamped to [0.25, 12]:
    the ``scale`` of ``vidpose.data.degrade.degrade`` that makes a severity mean the same to a
    70-pixel pedestrian as to a 1000-pixel Pose2Sim person."""
    heights = [float(b[3]) for b in boxes if b[3] > 0]
    if not heights:
        return 1.0
    return float(np.clip(np.median(heights) / REF_PERSON_HEIGHT, 0.25, 12.0))


def ragged_patch(image: np.ndarray, rng: np.random.Generator, side: float, avoid: np.ndarray | None = None) -> Cutout:
    """A textured cut-out with a ragged outline (as SynthTrack's patches), about ``side`` pixels,
    cut at a random place of ``image`` (float RGB); with ``avoid`` (a box x, y, w, h) a place
    whose centre lies outside that box is preferred (up to 10 draws)."""
    h, w = image.shape[:2]
    ph = int(np.clip(round(side * rng.uniform(0.7, 1.3)), 8, h - 1))
    pw = int(np.clip(round(side * rng.uniform(0.7, 1.3)), 8, w - 1))
    for _ in range(10):
        y0, x0 = int(rng.integers(0, h - ph)), int(rng.integers(0, w - pw))
        if avoid is None:
            break
        cx, cy = x0 + pw / 2, y0 + ph / 2
        if not (avoid[0] <= cx <= avoid[0] + avoid[2] and avoid[1] <= cy <= avoid[1] + avoid[3]):
            break
    angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
    radius = rng.uniform(0.35, 0.5, 9)
    poly = np.stack([pw / 2 + np.cos(angles) * radius * pw, ph / 2 + np.sin(angles) * radius * ph], 1)
    alpha = np.zeros((ph, pw), np.float32)
    cv2.fillPoly(alpha, [np.round(poly * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
    return Cutout(image[y0:y0 + ph, x0:x0 + pw].copy(), alpha, "patch", -1)


def degrade_real_frame(image: np.ndarray, rng: np.random.Generator, boxes: Sequence[np.ndarray],
                       masks: Sequence[np.ndarray | None] | None = None, joints: Sequence[np.ndarray | None] | None = None,
                       ids: Sequence[int] | None = None, prev: np.ndarray | None = None, nxt: np.ndarray | None = None,
                       cutouts: list[Cutout] | None = None, kind: str | None = None,
                       severity: float | None = None) -> tuple[np.ndarray, dict, np.ndarray | None]:
    """One real frame (float RGB 0..1) degraded with the shared module: the kind drawn with
    SynthTrack's weights (an occluder only when there are cut-outs to paste), severity uniform in
    ``SEVERITY``, pixel strengths at the people's scale (``pixel_scale``). Returns (image, record,
    occluder alpha or None); the input is not modified."""
    if kind is None:
        kind = draw_kind(rng, exclude=() if cutouts else ("occluder",))
    if severity is None:
        severity = float(rng.uniform(*SEVERITY))
    ctx = FrameContext(prev=prev, next=nxt, boxes=[np.asarray(b, float) for b in boxes],
                       masks=list(masks) if masks is not None else None,
                       joints=list(joints) if joints is not None else None, cutouts=cutouts,
                       ids=[int(i) for i in ids] if ids is not None else None)
    return degrade(image, kind, severity, rng, ctx, scale=pixel_scale(boxes) if kind in SCALED_KINDS else 1.0)


def degrade_key_frame(images: np.ndarray, rng: np.random.Generator, offsets: Sequence[int], box: np.ndarray,
                      joints: np.ndarray | None = None, probability: float = 0.5
                      ) -> tuple[np.ndarray, dict | None]:
    """Training-time degradation of a clip's key frame, its neighbours untouched.

    ``images``: (T, H, W, 3) uint8 or float 0..1 crops, key frame first, then the neighbours in
    the order of ``offsets`` (``vidpose.data.clips``); ``box`` and ``joints`` (17, 3) are the
    person in crop coordinates. With probability ``probability`` the key frame is degraded as
    test_hard's are (``degrade_real_frame``): motion along the person's motion between the clean
    -1 and +1 neighbours, occluders cut from the farthest neighbour's crop (outside the person's
    box: texture, never the person themselves). Returns the images (a copy when degraded, of the
    input's dtype) and the record (None when left clean)."""
    if probability <= 0 or rng.random() >= probability:
        return images, None
    as_float = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    offsets = list(offsets)
    prev = as_float[1 + offsets.index(-1)] if -1 in offsets else None
    nxt = as_float[1 + offsets.index(1)] if 1 in offsets else None
    cutouts = []
    if offsets:
        far = 1 + int(np.argmax([abs(o) for o in offsets]))
        cutouts.append(ragged_patch(as_float[far], rng, max(0.35 * float(box[3]), 8.0), avoid=np.asarray(box, float)))
    out, record, _ = degrade_real_frame(as_float[0], rng, [np.asarray(box, float)],
                                        joints=[joints] if joints is not None else None, ids=[0],
                                        prev=prev, nxt=nxt, cutouts=cutouts)
    result = as_float.copy()
    result[0] = out
    if images.dtype == np.uint8:
        result = np.clip(result * 255 + 0.5, 0, 255).astype(np.uint8)
    return result, record
