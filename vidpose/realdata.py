"""RealData: a real-video training and test set with pseudo ground truth (``vidpose realdata build``).

What it is for. No labelled real video can be redistributed (PoseTrack cannot), but real
people video can, and BlazePose GHUM heavy is a strong teacher on clean frames. RealData turns
the registry videos of ``vidpose.assets`` into a PoseTrack18-layout data set whose labels are
the teacher's confident joints, so that the temporal heads (TDMI, JM-Pose, GLPose, SDTC, naive)
can be trained on the frozen BlazePose backbone with real footage, and tested on what they
recover when a key frame is degraded (``test_hard``) against the same frames clean
(``test_hard_clean``): the papers' hard case (TDMI, SDTC and JM-Pose, Sec. 1: motion blur,
defocus and occlusion in the key frame while its neighbours are fine), measured as SynthTrack's
val_hard measures it (docs/synthtrack.md), on real people.

Sources and the split (fixed; ``SEGMENTS``). Every segment is a run of frames of one asset,
renumbered from 0, resized so that the longer side is at most ``MAX_SIDE`` = 1280 pixels
(PoseTrack's frame size; vtest.avi stays 768x576). Held-out segments are never trained on, and
no frame of a held-out segment is in a training segment:

====================  =======================  ==========================  =====================
asset                 train                    test (held out)             never used
====================  =======================  ==========================  =====================
sports2d_demo (30fps) frames 0-149             frames 160-229 (the flip,   150-159 (a gap)
                      (jumping jacks, walker)  the walker leaving)
vtest (10 fps)        frames 0-599             frames 620-794              600-619 (a gap)
pose2sim_single_cam*  cam01, cam02, cam03      cam04 (a whole camera)
pose2sim_multi_cam*   cam01, cam02, cam03      cam04 (a whole camera)
====================  =======================  ==========================  =====================

Pose2Sim's demo trials (PyPI ``pose2sim==0.10.49``, BSD-3-Clause) have 4 synchronised cameras of
100 frames at 60 fps each (not 8): every second frame is kept (30 fps, PoseTrack's rate, 50
frames per camera), and one camera of 4 of each trial is held out. The held-out camera sees the
same people at the same instants from another viewpoint: it tests generalisation to a new view
and background, not to new people. The vtest and Sports2D test parts are later, disjoint frames
of the same scenes (people re-appear: vtest's pedestrians cross the square more than once).

Video names follow SynthTrack's layout (``mpii`` is only a format token): train segment k is
``{910000 + k:06d}_mpii_train``, test segment k ``{911000 + k:06d}_mpii_test`` and its degraded
copy ``{912000 + k:06d}_mpii_test_hard`` (the clean twin has the same name under
``test_hard_clean``). stats.json maps every name to its asset and frames, and every image entry
carries ``source`` (asset, segment, frame number in the asset).

People. ``vidpose.pipeline.track_people`` (MoveNet-MultiPose + the pose-guided tracker) on the
written frames gives every person's box and track id (``--small-people`` detection at 768 for
vtest's small pedestrians).

The teacher (``Teacher``). BlazePose GHUM heavy on a square 256x256 crop of each box, enlarged
by ``TEACHER_ENLARGE``, and on the crop's mirror; the two heatmaps are averaged with the
left-right joint swap (``vidpose.data.heatmaps.flip_test_average``) and DARK-decoded. The flipped
map is shifted one heatmap pixel (``flip_shift = True``): MediaPipe puts heatmap column i at
crop coordinate 4i - 0.5, so the mirror of column i is column 64 - i, one more than
``flip_back``'s 63 - i. On the PoseTrack18 fixture frames (GT boxes, enlarge 1.4,
benchmarks/results/real_fixtures.json) heavy scores PCKh@0.5 58.2 without flip, 61.5 with the
shifted flip and 63.7 with the unshifted one: 4 joints of 182 apart, within the noise of 14
people, so the shift is kept for the geometric reason (``CALIBRATION``).

Confident joints. A joint is kept (v = 1) when its flip-averaged heatmap peak is at least
``KEEP_THRESHOLD``; otherwise it is written unannotated, (0, 0, 0), as PoseTrack18 does (the
ear slots are always 0). The peaks are written as the person's ``scores``. A tracked person
with fewer than ``MIN_JOINTS`` kept joints, or a box under ``MIN_HEIGHT`` = 40 pixels
(SynthTrack's rule), is not labelled: their box becomes an ignore region of the frame, so that
a model finding them is not counted wrong.

Head boxes (``head_box``). PoseTrack18 needs ``bbox_head`` for PCKh (head size = 0.6 x its
diagonal). It is the square centred on the midpoint of the teacher's head_top and head_bottom
(the teacher's points, confident or not), whose side is ``HEAD_BOX_SCALE`` x their distance,
the distance clamped to [0.06, 0.35] x the person's box height (a head seen from behind or cut
off gives a degenerate distance).

Layout under ``out`` (PoseTrack18, read unchanged by every loader and by poseval)::

    images/{split}/{video}/{frame:06d}.jpg       split: train, test, test_hard, test_hard_clean
    annotations/{split}/{video}.json             every frame listed; labeled = has pseudo labels; a
                                                 top-level "info" and each image's "pseudo_labels"
                                                 (the teacher) mark them as pseudo labels
    detections/{split}.json                      the tracker's boxes (PoseWarper/DCPose layout, with track_id)
    stats.json                                   kind "realdata", version, split, counts, teacher, commit
    parts/                                       per-segment results (``--resume`` skips finished segments)

train and test label every frame. ``test_hard`` labels every third frame (f % 3 == 2, as
SynthTrack's val_hard: the +-2 neighbours of a key frame are clean), and every labeled frame is
degraded with ``vidpose.data.degrade.degrade``: the kind drawn with SynthTrack's weights
(motion blur 0.3, defocus 0.25, occluder 0.3, noise, JPEG, lighting 0.05 each) and severity
uniform in [0.5, 1], from a generator seeded by (``SEED``, video id, frame). Motion blur follows
the people's own motion (optical flow between the clean neighbours, inside their BlazePose
segmentation masks); occluders are cut-outs of other people (segmentation masks) and ragged
texture patches cut from OTHER frames of the same video (at least 5 frames away; in a video
too short for that, the farthest frames outside the +-2 window), never a person's own
silhouette over themselves; with no cut-out to paste the kind is drawn again without
occluders. Defocus and motion blur are applied at the people's scale: their pixel strengths
(defocus radius, shake length, smear samples) are multiplied by the frame's median person box
height / ``REF_PERSON_HEIGHT`` = 106 pixels (the median of SynthTrack standard val_hard; the
``scale`` of ``vidpose.data.degrade.degrade``, recorded as ``px_scale``), so a severity means the
same to a 500-pixel Pose2Sim person as to a 70-pixel vtest pedestrian, at full resolution (no
resampling, which would blur a large frame by itself). Each image entry records its
degradations as SynthTrack does (``degradations``; occluders also mark the kept joints they hide
in ``occluded``).
``test_hard_clean`` is the same frames undegraded: byte-for-byte copies of the test JPEGs, and
so are test_hard's unlabeled frames. Both carry the pseudo labels of the clean frames.

Training-time degradation. The training images stay clean on disk; ``degrade_key_frame``
degrades the key frame of a clip on the fly with the same module and weights, from a generator
seeded per (seed, epoch, item), leaving the neighbours untouched: motion from the clip's own -1
and +1 crops, occluders cut from its farthest neighbour's crop outside the person's box.
``data.key_degrade: P`` (configs/real/*_blazepose.yaml: 0.5) wraps the training dataset in
``KeyFrameDegradation`` (``vidpose.engine.data.make_dataset``), which degrades the crops of
``TopDownClipDataset`` items after they are made (un-normalised, degraded, normalised again), so
``vidpose/data/clips.py`` needs no hook; a feature cache then stores the degraded key frames of
each augmentation pass.

Cost, measured on a tiny build (2 shared cores, one thread each, niced under a training job):
about 0.15-0.2 s per person and frame for the teacher with the flip, 0.1-0.8 s per frame for
detection and tracking (vtest's 768-pixel detection is the slow one), and 0.5-1.5 s per key
frame of test_hard (segmentation and the degradation).
"""


from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from vidpose.data.annotations import Frame, Person, Video, write_json_atomic
from vidpose.data.clips import ClipConfig
from vidpose.data.degrade import (DEGRADE_WEIGHTS, REF_PERSON_HEIGHT, SCALED_KINDS, SEVERITY, Cutout,
                                  degrade_real_frame, pixel_scale, ragged_patch)
from vidpose.data.frames import FrameSource, open_frames
from vidpose.data.schema import EVALUATED_JOINTS, KEYPOINT_NAMES, NUM_KEYPOINTS
from vidpose.data.transforms import invert_transform, warp_image
from vidpose.data.versions import REALDATA_KIND, REALDATA_VERSION
from vidpose.engine.topdown import TopDownSettings, crop_matrix, keypoints_from_heatmaps
from vidpose.errors import VidposeError
from vidpose.resources import package_path, shipped_name

log = logging.getLogger(__name__)

#: bumped whenever what is written changes (vidpose/data/versions.py); a --resume of another version is refused
KIND, VERSION = REALDATA_KIND, REALDATA_VERSION
SPLITS = ("train", "test")
HARD, HARD_CLEAN = "test_hard", "test_hard_clean"
ALL_SPLITS = SPLITS + (HARD, HARD_CLEAN)
FIRST_VIDEO_ID = {"train": 910000, "test": 911000, HARD: 912000}
MAX_SIDE = 1280
JPEG_QUALITY = 92  # SynthTrack's
SEED = 0

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

HARD_LABEL_EVERY, HARD_LABEL_OFFSET = 3, 2
CUTOUT_MIN_GAP = 5  # cut-outs come from frames at least this far from the key frame
CUTOUT_FRAMES = 6  # frames per video the cut-out pool is cut from


class RealDataError(VidposeError, ValueError):
    """A RealData build that cannot run as asked (missing assets, a folder in the way)."""


@dataclass(frozen=True)
class Segment:
    """Frames ``start, start + step, ...`` (< ``stop``) of ``asset``, as one video of ``split``."""

    name: str
    asset: str
    split: str
    start: int
    stop: int
    step: int = 1
    small_people: bool = False

    def frames(self, length: int, max_frames: int | None = None) -> list[int]:
        picked = list(range(self.start, min(self.stop, length), self.step))
        return picked[:max_frames] if max_frames else picked


#: the fixed split (module docstring); the index of a segment within its split gives its video id
SEGMENTS: tuple[Segment, ...] = (
    Segment("sports2d_train", "sports2d_demo", "train", 0, 150),
    Segment("vtest_train", "vtest", "train", 0, 600, small_people=True),
    Segment("pose2sim_single_cam01", "pose2sim_single_cam01", "train", 0, 100, 2),
    Segment("pose2sim_single_cam02", "pose2sim_single_cam02", "train", 0, 100, 2),
    Segment("pose2sim_single_cam03", "pose2sim_single_cam03", "train", 0, 100, 2),
    Segment("pose2sim_multi_cam01", "pose2sim_multi_cam01", "train", 0, 100, 2),
    Segment("pose2sim_multi_cam02", "pose2sim_multi_cam02", "train", 0, 100, 2),
    Segment("pose2sim_multi_cam03", "pose2sim_multi_cam03", "train", 0, 100, 2),
    Segment("sports2d_test", "sports2d_demo", "test", 160, 230),
    Segment("vtest_test", "vtest", "test", 620, 795, small_people=True),
    Segment("pose2sim_single_cam04", "pose2sim_single_cam04", "test", 0, 100, 2),
    Segment("pose2sim_multi_cam04", "pose2sim_multi_cam04", "test", 0, 100, 2),
)


def segment_index(segment: Segment) -> int:
    return [s.name for s in SEGMENTS if s.split == segment.split].index(segment.name)


def video_name(split: str, index: int) -> str:
    """``{id:06d}_mpii_{split}``; test_hard_clean shares test_hard's names, as SynthTrack's twins."""
    split_of_id = HARD if split == HARD_CLEAN else split
    return f"{FIRST_VIDEO_ID[split_of_id] + index:06d}_mpii_{split_of_id}"


def image_id(video_id: int, frame: int) -> int:
    """PoseTrack18's scheme: '1', the 6-digit video id, the 4-digit frame index."""
    return int(f"1{video_id:06d}{frame:04d}")


def split_definition() -> dict[str, Any]:
    """The split as stats.json records it: every segment, its video names and frames."""
    out = []
    for s in SEGMENTS:
        k = segment_index(s)
        entry = {**asdict(s), "video": video_name(s.split, k)}
        if s.split == "test":
            entry["hard_video"] = video_name(HARD, k)
        out.append(entry)
    return {"segments": out, "max_side": MAX_SIDE,
            "rule": "held-out segments are whole cameras (Pose2Sim cam04) or later frame ranges with a gap "
                    "(Sports2D 160-229, vtest 620-794); no held-out frame is in a training segment"}


class SegmentFrames(FrameSource):
    """The frames of a segment from its asset's video, resized to at most ``max_side``."""

    def __init__(self, source: FrameSource, indices: Sequence[int], max_side: int = MAX_SIDE):
        super().__init__(cache_size=4)
        self.source, self.indices, self.max_side, self.path = source, list(indices), max_side, source.path

    def __len__(self) -> int:
        return len(self.indices)

    def _read(self, index: int) -> np.ndarray:
        return resize_to(self.source.read(self.indices[index]), self.max_side)


def resize_to(image: np.ndarray, max_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_AREA)


# ----------------------------------------------------------------------------------------------
# The teacher and the segmentation
# ----------------------------------------------------------------------------------------------


def crop_geometry(model: torch.nn.Module, enlarge: float) -> ClipConfig:
    """BlazePose's square crops: its input size, its heatmap stride, the box grown by ``enlarge``."""
    side = int(model.input_size[0])
    maps = side // int(model.heatmap_stride)
    return ClipConfig(input_size=(side, side), heatmap_size=(maps, maps), aspect_ratio=1.0, enlarge=enlarge, offsets=())


def _crop(frame: np.ndarray, box: np.ndarray, clip: ClipConfig) -> tuple[np.ndarray, np.ndarray]:
    """The crop of a box and its image -> crop matrix."""
    matrix = crop_matrix(box, clip)
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


# ----------------------------------------------------------------------------------------------
# Pseudo labels
# ----------------------------------------------------------------------------------------------


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


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=package_path(""), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


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


# ----------------------------------------------------------------------------------------------
# Degradations on real frames (test_hard, and training-time key frames)
# ----------------------------------------------------------------------------------------------


def frame_cutouts(image: np.ndarray, boxes: Sequence[np.ndarray], masks: Sequence[np.ndarray], tracks: Sequence[int],
                  rng: np.random.Generator) -> list[Cutout]:
    """Occluders cut from one clean frame (float RGB): each segmented person's silhouette (its
    ``source`` is their track id, so it is never pasted over them) and one ragged texture patch
    of about half the median person height."""
    out = []
    for box, mask, track in zip(boxes, masks, tracks):
        if mask is None or mask.sum() < 150:
            continue
        ys, xs = np.nonzero(mask)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        out.append(Cutout(image[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].astype(np.float32), "person", int(track)))
    side = 0.5 * REF_PERSON_HEIGHT * pixel_scale(boxes)
    out.append(ragged_patch(image, rng, side))
    return out


def cutout_frames(length: int, count: int = CUTOUT_FRAMES) -> list[int]:
    """The frames of a video that the occluder pool is cut from: ``count`` spread evenly."""
    return sorted({int(round(x)) for x in np.linspace(0, length - 1, min(count, length))}) if length else []


def eligible_cutouts(pool: dict[int, list[Cutout]], frame: int, min_gap: int = CUTOUT_MIN_GAP) -> list[Cutout]:
    """Cut-outs from frames at least ``min_gap`` from ``frame``; in a video too short for that,
    from the farthest frames outside the +-2 window (none when there are none)."""
    far = [g for g in pool if abs(g - frame) >= min_gap]
    if not far:
        outside = [g for g in pool if abs(g - frame) > 2]
        best = max((abs(g - frame) for g in outside), default=None)
        far = [g for g in outside if abs(g - frame) == best]
    return [c for g in sorted(far) for c in pool[g]]


def hidden_joints(alpha: np.ndarray | None, keypoints: np.ndarray) -> np.ndarray:
    """(17,) bool: annotated joints under the pasted occluders (alpha > 0.5)."""
    out = np.zeros(NUM_KEYPOINTS, bool)
    if alpha is None:
        return out
    h, w = alpha.shape
    for j in np.flatnonzero(keypoints[:, 2] > 0):
        x = min(max(int(round(keypoints[j, 0])), 0), w - 1)
        y = min(max(int(round(keypoints[j, 1])), 0), h - 1)
        out[j] = alpha[y, x] > 0.5
    return out


# ----------------------------------------------------------------------------------------------
# The build
# ----------------------------------------------------------------------------------------------


def _write_jpeg(path: Path, rgb: np.ndarray, quality: int = JPEG_QUALITY) -> None:
    if rgb.dtype != np.uint8:
        rgb = np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise RealDataError(f"{path}: could not write image")


def _fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def asset_fps(asset: str) -> float:
    """Frame rate of an asset's video (Sports2D 30, vtest 10, Pose2Sim 60)."""
    return 60.0 if asset.startswith("pose2sim") else {"sports2d_demo": 30.0, "vtest": 10.0}[asset]


def _image_entry(vid: int, f: int, n: int, w: int, h: int, segment: Segment, source_frame: int) -> dict:
    return {"vid_id": f"{vid:06d}", "frame_id": image_id(vid, f), "nframes": n, "width": w, "height": h,
            "source": {"asset": segment.asset, "segment": segment.name, "frame": int(source_frame)},
            "pseudo_labels": TEACHER_NAME}


def _detection(file_name: str, iid: int, n: int, box: np.ndarray, score: float, track: int) -> dict:
    return {"image_name": file_name, "bbox": [round(float(v), 2) for v in box], "score": round(float(score), 4),
            "category_id": 1, "nframes": n, "frame_id": iid, "track_id": int(track)}


@dataclass
class BuildOptions:
    """What ``vidpose realdata build`` was asked for."""

    max_frames: int | None = None
    detect_every: int = 10
    seed: int = SEED
    progress: bool = False


def build_segment(segment: Segment, out: Path, teacher: Teacher, segmenter: "Segmenter | None",
                  opts: BuildOptions) -> dict[str, Any]:
    """Write one segment (frames, pseudo labels, and for a test segment test_hard and
    test_hard_clean); returns its part record (counts, detections, timings)."""
    from tqdm import tqdm

    from vidpose.assets import asset_path
    from vidpose.pipeline import track_people

    t0 = time.perf_counter()
    source = open_frames(asset_path(segment.asset))
    indices = segment.frames(len(source), opts.max_frames)
    if not indices:
        raise RealDataError(f"segment {segment.name}: no frames (the asset has {len(source)})")
    frames = SegmentFrames(source, indices)
    k = segment_index(segment)
    name, vid = video_name(segment.split, k), FIRST_VIDEO_ID[segment.split] + k
    n = len(indices)
    image_dir = _fresh_dir(out / "images" / segment.split / name)
    for f in tqdm(range(n), desc=f"{segment.name}: frames", disable=not opts.progress):
        _write_jpeg(image_dir / f"{f:06d}.jpg", frames.read(f))
    if hasattr(source, "close"):
        source.close()
    t_write = time.perf_counter()

    written = open_frames(image_dir)
    found = track_people(written, detect_every=opts.detect_every, small_people=segment.small_people)
    t_track = time.perf_counter()

    counts: Counter = Counter()
    annotated = np.zeros(NUM_KEYPOINTS)
    frames_out: list[Frame] = []
    detections: dict[str, list[dict]] = {segment.split: []}
    teacher_points: list[tuple[np.ndarray, np.ndarray]] = []
    h = w = 0
    for f in tqdm(range(n), desc=f"{segment.name}: teacher", disable=not opts.progress):
        image = written.read(f)
        h, w = image.shape[:2]
        boxes, tracks, scores = found.boxes[f], found.tracks[f], found.scores[f]
        people, ignore, xy, peaks = label_frame(image, boxes, tracks, teacher)
        teacher_points.append((xy, peaks))
        file_name = f"images/{segment.split}/{name}/{f:06d}.jpg"
        iid = image_id(vid, f)
        frames_out.append(Frame(file_name, iid, bool(people), people, ignore if people else [], w, h,
                                _image_entry(vid, f, n, w, h, segment, indices[f])))
        for box, score, track in zip(boxes, scores, tracks):
            detections[segment.split].append(_detection(file_name, iid, n, box, score, track))
        counts["frames"] += 1
        counts["labeled_frames"] += int(bool(people))
        counts["people"] += len(people)
        counts["tracked_boxes"] += len(boxes)
        counts["ignore_regions"] += len(ignore) if people else 0
        for p in people:
            annotated += p.keypoints[:, 2] > 0
    video = Video(name, frames_out)
    save_pseudo_video(video, out / "annotations" / segment.split / f"{name}.json")
    t_teacher = time.perf_counter()

    hard: dict[str, Any] = {}
    if segment.split == "test":
        hard = build_hard(segment, out, video, written, found, teacher_points, segmenter, opts)
        for split in (HARD, HARD_CLEAN):
            detections[split] = hard.pop(f"detections_{split}")
    t_hard = time.perf_counter()
    return {"segment": segment.name, "asset": segment.asset, "split": segment.split, "video": name,
            "version": VERSION, "max_frames": opts.max_frames, "source_frames": [int(i) for i in indices],
            "fps": asset_fps(segment.asset) / segment.step, "size": [w, h], "counts": dict(counts),
            "annotated": annotated.tolist(), "tracks": int(len({int(t) for tr in found.tracks for t in tr})),
            "detections": detections, "hard": hard,
            "seconds": {"frames": round(t_write - t0, 2), "tracking": round(t_track - t_write, 2),
                        "teacher": round(t_teacher - t_track, 2), "hard": round(t_hard - t_teacher, 2),
                        "total": round(t_hard - t0, 2)}}


def build_hard(segment: Segment, out: Path, video: Video, written: FrameSource, found: Any,
               teacher_points: list[tuple[np.ndarray, np.ndarray]], segmenter: "Segmenter | None",
               opts: BuildOptions) -> dict[str, Any]:
    """test_hard (key frames f % 3 == 2 that have pseudo labels, degraded; every other frame a
    byte copy of the clean test JPEG) and test_hard_clean (every frame a byte copy), with the
    clean frames' pseudo labels; returns counts, degradation records and detections."""
    k = segment_index(segment)
    name, vid = video_name(HARD, k), FIRST_VIDEO_ID[HARD] + k
    n = len(video.frames)
    hard_dir = _fresh_dir(out / "images" / HARD / name)
    clean_dir = _fresh_dir(out / "images" / HARD_CLEAN / name)
    keys = [f for f in range(n) if f % HARD_LABEL_EVERY == HARD_LABEL_OFFSET and video.frames[f].people]

    def as_float(f: int) -> np.ndarray:
        return written.read(f).astype(np.float32) / 255.0

    def masks_of(f: int) -> list[np.ndarray | None]:
        boxes = found.boxes[f]
        if segmenter is None or not len(boxes):
            return [None] * len(boxes)
        return segmenter(written.read(f), [np.asarray(b, float) for b in boxes])

    pool: dict[int, list[Cutout]] = {}
    if keys:
        for g in cutout_frames(n):
            rng = np.random.default_rng([opts.seed, vid, g, 7])
            pool[g] = frame_cutouts(as_float(g), list(found.boxes[g]), masks_of(g), list(found.tracks[g]), rng)
    hard_frames, clean_frames, records = [], [], []
    det_hard, det_clean = [], []
    counts: Counter = Counter()
    for f in range(n):
        src = Path(video.frames[f].file_name).name
        clean_path = out / video.frames[f].file_name
        shutil.copyfile(clean_path, clean_dir / src)
        frame = video.frames[f]
        labeled = f in keys
        hard_name, clean_name = f"images/{HARD}/{name}/{f:06d}.jpg", f"images/{HARD_CLEAN}/{name}/{f:06d}.jpg"
        iid = image_id(vid, f)
        raw = {**frame.raw, "vid_id": f"{vid:06d}", "frame_id": iid}
        people = []
        record = None
        if labeled:
            boxes = [np.asarray(b, float) for b in found.boxes[f]]
            tracks = [int(t) for t in found.tracks[f]]
            by_track = {p.track_id: p for p in frame.people}
            joints = [by_track[t].keypoints if t in by_track else None for t in tracks]
            rng = np.random.default_rng([opts.seed, vid, f])
            cutouts = eligible_cutouts(pool, f)
            image, record, alpha = degrade_real_frame(
                as_float(f), rng, boxes, masks_of(f), joints, tracks,
                prev=as_float(f - 1) if f > 0 else None, nxt=as_float(f + 1) if f + 1 < n else None,
                cutouts=cutouts)
            _write_jpeg(hard_dir / src, image)
            hidden_total = 0
            for p in frame.people:
                hidden = hidden_joints(alpha, p.keypoints)
                hidden_total += int(hidden.sum())
                people.append(Person(p.keypoints.copy(), p.track_id, p.bbox, p.bbox_head, p.scores, occluded=hidden))
            if alpha is not None:
                record["occluded_joints"] = hidden_total
            records.append({"frame": f, **record})
            counts["labeled_frames"] += 1
            counts["people"] += len(people)
            counts[record["type"]] += 1
            counts["occluded_joints"] += hidden_total
        else:
            shutil.copyfile(clean_path, hard_dir / src)
        counts["frames"] += 1
        ignore = frame.ignore_regions if labeled else []
        hard_raw = {**raw, "degradations": [record] if record else []}
        hard_frames.append(Frame(hard_name, iid, labeled, people, ignore, frame.width, frame.height, hard_raw))
        clean_people = [Person(p.keypoints.copy(), p.track_id, p.bbox, p.bbox_head, p.scores) for p in people]
        clean_frames.append(Frame(clean_name, iid, labeled, clean_people, ignore, frame.width, frame.height,
                                  {**raw, "degradations": [], "clean_twin_of": hard_name}))
        for box, score, track in zip(found.boxes[f], found.scores[f], found.tracks[f]):
            det_hard.append(_detection(hard_name, iid, n, box, score, track))
            det_clean.append(_detection(clean_name, iid, n, box, score, track))
    save_pseudo_video(Video(name, hard_frames), out / "annotations" / HARD / f"{name}.json")
    save_pseudo_video(Video(name, clean_frames), out / "annotations" / HARD_CLEAN / f"{name}.json")
    return {"video": name, "counts": dict(counts), "degradations": records,
            f"detections_{HARD}": det_hard, f"detections_{HARD_CLEAN}": det_clean}


def select_segments(names: Sequence[str] | None) -> list[Segment]:
    if not names:
        return list(SEGMENTS)
    known = {s.name: s for s in SEGMENTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise RealDataError(f"unknown segment(s) {', '.join(unknown)}; segments are {', '.join(known)}")
    return [known[n] for n in names]


def prepare_out(out: Path, resume: bool) -> None:
    """RealData is written into an empty (or new) folder, or continued there with ``resume``
    (a folder of another kind or version is refused)."""
    if not out.exists() or not any(out.iterdir()):
        return
    stats = out / "stats.json"
    parts = out / "parts"
    if not resume:
        raise RealDataError(f"{out}: the folder is not empty; RealData is written into an empty folder. Continue an "
                            "interrupted build with --resume, or choose another --out")
    if stats.is_file():
        found = json.loads(stats.read_text())
        if found.get("kind") != KIND or found.get("version") != VERSION:
            raise RealDataError(f"{out}: holds {found.get('kind', 'another data set')} version "
                                f"{found.get('version')}, not RealData version {VERSION}; refusing to mix them")
    elif not parts.is_dir():
        raise RealDataError(f"{out}: holds files but no RealData build (no parts/ or stats.json); refusing to write "
                            "into it")


def _part_ok(path: Path, opts: BuildOptions) -> bool:
    try:
        part = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return part.get("version") == VERSION and part.get("max_frames") == opts.max_frames


def build(out: str | os.PathLike = "data/realdata", segments: Sequence[str] | None = None,
          max_frames: int | None = None, resume: bool = False, progress: bool = True, detect_every: int = 10,
          teacher: Teacher | None = None, segmenter: "Segmenter | None" = None) -> dict[str, Any]:
    """``vidpose realdata build``: every selected segment (all by default), each at most
    ``max_frames`` frames, then the detection files and stats.json over every finished part."""
    from vidpose.assets import asset_path

    if max_frames is not None and max_frames < 1:
        raise RealDataError(f"--max-frames must be at least 1, got {max_frames}")
    out = Path(out)
    chosen = select_segments(segments)
    prepare_out(out, resume)
    for s in chosen:  # every asset first: a missing one stops the build before any work
        asset_path(s.asset)
    opts = BuildOptions(max_frames=max_frames, detect_every=detect_every, progress=progress)
    (out / "parts").mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    todo = [s for s in chosen if not (resume and _part_ok(out / "parts" / f"{s.name}.json", opts))]
    if len(todo) < len(chosen):
        log.info("--resume: %d of %d segments already built", len(chosen) - len(todo), len(chosen))
    if todo:
        teacher = teacher or Teacher()
        if segmenter is None and any(s.split == "test" for s in todo):
            segmenter = Segmenter()
    for s in todo:
        log.info("realdata: building %s (%s, %s)", s.name, s.asset, s.split)
        part = build_segment(s, out, teacher, segmenter, opts)
        part["teacher_crops"] = teacher.crops
        write_json_atomic(part, out / "parts" / f"{s.name}.json")
        log.info("realdata: %s: %d frames, %d people in %.1f s", s.name, part["counts"]["frames"],
                 part["counts"]["people"], part["seconds"]["total"])
    return write_stats(out, opts, time.perf_counter() - began)


def write_stats(out: Path, opts: BuildOptions, seconds: float) -> dict[str, Any]:
    """Merge every finished part into detections/{split}.json and stats.json."""
    parts = []
    for path in sorted((out / "parts").glob("*.json")):
        part = json.loads(path.read_text())
        if part.get("version") == VERSION:
            parts.append(part)
    order = {s.name: i for i, s in enumerate(SEGMENTS)}
    parts.sort(key=lambda p: order.get(p["segment"], len(order)))
    splits: dict[str, Any] = {}
    for split in ALL_SPLITS:
        mine = [p for p in parts if split in p["detections"]]
        if not mine:
            continue
        dets = [d for p in mine for d in p["detections"][split]]
        write_json_atomic(dets, out / "detections" / f"{split}.json")
        if split in SPLITS:
            counts: Counter = Counter()
            annotated = np.zeros(NUM_KEYPOINTS)
            for p in mine:
                counts.update(p["counts"])
                annotated += np.asarray(p["annotated"])
            people = max(counts["people"], 1)
            splits[split] = {"videos": len(mine), **dict(counts), "detections": len(dets),
                             "kept_joint_rate": {KEYPOINT_NAMES[j]: round(float(annotated[j] / people), 3)
                                                 for j in EVALUATED_JOINTS}}
        else:
            counts = Counter()
            for p in mine:
                counts.update(p["hard"]["counts"])
            lab = max(counts["labeled_frames"], 1)
            entry = {"videos": len(mine), "frames": counts["frames"], "labeled_frames": counts["labeled_frames"],
                     "people": counts["people"], "detections": len(dets)}
            if split == HARD:
                entry["rate_by_type"] = {kind: round(counts[kind] / lab, 3) for kind in DEGRADE_WEIGHTS}
                entry["occluded_joints"] = counts["occluded_joints"]
            splits[split] = entry
    built = {p["segment"] for p in parts}
    stats = {
        "kind": KIND, "version": VERSION, **pseudo_label_info(), "seed": opts.seed,
        "max_frames": sorted({p["max_frames"] for p in parts}, key=lambda m: (m is None, m or 0)),
        "complete": built >= {s.name for s in SEGMENTS} and all(p["max_frames"] is None for p in parts),
        "splits": splits, "split_definition": split_definition(),
        "videos": {p["video"]: {"segment": p["segment"], "asset": p["asset"], "split": p["split"],
                                "source_frames": [p["source_frames"][0], p["source_frames"][-1]],
                                "frames": len(p["source_frames"]), "fps": p["fps"], "size": p["size"],
                                **({"hard_video": p["hard"]["video"]} if p.get("hard") else {})} for p in parts},
        "degradation": {"weights": DEGRADE_WEIGHTS, "severity": list(SEVERITY), "ref_person_height": REF_PERSON_HEIGHT,
                        "scaled_kinds": list(SCALED_KINDS), "label_every": HARD_LABEL_EVERY,
                        "label_offset": HARD_LABEL_OFFSET, "cutout_min_gap": CUTOUT_MIN_GAP},
        "seconds": {"this_run": round(seconds, 1),
                    "segments": {p["segment"]: p["seconds"] for p in parts}},
        "commit": _git_commit(),
    }
    stats["bytes"] = sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and p.name != "stats.json")
    write_json_atomic(stats, out / "stats.json")
    return stats


HEADS = package_path("weights/real")
#: relative to the working directory: a checkout's benchmarks/results (benchmarks/realvideo.py writes it)
REALVIDEO_RESULTS = Path("benchmarks/results/realvideo.json")


def export_heads(names: Sequence[str], runs: str | os.PathLike = "runs/real", dest: str | os.PathLike = HEADS,
                 results: str | os.PathLike = REALVIDEO_RESULTS) -> Path:
    """Ship trained temporal heads: ``runs/NAME/model.pt`` (``vidpose train
    configs/real/NAME.yaml``) becomes ``dest/NAME.pt`` without the frozen BlazePose tensors
    (``vidpose.engine.trainer.export_head``; the backbone comes from its asset when loaded), and
    ``dest/manifest.json`` names each head's config, command, commit, steps, minutes, checksum and
    its held-out scores in ``results`` (``benchmarks/realvideo.py``) where they exist."""
    import hashlib

    from vidpose.engine.checkpoint import export_head

    dest = Path(dest)
    manifest_path = dest / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    measured = json.loads(Path(results).read_text()).get("rows", {}) if Path(results).is_file() else {}
    for name in names:  # every run is checked before anything is written
        checkpoint = Path(runs) / name / "model.pt"
        if not checkpoint.is_file():
            raise RealDataError(f"{checkpoint}: no trained run; train it first: vidpose train configs/real/{name}.yaml")
    for name in names:
        checkpoint = Path(runs) / name / "model.pt"
        target = dest / f"{name}.pt"
        head = export_head(checkpoint, target)
        row = measured.get(name, {})
        scores = {split: row[split]["PCKh"]["Total"] for split in ("test", HARD, HARD_CLEAN) if split in row}
        manifest[name] = {
            "method": head["model_name"], "weights": shipped_name(target), "config": f"configs/real/{name}.yaml",
            "command": f"vidpose realdata build --out data/realdata && vidpose train configs/real/{name}.yaml "
                       f"&& vidpose realdata export {name}",
            "backbone": "from its asset (vidpose assets fetch)", "exported_at_commit": _git_commit(),
            "steps": head.get("step"),
            "train_minutes": None if head.get("train_minutes") is None else round(float(head["train_minutes"]), 1),
            "sha256": hashlib.sha256(target.read_bytes()).hexdigest(), "bytes": target.stat().st_size,
            "PCKh_Total": scores}
    tmp = manifest_path.with_name(f".{manifest_path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, manifest_path)  # never a half-written manifest
    return manifest_path


def run_cli(args: Any) -> int:
    """``vidpose realdata build`` and ``export`` (the parser is in ``vidpose/cli.py``)."""
    if args.realdata_command == "export":
        dest = Path(args.dest or HEADS)
        path = export_heads(args.names, runs=args.runs, dest=dest)
        print(f"wrote {', '.join(str(dest / (n + '.pt')) for n in args.names)} and {path}")
        return 0
    stats = build(args.out, segments=args.segments, max_frames=args.max_frames, resume=args.resume,
                  progress=not args.quiet, detect_every=args.detect_every)
    for split, s in stats["splits"].items():
        print(f"{split:<16} {s['videos']:3d} videos  {s['frames']:5d} frames  {s['labeled_frames']:5d} labeled  "
              f"{s['people']:6d} people")
    print(f"wrote {args.out} ({stats['bytes'] / 1e6:.1f} MB, {stats['seconds']['this_run']:.0f} s); pseudo labels by "
          f"{stats['teacher']}, joints kept at heatmap peak >= {stats['keep_threshold']}")
    return 0
