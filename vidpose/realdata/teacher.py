"""RealData's pseudo labels: BlazePose GHUM heavy with flip on box crops through the one top-down path
(the teacher), its segmentation (for test_hard's occluders), and the PoseTrack18 people kept from its
confident joints (docs/realdata.md)."""

from __future__ import annotations

import os
import time
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from vidpose.data.annotations import Person, Video, write_json_atomic
from vidpose.data.clips import ClipConfig
from vidpose.data.schema import EVALUATED_JOINTS, NUM_KEYPOINTS
from vidpose.data.transforms import invert_transform, warp_image
from vidpose.engine.topdown import TopDownSettings, keypoints_from_heatmaps
from vidpose.realdata.segments import KIND, VERSION, RealDataError


TEACHER = "blazepose_heavy"


TEACHER_NAME = "blazepose_heavy+flip"


TEACHER_ENLARGE = 1.4


FLIP_SHIFT = True


#: flip averaging of the teacher on the PoseTrack18 fixture frames (PCKh@0.5, GT boxes, enlarge 1.4,
#: 14 people, 182 joints; benchmarks/results/real_fixtures.json)
CALIBRATION = {"blazepose_heavy": {"no_flip": 58.24, "flip_shift": 61.54, "flip_noshift": 63.74}}


KEEP_THRESHOLD = 0.5


MIN_JOINTS = 4


MIN_HEIGHT = 40.0


HEAD_BOX_SCALE = 1.2


HEAD_LENGTH_CLAMP = (0.06, 0.35)  # x the person's box height


def crop_geometry(model: torch.nn.Module, enlarge: float) -> ClipConfig:
    """BlazePose's square crops: its input size, its heatmap stride, the box grown by ``enlarge``."""
    side = int(model.input_size[0])
    maps = side // int(model.heatmap_stride)
    return ClipConfig(input_size=(side, side), heatmap_size=(maps, maps), aspect_ratio=1.0, enlarge=enlarge, offsets=())


def _crop(frame: np.ndarray, box: np.ndarray, clip: ClipConfig) -> tuple[np.ndarray, np.ndarray]:
    """The crop of a box and its image -> crop matrix."""
    matrix = clip.crop_matrix(box)
    return warp_image(frame, matrix, clip.input_size), matrix


class Teacher:
    """BlazePose GHUM (heavy by default) on box crops with flip averaging (module docstring), through
    the one top-down path (``vidpose/engine/topdown.py``)."""

    def __init__(self, variant: str = "heavy", enlarge: float = TEACHER_ENLARGE, flip: bool = True,
                 flip_shift: bool = FLIP_SHIFT, decode: str = "dark", device: torch.device | None = None):
        from vidpose.models.blazepose import build_blazepose

        self.model = build_blazepose(variant).eval()
        self.device = device or torch.device("cpu")
        self.model.to(self.device)
        self.enlarge = enlarge
        self.clip = crop_geometry(self.model, enlarge)
        self.settings = TopDownSettings(flip=flip, flip_shift=flip_shift, decode=decode)
        self.seconds = 0.0
        self.crops = 0

    @torch.no_grad()
    def _maps(self, crops: np.ndarray) -> np.ndarray:
        from vidpose.data.clips import to_tensor

        began = time.perf_counter()
        x = to_tensor(crops).to(self.device)
        maps = self.model.head(self.model.forward_features(x)["feature"]).float().cpu().numpy()
        self.seconds += time.perf_counter() - began
        self.crops += len(crops)
        return maps

    def __call__(self, frame: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (N, 17, 2) in image pixels and their heatmap peaks (N, 17) for xywh boxes (N, 4)."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if not len(boxes):
            return np.zeros((0, NUM_KEYPOINTS, 2)), np.zeros((0, NUM_KEYPOINTS))
        crops, matrices = zip(*[_crop(frame, b, self.clip) for b in boxes])
        batch = np.stack(crops)
        if self.settings.flip:  # the crops and their mirrors in one pass
            maps = self._maps(np.concatenate([batch, batch[:, :, ::-1]]))
            plain, mirrored = maps[:len(boxes)], maps[len(boxes):]
        else:
            plain, mirrored = self._maps(batch), None
        return keypoints_from_heatmaps(lambda flip: mirrored if flip else plain, [invert_transform(m) for m in matrices],
                                       self.clip.stride, self.settings)


class Segmenter:
    """BlazePose's segmentation output (the landmark model's 256x256 person mask) on box crops."""

    def __init__(self, variant: str = "heavy", enlarge: float = TEACHER_ENLARGE):
        from vidpose.assets import asset_path
        from vidpose.interchange.tflite import build_module, read_tflite
        from vidpose.models.blazepose import VARIANTS

        graph = read_tflite(asset_path(VARIANTS[variant]))
        seg = [t for t in graph.outputs if tuple(graph.tensors[t].shape) == (1, 256, 256, 1)]
        if len(seg) != 1:
            raise RealDataError(f"{graph.path}: no single 256x256x1 segmentation output")
        self.name = graph.tensors[seg[0]].name
        self.module = build_module(graph, outputs=seg).eval()
        self.clip = ClipConfig(input_size=(256, 256), heatmap_size=(64, 64), aspect_ratio=1.0, enlarge=enlarge, offsets=())

    @torch.no_grad()
    def __call__(self, frame: np.ndarray, boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One bool mask (H, W) per box: the segmented person inside the box grown by 10%."""
        h, w = frame.shape[:2]
        if not len(boxes):
            return []
        crops, matrices = zip(*[_crop(frame, np.asarray(b, float), self.clip) for b in boxes])
        x = torch.from_numpy(np.stack(crops).astype(np.float32) / 255.0).permute(0, 3, 1, 2)
        out = self.module(x.contiguous(memory_format=torch.channels_last))
        prob = torch.sigmoid(out[self.name] if isinstance(out, dict) else out)[:, 0].numpy()
        masks = []
        for p, m, box in zip(prob, matrices, boxes):
            full = cv2.warpAffine(p, invert_transform(m), (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
            keep = np.zeros((h, w), bool)
            x0, y0, bw, bh = box
            gx, gy = 0.05 * bw, 0.05 * bh
            keep[max(int(y0 - gy), 0): max(int(y0 + bh + gy), 0), max(int(x0 - gx), 0): max(int(x0 + bw + gx), 0)] = True
            masks.append((full > 0.5) & keep)
        return masks


def head_box(xy: np.ndarray, box: np.ndarray, scale: float = HEAD_BOX_SCALE) -> np.ndarray:
    """The derived PoseTrack head box (x, y, w, h) from the teacher's keypoints (17, 2) and the
    person's box: a square centred between head_top and head_bottom, side ``scale`` x their
    distance (clamped to ``HEAD_LENGTH_CLAMP`` x the box height)."""
    top, bottom = np.asarray(xy[2], float), np.asarray(xy[1], float)
    lo, hi = HEAD_LENGTH_CLAMP
    length = float(np.clip(np.linalg.norm(top - bottom), lo * box[3], hi * box[3]))
    side = scale * length
    centre = (top + bottom) / 2
    return np.array([centre[0] - side / 2, centre[1] - side / 2, side, side])


def clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    x0, y0 = np.clip(box[:2], 0, [width, height])
    x1, y1 = np.clip(box[:2] + box[2:], 0, [width, height])
    return np.array([x0, y0, x1 - x0, y1 - y0])


def pseudo_person(xy: np.ndarray, peaks: np.ndarray, box: np.ndarray, track_id: int,
                  threshold: float = KEEP_THRESHOLD, min_joints: int = MIN_JOINTS,
                  min_height: float = MIN_HEIGHT) -> Person | None:
    """The pseudo-labelled person of one box: joints whose peak is at least ``threshold`` kept
    (v = 1), others (0, 0, 0); None when fewer than ``min_joints`` evaluated joints are kept or
    the box is under ``min_height`` pixels (the caller makes it an ignore region)."""
    keep = np.zeros(NUM_KEYPOINTS, bool)
    keep[list(EVALUATED_JOINTS)] = peaks[list(EVALUATED_JOINTS)] >= threshold
    if keep.sum() < min_joints or box[3] < min_height:
        return None
    kp = np.zeros((NUM_KEYPOINTS, 3))
    kp[keep, :2] = np.round(xy[keep], 2)
    kp[keep, 2] = 1
    scores = np.round(np.where(np.isin(np.arange(NUM_KEYPOINTS), EVALUATED_JOINTS), peaks, 0.0), 4)
    return Person(kp, track_id=int(track_id), bbox=np.round(box, 2), bbox_head=np.round(head_box(xy, box), 2),
                  scores=scores)


def box_polygon(box: np.ndarray) -> np.ndarray:
    x, y, w, h = box
    return np.round(np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], float), 1)


def pseudo_label_info() -> dict[str, Any]:
    """What marks a file or an image entry as pseudo labels (not human annotation)."""
    return {"pseudo_labels": True, "teacher": TEACHER_NAME, "teacher_enlarge": TEACHER_ENLARGE,
            "flip_shift": FLIP_SHIFT, "keep_threshold": KEEP_THRESHOLD, "min_joints": MIN_JOINTS,
            "min_height": MIN_HEIGHT, "kind": KIND, "version": VERSION}


def save_pseudo_video(video: Video, path: str | os.PathLike) -> None:
    """A PoseTrack18 file of pseudo labels: the usual document plus a top-level ``info`` that says
    so (readers and poseval ignore keys they do not know)."""
    from vidpose.data.annotations import to_posetrack18_dict

    doc = to_posetrack18_dict(video)
    doc["info"] = {**pseudo_label_info(), "description": "vidpose RealData pseudo labels (vidpose/realdata.py)"}
    write_json_atomic(doc, path)


def label_frame(frame: np.ndarray, boxes: np.ndarray, tracks: np.ndarray, teacher: Teacher
                ) -> tuple[list[Person], list[np.ndarray], np.ndarray, np.ndarray]:
    """The pseudo-labelled people of one clean frame (RGB uint8) and the ignore regions of the
    tracked people who are not labelled; also the teacher's keypoints (N, 17, 2) and peaks
    (N, 17) of every box (for the occluder bookkeeping of test_hard)."""
    h, w = frame.shape[:2]
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    xy, peaks = teacher(frame, boxes)
    people, ignore = [], []
    for k, box in enumerate(boxes):
        clipped = clip_box(box, w, h)
        person = pseudo_person(xy[k], peaks[k], clipped, int(tracks[k]))
        if person is None:
            if clipped[2] > 0 and clipped[3] > 0:
                ignore.append(box_polygon(clipped))
        else:
            people.append(person)
    return people, ignore, xy, peaks
