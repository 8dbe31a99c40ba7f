"""SynthTrack scenes: people and camera of one video, rendered frame by frame with the ground
truth read from the renderer's id and depth buffers, and a per-frame degradation plan.

All motion is a function of continuous time (in frames), sampled from a fine simulation grid.
Each frame is rendered clean; a frame the plan degrades is then degraded by the module real
video shares (``vidpose/data/degrade.py``): motion blur along the people's own motion (optical
flow between the clean neighbours), defocus, cut-outs of other people or of textures from earlier
frames pasted over the limbs, and mild noise, JPEG and lighting. So every degraded frame has an
exact clean twin: the same scene state with the degradation switched off.
One ``numpy.random.Generator`` per video drives everything: a video is a pure function of
its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from vidpose.synth.body import (
    ACTION_RATE,
    ACTION_SPEED,
    ACTIONS,
    B,
    P,
    SLOT_POINTS,
    BodyShape,
    action_params,
    body_axes,
    forward_kinematics,
    ground_height,
    place,
    sample_shape,
)
from vidpose.data.degrade import KINDS, Cutout, FrameContext, degrade
from vidpose.synth.render import OCCLUDER_ID, Camera, Canvas, make_panorama, view_background

SUB = 8  # simulation steps per frame
_SLOTS = np.array(list(SLOT_POINTS))  # annotated PoseTrack slots and their body points
_SLOT_BODY = np.array([B[n] for n in SLOT_POINTS.values()])
FPS = 25.0
DEGRADATIONS = KINDS


@dataclass
class SceneConfig:
    """Everything that shapes one video. Rates are per frame; severities lie in [0, 1]."""

    width: int = 384
    height: int = 288
    frames: int = 40
    people: tuple[int, int] = (1, 4)
    degrade_rate: float = 0.3
    # the kinds that destroy local evidence dominate; noise, JPEG and lighting are mild extras
    degrade_weights: dict[str, float] = field(default_factory=lambda: {
        "motion_blur": 0.3, "defocus": 0.25, "occluder": 0.3, "noise": 0.05, "jpeg": 0.05, "lighting": 0.05})
    severity: tuple[float, float] = (0.5, 1.0)
    force_degraded: tuple[int, ...] = ()  # frames that must be degraded (val_hard: every labeled frame)
    min_height_px: float = 40.0  # smaller people become ignore regions
    min_joints_inside: int = 6  # people with fewer joints inside the image become ignore regions


@dataclass
class Appearance:
    skin: np.ndarray
    hair: np.ndarray
    shirt: np.ndarray
    pants: np.ndarray
    shoes: np.ndarray
    shirt_texture: tuple | None
    pants_texture: tuple | None
    long_sleeves: bool
    long_pants: bool
    strap: np.ndarray | None  # cross-body bag strap, left shoulder to right hip, front and back
    watch: np.ndarray | None  # band on the left wrist
    cap: bool
    chest: np.ndarray  # a print on the front of the shirt only (front and back differ)


SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.87, 0.67, 0.52], [0.76, 0.55, 0.40], [0.55, 0.37, 0.25],
                       [0.40, 0.26, 0.17], [0.93, 0.75, 0.60]])


def sample_appearance(rng: np.random.Generator) -> Appearance:
    def colour() -> np.ndarray:
        return np.clip(rng.uniform(0.05, 0.95, 3) * rng.uniform(0.6, 1.1), 0, 1)

    def texture() -> tuple | None:
        kind = rng.choice(["plain", "plain", "stripes", "checks"])
        return None if kind == "plain" else (str(kind), float(rng.uniform(4, 9)), colour())

    return Appearance(
        skin=SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.05),
        hair=np.array([0.1, 0.07, 0.05]) + rng.uniform(0, 1) ** 2 * np.array([0.6, 0.45, 0.2]),
        shirt=colour(), pants=colour() * 0.8, shoes=colour() * 0.5,
        shirt_texture=texture(), pants_texture=texture() if rng.random() < 0.3 else None,
        long_sleeves=bool(rng.random() < 0.6), long_pants=bool(rng.random() < 0.75),
        strap=colour() * 0.6 if rng.random() < 0.8 else None,
        watch=colour() if rng.random() < 0.6 else None,
        cap=bool(rng.random() < 0.2),
        chest=colour(),
    )


@dataclass
class Track:
    """One person's simulated motion on the fine grid (index = (t + 1) * SUB)."""

    shape: BodyShape
    look: Appearance
    params: np.ndarray  # (S, n_params)
    yaw: np.ndarray  # (S,)
    root: np.ndarray  # (S, 3) pelvis on the ground plane (y filled at sampling time)
    actions: list[str]

    def at(self, t: float) -> tuple[np.ndarray, float, np.ndarray]:
        i = (t + 1.0) * SUB
        i0 = int(np.clip(np.floor(i), 0, len(self.yaw) - 2))
        w = float(np.clip(i - i0, 0.0, 1.0))
        lerp = lambda a: a[i0] * (1 - w) + a[i0 + 1] * w  # noqa: E731
        return lerp(self.params), float(lerp(self.yaw)), lerp(self.root)

    def points(self, t: float) -> np.ndarray:
        """(K, 3) world body points at time t (frames)."""
        params, yaw, root = self.at(t)
        body = forward_kinematics(self.shape, params[None])
        y = ground_height(body, self.shape)[0] + params[P["lift"]]
        root = np.array([root[0], y, root[2]])
        return place(body, np.array([yaw]), root[None])[0]


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def simulate_person(rng: np.random.Generator, n_frames: int, camera_x: float, focal: float, width: int,
                    crosser: bool) -> Track:
    """An action schedule, blended joint angles, heading and position over the whole video."""
    steps = (n_frames + 2) * SUB + 1
    dt = 1.0 / (FPS * SUB)
    duration = steps * dt
    shape, look = sample_shape(rng), sample_appearance(rng)
    depth = rng.uniform(4.0, 9.0)
    half_view = depth * (width / 2) / focal

    # Schedule: crossers walk or run; others mix actions in place with short walks.
    schedule, t = [], 0.0
    while t < duration:
        if crosser:
            action = str(rng.choice(["walk", "walk", "run"])) if not schedule or rng.random() < 0.8 else "turn"
        else:
            action = str(rng.choice([a for a in ACTIONS if a != "run"],
                                    p=[0.16, 0.14, 0.1, 0.14, 0.14, 0.1, 0.11, 0.11]))
        length = rng.uniform(1.2, 3.5)
        schedule.append((action, t, length, rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.15)))
        t += length
    actions = [s[0] for s in schedule]

    times = np.arange(steps) * dt
    idx = np.searchsorted([s[1] for s in schedule], times, side="right") - 1
    prev = np.maximum(idx - 1, 0)
    since = times - np.array([s[1] for s in schedule])[idx]
    blend = np.where(idx > 0, _smoothstep(since / 0.45), 1.0)
    rate = np.array([ACTION_RATE[s[0]] * s[3] for s in schedule])
    rate_t = rate[prev] * (1 - blend) + rate[idx] * blend
    phase = rng.uniform(0, 2 * np.pi) + np.cumsum(2 * np.pi * rate_t * dt)

    params = np.zeros((steps, len(P)))
    for k, (action, _, _, _, amp) in enumerate(schedule):
        for weight, sel in ((blend, idx == k), (1 - blend, (prev == k) & (idx != k))):
            if sel.any():
                params[sel] += weight[sel, None] * action_params(action, phase[sel], amp)

    # Heading and position: integrate speed along the facing direction, steer to stay in range.
    if crosser:
        direction = rng.choice([-1.0, 1.0])
        yaw0 = direction * np.pi / 2 + rng.uniform(-0.35, 0.35)
        x0 = camera_x - direction * (half_view + rng.uniform(0.2, 1.5))
    else:
        yaw0 = rng.choice([rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0), np.pi + rng.uniform(-0.8, 0.8),
                           rng.uniform(-2.0, 2.0)])
        x0 = camera_x + rng.uniform(-0.7, 0.7) * half_view
    speed_factor = np.array([s[3] for s in schedule])
    speed = np.array([ACTION_SPEED.get(s[0], 0.0) for s in schedule]) * speed_factor
    speed_t = (speed[prev] * (1 - blend) + speed[idx] * blend)
    yaw = np.zeros(steps)
    root = np.zeros((steps, 3))
    pos = np.array([x0, 0.0, depth])
    heading = yaw0
    for i in range(steps):
        heading += params[i, P["yaw_rate"]] * dt
        if not crosser and speed_t[i] > 0:  # wanderers steer back toward the middle of the view
            target = np.array([camera_x, 0.0, 6.0]) - pos
            if abs(pos[0] - camera_x) > 0.6 * half_view or not 3.8 < pos[2] < 9.5:
                want = np.arctan2(target[0], -target[2])
                diff = (want - heading + np.pi) % (2 * np.pi) - np.pi
                heading += np.clip(diff, -2.0 * dt, 2.0 * dt)
        yaw[i] = heading
        _, _, forward = body_axes(np.array([heading]))
        pos = pos + speed_t[i] * dt * forward[0]
        pos[2] = np.clip(pos[2], 3.0, 11.0)
        root[i] = pos
    return Track(shape, look, params, yaw, root, actions)


# ----------------------------------------------------------------------------------------------
# Drawing one person
# ----------------------------------------------------------------------------------------------


def _to_camera_axes(v: np.ndarray) -> np.ndarray:
    """World direction -> camera-aligned (x right, y down, z toward the viewer)."""
    v = np.array([v[0], -v[1], -v[2]])
    return v / max(np.linalg.norm(v), 1e-9)


def body_primitives(track: Track, points: np.ndarray, owner: int) -> list[tuple]:
    """(depth, kind, args) of every primitive of one person; limbs in metres."""
    s, look = track.shape, track.look
    w = s.build
    skin, shirt, pants = look.skin, look.shirt, look.pants
    sleeve = shirt if look.long_sleeves else skin
    leg = pants if look.long_pants else skin
    g = lambda name: points[B[name]]  # noqa: E731
    prims = []

    def cap(a: str | np.ndarray, b: str | np.ndarray, r1: float, r2: float, colour: np.ndarray,
            texture: tuple | None = None) -> None:
        pa = g(a) if isinstance(a, str) else a
        pb = g(b) if isinstance(b, str) else b
        prims.append((0.5 * (pa[2] + pb[2]), "capsule", (pa, pb, r1, r2, colour, texture, owner)))

    pelvis = g("pelvis")
    chest = g("chest")
    cap(pelvis, chest, 0.13 * w, 0.14 * w, shirt, look.shirt_texture)
    cap(chest, "neck", 0.145 * w, 0.09 * w, shirt, look.shirt_texture)
    cap("shoulder_l", "shoulder_r", 0.055 * w, 0.055 * w, shirt)
    cap("hip_l", "hip_r", 0.085 * w, 0.085 * w, pants)
    cap("neck", "head_bottom", 0.045 * w, 0.042 * w, skin)
    for tag in ("l", "r"):
        cap(f"hip_{tag}", f"knee_{tag}", 0.075 * w, 0.052 * w, pants, look.pants_texture)
        cap(f"knee_{tag}", f"ankle_{tag}", 0.05 * w, 0.036 * w, leg)
        cap(f"ankle_{tag}", f"toe_{tag}", 0.035 * w, 0.03 * w, look.shoes)
        cap(f"shoulder_{tag}", f"elbow_{tag}", 0.046 * w, 0.038 * w, sleeve if look.long_sleeves else shirt)
        texture = ("band", 1.0, look.watch) if tag == "l" and look.watch is not None else None
        cap(f"elbow_{tag}", f"wrist_{tag}", 0.037 * w, 0.029 * w, sleeve, texture)
        cap(f"wrist_{tag}", f"hand_{tag}", 0.03 * w, 0.026 * w, skin)
    normal = np.cross(g("shoulder_r") - g("shoulder_l"), g("neck") - pelvis)  # the torso's forward
    out = normal / max(np.linalg.norm(normal), 1e-9) * 0.15 * w
    if look.strap is not None:  # a cross-body strap, left shoulder to right hip, on the front and the back
        for side in (out, -out):
            cap(g("shoulder_l") + side, g("hip_r") + side * 0.9, 0.016, 0.016, look.strap)
    # a print on the shirt's front only: whether a person faces the camera shows on the torso too
    centre = 0.55 * chest + 0.45 * pelvis + out * 0.92
    cap(centre + (chest - pelvis) * 0.12, centre - (chest - pelvis) * 0.12, 0.05 * w, 0.05 * w, look.chest)
    head_z = g("head_center")[2]
    prims.append((head_z, "head", (track, points, owner)))
    return prims


def draw_primitives(canvas: Canvas, camera: Camera, prims: list[tuple]) -> None:
    """Far to near (the z-buffer settles overlaps; the order keeps edges smooth)."""
    for _, kind, args in sorted(prims, key=lambda p: -p[0]):
        if kind == "capsule":
            pa, pb, r1, r2, colour, texture, owner = args
            (uv, z) = camera.project(np.stack([pa, pb]))
            canvas.capsule(uv[0], uv[1], r1 * camera.focal / z[0], r2 * camera.focal / z[1], z[0], z[1],
                           colour, owner, texture, bulge=0.5 * (r1 + r2))
        elif kind == "head":
            track, points, owner = args
            _draw_head(canvas, camera, track, points, owner)


def _draw_head(canvas: Canvas, camera: Camera, track: Track, points: np.ndarray, owner: int) -> None:
    look, r = track.look, track.shape.head_radius
    center = points[B["head_center"]]
    (uv, z) = camera.project(center[None])
    radius_px = r * camera.focal / z[0]
    up = _to_camera_axes(points[B["head_top"]] - center)
    forward = _to_camera_axes(points[B["nose"]] - center)
    canvas.head(uv[0], radius_px, z[0], look.skin, look.hair, up, forward, owner, r)
    if look.cap:
        top = center + (points[B["head_top"]] - center) * 0.55
        brim = center + (points[B["nose"]] - center) * 0.9 + (points[B["head_top"]] - center) * 0.3
        (tuv, tz) = camera.project(np.stack([top, brim]))
        canvas.capsule(tuv[0], tuv[1], 0.75 * radius_px, 0.35 * radius_px, tz[0] - 0.03 * r, tz[1] - 0.05 * r,
                       look.shirt_texture[2] if look.shirt_texture else look.pants, owner, bulge=0.0)
    for name, size, colour in (("eye_l", 0.17, (0.05, 0.05, 0.08)), ("eye_r", 0.17, (0.05, 0.05, 0.08)),
                               ("nose", 0.18, look.skin * 0.7)):
        (puv, pz) = camera.project(points[B[name]][None])
        canvas.dot(puv[0], max(0.6, size * radius_px), pz[0] - 0.015, np.asarray(colour), owner)


# ----------------------------------------------------------------------------------------------
# A whole video
# ----------------------------------------------------------------------------------------------


@dataclass
class FrameTruth:
    """Ground truth of one rendered frame."""

    people: list[dict]  # annotated people
    ignore: list[np.ndarray]  # polygons around people too small or too cut off to annotate
    degradations: list[dict]
    boxes: list[dict] = field(default_factory=list)  # every person in view: what a detector could find


class Scene:
    """One video: camera path, people and a per-frame degradation plan."""

    def __init__(self, cfg: SceneConfig, rng: np.random.Generator):
        self.cfg, self.rng = cfg, rng
        W, H, n = cfg.width, cfg.height, cfg.frames
        self.focal0 = rng.uniform(0.95, 1.2) * W
        self.cam_h = rng.uniform(1.1, 1.7)
        self.horizon = H / 2 + rng.uniform(-0.08, 0.1) * H
        self.pan = rng.choice([0.0, 0.0, rng.uniform(-0.04, 0.04)])  # metres per frame
        self.zoom_amp = rng.choice([0.0, rng.uniform(0.05, 0.18)])
        self.zoom_freq = rng.uniform(0.01, 0.04)
        shake = rng.choice([0.0, rng.uniform(0.5, 3.0)])
        self.shake = shake * rng.normal(size=(4, 2))
        self.shake_freq = rng.uniform(0.2, 0.9, size=4)
        self.panorama = make_panorama(rng, H + 120, W * 3, (H + 120) // 2)
        n_people = int(rng.integers(cfg.people[0], cfg.people[1] + 1))
        self.tracks = [simulate_person(rng, n, 0.0, self.focal0, W, crosser=bool(k > 0 and rng.random() < 0.55))
                       for k in range(n_people)]
        self.plan = self._plan_degradations()

    # -- camera ----------------------------------------------------------------------------
    def camera(self, t: float) -> Camera:
        zoom = 1.0 + self.zoom_amp * np.sin(2 * np.pi * self.zoom_freq * t)
        offset = (self.shake * np.sin(2 * np.pi * self.shake_freq[:, None] * t + np.arange(4)[:, None])).sum(0)
        return Camera(self.focal0 * zoom, self.cfg.width / 2 + offset[0], self.horizon + offset[1],
                      self.pan * t, self.cam_h)

    def background(self, cam: Camera) -> np.ndarray:
        zoom = cam.focal / self.focal0
        shift = cam.focal * cam.x / 12.0  # backdrop about 12 m away
        return view_background(self.panorama, shift, zoom, self.cfg.width, self.cfg.height,
                               (cam.cx - self.cfg.width / 2, 0.0), cam.cy)

    # -- degradations ----------------------------------------------------------------------
    def _plan_degradations(self) -> list[dict | None]:
        cfg, rng = self.cfg, self.rng
        kinds = list(cfg.degrade_weights)
        weights = np.array([cfg.degrade_weights[k] for k in kinds], dtype=float)
        weights /= weights.sum()
        forced = set(cfg.force_degraded)
        plan: list[dict | None] = [None] * cfg.frames
        for f in range(cfg.frames):
            near_forced = (f - 1 in forced or f + 1 in forced) and f not in forced
            if f in forced or (rng.random() < cfg.degrade_rate and not near_forced
                               and (f == 0 or plan[f - 1] is None)):
                plan[f] = {"type": str(rng.choice(kinds, p=weights)),
                           "severity": round(float(rng.uniform(*cfg.severity)), 3)}
        return plan

    # -- rendering ---------------------------------------------------------------------------
    def _render_at(self, t: float) -> tuple[Canvas, Camera, list[np.ndarray]]:
        cam = self.camera(t)
        canvas = Canvas(self.background(cam))
        points = [track.points(t) for track in self.tracks]
        for pts, track in zip(points, self.tracks):  # contact shadows
            foot = pts[B["pelvis"]] * [1, 0, 1]
            (uv, z) = cam.project(foot[None])
            if z[0] > 0.5:
                half = 0.32 * cam.focal / z[0]
                canvas.shadow(uv[0], (half, max(1.0, half * cam.height / z[0] * 0.8)))
        prims = []
        for k, (track, pts) in enumerate(zip(self.tracks, points)):
            prims += body_primitives(track, pts, k)
        draw_primitives(canvas, cam, prims)
        return canvas, cam, points

    def render_clean(self, f: int) -> tuple[np.ndarray, FrameTruth, Canvas]:
        """Frame f without any degradation: float RGB image (0..1), its ground truth (mutual
        occlusion recorded) and the canvas (owner and depth buffers)."""
        canvas, cam, points = self._render_at(float(f))
        truth = self._truth(canvas, cam, points)
        mutual = sum(int(p["occluded_by_person"]) for p in truth.people)
        if mutual >= 3:
            truth.degradations.append({"type": "mutual_occlusion", "occluded_joints": mutual})
        return canvas.image.copy(), truth, canvas

    def degrade_frame(self, f: int, image: np.ndarray, truth: FrameTruth, canvas: Canvas, prev: np.ndarray | None,
                      nxt: np.ndarray | None, cutouts: list[Cutout]) -> np.ndarray:
        """Apply frame f's planned degradation (if any) with the shared module; joints hidden by
        a pasted occluder are marked occluded in ``truth``, and the record is added to it."""
        plan = self.plan[f]
        if not plan:
            return image
        people = truth.people
        ctx = FrameContext(prev=prev, next=nxt, boxes=[np.asarray(b["bbox"]) for b in truth.boxes],
                           masks=[canvas.owner == b["track_id"] for b in truth.boxes],
                           joints=[self._box_joints(truth, b["track_id"]) for b in truth.boxes],
                           cutouts=cutouts, ids=[b["track_id"] for b in truth.boxes])
        out, record, alpha = degrade(image, plan["type"], plan["severity"], self.rng, ctx)
        if alpha is not None:
            hidden = 0
            for person in people:
                kp = person["keypoints"]
                for j in np.flatnonzero(kp[:, 2] > 0):
                    x = min(max(int(round(kp[j, 0])), 0), alpha.shape[1] - 1)
                    y = min(max(int(round(kp[j, 1])), 0), alpha.shape[0] - 1)
                    if alpha[y, x] > 0.5 and not person["occluded"][j]:
                        person["occluded"][j] = 1
                        person["occluded_by"] = OCCLUDER_ID
                        hidden += 1
            record["occluded_joints"] = hidden
        truth.degradations.insert(0, record)
        return out

    def cutouts(self, image: np.ndarray, truth: FrameTruth, canvas: Canvas, f: int) -> list[Cutout]:
        """Occluders for later frames, cut from this clean frame: each visible person's
        silhouette, and one textured patch of the background with a ragged outline."""
        out = []
        for box in truth.boxes:
            k = box["track_id"]
            mask = canvas.owner == k
            if mask.sum() < 150:
                continue
            ys, xs = np.nonzero(mask)
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            out.append(Cutout(image[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].astype(np.float32), "person", k))
        rng = np.random.default_rng([f, 7])  # patch geometry: not drawn from the scene's generator
        h, w = image.shape[:2]
        ph, pw = int(rng.integers(30, 70)), int(rng.integers(30, 70))
        y0, x0 = int(rng.integers(0, h - ph)), int(rng.integers(0, w - pw))
        angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
        radius = rng.uniform(0.35, 0.5, 9)
        poly = np.stack([pw / 2 + np.cos(angles) * radius * pw, ph / 2 + np.sin(angles) * radius * ph], 1)
        alpha = np.zeros((ph, pw), np.float32)
        cv2.fillPoly(alpha, [np.round(poly * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
        out.append(Cutout(image[y0:y0 + ph, x0:x0 + pw].copy(), alpha, "patch", -1))
        return out

    @staticmethod
    def _box_joints(truth: FrameTruth, track_id: int) -> np.ndarray | None:
        for person in truth.people:
            if person["track_id"] == track_id:
                return person["keypoints"]
        return None

    def _truth(self, canvas: Canvas, cam: Camera, points: list[np.ndarray]) -> FrameTruth:
        cfg = self.cfg
        W, H = cfg.width, cfg.height
        people, ignore, boxes = [], [], []
        for k, (track, pts) in enumerate(zip(self.tracks, points)):
            uv, z = cam.project(pts)
            kp = np.zeros((17, 3))
            occluded = np.zeros(17, dtype=int)
            joints = uv[_SLOT_BODY]
            inside = (joints[:, 0] >= 0) & (joints[:, 0] <= W - 1) & (joints[:, 1] >= 0) & (joints[:, 1] <= H - 1)
            by_person = by_object = 0
            for slot, i, ok in zip(_SLOTS, _SLOT_BODY, inside):
                if not ok:
                    continue
                kp[slot] = (uv[i, 0], uv[i, 1], 1)
                seen, owner = _visible(canvas, uv[i], z[i], k, tolerance=0.12 + 0.08 * track.shape.build)
                occluded[slot] = int(not seen)
                if not seen:
                    by_person += int(owner >= 0 and owner != k)
                    by_object += int(owner == OCCLUDER_ID)
            radius = 0.14 * cam.focal / z[_SLOT_BODY]
            lo = np.maximum((uv[_SLOT_BODY] - radius[:, None]).min(0), 0)
            hi = np.minimum((uv[_SLOT_BODY] + radius[:, None]).max(0), [W - 1, H - 1])
            stature = np.ptp(uv[_SLOT_BODY, 1])
            n_inside = int(inside.sum())
            if (hi > lo).all():
                hidden = (15 - n_inside + int(occluded.sum())) / 15
                boxes.append({"track_id": k, "bbox": [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]),
                                                      float(hi[1] - lo[1])], "hidden": hidden})
            if n_inside >= cfg.min_joints_inside and stature >= cfg.min_height_px and (hi > lo).all():
                head_r = track.shape.head_radius * cam.focal / z[B["head_center"]]
                hc = uv[B["head_center"]]
                head_pts = np.stack([hc - [0.9 * head_r, 1.05 * head_r], hc + [0.9 * head_r, 1.05 * head_r],
                                     uv[B["head_top"]], uv[B["head_bottom"]], uv[B["nose"]]])
                hlo, hhi = head_pts.min(0) - 1, head_pts.max(0) + 1
                people.append({
                    "track_id": k, "keypoints": kp, "occluded": occluded,
                    "bbox": [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])],
                    "bbox_head": [float(hlo[0]), float(hlo[1]), float(hhi[0] - hlo[0]), float(hhi[1] - hlo[1])],
                    "occluded_by": OCCLUDER_ID if by_object else 0,
                    "occluded_by_person": by_person,
                })
            else:
                mask = canvas.owner == k
                if mask.sum() > 20:
                    ys, xs = np.nonzero(mask)
                    x0, y0, x1, y1 = xs.min() - 4, ys.min() - 4, xs.max() + 4, ys.max() + 4
                    ignore.append(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)
                                  .clip([0, 0], [W - 1, H - 1]))
        return FrameTruth(people, ignore, [], boxes)


def _visible(canvas: Canvas, uv: np.ndarray, z: float, owner: int, tolerance: float) -> tuple[bool, int]:
    """A joint is seen when the nearest surface at its pixel belongs to its own person and is not
    far in front of the joint (a limb of the same person in front hides it). Returns (seen, owner
    at the pixel)."""
    x = min(max(int(round(uv[0])), 0), canvas.width - 1)
    y = min(max(int(round(uv[1])), 0), canvas.height - 1)
    who = int(canvas.owner[y, x])
    return bool(who == owner and canvas.depth[y, x] >= z - tolerance), who
