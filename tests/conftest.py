"""Shared test helpers: the optional real PoseTrack18 fixtures and a small GT/prediction factory."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from vidpose.data.annotations import Frame, Person, Video

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "posetrack18"
GUIDE = Path(__file__).resolve().parents[1] / "docs" / "posetrack.md"


#: what the default pipeline (detector, tracker, BlazePose) needs
PIPELINE_ASSETS = ("blazepose_full", "movenet_multipose", "movenet_multipose_weights")


def require_assets(*names: str) -> None:
    """Skip unless every named asset is fetched (``vidpose assets fetch``). Under CI, which fetches
    them (``make test``), a missing asset fails the test instead: there it must run."""
    from vidpose.assets import AssetError, asset_path

    missing = []
    for name in names:
        try:
            asset_path(name)
        except AssetError as e:
            missing.append(f"{name} ({e})")
    if missing:
        message = "assets not fetched: " + "; ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message + " -- CI fetches the assets, so a needs_assets test must run there")
        pytest.skip(message)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """``@pytest.mark.needs_assets("name", ...)`` (default: the pipeline's) checks its assets before
    any fixture is built."""
    marker = item.get_closest_marker("needs_assets")
    if marker is not None:
        require_assets(*(marker.args or PIPELINE_ASSETS))


@pytest.fixture
def fixtures() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip("../shared/fixtures/posetrack18 is absent")
    return FIXTURES


@pytest.fixture(scope="session")
def person_crops() -> tuple[np.ndarray, np.ndarray]:
    """256x256 RGB crops (N, 256, 256, 3) uint8 around the annotated people of the PoseTrack18
    fixtures with at least 5 labelled joints (square box, enlarged 1.25: BlazePose's framing), and
    their keypoints (N, 17, 3) in crop pixels."""
    if not FIXTURES.is_dir():
        pytest.skip("../shared/fixtures/posetrack18 is absent")
    import cv2

    from vidpose.data.annotations import load_posetrack
    from vidpose.data.transforms import apply_transform, box_to_center_size, crop_transform, warp_image

    videos, _ = load_posetrack(FIXTURES / "annotations" / "val")
    crops, joints = [], []
    for video in videos:
        for frame in video.frames:
            if not frame.people:
                continue
            image = cv2.cvtColor(cv2.imread(str(FIXTURES / frame.file_name)), cv2.COLOR_BGR2RGB)
            for person in frame.people:
                if person.bbox is None or (person.keypoints[:, 2] > 0).sum() < 5:
                    continue
                center, size = box_to_center_size(person.bbox, 1.0, 1.25)
                matrix = crop_transform(center, size, (256, 256))
                crops.append(warp_image(image, matrix, (256, 256)))
                kp = person.keypoints.copy()
                kp[:, :2] = apply_transform(kp[:, :2], matrix)
                joints.append(kp)
    assert len(crops) >= 10
    return np.stack(crops), np.stack(joints)


def make_person(seed: int = 0, center=(200.0, 200.0), track_id: int = 0, head_size: float = 20.0,
                missing: tuple[int, ...] = (), scores: float | None = 1.0) -> Person:
    """A person with all 15 evaluated joints at distinct positions, a head box whose PCKh head
    size (0.6 x diagonal) is ``head_size``, joints in ``missing`` left unannotated."""
    rng = np.random.default_rng(seed)
    kp = np.zeros((17, 3))
    for slot in range(17):
        kp[slot] = (center[0] + rng.uniform(-60, 60), center[1] + rng.uniform(-90, 90), 1)
    kp[[3, 4]] = 0
    diag = head_size / 0.6
    side = diag / np.sqrt(2)
    head = np.array([kp[2, 0] - side / 2, kp[2, 1] - side / 2, side, side])
    kp[list(missing)] = 0
    person_scores = None if scores is None else np.where(kp[:, 2] > 0, scores, 0.0)
    return Person(kp, track_id=track_id, bbox_head=head, bbox=np.array([center[0] - 70, center[1] - 100, 140, 200]),
                  scores=person_scores)


def make_video(frames_people: list[list[Person]], name: str = "000001_mpii_test",
               ignore: dict[int, list[np.ndarray]] | None = None) -> Video:
    frames = []
    for i, people in enumerate(frames_people):
        frames.append(Frame(f"images/val/{name}/{i:06d}.jpg", 10000 + i, bool(people), list(people),
                            ignore_regions=(ignore or {}).get(i, [])))
    return Video(name, frames)


@pytest.fixture(scope="session")
def synth_tiny(tmp_path_factory):
    """A tiny SynthTrack dataset (generated once per test process)."""
    from vidpose.synth.dataset import SynthConfig, generate

    root = tmp_path_factory.mktemp("synth_tiny")
    generate(root, SynthConfig(preset="tiny", seed=0, workers=1), progress=False)
    return root


def tiny_config(root, model="single_frame", backbone="hrnet", **train):
    """A training config on SynthTrack tiny that runs in seconds."""
    return {
        "data": {"root": str(root), "synth_preset": None, "train_split": "train", "val_split": "val",
                 "input_size": [96, 128], "heatmap_size": [24, 32], "sigma": 1.5,
                 "offsets": [] if model == "single_frame" else [-1, 1], "workers": 0},
        "model": {"name": model, "backbone": {"name": backbone, "size": "tiny"}, "pretrained": None},
        "train": {"epochs": 2, "batch_size": 8, "optimizer": "adamw", "lr": 1e-3, "weight_decay": 1e-4,
                  "schedule": "cosine", "warmup_steps": 2, "clip_grad": 5.0, "freeze_backbone": False, "amp": True,
                  "seed": 0, "checkpoint_every": 2, "max_steps": None, "max_minutes": None, "init_from": None,
                  **train},
        "test": {"boxes": "gt", "min_box_score": 0.2, "flip": True, "flip_shift": True, "decode": "dark",
                 "batch_size": 16},
    }


def guide_commands() -> list[list[str]]:
    """Every command line of the ``bash`` blocks of docs/posetrack.md, split like a shell would
    (the reproduction guide's commands, which the tests run; comments and blank lines dropped)."""
    blocks = re.findall(r"```bash\n(.*?)```", GUIDE.read_text(), re.S)
    return [shlex.split(line) for block in blocks for line in block.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def tiny_checkpoint(folder: Path) -> Path:
    """An untrained single-frame HRNet-tiny checkpoint with its config, for predict's input and
    output tests (seconds on a CPU; its keypoints mean nothing, their range does)."""
    import torch

    from vidpose.engine.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
    from vidpose.models.registry import build_model

    cfg = {"data": {"input_size": [64, 64], "heatmap_size": [16, 16], "sigma": 1.5, "offsets": []},
           "model": {"name": "single_frame", "backbone": {"name": "hrnet", "size": "tiny"}},
           "test": {"flip": False}}
    torch.manual_seed(0)
    path = Path(folder) / "tiny.pt"
    save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "model_name": "single_frame", "config": cfg,
                           "model": build_model(cfg["model"]).state_dict(), "step": 0})
    return path


def tiny_video(path: Path, frames: int = 12, fps: int = 5) -> Path:
    """A small H.264 video (96x128, ``fps``) of a bright rectangle moving right."""
    from vidpose.data.frames import write_video

    images = []
    for i in range(frames):
        image = np.full((96, 128, 3), 30, np.uint8)
        image[20:80, 10 + 4 * i: 40 + 4 * i] = 220
        images.append(image)
    write_video(path, images, fps=fps)
    return path


def assert_adam_steps_lower(objective, params, *, steps: int = 3, lr: float = 1e-3, trained=None) -> None:
    """Take ``steps`` Adam steps on ``trained()`` (default: ``objective()``) over the trainable
    ``params`` and assert that ``objective()`` fell. ``trained`` differs where a model's auxiliary
    estimators train too but are not what should fall (TDMI's and FAMI-Pose's probes)."""
    import torch

    trained = trained or objective
    opt = torch.optim.Adam([p for p in params if p.requires_grad], lr=lr)
    first = objective().item()
    for _ in range(steps):
        opt.zero_grad()
        trained().backward()
        opt.step()
    last = objective().item()
    assert last < first, f"{steps} Adam steps at lr {lr} did not lower the loss: {first:.6g} -> {last:.6g}"
