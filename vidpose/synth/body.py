"""SynthTrack bodies: proportions, parametric actions and forward kinematics in 3D.

A body is posed by a small vector of joint angles (``POSE_PARAMS``). Each action (walk, run,
jump, wave, dance, turn, squat, crouch, stand) is a smooth function of a phase; a person's
schedule of actions is blended with a smoothstep so transitions are continuous. Forward
kinematics gives the 3D joints in metres in a body frame (x: the person's right, y: up,
z: forward), which ``place`` turns into world coordinates from the body's yaw and position.

World coordinates: X to the image's right, Y up, Z away from the camera; the ground is Y = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Joint angles (radians) and offsets that pose a body. Flexion swings a limb forward.
POSE_PARAMS = (
    "hip_flex_l", "hip_flex_r", "hip_abd_l", "hip_abd_r", "knee_l", "knee_r",
    "sho_flex_l", "sho_flex_r", "sho_abd_l", "sho_abd_r", "elbow_l", "elbow_r",
    "lean", "side_bend", "twist", "head_yaw", "head_pitch", "lift", "yaw_rate", "speed",
)
P = {name: i for i, name in enumerate(POSE_PARAMS)}

ACTIONS = ("stand", "walk", "run", "jump", "wave", "dance", "turn", "squat", "crouch")
#: Ground speed (m/s) of each action at speed factor 1.
ACTION_SPEED = {"walk": 1.3, "run": 3.2}
#: Phase rate (cycles per second) at speed factor 1.
ACTION_RATE = {"stand": 0.3, "walk": 0.95, "run": 1.5, "jump": 0.8, "wave": 1.4, "dance": 0.9, "turn": 0.5,
               "squat": 0.45, "crouch": 0.3}

#: 3D body points, a superset of the PoseTrack joints (face and feet are used for drawing).
BODY_POINTS = (
    "pelvis", "hip_l", "hip_r", "knee_l", "knee_r", "ankle_l", "ankle_r", "toe_l", "toe_r",
    "chest", "neck", "shoulder_l", "shoulder_r", "elbow_l", "elbow_r", "wrist_l", "wrist_r",
    "hand_l", "hand_r", "head_bottom", "head_center", "head_top", "nose", "eye_l", "eye_r",
)
B = {name: i for i, name in enumerate(BODY_POINTS)}

#: PoseTrack slot -> body point (slots 3 and 4, the ears, are never annotated).
SLOT_POINTS = {0: "nose", 1: "head_bottom", 2: "head_top", 5: "shoulder_l", 6: "shoulder_r", 7: "elbow_l",
               8: "elbow_r", 9: "wrist_l", 10: "wrist_r", 11: "hip_l", 12: "hip_r", 13: "knee_l",
               14: "knee_r", 15: "ankle_l", 16: "ankle_r"}


@dataclass
class BodyShape:
    """Segment lengths and widths in metres."""

    height: float
    thigh: float
    shin: float
    foot: float
    hip_half: float
    torso: float  # pelvis centre to neck base
    shoulder_half: float
    upper_arm: float
    forearm: float
    hand: float
    neck: float
    head_radius: float
    build: float  # width factor of limbs and torso


def sample_shape(rng: np.random.Generator) -> BodyShape:
    """Adult and teenage proportions (fractions of stature from anthropometric tables), varied
    per segment by up to +-8 % and in width by a build factor."""
    h = rng.uniform(1.45, 1.95)
    v = lambda: rng.uniform(0.92, 1.08)  # noqa: E731
    build = rng.uniform(0.85, 1.25)
    return BodyShape(
        height=h, thigh=0.245 * h * v(), shin=0.246 * h * v(), foot=0.13 * h * v(),
        hip_half=0.06 * h * build ** 0.5, torso=0.29 * h * v(), shoulder_half=0.115 * h * v() * build ** 0.3,
        upper_arm=0.175 * h * v(), forearm=0.15 * h * v(), hand=0.07 * h, neck=0.035 * h * v(),
        head_radius=0.062 * h * v(), build=build,
    )


def _smooth_pos(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def action_params(action: str, phase: np.ndarray, amp: float = 1.0) -> np.ndarray:
    """(T, len(POSE_PARAMS)) joint angles of an action at the given phases (radians)."""
    s, c = np.sin(phase), np.cos(phase)
    out = np.zeros((len(phase), len(POSE_PARAMS)))
    set_ = lambda name, value: out.__setitem__((slice(None), P[name]), value)  # noqa: E731
    set_("sho_abd_l", 0.12)
    set_("sho_abd_r", 0.12)
    set_("elbow_l", 0.25)
    set_("elbow_r", 0.25)
    set_("hip_abd_l", 0.04)
    set_("hip_abd_r", 0.04)
    set_("knee_l", 0.05)
    set_("knee_r", 0.05)
    if action == "stand":
        set_("side_bend", 0.03 * s)
        set_("head_yaw", 0.35 * np.sin(0.7 * phase))
        set_("sho_flex_l", 0.05 * s)
        set_("sho_flex_r", -0.05 * s)
    elif action == "walk":
        set_("hip_flex_l", 0.42 * amp * s)
        set_("hip_flex_r", -0.42 * amp * s)
        set_("knee_l", 0.08 + 0.7 * amp * _smooth_pos(np.sin(phase - 1.3)))
        set_("knee_r", 0.08 + 0.7 * amp * _smooth_pos(np.sin(phase + np.pi - 1.3)))
        set_("sho_flex_l", -0.38 * amp * s)
        set_("sho_flex_r", 0.38 * amp * s)
        set_("elbow_l", 0.3 + 0.25 * _smooth_pos(-s))
        set_("elbow_r", 0.3 + 0.25 * _smooth_pos(s))
        set_("lean", 0.05)
        set_("twist", 0.08 * s)
        set_("lift", 0.02 * np.abs(c))
        set_("speed", 1.0)
    elif action == "run":
        set_("hip_flex_l", 0.75 * amp * s + 0.15)
        set_("hip_flex_r", -0.75 * amp * s + 0.15)
        set_("knee_l", 0.25 + 1.3 * amp * _smooth_pos(np.sin(phase - 1.0)))
        set_("knee_r", 0.25 + 1.3 * amp * _smooth_pos(np.sin(phase + np.pi - 1.0)))
        set_("sho_flex_l", -0.75 * amp * s)
        set_("sho_flex_r", 0.75 * amp * s)
        set_("elbow_l", 1.45)
        set_("elbow_r", 1.45)
        set_("lean", 0.22)
        set_("twist", 0.15 * s)
        set_("lift", 0.06 * np.abs(c))
        set_("speed", 1.0)
    elif action == "jump":
        down, up = _smooth_pos(-s), _smooth_pos(s)
        set_("hip_flex_l", 0.9 * down)
        set_("hip_flex_r", 0.9 * down)
        set_("knee_l", 0.1 + 1.5 * down)
        set_("knee_r", 0.1 + 1.5 * down)
        set_("lean", 0.45 * down)
        set_("sho_flex_l", -0.6 * down + 2.6 * up * amp)
        set_("sho_flex_r", -0.6 * down + 2.6 * up * amp)
        set_("elbow_l", 0.3 + 0.3 * down)
        set_("elbow_r", 0.3 + 0.3 * down)
        set_("lift", 0.35 * amp * up ** 1.5)
    elif action == "wave":
        set_("sho_abd_r", 2.3)
        set_("sho_flex_r", 0.3)
        set_("elbow_r", 0.9 + 0.5 * s)
        set_("side_bend", -0.05)
        set_("head_yaw", 0.2 * np.sin(0.5 * phase))
    elif action == "dance":
        set_("side_bend", 0.15 * s)
        set_("sho_abd_l", 1.3 + 0.9 * s * amp)
        set_("sho_abd_r", 1.3 - 0.9 * s * amp)
        set_("elbow_l", 0.8 + 0.6 * c)
        set_("elbow_r", 0.8 - 0.6 * c)
        set_("sho_flex_l", 0.4 * c)
        set_("sho_flex_r", -0.4 * c)
        set_("knee_l", 0.2 + 0.5 * _smooth_pos(s))
        set_("knee_r", 0.2 + 0.5 * _smooth_pos(-s))
        set_("hip_flex_l", 0.3 * _smooth_pos(s))
        set_("hip_flex_r", 0.3 * _smooth_pos(-s))
        set_("hip_abd_l", 0.12)
        set_("hip_abd_r", 0.12)
        set_("head_pitch", 0.1 * c)
        set_("twist", 0.25 * s)
        set_("lift", 0.04 * np.abs(s))
    elif action == "turn":
        set_("hip_flex_l", 0.2 * s)
        set_("hip_flex_r", -0.2 * s)
        set_("knee_l", 0.1 + 0.3 * _smooth_pos(s))
        set_("knee_r", 0.1 + 0.3 * _smooth_pos(-s))
        set_("sho_flex_l", -0.15 * s)
        set_("sho_flex_r", 0.15 * s)
        set_("yaw_rate", 1.6 * amp)  # rad/s
    elif action in ("squat", "crouch"):
        depth = (0.5 - 0.5 * c) if action == "squat" else np.full_like(phase, 0.92)
        set_("hip_flex_l", 1.7 * depth)
        set_("hip_flex_r", 1.7 * depth)
        set_("knee_l", 0.05 + 2.1 * depth)
        set_("knee_r", 0.05 + 2.1 * depth)
        set_("hip_abd_l", 0.05 + 0.2 * depth)
        set_("hip_abd_r", 0.05 + 0.2 * depth)
        set_("lean", 0.55 * depth)
        set_("sho_flex_l", 1.3 * depth if action == "squat" else 0.5 + 0.2 * s)
        set_("sho_flex_r", 1.3 * depth if action == "squat" else 0.6 - 0.2 * s)
        set_("elbow_l", 0.2 + (0.1 if action == "squat" else 1.2) * depth)
        set_("elbow_r", 0.2 + (0.1 if action == "squat" else 1.1) * depth)
        set_("head_pitch", -0.4 * depth)
    else:
        raise ValueError(f"unknown action {action!r}; expected one of {ACTIONS}")
    return out


def _rot_x(a: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations about the body x axis; positive tips +y toward +z (forward)."""
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _rot_y(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _limb(flex: np.ndarray, abd: np.ndarray, side: float) -> np.ndarray:
    """(T, 3) unit direction of a limb hanging down, swung forward by ``flex`` and outward (to
    the person's right for side=+1, left for -1) by ``abd``."""
    return np.stack([side * np.sin(abd), -np.cos(abd) * np.cos(flex), np.cos(abd) * np.sin(flex)], -1)


def forward_kinematics(shape: BodyShape, params: np.ndarray) -> np.ndarray:
    """(T, len(BODY_POINTS), 3) body-frame points (pelvis at the origin) for (T, n_params)."""
    T = len(params)
    g = lambda name: params[:, P[name]]  # noqa: E731
    pts = np.zeros((T, len(BODY_POINTS), 3))
    mat = lambda m, v: np.einsum("tij,tj->ti", m, v)  # noqa: E731

    # Legs from the hips; knees bend backwards.
    for side, tag in ((-1.0, "l"), (1.0, "r")):
        hip = np.array([side * shape.hip_half, 0.0, 0.0])
        flex, abd, knee = g(f"hip_flex_{tag}"), g(f"hip_abd_{tag}"), g(f"knee_{tag}")
        pts[:, B[f"hip_{tag}"]] = hip
        pts[:, B[f"knee_{tag}"]] = hip + shape.thigh * _limb(flex, abd, side)
        pts[:, B[f"ankle_{tag}"]] = pts[:, B[f"knee_{tag}"]] + shape.shin * _limb(flex - knee, abd, side)
        foot_dir = _limb(flex - knee + np.pi / 2 + 0.1, 0.0 * abd, side)  # roughly perpendicular to the shin
        pts[:, B[f"toe_{tag}"]] = pts[:, B[f"ankle_{tag}"]] + shape.foot * foot_dir

    # Upper body: lean (about x), side bend (about z), twist (about y).
    torso = _rot_y(g("twist")) @ _rot_z(g("side_bend")) @ _rot_x(g("lean"))
    up = lambda v: mat(torso, np.broadcast_to(np.asarray(v, dtype=float), (T, 3)))  # noqa: E731
    pts[:, B["chest"]] = up([0, 0.62 * shape.torso, 0.02 * shape.height])
    pts[:, B["neck"]] = up([0, shape.torso, 0])
    for side, tag in ((-1.0, "l"), (1.0, "r")):
        sh = up([side * shape.shoulder_half, 0.93 * shape.torso, -0.01])
        flex, abd, elbow = g(f"sho_flex_{tag}"), g(f"sho_abd_{tag}"), g(f"elbow_{tag}")
        pts[:, B[f"shoulder_{tag}"]] = sh
        pts[:, B[f"elbow_{tag}"]] = sh + shape.upper_arm * mat(torso, _limb(flex, abd, side))
        fore = mat(torso, _limb(flex + elbow, abd * (1 - 0.3 * np.minimum(elbow, 1.5) / 1.5), side))
        pts[:, B[f"wrist_{tag}"]] = pts[:, B[f"elbow_{tag}"]] + shape.forearm * fore
        pts[:, B[f"hand_{tag}"]] = pts[:, B[f"wrist_{tag}"]] + shape.hand * fore

    head = torso @ _rot_y(g("head_yaw")) @ _rot_x(-g("head_pitch"))
    hu = lambda v: mat(head, np.broadcast_to(np.asarray(v, dtype=float), (T, 3)))  # noqa: E731
    r = shape.head_radius
    pts[:, B["head_bottom"]] = pts[:, B["neck"]] + up([0, shape.neck, 0.01])
    pts[:, B["head_center"]] = pts[:, B["head_bottom"]] + hu([0, 0.95 * r, 0.1 * r])
    pts[:, B["head_top"]] = pts[:, B["head_center"]] + hu([0, 0.9 * r, -0.05 * r])  # just inside the crown
    pts[:, B["nose"]] = pts[:, B["head_center"]] + hu([0, -0.15 * r, 1.05 * r])
    for side, tag in ((-1.0, "l"), (1.0, "r")):
        pts[:, B[f"eye_{tag}"]] = pts[:, B["head_center"]] + hu([side * 0.38 * r, 0.15 * r, 0.88 * r])
    return pts


def body_axes(yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World directions of the body's right, up and forward axes for a yaw (0 = facing the
    camera, positive = turning to face the image's right)."""
    right = np.stack([-np.cos(yaw), np.zeros_like(yaw), -np.sin(yaw)], -1)
    up = np.broadcast_to(np.array([0.0, 1.0, 0.0]), right.shape)
    forward = np.stack([np.sin(yaw), np.zeros_like(yaw), -np.cos(yaw)], -1)
    return right, up, forward


def place(body: np.ndarray, yaw: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Body-frame points (T, K, 3) to world points, with the pelvis at ``root`` (T, 3)."""
    right, up, forward = body_axes(yaw)
    return (root[:, None] + body[..., :1] * right[:, None] + body[..., 1:2] * up[:, None]
            + body[..., 2:3] * forward[:, None])


def ground_height(body: np.ndarray, shape: BodyShape) -> np.ndarray:
    """(T,) pelvis height that puts the lowest foot point on the ground."""
    feet = body[:, [B["ankle_l"], B["ankle_r"], B["toe_l"], B["toe_r"]], 1]
    return -feet.min(1) + 0.045 * shape.height * 0.5
