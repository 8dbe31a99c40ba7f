"""The tracker's per-person pass run by the pose model itself, as MediaPipe does (issue 39).

``PoseTracker`` finds each tracked person in frame t inside a region derived from the person's
keypoints in frame t-1 (``tracker.py``, step 2). By default a second network, MoveNet, runs on each
region. ``PoseModelRegions`` runs the pose model's own single-frame path there instead: its backbone
and heatmap head on the crop the pose model makes of the person's keypoint box (the tracker's region
shrunk back by ``roi_scale``; the crop adds the model's own ``enlarge``), the same crop the
pipeline's top-down pass cuts for that box. The heatmaps' peaks give the person's keypoints in
the frame, their scores and, around the confident ones, the box, enlarged by ``box_pad`` (width,
height) about its centre: keypoints stop short of the head's top and the soles, and the person
boxes MoveNet gives (the crops the temporal heads were measured with) are larger. The default pad
makes the median box on the Sports2D demo that of MoveNet's (``median_box_wh`` in
``benchmarks/results/realvideo_speed*.json``). Whole-frame detection (the first frame, every
``detect_every`` frames, a lost track) stays with the person detector.

One backbone pass per person and frame: each person found carries the box the pose model cropped
(``Detection.crop``, the tracker's ``crops``), and with ``keep_features`` the crop's
``model.frame_features`` wait in ``take_features``. The pipeline, running the tracker and the
temporal head interleaved, crops that same box for the person's pose and puts the features into the
head's cache, so only detector frames and boxes placed from time need a crop of their own
(``Pipeline(crop_boxes="region")``; ``"measured"`` crops a box around what the region pass found,
a second pass). The features are the cached ones when they give the frame's heatmaps
(``models.layers.frame_heatmaps``), so the region pass costs nothing extra; where they do not
(TDMI's stages), the backbone and head run once more for the heatmaps. ``frame_features`` replaces
``model.frame_features`` (``predict --runtime onnx``: the same graph in ONNX Runtime) for every region.

A region yields a person when the mean of its 17 heatmap peaks (the person's score) reaches
``min_score`` (0.5, MediaPipe's presence threshold) and at least ``min_keypoints`` peaks reach
``keypoint_threshold``. The pose model finds a pose-like pattern almost anywhere: on background
regions of the demo videos most joints peak above 0.2, so the joint count alone keeps dead tracks
alive; the mean separates people from background there (``python analysis/region_scores.py``,
``analysis/results/region_scores.json``). The tracker then links the person by OKS and IoU as any
other candidate, so a region that holds someone else is not taken for the track.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from vidpose.data.clips import ClipConfig, make_clip, to_tensor
from vidpose.data.detections import Detection
from vidpose.data.heatmaps import decode_argmax, heatmap_to_image
from vidpose.models.layers import frame_heatmaps
from vidpose.tracking.tracker import Detector, keypoint_box


class PoseModelRegions:
    """A ``Detector``: the whole frame through ``detector``, the tracker's regions through the pose
    model's backbone and heatmap head (``model.backbone.forward_features`` and ``.head``)."""

    def __init__(self, detector: Detector, model: torch.nn.Module, clip: ClipConfig, roi_scale: float = 1.5,
                 keypoint_threshold: float = 0.2, min_keypoints: int = 3, min_score: float = 0.5,
                 box_pad: tuple[float, float] = (1.25, 1.08), device: torch.device | None = None,
                 keep_features: bool = False, report_crops: bool = True,
                 frame_features: Callable[[torch.Tensor], dict[str, torch.Tensor]] | None = None):
        if not hasattr(model, "backbone") or not hasattr(model.backbone, "head"):
            raise ValueError(f"{type(model).__name__}: the pose-model region pass needs a backbone with a heatmap head")
        self.detector, self.model, self.clip, self.roi_scale = detector, model, clip, roi_scale
        self.keypoint_threshold, self.min_keypoints, self.box_pad = keypoint_threshold, min_keypoints, box_pad
        self.min_score = min_score
        self.device = device or next(model.parameters()).device
        # the backbone's pass in another runtime (engine/export.py, ``--runtime onnx``), used for every region
        self.runtime_features = frame_features
        self.crops = 0  # pose-model crops run, for the speed benchmark
        self.keep_features, self.report_crops = keep_features, report_crops
        self._kept: list[tuple[np.ndarray, dict[str, torch.Tensor], torch.Tensor]] = []

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        return self.detector(frame)

    def input_pixels(self, shape: tuple[int, ...]) -> int:
        """Pixels the whole-frame detector reads: the tracker's cost rule (``region_pass: auto``)
        compares it with (regions x ``roi_size``^2), which the pose crop also is at 256."""
        return self.detector.input_pixels(shape)

    def boxes_of(self, regions: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
        """Each region (a square ``roi_scale`` times the keypoint box's longer side) as the keypoint
        box it came from (xywh, square), which the pose model's crop enlarges as it was trained to;
        to the hundredth of a pixel, as the temporal head's feature cache keys its crops, so that the
        head's crop of the same box is this crop."""
        out = []
        for x0, y0, x1, y1 in regions:
            side = (x1 - x0) / self.roi_scale
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            out.append(np.round([cx - side / 2, cy - side / 2, side, side], 2))
        return out

    @torch.no_grad()
    def in_regions(self, frame: np.ndarray, regions: list[tuple[int, int, int, int]], input_size: int
                   ) -> list[list[Detection]]:
        """At most one person per region, in frame pixels (``input_size``, MoveNet's region size,
        does not apply: the pose model crops at its own input size). Each person's ``crop`` is the
        box the pose model cropped; with ``keep_features`` the crop's per-frame features wait in
        ``take_features`` for the temporal head."""
        if not regions:
            return []
        boxes = self.boxes_of(regions)
        crops = torch.stack([to_tensor(make_clip([frame], box, self.clip).images[0][None])[0] for box in boxes])
        feats = {}
        # the other runtime's features where they are kept or give the heatmaps (else the torch pass below)
        runtime = self.runtime_features
        if runtime is not None and (self.keep_features or {"heatmaps", "feature"} & set(getattr(runtime, "names", ()))):
            feats = runtime(crops.to(self.device))
        elif self.keep_features:
            feats = self.model.frame_features(crops.to(self.device))
        heatmaps = frame_heatmaps(self.model, feats)
        if heatmaps is None:  # the features the head caches do not give the frame's heatmaps
            backbone = self.model.backbone
            heatmaps = backbone.head(backbone.forward_features(crops.to(self.device))["feature"])
        heatmaps = heatmaps.float().cpu().numpy()
        self.crops += len(boxes)
        if self.keep_features:
            self._kept += [(box, {name: v[i] for name, v in feats.items()}, crops[i]) for i, box in enumerate(boxes)]
        coords, peaks = decode_argmax(heatmaps)
        h, w = frame.shape[:2]
        found: list[list[Detection]] = []
        for box, xy, score in zip(boxes, coords, peaks):
            if score.mean() < self.min_score or int((score >= self.keypoint_threshold).sum()) < self.min_keypoints:
                found.append([])
                continue
            keypoints = heatmap_to_image(xy, self.clip.crop_to_image(box), self.clip.stride)
            tight = keypoint_box(keypoints, score, self.keypoint_threshold, box)
            size = tight[2:] * self.box_pad
            lo = tight[:2] + tight[2:] / 2 - size / 2
            x0, y0 = np.clip(lo, 0, (w, h))
            x1, y1 = np.clip(lo + size, 0, (w, h))
            if x1 <= x0 or y1 <= y0:
                found.append([])
                continue
            found.append([Detection(np.array([x0, y0, x1 - x0, y1 - y0]), float(np.mean(score)),
                                    keypoints.astype(np.float64), score.astype(np.float64),
                                    crop=box if self.report_crops else None)])
        return found

    def take_features(self) -> list[tuple[np.ndarray, dict[str, torch.Tensor], torch.Tensor]]:
        """The (crop box, ``model.frame_features`` of the crop, the crop tensor) of every region
        run since the last call (``keep_features``), and forget them."""
        kept, self._kept = self._kept, []
        return kept
