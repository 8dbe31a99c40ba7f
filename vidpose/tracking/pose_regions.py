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

Not yet one backbone pass per person and frame: the top-down pass crops the tracker's output box,
not the region, and computes its own features; sharing them needs the tracker and the temporal
head to run interleaved (as ``Pipeline.stream`` does).

A region yields a person when the mean of its 17 heatmap peaks (the person's score) reaches
``min_score`` (0.5, MediaPipe's presence threshold) and at least ``min_keypoints`` peaks reach
``keypoint_threshold``. The pose model finds a pose-like pattern almost anywhere: on background
regions of the demo videos most joints peak above 0.2, so the joint count alone keeps dead tracks
alive; the mean separates people from background there (``python analysis/region_scores.py``,
``analysis/results/region_scores.json``). The tracker then links the person by OKS and IoU as any
other candidate, so a region that holds someone else is not taken for the track.
"""

from __future__ import annotations

import numpy as np
import torch

from vidpose.data.clips import ClipConfig, make_clip, to_tensor
from vidpose.data.detections import Detection
from vidpose.data.heatmaps import decode_argmax, heatmap_to_image
from vidpose.tracking.tracker import Detector, keypoint_box


class PoseModelRegions:
    """A ``Detector``: the whole frame through ``detector``, the tracker's regions through the pose
    model's backbone and heatmap head (``model.backbone.forward_features`` and ``.head``)."""

    def __init__(self, detector: Detector, model: torch.nn.Module, clip: ClipConfig, roi_scale: float = 1.5,
                 keypoint_threshold: float = 0.2, min_keypoints: int = 3, min_score: float = 0.5,
                 box_pad: tuple[float, float] = (1.25, 1.08), device: torch.device | None = None):
        if not hasattr(model, "backbone") or not hasattr(model.backbone, "head"):
            raise ValueError(f"{type(model).__name__}: the pose-model region pass needs a backbone with a heatmap head")
        self.detector, self.model, self.clip, self.roi_scale = detector, model, clip, roi_scale
        self.keypoint_threshold, self.min_keypoints, self.box_pad = keypoint_threshold, min_keypoints, box_pad
        self.min_score = min_score
        self.device = device or next(model.parameters()).device
        self.crops = 0  # pose-model crops run, for the speed benchmark

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        return self.detector(frame)

    def input_pixels(self, shape: tuple[int, ...]) -> int:
        """Pixels the whole-frame detector reads: the tracker's cost rule (``region_pass: auto``)
        compares it with (regions x ``roi_size``^2), which the pose crop also is at 256."""
        return self.detector.input_pixels(shape)

    def boxes_of(self, regions: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
        """Each region (a square ``roi_scale`` times the keypoint box's longer side) as the keypoint
        box it came from (xywh, square), which the pose model's crop enlarges as it was trained to."""
        out = []
        for x0, y0, x1, y1 in regions:
            side = (x1 - x0) / self.roi_scale
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            out.append(np.array([cx - side / 2, cy - side / 2, side, side]))
        return out

    @torch.no_grad()
    def in_regions(self, frame: np.ndarray, regions: list[tuple[int, int, int, int]], input_size: int
                   ) -> list[list[Detection]]:
        """At most one person per region, in frame pixels (``input_size``, MoveNet's region size,
        does not apply: the pose model crops at its own input size)."""
        if not regions:
            return []
        boxes = self.boxes_of(regions)
        crops = [to_tensor(make_clip([frame], box, self.clip).images[0][None])[0] for box in boxes]
        feature = self.model.backbone.forward_features(torch.stack(crops).to(self.device))["feature"]
        heatmaps = self.model.backbone.head(feature).float().cpu().numpy()
        self.crops += len(crops)
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
                                    keypoints.astype(np.float64), score.astype(np.float64))])
        return found
