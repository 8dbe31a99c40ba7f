"""Top-down clips: a person box in a key frame -> crops of the key frame and its neighbours.

A clip is the key frame plus supporting frames at ``offsets`` (default [-2, -1, 1, 2], the
temporal span delta = 2 of TDMI/SDTC/JM-Pose). All frames of a clip share one affine transform,
so a joint that does not move stays at the same crop pixel, and training augmentation (scale,
rotation, flip with joint swap, half-body) is drawn once per clip.

Boundary rule: a neighbour outside the video is replaced by the nearest existing frame, i.e. its
index is clamped to [0, n - 1]. A clip at frame 0 of a 1-frame video is that frame repeated.

Missing-frame rule (``resolve_window``): a neighbour that lies inside the video but whose image is
not on disk (PoseTrack downloads that hold only the labeled frames, or a folder with gaps) is
replaced by the nearest frame of the same window that is on disk, the one nearer the key frame on
a tie; the key frame itself always qualifies. This extends the PoseWarper/DCPose border rule
(repeat the nearest valid frame) to holes inside a video. It is never silent: the dataset counts
the replaced frames when it is built (``missing_neighbours``) and logs one warning with the count
and the first missing file. The video's extent is the larger of the folder's numbering and the
annotation's (its frames and PoseTrack18's ``nframes``). A labeled frame whose own image is missing
is an error naming the file, raised when the dataset is built.

Training items also carry ``clip_heatmaps`` (T, 17, h, w) and ``clip_weight`` (T, 17): the same
person's targets in every clip frame, found by track id in that frame's annotation, with weight 0
where the frame is unlabeled or the person is absent (SDTC's sequence pose reconstruction, Eq. 15).

With ``global_frames`` > 0 (GLPose), items also carry ``global_crops`` (G, 3, H, W): the person
proposals of frames sampled across the whole video outside the local window (G =
``global_frames`` x ``global_per_frame``), each cropped with its own box and the clip's
augmentation, plus ``global_valid`` (G,) and ``global_keys`` (a string per crop naming video,
frame and box, for the embedding cache). Proposals are the detections when testing with a
detection file, else the GT boxes. ``global_mode: streaming`` samples only frames before the
local window (nothing from the future); ``offline`` samples the whole video.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from vidpose.data.annotations import Video
from vidpose.data.degrade import degrade_key_frame
from vidpose.data.detections import DetectionSet
from vidpose.data.frames import FrameError, FrameSource, ImageFolderFrames, open_frames
from vidpose.data.heatmaps import encode_gaussian, encode_limbs
from vidpose.data.transforms import (
    AugmentConfig,
    AugmentParams,
    apply_transform,
    box_to_center_size,
    crop_transform,
    flip_keypoints,
    half_body_box,
    invert_transform,
    keypoints_box,
    sample_augmentation,
    warp_image,
)

log = logging.getLogger(__name__)

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass
class ClipConfig:
    """Geometry of a top-down clip. Sizes are (width, height)."""

    input_size: tuple[int, int] = (192, 256)
    heatmap_size: tuple[int, int] = (48, 64)
    sigma: float = 2.0
    aspect_ratio: float = 0.75
    enlarge: float = 1.25
    offsets: tuple[int, ...] = (-2, -1, 1, 2)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    global_frames: int = 0  # GLPose: frames sampled across the video (0 = none)
    global_per_frame: int = 4  # proposals kept per sampled frame (highest score first)
    global_mode: str = "offline"  # or "streaming": only frames before the local window
    limb_maps: bool = False  # also the key frame's limb maps (encode_limbs), for model.limb_weight

    def __post_init__(self) -> None:
        if self.global_mode not in ("offline", "streaming"):
            raise ValueError(f"global_mode must be offline or streaming, got {self.global_mode!r}")
        future = [o for o in self.offsets if o > 0]
        if self.global_mode == "streaming" and future:
            raise ValueError(f"global_mode: streaming is causal, but offsets {list(self.offsets)} read the future "
                             f"frames {['t+%d' % o for o in future]}; use past offsets only (for example [-2, -1])")

    @property
    def span(self) -> int:
        """How far the farthest supporting frame lies from the key frame (delta)."""
        return max((abs(o) for o in self.offsets), default=0)

    @property
    def stride(self) -> float:
        return self.input_size[0] / self.heatmap_size[0]

    def crop_matrix(self, box: np.ndarray) -> np.ndarray:
        """The image -> crop affine matrix of an xywh ``box`` (no augmentation): the box's centre,
        enlarged by ``enlarge`` to ``aspect_ratio``, onto ``input_size``."""
        center, size = box_to_center_size(np.asarray(box, dtype=np.float64), self.aspect_ratio, self.enlarge)
        return crop_transform(center, size, self.input_size)

    def crop_to_image(self, box: np.ndarray) -> np.ndarray:
        """The crop -> image matrix of an xywh ``box`` (the inverse of ``crop_matrix``)."""
        return invert_transform(self.crop_matrix(box))


def clip_indices(key: int, offsets: tuple[int, ...] | list[int], num_frames: int) -> list[int]:
    """[key, key + o for o in offsets], each clamped to the video (nearest existing frame)."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    if not 0 <= key < num_frames:
        raise ValueError(f"key frame {key} outside a video of {num_frames} frames")
    return [key] + [min(max(key + o, 0), num_frames - 1) for o in offsets]


def resolve_window(key: int, offsets: tuple[int, ...] | list[int], lo: int, hi: int,
                   exists: Callable[[int], bool]) -> tuple[list[int], list[int]]:
    """Source positions of a clip, key first, and the neighbours that were missing on disk.

    Each neighbour ``key + o`` is first clamped to the video ``[lo, hi]`` (the border rule); one
    that ``exists`` rejects is then replaced by the nearest position of the same window that
    exists, the one nearer the key on a tie. The key frame must exist (ValueError otherwise)."""
    if not exists(key):
        raise ValueError(f"key frame {key} is not on disk")
    wanted = [key] + [min(max(key + o, lo), hi) for o in offsets]
    present = sorted({w for w in wanted if exists(w)})
    positions, missing = [key], []
    for w in wanted[1:]:
        if w in present:
            positions.append(w)
        else:
            missing.append(w)
            positions.append(min(present, key=lambda c: (abs(c - w), abs(c - key))))
    return positions, missing


def _frame_file(source: FrameSource, index: int) -> str:
    """The file a source position would be read from (for messages)."""
    if isinstance(source, ImageFolderFrames):
        number = source.first + index
        return str(source.path / f"{source.prefix}{number:0{max(source.digits, 1)}d}{source.extension}")
    return f"{source.path} frame {index}"


@dataclass
class ClipSample:
    """One person's clip. ``images`` (T, H, W, 3) uint8 with the key frame first."""

    images: np.ndarray
    heatmaps: np.ndarray  # (17, h, w) targets for the key frame
    target_weight: np.ndarray  # (17,)
    image_to_crop: np.ndarray  # (2, 3)
    crop_to_image: np.ndarray  # (2, 3)
    frame_indices: list[int]
    clip_heatmaps: np.ndarray | None = None  # (T, 17, h, w): the person in every clip frame
    clip_weight: np.ndarray | None = None  # (T, 17), 0 where that frame has no label for them
    limb_heatmaps: np.ndarray | None = None  # (L, h, w) limb maps of the key frame (ClipConfig.limb_maps)
    limb_weight: np.ndarray | None = None  # (L,)


def make_clip(frames: list[np.ndarray], bbox: np.ndarray, cfg: ClipConfig, keypoints: np.ndarray | None = None,
              aug: AugmentParams | None = None, neighbour_keypoints: list[np.ndarray | None] | None = None
              ) -> ClipSample:
    """Crop every frame of a clip with one transform and build the key frame's targets.

    ``keypoints`` (17, 3) are the key frame's GT in image coordinates (None at test time).
    With ``aug`` the crop is scaled, rotated, flipped (joints swapped) or cut to half the body.
    """
    aug = aug or AugmentParams()
    box = np.asarray(bbox, dtype=np.float64)
    if aug.half_body and keypoints is not None:
        box = half_body_box(keypoints, aug.half_body)
        box = np.asarray(bbox, dtype=np.float64) if box is None else box
    center, size = box_to_center_size(box, cfg.aspect_ratio, cfg.enlarge)
    size = size * aug.scale
    matrix = crop_transform(center, size, cfg.input_size, aug.rotation, aug.flip)
    images = np.stack([warp_image(f, matrix, cfg.input_size) for f in frames])
    hw, hh = cfg.heatmap_size
    if keypoints is None:
        heatmaps = np.zeros((17, hh, hw), dtype=np.float32)
        weights = np.zeros(17, dtype=np.float32)
    else:
        kp = np.asarray(keypoints, dtype=np.float64).copy()
        kp[:, :2] = apply_transform(kp[:, :2], matrix)
        if aug.flip:
            kp = flip_keypoints(kp)
        heatmaps, weights = encode_gaussian(kp[:, :2] / cfg.stride, kp[:, 2] > 0, cfg.heatmap_size, cfg.sigma)
    sample = ClipSample(images, heatmaps, weights, matrix, invert_transform(matrix), [])
    if cfg.limb_maps:
        joints = kp[:, :2] / cfg.stride if keypoints is not None else np.zeros((17, 2))
        sample.limb_heatmaps, sample.limb_weight = encode_limbs(joints, weights, cfg.heatmap_size, cfg.sigma)
    if neighbour_keypoints is not None:  # the same person in every clip frame (None: not labeled there)
        maps = np.zeros((len(neighbour_keypoints), 17, hh, hw), dtype=np.float32)
        wts = np.zeros((len(neighbour_keypoints), 17), dtype=np.float32)
        for t, nk in enumerate(neighbour_keypoints):
            if nk is None:
                continue
            kp = np.asarray(nk, dtype=np.float64).copy()
            kp[:, :2] = apply_transform(kp[:, :2], matrix)
            if aug.flip:
                kp = flip_keypoints(kp)
            maps[t], wts[t] = encode_gaussian(kp[:, :2] / cfg.stride, kp[:, 2] > 0, cfg.heatmap_size, cfg.sigma)
        sample.clip_heatmaps, sample.clip_weight = maps, wts
    return sample


def sample_global_frames(candidates: list[int], key: int, span: int, count: int, mode: str = "offline",
                         rng: np.random.Generator | None = None) -> list[int]:
    """``count`` frames from ``candidates`` (sorted frame indices) spread uniformly over the
    video outside the local window |n - key| <= span; ``streaming`` keeps only n < key - span.
    With ``rng`` (training) each pick is drawn at random within its equal-width segment."""
    if mode not in ("offline", "streaming"):
        raise ValueError(f"global_mode must be offline or streaming, got {mode!r}")
    if mode == "streaming":
        eligible = [n for n in candidates if n < key - span]
    else:
        eligible = [n for n in candidates if abs(n - key) > span]
    if not eligible or count <= 0:
        return []
    if len(eligible) <= count:
        return eligible
    edges = np.linspace(0, len(eligible), count + 1)
    picks = []
    for a, b in zip(edges[:-1], edges[1:]):
        lo, hi = int(np.floor(a)), max(int(np.floor(a)) + 1, int(np.floor(b)))
        picks.append(eligible[int(rng.integers(lo, hi)) if rng is not None else (lo + hi - 1) // 2])
    return picks


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float, ImageNet-normalised."""
    x = (images.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


_NUMBER = re.compile(r"(\d+)$")


def frame_number(file_name: str) -> int:
    """The frame number in a PoseTrack file name (``.../000123.jpg`` -> 123)."""
    match = _NUMBER.search(Path(file_name).stem)
    if not match:
        raise ValueError(f"{file_name}: frame file name has no frame number")
    return int(match.group(1))


class TopDownClipDataset(Dataset):
    """Person clips of PoseTrack-layout videos, for training (GT boxes) or testing (GT boxes or
    detections). ``image_root`` is the folder that holds the ``images/`` tree.

    Items are (video, frame, person or detection) for every labeled frame. In training, people
    without any visible joint are kept in the index but skipped (counted in ``skipped``), since
    they carry no target; frames are matched to image files by the number in ``file_name``.
    Every item's clip frames are resolved when the dataset is built (module docstring: border and
    missing-frame rules); ``missing_neighbours`` counts the clip frames replaced because their
    image is not on disk.
    """

    def __init__(self, videos: list[Video], image_root: str | os.PathLike, cfg: ClipConfig, train: bool = False,
                 detections: DetectionSet | None = None, min_box_score: float = 0.2, seed: int = 0):
        self.videos = videos
        self.image_root = Path(image_root)
        self.cfg = cfg
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.items: list[tuple[int, int, np.ndarray, np.ndarray | None, float]] = []
        self.track_ids: list[int | None] = []
        self.skipped = 0
        for v, video in enumerate(videos):
            for f, frame in enumerate(video.frames):
                if not frame.is_labeled:
                    continue
                if detections is not None:
                    for det in detections.for_frame(frame, min_box_score):
                        self.items.append((v, f, det.box, None, det.score))
                        self.track_ids.append(None)
                    continue
                for person in frame.people:
                    box = person.bbox if person.bbox is not None else keypoints_box(person.keypoints)
                    if box is None or box[2] <= 0 or box[3] <= 0 or (train and not person.visible.any()):
                        self.skipped += 1
                        continue
                    self.items.append((v, f, box, person.keypoints, 1.0))
                    self.track_ids.append(person.track_id)
        self._sources: dict[int, FrameSource] = {}
        self._by_number: dict[int, dict[int, int]] = {}
        # GLPose: per video, annotation frame position -> proposal boxes (N, 4) and scores
        self.proposals: list[dict[int, tuple[np.ndarray, np.ndarray]]] = []
        if cfg.global_frames > 0:
            for video in videos:
                table = {}
                for f, frame in enumerate(video.frames):
                    if detections is not None:
                        dets = detections.for_frame(frame, min_box_score)
                        boxes = [d.box for d in dets]
                        scores = [d.score for d in dets]
                    else:
                        boxes = [p.bbox if p.bbox is not None else keypoints_box(p.keypoints) for p in frame.people]
                        scores = [1.0] * len(boxes)
                    kept = [(np.asarray(b, float), sc) for b, sc in zip(boxes, scores)
                            if b is not None and b[2] > 0 and b[3] > 0]
                    if kept:
                        table[f] = (np.stack([b for b, _ in kept]), np.array([sc for _, sc in kept]))
                self.proposals.append(table)
        self.windows: list[list[int]] = []
        self.missing_neighbours = 0
        self._resolve_windows()

    def _extent(self, v: int, source: FrameSource) -> tuple[int, int]:
        """Video ``v``'s first and last frame as source positions: the folder's numbering or the
        annotation's (its frames, and ``nframes`` where the file gives it), whichever is wider."""
        first = getattr(source, "first", 0)
        numbers = [frame_number(fr.file_name) for fr in self.videos[v].frames]
        lo = min(0, min(numbers) - first)
        hi = max(len(source) - 1, max(numbers) - first)
        nframes = self.videos[v].frames[0].raw.get("nframes")
        if isinstance(nframes, int) and not isinstance(nframes, bool) and nframes > 0:
            base = min(min(numbers), first, 1)  # PoseTrack18 numbers from 0, PoseTrack17 renamed from 1
            hi = max(hi, base + nframes - 1 - first)
        return lo, hi

    def _resolve_windows(self) -> None:
        """Every item's clip positions; a missing key frame is an error naming its file."""
        extents: dict[int, tuple[int, int]] = {}
        missing_keys: list[str] = []
        first_missing = None
        clips_hit: set[int] = set()
        for i, (v, f, *_rest) in enumerate(self.items):
            source = self.source(v)
            if v not in extents:
                extents[v] = self._extent(v, source)
            frame = self.videos[v].frames[f]
            key = frame_number(frame.file_name) - getattr(source, "first", 0)
            if not source.has(key):
                missing_keys.append(str(self.image_root / frame.file_name))
                self.windows.append([])
                continue
            positions, missing = resolve_window(key, self.cfg.offsets, *extents[v], source.has)
            self.windows.append(positions)
            if missing:
                self.missing_neighbours += len(missing)
                clips_hit.add(i)
                if first_missing is None:
                    first_missing = _frame_file(source, missing[0])
        # sources are opened again where items are read (DataLoader workers must not share them)
        self._sources.clear()
        self._by_number.clear()
        if missing_keys:
            unique = sorted(set(missing_keys))
            raise FrameError(f"{unique[0]}: labeled frame's image is missing ({len(unique)} labeled frame(s) of "
                             f"{self.image_root} lack their image; first: {unique[0]}). The key frame of a clip "
                             "must be on disk; only neighbours may be missing")
        if self.missing_neighbours:
            total = sum(len(self.cfg.offsets) for _ in self.items)
            log.warning("%s: %d of %d neighbour frames (in %d of %d clips) are not on disk; each is replaced by the "
                        "nearest frame of its window that is (first missing: %s)", self.image_root,
                        self.missing_neighbours, total, len(clips_hit), len(self.items), first_missing)

    def _frame_positions(self, v: int) -> dict[int, int]:
        """Video ``v``'s frame source index -> position in its annotation (built once)."""
        if v not in self._by_number:
            first = getattr(self.source(v), "first", 0)
            self._by_number[v] = {frame_number(fr.file_name) - first: k for k, fr in enumerate(self.videos[v].frames)}
        return self._by_number[v]

    def _track(self, v: int, track_id: int | None, indices: list[int]) -> list[np.ndarray | None]:
        """The keypoints of track ``track_id`` in each clip frame (source indices), or None where
        that frame is not in the annotation, not labeled, or lacks the person."""
        video = self.videos[v]
        positions = self._frame_positions(v)
        out: list[np.ndarray | None] = []
        for idx in indices:
            k = positions.get(idx)
            frame = video.frames[k] if k is not None else None
            match = None
            if frame is not None and frame.is_labeled and track_id is not None:
                match = next((p.keypoints for p in frame.people if p.track_id == track_id), None)
            out.append(match)
        return out

    def __len__(self) -> int:
        return len(self.items)

    def source(self, v: int) -> FrameSource:
        if v not in self._sources:
            folder = self.image_root / os.path.dirname(self.videos[v].frames[0].file_name)
            self._sources[v] = open_frames(folder)
        return self._sources[v]

    def __getitem__(self, i: int) -> dict:
        v, f, box, keypoints, score = self.items[i]
        source = self.source(v)
        indices = self.windows[i]
        key = indices[0]
        frames = [source.read(k) for k in indices]
        aug = None
        neighbours = None
        if self.train and keypoints is not None:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            aug = sample_augmentation(rng, self.cfg.augment, keypoints)
            neighbours = self._track(v, self.track_ids[i], indices)
            neighbours[0] = keypoints  # the key person, whether or not it has a track id
        sample = make_clip(frames, box, self.cfg, keypoints, aug, neighbours)
        extra = {}
        if sample.clip_heatmaps is not None:
            extra = {"clip_heatmaps": torch.from_numpy(sample.clip_heatmaps),
                     "clip_weight": torch.from_numpy(sample.clip_weight)}
        if sample.limb_heatmaps is not None:
            extra.update({"limb_heatmaps": torch.from_numpy(sample.limb_heatmaps),
                          "limb_weight": torch.from_numpy(sample.limb_weight)})
        if self.cfg.global_frames > 0:
            rng = np.random.default_rng([self.seed, self.epoch, i, 1]) if self.train else None
            extra.update(self.global_context(v, key, aug or AugmentParams(), rng))
        return {**extra,
            "images": to_tensor(sample.images),
            "heatmaps": torch.from_numpy(sample.heatmaps),
            "target_weight": torch.from_numpy(sample.target_weight),
            "crop_to_image": torch.from_numpy(sample.crop_to_image),
            "box_score": torch.tensor(score, dtype=torch.float32),
            "video": v,
            "frame": f,
        }

    def global_context(self, v: int, key: int, aug: AugmentParams, rng: np.random.Generator | None) -> dict:
        """GLPose's global proposals for a clip of video ``v`` whose key frame has source index ``key``."""
        cfg = self.cfg
        video, source = self.videos[v], self.source(v)
        table = self.proposals[v]
        by_index = {n: g for n, g in self._frame_positions(v).items() if g in table and source.has(n)}
        picks = sample_global_frames(sorted(by_index), key, cfg.span, cfg.global_frames, cfg.global_mode, rng)
        count = cfg.global_frames * cfg.global_per_frame
        crops = np.zeros((count, cfg.input_size[1], cfg.input_size[0], 3), dtype=np.uint8)
        valid = np.zeros(count, dtype=bool)
        keys = [""] * count
        k = 0
        for n in picks:
            boxes, scores = table[by_index[n]]
            order = np.argsort(-scores, kind="stable")[: cfg.global_per_frame]
            image = source.read(n)
            for j in order:
                center, size = box_to_center_size(boxes[j], cfg.aspect_ratio, cfg.enlarge)
                matrix = crop_transform(center, size * aug.scale, cfg.input_size, aug.rotation, aug.flip)
                crops[k] = warp_image(image, matrix, cfg.input_size)
                valid[k] = True
                keys[k] = f"{video.name}:{n}:{j}"
                k += 1
        return {"global_crops": to_tensor(crops), "global_valid": torch.from_numpy(valid), "global_keys": keys}


def collate(items: list[dict]) -> dict:
    """A batch of dataset items: tensors stacked, anything else kept as a list."""
    out = {}
    for key in items[0]:
        values = [it[key] for it in items]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return out


class KeyFrameDegradation(Dataset):
    """A training ``TopDownClipDataset`` whose key frames are degraded on the fly with probability
    ``probability`` (``degrade_key_frame``), from a generator seeded by (seed, epoch, item, 2): the
    same item in the same epoch gets the same degradation (exact resume, a valid feature cache).
    Set by ``data.key_degrade`` (``vidpose.engine.data.make_dataset``); everything else passes
    through to the wrapped dataset."""

    def __init__(self, dataset: TopDownClipDataset, probability: float):
        self.dataset, self.probability = dataset, float(probability)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str) -> object:  # videos, cfg, items, skipped, image_root, ...
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    @property
    def epoch(self) -> int:
        return self.dataset.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.dataset.epoch = value

    def __getitem__(self, i: int) -> dict:
        item = self.dataset[i]
        ds = self.dataset
        rng = np.random.default_rng([ds.seed, ds.epoch, i, 2])
        _, _, box, keypoints, _ = ds.items[i]
        to_crop = invert_transform(item["crop_to_image"].numpy().astype(np.float64))
        crop_joints = None
        if keypoints is not None:
            crop_joints = np.asarray(keypoints, float).copy()
            crop_joints[:, :2] = apply_transform(crop_joints[:, :2], to_crop)
        x0, y0, bw, bh = np.asarray(box, float)
        corners = apply_transform(np.array([[x0, y0], [x0 + bw, y0], [x0, y0 + bh], [x0 + bw, y0 + bh]]), to_crop)
        crop_box_ = np.array([*corners.min(0), *(corners.max(0) - corners.min(0))])
        x = item["images"].numpy().transpose(0, 2, 3, 1)
        images = np.clip(x * IMAGENET_STD + IMAGENET_MEAN, 0, 1).astype(np.float32)
        out, record = degrade_key_frame(images, rng, ds.cfg.offsets, crop_box_, crop_joints, self.probability)
        if record is not None:  # only the key frame's tensor is replaced: the neighbours stay bit for bit
            key = ((out[0] - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)
            images_t = item["images"].clone()
            images_t[0] = torch.from_numpy(np.ascontiguousarray(key, dtype=np.float32))
            item["images"] = images_t
        return item
