"""Datasets for training and testing, built from a config's ``data`` section.

    data:
      root: data/synthtrack/standard   # holds images/ and annotations/{split}/
      synth_preset: standard           # generate SynthTrack there if it is missing (null: never)
      train_split: train
      val_split: val
      input_size: [96, 128]            # (width, height)
      heatmap_size: [24, 32]
      sigma: 1.5
      aspect_ratio: 0.75               # crop width / height (BlazePose: 1.0, square)
      enlarge: 1.25                    # box enlargement before cropping
      offsets: [-2, -1, 1, 2]          # supporting frames (delta = 2)
      global_frames: 0                 # GLPose: frames sampled across the video (0 = none)
      global_per_frame: 4              # proposals per sampled frame (every person, up to 4)
      global_mode: offline             # or streaming (past frames only; needs past-only offsets)
      key_degrade: 0.0                 # training only: chance that a clip's key frame is degraded on the
                                       # fly, neighbours clean (vidpose.data.clips.KeyFrameDegradation)
      workers: 2
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from vidpose.data.annotations import Video, load_posetrack
from vidpose.data.clips import ClipConfig, KeyFrameDegradation, TopDownClipDataset
from vidpose.data.detections import DetectionSet
from vidpose.data.transforms import AugmentConfig
from vidpose.data.versions import check_dataset_version
from vidpose.synth.dataset import SynthConfig, generate

log = logging.getLogger(__name__)


def check_offsets(cfg: dict[str, Any]) -> None:
    """A temporal model's ``model.offsets`` must be the clips' ``data.offsets``."""
    model_offsets = cfg["model"].get("offsets")
    data_offsets = list(cfg["data"].get("offsets", []))
    if model_offsets is not None and list(model_offsets) != data_offsets:
        raise ValueError(f"model.offsets {list(model_offsets)} differ from data.offsets {data_offsets}; set both "
                         "to the same supporting frames")


def clip_config(data: dict[str, Any]) -> ClipConfig:
    aug = AugmentConfig(**data.get("augment", {}))
    return ClipConfig(input_size=tuple(data["input_size"]), heatmap_size=tuple(data["heatmap_size"]),
                      sigma=float(data.get("sigma", 2.0)), offsets=tuple(data.get("offsets", (-2, -1, 1, 2))),
                      aspect_ratio=float(data.get("aspect_ratio", 0.75)), enlarge=float(data.get("enlarge", 1.25)),
                      augment=aug, global_frames=int(data.get("global_frames", 0)),
                      global_per_frame=int(data.get("global_per_frame", 4)),
                      global_mode=str(data.get("global_mode", "offline")),
                      limb_maps=bool(data.get("limb_maps", False)))


def ensure_dataset(data: dict[str, Any]) -> Path:
    """The dataset root; SynthTrack is generated there first when missing and allowed."""
    root = Path(data["root"])
    if (root / "annotations").is_dir():
        check_dataset_version(root)
        return root
    preset = data.get("synth_preset")
    default = Path("data/synthtrack") / str(preset)
    if not preset or root.resolve() != default.resolve():
        # SynthTrack is generated on its own only into its default folder: a typo in data.root, or a
        # folder of the user's without annotations/, must not receive 100 MB of synthetic data
        how = f"generate SynthTrack there with `vidpose synth --out {root} --preset {preset}`" if preset else \
            "set data.root to a PoseTrack or SynthTrack folder"
        raise FileNotFoundError(f"{root}: no annotations/ folder; {how}"
                                + (f" (data.synth_preset generates only into {default})" if preset else ""))
    log.info("generating SynthTrack %s in %s", preset, root)
    generate(root, SynthConfig(preset=preset, seed=int(data.get("synth_seed", 0))))
    return root


def load_split(data: dict[str, Any], split: str) -> tuple[Path, list[Video]]:
    root = ensure_dataset(data)
    folder = root / "annotations" / split
    videos, summary = load_posetrack(folder)
    log.info("%s: %s", folder, summary.format().splitlines()[0])
    return root, videos


def make_dataset(data: dict[str, Any], split: str, train: bool, detections: DetectionSet | None = None,
                 min_box_score: float = 0.2, seed: int = 0) -> "TopDownClipDataset | KeyFrameDegradation":
    root, videos = load_split(data, split)
    dataset = TopDownClipDataset(videos, root, clip_config(data), train=train, detections=detections,
                                 min_box_score=min_box_score, seed=seed)
    key_degrade = float(data.get("key_degrade") or 0.0)
    if not 0.0 <= key_degrade <= 1.0:
        raise ValueError(f"data.key_degrade is a probability in [0, 1], got {key_degrade}")
    if train and key_degrade > 0:  # key frames degraded on the fly, neighbours clean (as SynthTrack's val_hard)
        return KeyFrameDegradation(dataset, key_degrade)
    return dataset
