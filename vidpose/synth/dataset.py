"""SynthTrack datasets: presets, splits, PoseTrack18 files, a detection file, statistics and a
contact sheet.

Layout written under the output folder (the PoseTrack18 layout, so every loader and the
official poseval read it unchanged; ``mpii`` in the names is only a format token):

    images/{split}/{id:06d}_mpii_{split}/{frame:06d}.jpg
    annotations/{split}/{id:06d}_mpii_{split}.json
    images/val_hard_clean/..., annotations/val_hard_clean/...
                                     the clean twins of val_hard: the same videos with the
                                     degradation switched off (identical everywhere else)
    detections/{split}.json          PoseWarper/DCPose layout, an imitation of a real detector
    stats.json                       sizes, degradation and occlusion rates, generation time

Videos are independent pure functions of (seed, split, index), so generation runs in parallel
processes and the same seed always gives byte-identical files (on the same library versions).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vidpose.data.annotations import Frame, Person, Video, save_posetrack, write_json_atomic
from vidpose.data.schema import EVALUATED_JOINTS, KEYPOINT_NAMES
from vidpose.data.versions import SYNTHTRACK_VERSION
from vidpose.errors import ConfigError
from vidpose.synth.scene import DEGRADATIONS, Scene, SceneConfig

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "val_hard")
FIRST_VIDEO_ID = {"train": 900000, "val": 901000, "val_hard": 902000}
CLEAN_TWIN = "val_hard_clean"  # written beside val_hard
VERSION = SYNTHTRACK_VERSION  # what this generator writes (its history: vidpose/data/versions.py)


@dataclass
class SplitPlan:
    videos: int
    frames: int
    label_every: int  # 1 = every frame labeled (train); 4 = PoseTrack val's spacing
    label_offset: int = 0
    hard: bool = False  # every labeled frame degraded, nothing else (3 apart: a +-2 window stays clean)


PRESETS: dict[str, dict[str, SplitPlan]] = {
    "tiny": {"train": SplitPlan(2, 12, 1), "val": SplitPlan(1, 12, 2, 1), "val_hard": SplitPlan(1, 12, 3, 2, True)},
    "small": {"train": SplitPlan(8, 40, 1), "val": SplitPlan(3, 40, 2, 1), "val_hard": SplitPlan(3, 40, 3, 2, True)},
    # many short videos: people and scenes, not frames, are what a model must generalise over
    # (with 32 videos of 60 frames a single-frame model scored 77 AP on train and 44 on val)
    "standard": {"train": SplitPlan(128, 30, 1), "val": SplitPlan(20, 30, 2, 1),
                 "val_hard": SplitPlan(24, 30, 3, 2, True)},
}


@dataclass
class SynthConfig:
    """What ``vidpose synth`` generates. ``videos`` / ``frames`` override the preset per split."""

    preset: str = "small"
    seed: int = 0
    videos: int | None = None
    frames: int | None = None
    splits: tuple[str, ...] = SPLITS
    width: int = 384
    height: int = 288
    degrade_rate: float = 0.3
    jpeg_quality: int = 92
    workers: int = 0  # 0 = all cores

    def check(self) -> None:
        """Every number, before anything is written."""
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown SynthTrack preset {self.preset!r}; expected one of {sorted(PRESETS)}")
        for name, value, low, high in (("videos", self.videos, 1, 999), ("frames", self.frames, 1, 9999)):
            if value is not None and not low <= value <= high:
                raise ConfigError(f"--{name} must lie in {low}..{high} (leave it out for the preset's), got {value}")
        if not 0.0 <= self.degrade_rate <= 1.0:
            raise ConfigError(f"--degrade-rate is a probability in [0, 1], got {self.degrade_rate}")
        if self.width < 64 or self.height < 64:
            raise ConfigError(f"frames must be at least 64x64 pixels, got {self.width}x{self.height}")
        if self.workers < 0:
            raise ConfigError(f"--workers must be >= 0 (0 = all cores), got {self.workers}")

    def plans(self) -> dict[str, SplitPlan]:
        self.check()
        plans = {}
        for split in self.splits:
            if split not in SPLITS:
                raise ValueError(f"unknown split {split!r}; expected some of {SPLITS}")
            plan = PRESETS[self.preset][split]
            plans[split] = replace(plan, videos=plan.videos if self.videos is None else self.videos,
                                   frames=plan.frames if self.frames is None else self.frames)
            if not 1 <= plans[split].frames < 10000:
                raise ValueError(f"frames per video must lie in 1..9999 (PoseTrack names), got {plans[split].frames}")
        return plans


def video_name(split: str, index: int) -> str:
    return f"{FIRST_VIDEO_ID[split] + index:06d}_mpii_{split}"


def image_id(video_id: int, frame: int) -> int:
    """PoseTrack18's scheme: '1', the 6-digit video id, the 4-digit frame index."""
    return int(f"1{video_id:06d}{frame:04d}")


@dataclass
class VideoJob:
    root: str
    split: str
    index: int
    plan: SplitPlan
    cfg: SynthConfig


def _detections(rng: np.random.Generator, truth_boxes: list[dict], degraded: bool, width: int,
                 height: int) -> list[tuple[list[float], float]]:
    """Imitate a person detector: jittered boxes, misses (more under occlusion and degradation),
    scores that drop with both, and a few false positives."""
    out = []
    for box in truth_boxes:
        x, y, w, h = box["bbox"]
        miss = 0.04 + 0.35 * box["hidden"] + (0.1 if degraded else 0.0)
        if w < 4 or h < 4 or rng.random() < miss:
            continue
        cx, cy = x + w / 2 + rng.normal(0, 0.05) * w, y + h / 2 + rng.normal(0, 0.04) * h
        w2, h2 = w * np.exp(rng.normal(0, 0.08)), h * np.exp(rng.normal(0, 0.06))
        score = float(np.clip(0.97 - 0.5 * box["hidden"] - (0.15 if degraded else 0) + rng.normal(0, 0.05), 0.05, 0.999))
        out.append(([cx - w2 / 2, cy - h2 / 2, w2, h2], score))
    for _ in range(rng.poisson(0.25)):
        h = rng.uniform(50, 200)
        w = h * rng.uniform(0.3, 0.6)
        out.append(([rng.uniform(0, width - w), rng.uniform(0, height - h), w, h], float(rng.uniform(0.05, 0.5))))
    return [([round(float(v), 2) for v in b], round(s, 4)) for b, s in out]


def _write_jpeg(path: Path, image: np.ndarray, quality: int) -> None:
    rgb8 = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise IOError(f"{path}: could not write image")


def generate_video(job: VideoJob) -> dict[str, Any]:
    """Render one video, write its frames and annotation file (and, for val_hard, the clean
    twins), return detections and counts."""
    cv2.setNumThreads(1)
    start = time.perf_counter()
    cfg, plan, split = job.cfg, job.plan, job.split
    seed = np.random.SeedSequence([cfg.seed, SPLITS.index(split), job.index])
    rng = np.random.default_rng(seed)
    labeled = [f % plan.label_every == plan.label_offset % plan.label_every for f in range(plan.frames)]
    scene_cfg = SceneConfig(width=cfg.width, height=cfg.height, frames=plan.frames,
                            degrade_rate=0.0 if plan.hard else cfg.degrade_rate,
                            force_degraded=tuple(f for f in range(plan.frames) if plan.hard and labeled[f]))
    scene = Scene(scene_cfg, rng)
    det_rng = np.random.default_rng(seed.spawn(1)[0])
    name = video_name(split, job.index)
    vid = FIRST_VIDEO_ID[split] + job.index
    image_dir = Path(job.root) / "images" / split / name
    image_dir.mkdir(parents=True, exist_ok=True)
    twin_dir = Path(job.root) / "images" / CLEAN_TWIN / name
    if plan.hard:
        twin_dir.mkdir(parents=True, exist_ok=True)
    frames, twins, detections = [], [], []
    counts: Counter = Counter()
    occluded = np.zeros(17)
    annotated = np.zeros(17)
    clean: dict[int, tuple] = {}
    pool: list = []  # occluder cut-outs from earlier clean frames

    def rendered(f: int) -> tuple:
        if f not in clean:
            clean[f] = scene.render_clean(f)
        return clean[f]

    for f in range(plan.frames):
        image, truth, canvas = rendered(f)
        pool = (pool + scene.cutouts(image, truth, canvas, f))[-12:]
        prev = rendered(f - 1)[0] if f > 0 else None
        nxt = rendered(f + 1)[0] if f + 1 < plan.frames else None
        degraded_image = scene.degrade_frame(f, image, truth, canvas, prev, nxt, pool)
        clean.pop(f - 1, None)
        file_name = f"images/{split}/{name}/{f:06d}.jpg"
        _write_jpeg(image_dir / f"{f:06d}.jpg", degraded_image, cfg.jpeg_quality)
        if plan.hard:  # the clean twin: the same scene state, the degradation switched off
            _write_jpeg(twin_dir / f"{f:06d}.jpg", image, cfg.jpeg_quality)
        iid = image_id(vid, f)
        degraded = any(d["type"] in DEGRADATIONS for d in truth.degradations)
        raw = {"vid_id": f"{vid:06d}", "frame_id": iid, "nframes": plan.frames, "width": cfg.width,
               "height": cfg.height, "degradations": truth.degradations}
        people = []
        if labeled[f]:
            for p in truth.people:
                kp = np.round(p["keypoints"], 2)
                people.append(Person(kp, track_id=p["track_id"], bbox=np.round(p["bbox"], 2),
                                     bbox_head=np.round(p["bbox_head"], 2),
                                     occluded=p["occluded"].astype(bool)))
                annotated += kp[:, 2] > 0
                occluded += p["occluded"]
            counts["labeled_frames"] += 1
            counts["people"] += len(people)
            counts["ignore_regions"] += len(truth.ignore)
            counts["degraded_labeled_frames"] += int(degraded)
            for d in truth.degradations:
                counts[f"labeled_{d['type']}"] += 1
        counts["frames"] += 1
        counts["degraded_frames"] += int(degraded)
        for d in truth.degradations:
            counts[d["type"]] += 1
        ignore = [np.round(r, 1) for r in truth.ignore] if labeled[f] else []
        frames.append(Frame(file_name, iid, labeled[f], people, ignore, cfg.width, cfg.height, raw))
        if plan.hard:
            twin_raw = {**raw, "degradations": [d for d in truth.degradations if d["type"] not in DEGRADATIONS],
                        "clean_twin_of": file_name}
            twins.append(Frame(f"images/{CLEAN_TWIN}/{name}/{f:06d}.jpg", iid, labeled[f], people, ignore,
                               cfg.width, cfg.height, twin_raw))
        for bbox, score in _detections(det_rng, truth.boxes, degraded, cfg.width, cfg.height):
            detections.append({"image_name": file_name, "bbox": bbox, "score": score, "category_id": 1,
                               "nframes": plan.frames, "frame_id": iid})
    save_posetrack(Video(name, frames), Path(job.root) / "annotations" / split / f"{name}.json")
    if plan.hard:
        save_posetrack(Video(name, twins), Path(job.root) / "annotations" / CLEAN_TWIN / f"{name}.json")
    return {"split": split, "index": job.index, "detections": detections, "counts": dict(counts),
            "occluded": occluded.tolist(), "annotated": annotated.tolist(),
            "seconds": time.perf_counter() - start}


def prepare_folder(root: Path, replace_existing: bool) -> None:
    """SynthTrack is written into an empty (or new) folder, never mixed with what is there: a
    folder with content is refused, or, with ``replace_existing`` and if it holds a SynthTrack
    (its stats.json), deleted whole first."""
    import shutil

    if not root.exists() or not any(root.iterdir()):
        return
    if not replace_existing:
        raise ConfigError(f"{root}: the folder is not empty; SynthTrack is written into an empty folder. Choose another "
                          "--out, or --replace to delete an older SynthTrack there first")
    if not (root / "stats.json").is_file():
        raise ConfigError(f"{root}: holds files but no SynthTrack (no stats.json); refusing to delete it. Choose an "
                          "empty folder")
    shutil.rmtree(root)
    log.info("%s: replaced the SynthTrack that was there", root)


def generate(out: str | os.PathLike, cfg: SynthConfig, progress: bool = True, replace_existing: bool = False
             ) -> dict[str, Any]:
    """Generate every split of ``cfg`` under ``out`` (an empty folder; see ``prepare_folder``);
    returns (and writes) the statistics."""
    from tqdm import tqdm

    root = Path(out)
    plans = cfg.plans()
    prepare_folder(root, replace_existing)
    jobs = [VideoJob(str(root), split, i, plan, cfg) for split, plan in plans.items() for i in range(plan.videos)]
    workers = cfg.workers or os.cpu_count() or 1
    workers = max(1, min(workers, len(jobs)))
    start = time.perf_counter()
    results = []
    bar = tqdm(total=sum(j.plan.frames for j in jobs), unit="frame", desc="synthtrack", disable=not progress)
    if workers == 1:
        for job in jobs:
            results.append(generate_video(job))
            bar.update(job.plan.frames)
    else:  # spawn: safe even when the caller has already started PyTorch threads
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for job, result in zip(jobs, pool.imap(generate_video, jobs)):
                results.append(result)
                bar.update(job.plan.frames)
    bar.close()
    elapsed = time.perf_counter() - start

    stats: dict[str, Any] = {"version": VERSION, "preset": cfg.preset,
                             "config": {**asdict(cfg), "splits": list(cfg.splits)},
                             "seconds": round(elapsed, 2), "workers": workers, "splits": {}}
    for split, plan in plans.items():
        mine = sorted((r for r in results if r["split"] == split), key=lambda r: r["index"])
        dets = [d for r in mine for d in r["detections"]]
        write_json_atomic(dets, root / "detections" / f"{split}.json")
        counts: Counter = Counter()
        for r in mine:
            counts.update(r["counts"])
        occl, ann = np.sum([r["occluded"] for r in mine], 0), np.sum([r["annotated"] for r in mine], 0)
        lab = max(counts["labeled_frames"], 1)
        stats["splits"][split] = {
            "videos": plan.videos, "frames_per_video": plan.frames, "frames": counts["frames"],
            "labeled_frames": counts["labeled_frames"], "people": counts["people"],
            "ignore_regions": counts["ignore_regions"], "detections": len(dets),
            "degraded_frame_rate": round(counts["degraded_frames"] / max(counts["frames"], 1), 3),
            "degraded_labeled_frame_rate": round(counts["degraded_labeled_frames"] / lab, 3),
            "labeled_rate_by_type": {k: round(counts[f"labeled_{k}"] / lab, 3)
                                     for k in DEGRADATIONS + ("mutual_occlusion",)},
            "joint_occlusion_rate": {KEYPOINT_NAMES[j]: round(float(occl[j] / max(ann[j], 1)), 3)
                                     for j in EVALUATED_JOINTS},
            "occlusion_rate": round(float(occl[list(EVALUATED_JOINTS)].sum() / max(ann[list(EVALUATED_JOINTS)].sum(), 1)), 3),
        }
    stats["bytes"] = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and p.name != "stats.json")
    write_json_atomic(stats, root / "stats.json")
    return stats


def contact_sheet(root: str | os.PathLike, out: str | os.PathLike, split: str = "val", videos: int = 4,
                  frames: int = 4, scale: float = 1.0) -> Path:
    """A grid of labeled frames (rows: videos, columns: frames across each video) with the ground
    truth drawn and each frame's degradations written on it."""
    from vidpose.data.annotations import load_posetrack
    from vidpose.data.draw import draw_frame, save_rgb
    from vidpose.data.frames import read_image

    root = Path(root)
    folder = root / "annotations" / split
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such split folder (generate with `vidpose synth` first)")
    loaded, _ = load_posetrack(folder)
    rows = []
    for video in loaded[:videos]:
        labeled = [f for f in video.frames if f.is_labeled]
        picks = [labeled[int(i)] for i in np.linspace(0, len(labeled) - 1, min(frames, len(labeled)))]
        tiles = []
        for frame in picks:
            tile = draw_frame(read_image(root / frame.file_name), frame, thickness=1)
            # Mark occluded joints in red on top of the skeleton.
            for person in frame.people:
                if person.occluded is not None:
                    for j in np.flatnonzero(person.occluded & (person.keypoints[:, 2] > 0)):
                        x, y = np.round(person.keypoints[j, :2]).astype(int)
                        cv2.circle(tile, (int(x), int(y)), 3, (255, 40, 40), -1, cv2.LINE_AA)
            words = ", ".join(d["type"] for d in frame.raw.get("degradations", [])) or "clean"
            cv2.rectangle(tile, (0, 0), (tile.shape[1], 14), (0, 0, 0), -1)
            cv2.putText(tile, f"{video.name[:6]} f{frame.file_name[-10:-4]}: {words}", (3, 10),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.33, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        while len(tiles) < frames:
            tiles.append(np.zeros_like(tiles[0]))
        rows.append(np.concatenate(tiles, 1))
    sheet = np.concatenate(rows, 0)
    if scale != 1.0:
        sheet = cv2.resize(sheet, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    save_rgb(str(out), sheet)
    return Path(out)
