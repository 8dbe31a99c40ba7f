"""Confidence intervals for AP differences, and AP on subsets of frames.

AP is not a sum over videos: every joint's detections are ranked together. So a paired bootstrap
over videos (Efron and Tibshirani's resampling of the independent units: a video's frames and
people are correlated) matches each video once, keeps its per-joint detection scores, true
positives and GT counts, and for every resample pools them over the drawn videos and recomputes
AP, for two sets of predictions on the same draw (each side may hold several seeds' runs, whose
APs are averaged per draw). ``paired_bootstrap`` returns the observed difference and the
percentile interval.

``paired_ratio_bootstrap`` does the same for a pooled ratio such as PCKh (joints within reach
over joints scored), from per-unit counts: there the units are whatever the caller keys them by,
for example tracks where a split holds too few videos to resample.

``frames_where`` keeps only the labeled frames that satisfy a predicate (for example "this frame's
degradation is a motion blur"), so AP can be split by kind.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from vidpose.data.annotations import Frame, Video
from vidpose.evaluation.posetrack import (
    NUM_JOINTS,
    average_precision,
    collect_frames,
    detections_per_joint,
    match_frames,
    pair_videos,
    read_tables,
)


@dataclass
class VideoDetections:
    """One video's matched detections: per joint, scores and true-positive flags, and GT counts."""

    scores: list[np.ndarray]
    tps: list[np.ndarray]
    n_gt: np.ndarray


def per_video_detections(gt: Sequence[Video], pred: Sequence[Video], mode: str = "posetrack18") -> list[VideoDetections]:
    """Match every video on its own, in GT order."""
    pairs = pair_videos(read_tables(gt, False), read_tables(pred, True))
    out = []
    for pair in pairs:
        fa = collect_frames([pair], mode)
        scores, tps, n_gt = detections_per_joint(fa, match_frames(fa))
        out.append(VideoDetections(list(scores), list(tps), np.asarray(n_gt, dtype=np.int64)))
    return out


def pooled_total(videos: Sequence[VideoDetections], draw: np.ndarray) -> float:
    """Total AP (x 100, the mean over joints that have GT) of the drawn videos pooled."""
    aps = []
    for j in range(NUM_JOINTS):
        n = int(sum(videos[i].n_gt[j] for i in draw))
        if n == 0:
            continue
        scores = np.concatenate([videos[i].scores[j] for i in draw])
        tps = np.concatenate([videos[i].tps[j] for i in draw])
        aps.append(average_precision(scores, tps, n)[0])  # already x 100
    return float(np.mean(aps)) if aps else float("nan")


def paired_bootstrap(a: Sequence[Sequence[VideoDetections]], b: Sequence[Sequence[VideoDetections]],
                     resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Total AP of ``a`` minus that of ``b`` on the same videos, with a percentile interval.
    Each side holds one or more runs (seeds) of one method: each draw averages their APs, so the
    interval covers the video sampling of the difference of the means over seeds."""
    if not a or not b:
        raise ValueError("paired bootstrap: each side needs at least one run")
    n = len(b[0])
    if any(len(run) != n for run in (*a, *b)):
        raise ValueError("paired bootstrap: every run must hold the same videos")

    def mean_total(runs: Sequence[Sequence[VideoDetections]], draw: np.ndarray) -> float:
        return float(np.mean([pooled_total(run, draw) for run in runs]))

    everything = np.arange(n)
    observed = mean_total(a, everything) - mean_total(b, everything)
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    for r in range(resamples):
        draw = rng.integers(0, n, n)
        diffs[r] = mean_total(a, draw) - mean_total(b, draw)
    return {**percentile_interval(observed, diffs, level), "videos": n}


def percentile_interval(observed: float, diffs: np.ndarray, level: float) -> dict[str, float]:
    """The observed difference and the percentile interval of the resampled ones, as the bootstraps
    here report them."""
    lo, hi = np.percentile(diffs, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return {"delta": round(float(observed), 3), "ci_low": round(float(lo), 3), "ci_high": round(float(hi), 3),
            "level": level, "resamples": len(diffs)}


def paired_ratio_bootstrap(a: dict[str, Sequence[int]], b: dict[str, Sequence[int]], resamples: int = 1000,
                           seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Pooled ratio (x 100) of ``a`` minus that of ``b`` with a percentile interval, resampling the
    units: each side maps a unit to (hits, total), with the same units and totals (the same GT)."""
    if set(a) != set(b):
        raise ValueError(f"paired ratio bootstrap: the sides hold different units ({len(set(a) ^ set(b))} differ)")
    keys = sorted(a)
    if not keys:
        raise ValueError("paired ratio bootstrap: no units")
    hits_a = np.array([a[k][0] for k in keys], float)
    hits_b = np.array([b[k][0] for k in keys], float)
    totals = np.array([a[k][1] for k in keys], float)
    if not np.array_equal(totals, [b[k][1] for k in keys]):
        raise ValueError("paired ratio bootstrap: the sides scored different totals for the same units")
    observed = 100.0 * (hits_a.sum() - hits_b.sum()) / totals.sum()
    draws = np.random.default_rng(seed).integers(0, len(keys), (resamples, len(keys)))
    diffs = 100.0 * (hits_a[draws].sum(1) - hits_b[draws].sum(1)) / np.maximum(totals[draws].sum(1), 1)
    return {**percentile_interval(observed, diffs, level), "units": len(keys)}


def frames_where(videos: Sequence[Video], keep: Callable[[Frame], bool]) -> list[Video]:
    """Copies of ``videos`` in which labeled frames failing ``keep`` become unlabeled (and so are
    not evaluated); nothing else changes."""
    out = []
    for video in videos:
        v = copy.deepcopy(video)
        for frame in v.frames:
            if frame.is_labeled and not keep(frame):
                frame.is_labeled = False
                frame.people = []
                frame.ignore_regions = []
        out.append(v)
    return out
