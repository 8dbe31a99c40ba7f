"""SynthTrack scenes: people, camera, occluders and degradations of one video, rendered frame
by frame with the ground truth read from the renderer's id and depth buffers.

All motion is a function of continuous time (in frames), sampled from a fine simulation grid,
so a motion-blurred frame is the average of sub-frames rendered at times inside the exposure.
One ``numpy.random.Generator`` per video drives everything: a video is a pure function of
its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
from vidpose.synth.render import (
    OCCLUDER_ID,
    Camera,
    Canvas,
    defocus,
    jpeg_artefacts,
    make_panorama,
    relight,
    sensor_noise,
    view_background,
)

SUB = 8  # simulation steps per frame
_SLOTS = np.array(list(SLOT_POINTS))  # annotated PoseTrack slots and their body points
_SLOT_BODY = np.array([B[n] for n in SLOT_POINTS.values()])
FPS = 25.0
DEGRADATIONS = ("motion_blur", "defocus", "occluder", "noise", "jpeg", "lighting")


@dataclass
class SceneConfig:
    """Everything that shapes one video. Rates are per frame; severities lie in [0, 1]."""

    width: int = 384
    height: int = 288
    frames: int = 40
    people: tuple[int, int] = (1, 4)
    degrade_rate: float = 0.3
    degrade_weights: dict[str, float] = field(default_factory=lambda: {
        "motion_blur": 0.32, "defocus": 0.2, "occluder": 0.25, "noise": 0.09, "jpeg": 0.07, "lighting": 0.07})
    severity: tuple[float, float] = (0.45, 1.0)
    force_degraded: tuple[int, ...] = ()  # frames that must be degraded (val_hard: every labeled frame)
    blur_samples: int = 7
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
    strap: np.ndarray | None  # cross-body bag strap, left shoulder to right hip
    watch: np.ndarray | None  # band on the left wrist
    cap: bool


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
        strap=colour() * 0.6 if rng.random() < 0.5 else None,
        watch=colour() if rng.random() < 0.6 else None,
        cap=bool(rng.random() < 0.2),
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
    if look.strap is not None:  # worn on the front: left shoulder to right hip, just proud of the torso
        normal = np.cross(g("shoulder_r") - g("shoulder_l"), g("neck") - pelvis)  # the torso's forward
        out = normal / max(np.linalg.norm(normal), 1e-9) * 0.15 * w
        cap(g("shoulder_l") + out, g("hip_r") + out * 0.9, 0.014, 0.014, look.strap)
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
        elif kind == "occluder":
            poly, z, colour, texture = args
            canvas.polygon(poly, z, colour, OCCLUDER_ID, texture)


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
    for name, size, colour in (("eye_l", 0.13, (0.05, 0.05, 0.08)), ("eye_r", 0.13, (0.05, 0.05, 0.08)),
                               ("nose", 0.16, look.skin * 0.78)):
        (puv, pz) = camera.project(points[B[name]][None])
        canvas.dot(puv[0], max(0.6, size * radius_px), pz[0] - 0.015, np.asarray(colour), owner)


# ----------------------------------------------------------------------------------------------
# A whole video
# ----------------------------------------------------------------------------------------------


@dataclass
class Occluder:
    """A flat object that sweeps across the view in front of a person (a passer-by's sign, a
    branch, a pole)."""

    start: np.ndarray  # pixel centre at time t0
    velocity: np.ndarray  # pixels per frame
    t0: float
    depth: float
    shape: np.ndarray  # polygon around the centre, pixels
    colour: np.ndarray
    texture: np.ndarray | None
    target: int

    def polygon(self, t: float) -> np.ndarray:
        return self.shape + self.start + self.velocity * (t - self.t0)


@dataclass
class FrameTruth:
    """Ground truth of one rendered frame."""

    people: list[dict]  # annotated people
    ignore: list[np.ndarray]  # polygons around people too small or too cut off to annotate
    degradations: list[dict]
    boxes: list[dict] = field(default_factory=list)  # every person in view: what a detector could find


class Scene:
    """One video: camera path, people, occluders and a per-frame degradation plan."""

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
        made = (self._make_occluder(f) for f, d in enumerate(self.plan) if d and d["type"] == "occluder")
        self.occluders = [o for o in made if o is not None]

    # -- camera ----------------------------------------------------------------------------
    def camera(self, t: float, jitter: np.ndarray | None = None) -> Camera:
        zoom = 1.0 + self.zoom_amp * np.sin(2 * np.pi * self.zoom_freq * t)
        offset = (self.shake * np.sin(2 * np.pi * self.shake_freq[:, None] * t + np.arange(4)[:, None])).sum(0)
        if jitter is not None:
            offset = offset + jitter
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

    def _make_occluder(self, f: int) -> Occluder | None:
        rng = self.rng
        candidates = []
        cam = self.camera(f)
        for k, track in enumerate(self.tracks):
            uv, z = cam.project(track.points(f))
            if (uv[:, 0] > 0).all() and (uv[:, 0] < self.cfg.width).all():
                candidates.append((k, uv, z))
        if not candidates:
            return None
        k, uv, z = candidates[int(rng.integers(len(candidates)))]
        lo, hi = uv.min(0), uv.max(0)
        size = hi - lo
        severity = self.plan[f]["severity"]
        kind = rng.choice(["board", "pole", "blob"])
        if kind == "board":
            w, h = size[0] * rng.uniform(0.6, 1.1) * severity + 8, size[1] * rng.uniform(0.35, 0.6) * severity + 8
            shape = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
        elif kind == "pole":
            w, h = max(6.0, size[0] * 0.35 * severity), size[1] * 1.6
            shape = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
        else:
            angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
            radius = 0.5 * max(size) * severity * rng.uniform(0.5, 0.8, 9) + 6
            shape = np.stack([np.cos(angles) * radius, np.sin(angles) * radius], 1)
        centre = lo + size * rng.uniform([0.3, 0.25], [0.7, 0.75])
        speed = rng.uniform(25, 50) * rng.choice([-1, 1])
        colour = rng.uniform(0.1, 0.9, 3)
        texture = None
        if kind == "blob":  # foliage-like speckle
            tex = rng.uniform(0.6, 1.2, (int(np.ptp(shape[:, 1])) + 4, int(np.ptp(shape[:, 0])) + 4, 1))
            texture = (np.array([0.2, 0.45, 0.15]) * tex).astype(np.float32)
        return Occluder(centre, np.array([speed, rng.uniform(-4, 4)]), float(f), float(z.min() - 0.4), shape,
                        colour, texture, k)

    # -- rendering ---------------------------------------------------------------------------
    def _render_at(self, t: float, jitter: np.ndarray | None = None) -> tuple[Canvas, Camera, list[np.ndarray]]:
        cam = self.camera(t, jitter)
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
        for occ in self.occluders:
            poly = occ.polygon(t)
            if poly[:, 0].max() > 0 and poly[:, 0].min() < self.cfg.width:
                tex = None
                if occ.texture is not None:
                    lo = np.floor(poly.min(0)).astype(int)
                    tex = np.zeros((self.cfg.height, self.cfg.width, 3), np.float32)
                    th, tw = occ.texture.shape[:2]
                    x0, y0 = max(lo[0], 0), max(lo[1], 0)
                    x1, y1 = min(lo[0] + tw, self.cfg.width), min(lo[1] + th, self.cfg.height)
                    if x1 > x0 and y1 > y0:
                        tex[y0:y1, x0:x1] = occ.texture[y0 - lo[1]: y1 - lo[1], x0 - lo[0]: x1 - lo[0]]
                    tex = tex[max(int(np.floor(poly[:, 1].min() - 1)), 0):, max(int(np.floor(poly[:, 0].min() - 1)), 0):]
                prims.append((occ.depth, "occluder", (poly, occ.depth, occ.colour, tex)))
        draw_primitives(canvas, cam, prims)
        return canvas, cam, points

    def render(self, f: int) -> tuple[np.ndarray, FrameTruth, Canvas]:
        """Frame f: RGB uint8 image, its ground truth and the canvas (owner and depth buffers of
        the sharp frame at time f)."""
        cfg, rng = self.cfg, self.rng
        plan = self.plan[f]
        kind = plan["type"] if plan else None
        sev = plan["severity"] if plan else 0.0
        record: list[dict] = []
        if kind == "motion_blur":
            # Temporal supersampling: the exposure spans most of the frame interval and the camera
            # jerks along one direction while the shutter is open.
            n = cfg.blur_samples
            angle = rng.uniform(0, np.pi)
            extent = sev * rng.uniform(8, 20)
            direction = np.array([np.cos(angle), np.sin(angle)])
            acc = None
            for s in range(n):
                u = s / (n - 1) - 0.5
                canvas, cam, points = self._render_at(f + 0.9 * u, direction * extent * u)
                acc = canvas.image if acc is None else acc + canvas.image
                if s == n // 2:
                    centre = (canvas, cam, points)
            image = acc / n
            canvas, cam, points = centre
            record.append({"type": "motion_blur", "severity": sev, "extent_px": round(float(extent), 2),
                           "samples": n})
        else:
            canvas, cam, points = self._render_at(float(f))
            image = canvas.image
        if kind == "defocus":
            radius = 1.5 + 3.5 * sev
            image = defocus(image, radius)
            record.append({"type": "defocus", "severity": sev, "radius_px": round(radius, 2)})
        elif kind == "noise":
            sigma = 0.03 + 0.07 * sev
            image = sensor_noise(image, rng, sigma)
            record.append({"type": "noise", "severity": sev, "sigma": round(sigma, 4)})
        elif kind == "jpeg":
            quality = int(round(22 - 17 * sev))
            image = jpeg_artefacts(image, quality)
            record.append({"type": "jpeg", "severity": sev, "quality": quality})
        elif kind == "lighting":
            dark = rng.random() < 0.6
            gain = 1 - 0.6 * sev if dark else 1 + 0.8 * sev
            gamma = 1 + 0.6 * sev if dark else 1 - 0.35 * sev
            tint = 1 + rng.uniform(-0.15, 0.15, 3) * sev
            image = relight(image, gain, gamma, tint.astype(np.float32))
            record.append({"type": "lighting", "severity": sev, "gain": round(gain, 3), "gamma": round(gamma, 3)})
        truth = self._truth(canvas, cam, points)
        occluded_by_object = sum(int(p["occluded_by"] == OCCLUDER_ID) for p in truth.people)
        if kind == "occluder" or occluded_by_object:
            record.append({"type": "occluder", "severity": sev if kind == "occluder" else 0.0,
                           "occluded_joints": occluded_by_object})
        mutual = sum(int(p["occluded_by_person"]) for p in truth.people)
        if mutual >= 3:
            record.append({"type": "mutual_occlusion", "occluded_joints": mutual})
        truth.degradations = record
        return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8), truth, canvas

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
