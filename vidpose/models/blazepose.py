"""BlazePose GHUM (Bazarevsky et al., "BlazePose: On-device Real-time Body Pose tracking", 2020;
MediaPipe's ``pose_landmark_{lite,full,heavy}.tflite``, Apache-2.0) as a pretrained vidpose
backbone, read from its TFLite file into torch layers (``vidpose.interchange.tflite``).

Assets: ``blazepose_full`` (PyPI ``mediapipe==0.10.21``), ``blazepose_lite`` and
``blazepose_heavy`` (npm ``@mediapipe/pose@0.5.1675469404``), fetched once by
``vidpose assets fetch`` (``vidpose.assets``); nothing is downloaded here.

How to feed it. BlazePose is top-down on a square 256x256 RGB crop of one person (MediaPipe
letterboxes its ROI to a square). vidpose's default crop is 192x256 with aspect 0.75, so
use ``data.input_size: [256, 256]``, ``data.heatmap_size: [64, 64]`` and a square crop
(``ClipConfig.aspect_ratio = 1.0``; the default 1.25 enlargement is fine). Inputs are what
the vidpose pipeline gives (``vidpose.data.clips.to_tensor``): (N, 3, 256, 256) RGB,
ImageNet-normalised; the backbone maps them back to the 0..1 range the network was trained on
(MediaPipe's ``ImageToTensorCalculator`` range 0..1, checked against LiteRT on real crops:
0..1 gives the lowest joint error of 0..1, -1..1 and ImageNet inputs). ``input_norm="unit"``
takes 0..1 input directly.

What it offers (the vidpose backbone interface, ``vidpose.models.layers.HeatmapBackbone``):

- ``forward_features(x)``: ``feature``, the 64x64x48 map (stride 4) that feeds BlazePose's
  heatmap head, and ``features = [feature]`` (no four stage features, so no ``stage_channels``;
  ``single_feature_map = True`` tells TDMI to read that map as its only stage, ``stages: [0]``);
- ``head(feature)``: 17 heatmaps in PoseTrack order (below), values in [0, 1];
- ``landmarks(x)``: the 33 landmarks (x, y, z, visibility, presence), plus the 6 auxiliary
  points, the 3D world landmarks and the pose presence score; ``keypoints(x)``: PoseTrack
  keypoints (N, 17, 3) with scores.
- ``feature_channels = 48``, ``heatmap_stride = 4``, ``input_size = (256, 256)``.

Coordinates. Landmarks are returned in vidpose's crop convention (pixel centres at integers,
as ``vidpose.data.transforms``): MediaPipe's x, y are in pixel-edge units (x / 256 is its
normalised coordinate), so 0.5 is subtracted. ``z`` is MediaPipe's, in the same pixel scale.
Visibility and presence are sigmoids of the model's logits, as MediaPipe applies them.

Heatmaps. The 39 channels of BlazePose's heatmap head are the 39 regressed points (33
landmarks then 6 auxiliary); their values are logits, which MediaPipe passes through a sigmoid
(``RefineLandmarksFromHeatmapCalculator``), and so does ``head``. Measured on the 14 annotated
people of the PoseTrack18 fixtures (full model, 256x256 crops at enlargement 1.25): peaks are
low (median sigmoid 0.39-0.59 per joint, so scores from heatmaps are lower than visibilities),
and the heatmap argmax (DARK-decoded) is closer to the ground truth than the regressed
landmarks (median 10.8 px against 15.9 px over the 13 shared joints). MediaPipe puts heatmap
column i at its coordinate 4i (pixel edges), i.e. 4i - 0.5 in vidpose's convention, where
``vidpose.data.heatmaps`` puts it at 4i: a 0.5 crop-pixel offset (1/8 heatmap pixel), left
as is. PoseTrack channels:

- nose, shoulders, elbows, wrists, hips, knees, ankles: the BlazePose channel of the same
  joint (``POSETRACK_FROM_BLAZEPOSE``);
- head_bottom and head_top: derived, since BlazePose has no such points. Each source channel
  (mouth corners, shoulders, eyes) is decoded as MediaPipe refines landmarks: the
  sigmoid-weighted mean over the 7x7 window around its argmax. The derived point (formulas
  below) gets a Gaussian of sigma 2 heatmap pixels (vidpose's target sigma) whose peak is the
  smallest peak of its sources;
- the ear slots 3 and 4, which PoseTrack never annotates: zero, as ``schema.coco_to_posetrack``.

Joints from landmarks (``to_posetrack``, ``to_coco``). COCO-17 is a subset of the 33
landmarks (``COCO_FROM_BLAZEPOSE``: the eyes are BlazePose's eye centres 2 and 5). PoseTrack:
the same joints, ears zero, and

- head_bottom = mouth + 0.5 (shoulders - mouth), mouth and shoulders the midpoints of the two
  mouth corners and of the two shoulders: the upper neck, halfway between chin level and the
  shoulder line;
- head_top = eyes + 2.5 (eyes - mouth), eyes the midpoint of the eye centres: the crown lies
  about 2.5 eye-to-mouth distances above the eyes along the face's vertical axis.

The joint score is the landmark's visibility; a derived joint takes the smallest visibility of
its sources. On the 14 fixture people (regressed landmarks) the median error of head_bottom
is 8.7 px and of head_top 10.5 px in 256-pixel crops whose GT head length (head_top to
head_bottom) has median 35 px; least squares on those few people gives 0.85 and 2.6, too
few people to move the anatomical constants.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidpose.data.clips import IMAGENET_MEAN, IMAGENET_STD
from vidpose.data.schema import NUM_KEYPOINTS
from vidpose.interchange.tflite import Graph, build_module, cut, layer_for, read_tflite
from vidpose.models.layers import HeatmapBackbone

#: variant -> asset name in ``vidpose.assets.ASSETS``
VARIANTS = {"lite": "blazepose_lite", "full": "blazepose_full", "heavy": "blazepose_heavy"}
INPUT_SIZE = (256, 256)  # (width, height)
HEATMAP_STRIDE = 4

LANDMARK_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
NUM_LANDMARKS = len(LANDMARK_NAMES)  # 33; the model regresses 39 points, the last 6 auxiliary
NUM_POINTS = 39
L = {name: i for i, name in enumerate(LANDMARK_NAMES)}

#: PoseTrack slot -> BlazePose landmark for the joints both have (slots 1, 2 derived; 3, 4 zero)
POSETRACK_FROM_BLAZEPOSE: dict[int, int] = {
    0: L["nose"], 5: L["left_shoulder"], 6: L["right_shoulder"], 7: L["left_elbow"], 8: L["right_elbow"],
    9: L["left_wrist"], 10: L["right_wrist"], 11: L["left_hip"], 12: L["right_hip"], 13: L["left_knee"],
    14: L["right_knee"], 15: L["left_ankle"], 16: L["right_ankle"],
}
#: COCO-17 keypoint k is BlazePose landmark ``COCO_FROM_BLAZEPOSE[k]``
COCO_FROM_BLAZEPOSE: tuple[int, ...] = (
    L["nose"], L["left_eye"], L["right_eye"], L["left_ear"], L["right_ear"], L["left_shoulder"], L["right_shoulder"],
    L["left_elbow"], L["right_elbow"], L["left_wrist"], L["right_wrist"], L["left_hip"], L["right_hip"],
    L["left_knee"], L["right_knee"], L["left_ankle"], L["right_ankle"],
)
HEAD_BOTTOM_TOWARD_SHOULDERS = 0.5  # head_bottom = mouth + 0.5 (shoulders - mouth)
HEAD_TOP_ABOVE_EYES = 2.5  # head_top = eyes + 2.5 (eyes - mouth)
_MOUTH = (L["mouth_left"], L["mouth_right"])
_SHOULDERS = (L["left_shoulder"], L["right_shoulder"])
_EYES = (L["left_eye"], L["right_eye"])


def _minimum(a, b):
    return torch.minimum(a, b) if isinstance(a, torch.Tensor) else np.minimum(a, b)


def _zeros_like(a, shape):
    return a.new_zeros(shape) if isinstance(a, torch.Tensor) else np.zeros(shape, dtype=np.asarray(a).dtype)


def head_points(points, scores):
    """head_bottom and head_top ((..., 2) each) and their scores ((...)) from BlazePose points
    (..., 33 or 39, 2) and scores (..., 33 or 39). Works on numpy arrays and torch tensors."""
    mouth = (points[..., _MOUTH[0], :] + points[..., _MOUTH[1], :]) / 2
    shoulders = (points[..., _SHOULDERS[0], :] + points[..., _SHOULDERS[1], :]) / 2
    eyes = (points[..., _EYES[0], :] + points[..., _EYES[1], :]) / 2
    bottom = mouth + HEAD_BOTTOM_TOWARD_SHOULDERS * (shoulders - mouth)
    top = eyes + HEAD_TOP_ABOVE_EYES * (eyes - mouth)
    mouth_score = _minimum(scores[..., _MOUTH[0]], scores[..., _MOUTH[1]])
    bottom_score = _minimum(mouth_score, _minimum(scores[..., _SHOULDERS[0]], scores[..., _SHOULDERS[1]]))
    top_score = _minimum(mouth_score, _minimum(scores[..., _EYES[0]], scores[..., _EYES[1]]))
    return bottom, top, bottom_score, top_score


def to_posetrack(landmarks):
    """(..., 33, 3) BlazePose landmarks (x, y, score) -> (..., 17, 3) PoseTrack keypoints:
    shared joints copied, head_bottom and head_top derived (module docstring), ears zero.
    Works on numpy arrays and torch tensors."""
    if landmarks.shape[-2] < NUM_LANDMARKS or landmarks.shape[-1] != 3:
        raise ValueError(f"expected BlazePose landmarks of shape (..., 33, 3) as (x, y, score), "
                         f"got {tuple(landmarks.shape)}")
    out = _zeros_like(landmarks, (*landmarks.shape[:-2], NUM_KEYPOINTS, 3))
    slots, sources = list(POSETRACK_FROM_BLAZEPOSE), list(POSETRACK_FROM_BLAZEPOSE.values())
    out[..., slots, :] = landmarks[..., sources, :]
    bottom, top, bottom_score, top_score = head_points(landmarks[..., :2], landmarks[..., 2])
    out[..., 1, :2], out[..., 1, 2] = bottom, bottom_score
    out[..., 2, :2], out[..., 2, 2] = top, top_score
    return out


def to_coco(landmarks):
    """(..., 33, C) BlazePose landmarks -> (..., 17, C) COCO-17 keypoints (a subset)."""
    if landmarks.shape[-2] < NUM_LANDMARKS:
        raise ValueError(f"expected BlazePose landmarks of shape (..., 33, C), got {tuple(landmarks.shape)}")
    return landmarks[..., list(COCO_FROM_BLAZEPOSE), :]


def _local_mean(prob: torch.Tensor, kernel: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    """MediaPipe's heatmap refinement: for (N, K, h, w) probabilities, the weighted mean
    position (N, K, 2) as (x, y) in heatmap pixels over the ``kernel`` window around each
    argmax (cut at the borders), and the maximum (N, K)."""
    n, k, h, w = prob.shape
    flat = prob.flatten(2)
    peak, idx = flat.max(-1)
    py, px = idx // w, idx % w
    r = kernel // 2
    offs = torch.arange(-r, r + 1, device=prob.device)
    ys = (py[..., None] + offs).clamp(-1, h)  # -1 / h mark outside
    xs = (px[..., None] + offs).clamp(-1, w)
    inside_y, inside_x = (ys >= 0) & (ys < h), (xs >= 0) & (xs < w)
    rows = ys.clamp(0, h - 1)[..., :, None] * w + xs.clamp(0, w - 1)[..., None, :]  # (N, K, kernel, kernel)
    vals = flat.gather(-1, rows.flatten(2)).view(n, k, kernel, kernel)
    vals = vals * (inside_y[..., :, None] & inside_x[..., None, :])
    total = vals.sum((-2, -1)).clamp_min(1e-12)
    mx = (vals.sum(-2) * xs.to(prob.dtype)).sum(-1) / total
    my = (vals.sum(-1) * ys.to(prob.dtype)).sum(-1) / total
    return torch.stack([mx, my], -1), peak


def _gaussian(points: torch.Tensor, peaks: torch.Tensor, h: int, w: int, sigma: float = 2.0) -> torch.Tensor:
    """(N, K, h, w) Gaussians of ``sigma`` at (N, K, 2) points (x, y) with heights (N, K)."""
    xs = torch.arange(w, device=points.device, dtype=points.dtype)
    ys = torch.arange(h, device=points.device, dtype=points.dtype)
    gx = torch.exp(-(xs - points[..., :1]) ** 2 / (2 * sigma**2))  # (N, K, w)
    gy = torch.exp(-(ys - points[..., 1:]) ** 2 / (2 * sigma**2))  # (N, K, h)
    return peaks[..., None, None] * gy[..., :, None] * gx[..., None, :]


def _find_outputs(graph: Graph) -> dict[str, int]:
    """The graph outputs by role, recognised by shape: landmarks (1, 195), pose flag (1, 1),
    heatmap (1, 64, 64, 39), world landmarks (1, 117)."""
    shapes = {"landmarks": (1, NUM_POINTS * 5), "flag": (1, 1), "heatmap": (1, 64, 64, NUM_POINTS),
              "world": (1, NUM_POINTS * 3)}
    found = {}
    for role, shape in shapes.items():
        match = [t for t in graph.outputs if graph.tensors[t].shape == shape]
        if len(match) != 1:
            raise ValueError(f"{graph.path}: not a BlazePose landmark model: expected one output of shape "
                             f"{shape} ({role}), found {len(match)}; outputs are "
                             f"{[(graph.tensors[t].name, graph.tensors[t].shape) for t in graph.outputs]}")
        found[role] = match[0]
    if tuple(graph.tensors[graph.inputs[0]].shape) != (1, INPUT_SIZE[1], INPUT_SIZE[0], 3):
        raise ValueError(f"{graph.path}: expected an input of shape (1, 256, 256, 3), got "
                         f"{graph.tensors[graph.inputs[0]].shape}")
    return found


class BlazePose(HeatmapBackbone):
    """BlazePose GHUM from a ``.tflite`` file as a vidpose backbone (module docstring)."""

    single_feature_map = True  # ``features`` is [feature]: one stride-4 map, TDMI's only stage

    def __init__(self, path: str | Path, input_norm: str = "imagenet", channels_last: bool = True):
        super().__init__()
        if input_norm not in ("imagenet", "unit"):
            raise ValueError(f"BlazePose: input_norm must be 'imagenet' or 'unit', got {input_norm!r}")
        graph = read_tflite(path)
        roles = _find_outputs(graph)
        heatmap_op = graph.producer(roles["heatmap"])
        feature = heatmap_op.inputs[0]
        head = [roles["landmarks"], roles["flag"], roles["world"]]
        shared = cut(graph, [feature], head)
        self.encoder = build_module(graph, outputs=[feature] + [t for t in shared if t != feature])
        self.landmark_head = build_module(graph, outputs=head, inputs=shared)
        self.final_layer = layer_for(graph, heatmap_op)
        if not isinstance(self.final_layer, nn.Conv2d) or self.final_layer.out_channels != NUM_POINTS:
            raise ValueError(f"{graph.path}: the heatmap head is not a single convolution to {NUM_POINTS} channels")
        self._names = {"feature": graph.tensors[feature].name, "shared": [graph.tensors[t].name for t in shared],
                       **{role: graph.tensors[t].name for role, t in roles.items()}}
        self.source = str(path)
        self.input_norm = input_norm
        self.channels_last = channels_last
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.feature_channels = self.final_layer.in_channels
        self.heatmap_stride = HEATMAP_STRIDE
        self.input_size = INPUT_SIZE
        if channels_last:  # oneDNN's channels-last kernels are faster for this network on CPU
            self.to(memory_format=torch.channels_last)

    # --- the vidpose backbone interface --------------------------------------------------
    def _encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3 or tuple(x.shape[2:]) != (INPUT_SIZE[1], INPUT_SIZE[0]):
            raise ValueError(f"BlazePose takes (N, 3, 256, 256) RGB crops, got {tuple(x.shape)}; set "
                             "data.input_size: [256, 256] and heatmap_size: [64, 64] with a square crop")
        if self.input_norm == "imagenet":
            x = x * self.std + self.mean
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.encoder(x)

    def forward_features(self, x: torch.Tensor) -> dict:
        f = self._encode(x)[self._names["feature"]]
        return {"feature": f, "features": [f]}

    def head_logits(self, feature: torch.Tensor) -> torch.Tensor:
        """BlazePose's own 39 heatmap channels (logits), (N, 39, 64, 64)."""
        return self.final_layer(feature)

    def head(self, feature: torch.Tensor) -> torch.Tensor:
        """17 heatmaps in PoseTrack order, values in [0, 1] (module docstring)."""
        return self.heatmaps_from_logits(self.head_logits(feature))

    @staticmethod
    def heatmaps_from_logits(logits: torch.Tensor) -> torch.Tensor:
        """BlazePose's 39 heatmap logits (N, 39, h, w) -> 17 PoseTrack heatmaps in [0, 1]: the
        parameter-free part of ``head`` (sigmoid, channel selection, derived head points), which a
        temporal head started from this backbone's (``layers.BackboneHead``) shares."""
        prob = torch.sigmoid(logits)
        n, _, h, w = prob.shape
        out = prob.new_zeros(n, NUM_KEYPOINTS, h, w)
        out[:, list(POSETRACK_FROM_BLAZEPOSE)] = prob[:, list(POSETRACK_FROM_BLAZEPOSE.values())]
        sources = list(_MOUTH + _SHOULDERS + _EYES)
        pts, peaks = _local_mean(prob[:, sources])
        points = pts.new_zeros(n, NUM_POINTS, 2)
        scores = peaks.new_zeros(n, NUM_POINTS)
        points[:, sources], scores[:, sources] = pts, peaks
        bottom, top, bottom_score, top_score = head_points(points, scores)
        out[:, 1:3] = _gaussian(torch.stack([bottom, top], 1), torch.stack([bottom_score, top_score], 1), h, w)
        return out

    # --- landmarks ----------------------------------------------------------------------
    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Everything in one pass: ``feature``, ``heatmaps`` (PoseTrack order), ``landmarks``
        (N, 33, 5) as x, y (crop pixels, vidpose convention), z, visibility, presence;
        ``auxiliary`` (N, 6, 5), ``world_landmarks`` (N, 33, 3) in metres, ``pose_score`` (N,)."""
        enc = self._encode(x)
        feature = enc[self._names["feature"]]
        head = self.landmark_head(*[enc[name] for name in self._names["shared"]])
        raw = head[self._names["landmarks"]].view(-1, NUM_POINTS, 5)
        points = torch.cat([raw[..., :2] - 0.5, raw[..., 2:3], torch.sigmoid(raw[..., 3:5])], -1)
        world = head[self._names["world"]].view(-1, NUM_POINTS, 3)
        return {"feature": feature, "heatmaps": self.head(feature), "landmarks": points[:, :NUM_LANDMARKS],
                "auxiliary": points[:, NUM_LANDMARKS:], "world_landmarks": world[:, :NUM_LANDMARKS],
                "pose_score": head[self._names["flag"]].view(-1)}

    def landmarks(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 33, 5): x, y in crop pixels, z, visibility and presence in [0, 1]."""
        return self.predict(x)["landmarks"]

    def keypoints(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 17, 3) PoseTrack keypoints (x, y, score) in crop pixels from the landmarks."""
        lm = self.landmarks(x)
        return to_posetrack(lm[..., [0, 1, 3]])


def build_blazepose(variant: str = "full", joints: int = 17, path: str | None = None,
                    input_norm: str = "imagenet", channels_last: bool = True) -> BlazePose:
    """``model.backbone: {name: blazepose, variant: lite|full|heavy}``; ``path`` reads another
    ``.tflite`` file instead of the fetched asset."""
    if joints != NUM_KEYPOINTS:
        raise ValueError(f"BlazePose predicts the 17 PoseTrack slots, not {joints} joints")
    if path is None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown BlazePose variant {variant!r}; expected one of {sorted(VARIANTS)}")
        from vidpose.assets import asset_path

        path = asset_path(VARIANTS[variant])
    return BlazePose(path, input_norm=input_norm, channels_last=channels_last)

