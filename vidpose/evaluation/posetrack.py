"""PoseTrack multi-person pose AP with the official poseval semantics, vectorised with numpy.

Algorithm (shared/specs/posetrack-evaluation.md §2.2-2.6, checked against poseval's
``eval_helpers.py``):

1. GT and prediction videos are paired by file base name; frames are aligned by position and
   their counts must agree.
2. Frame selection: ``posetrack18`` mode keeps GT frames with at least one person entry
   (poseval ``cleanupData``); ``posetrack21`` mode keeps frames with ``is_labeled`` and drops a
   labeled frame without GT people, as poseval does (the PoseTrack21 kit crashes there).
3. A joint is present unless it is (0, 0, 0) (poseval) or when x > 0 and y > 0 (PoseTrack21).
   Only the 15 evaluated joints count; ears are ignored.
4. Frames with ignore regions drop every GT and predicted point strictly inside a polygon; a
   person left without points is removed (poseval ``removeIgnoredPoints``).
5. Per frame, distance = ||pred - gt|| / (0.6 * head-box diagonal) for joints both have, match
   = distance <= 0.5, PCKh(p, g) = matches / joints annotated in g (raw count if g has none).
   Assignment: each prediction keeps its best GT (lowest GT index on ties), then each GT takes
   the prediction with the largest remaining PCKh (first prediction on ties); 0 means unmatched.
6. Every predicted joint is a detection: a TP when its prediction is matched and the joint
   matches; otherwise (unmatched prediction, or a joint the GT lacks) an FP.
7. Per joint, all detections of all frames are ranked by score (numpy argsort reversed, as
   poseval) and AP is VOC all-point AP x 100. No GT and some predictions: NaN. No predictions:
   0. Total = mean of the 15 joint APs without NaN; groups = plain means (NaN propagates).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import shapely

from vidpose.data.annotations import (
    AnnotationError,
    Video,
    annotation_files,
    load_json,
    parse_posetrack,
)
from vidpose.data.schema import GROUP_NAMES, JOINT_GROUPS, KEYPOINT_NAMES, POSEVAL_TO_SLOT

log = logging.getLogger(__name__)

#: Evaluation runs in poseval's joint order (ids 0..14); each id's PoseTrack slot.
JOINT_SLOTS = np.array(POSEVAL_TO_SLOT)
NUM_JOINTS = len(JOINT_SLOTS)
MIN_SCORE = -9999.0  # poseval's score for a joint without one
MAX_TRACK_ID = 10000  # poseval asserts track ids below this
DIST_THRESHOLD = 0.5
MODES = ("posetrack18", "posetrack21")


class EvaluationMismatch(ValueError):
    """GT and predictions do not describe the same videos and frames. Says what differs."""


@dataclass
class FrameArrays:
    """All kept frames' people, flattened. GT and prediction arrays are ordered by
    (video, frame, person), which is the order poseval appends detections in."""

    num_frames: int
    frame_seq: np.ndarray  # (F,) video index of each kept frame
    gt_frame: np.ndarray  # (G,)
    gt_xy: np.ndarray  # (G, 15, 2)
    gt_has: np.ndarray  # (G, 15) bool
    gt_head: np.ndarray  # (G,)
    gt_track: np.ndarray  # (G,)
    pr_frame: np.ndarray  # (P,)
    pr_xy: np.ndarray  # (P, 15, 2)
    pr_has: np.ndarray  # (P, 15)
    pr_score: np.ndarray  # (P, 15)
    pr_track: np.ndarray  # (P,)


# ----------------------------------------------------------------------------------------------
# Loading and checking
# ----------------------------------------------------------------------------------------------


def _check_prediction_document(data: Any, file: Path) -> None:
    """What poseval needs of a prediction file beyond what our reader checks."""
    if isinstance(data, dict) and "annolist" not in data:
        if "categories" not in data:
            raise EvaluationMismatch(f"{file}: prediction file has no 'categories' (poseval needs the person "
                                     "category and its keypoint names)")
        for i, ann in enumerate(data.get("annotations", [])):
            if isinstance(ann, dict) and "track_id" not in ann:
                raise EvaluationMismatch(f"{file}: $.annotations[{i}] has no 'track_id' (poseval requires one "
                                         "per person, unique within the frame)")


def load_videos(source: str | os.PathLike | Sequence[Video], predictions: bool) -> list[Video]:
    """Videos from a folder of per-video files, one file, or already-loaded ``Video``s."""
    if not isinstance(source, (str, os.PathLike)):
        return list(source)
    videos = []
    for file in annotation_files(source):
        data = load_json(file)
        if predictions:
            _check_prediction_document(data, file)
        videos.extend(parse_posetrack(data, file))
    return videos


def pair_videos(gt: list[Video], pred: list[Video]) -> list[tuple[Video, Video]]:
    """Pair by name (the file base name) and check frame counts and track ids."""
    by_name: dict[str, Video] = {}
    for v in pred:
        if v.name in by_name:
            raise EvaluationMismatch(f"two prediction videos are named {v.name!r}")
        by_name[v.name] = v
    missing = [v.name for v in gt if v.name not in by_name]
    if missing:
        raise EvaluationMismatch(f"no prediction for {len(missing)} of {len(gt)} GT videos: "
                                 f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} "
                                 "(a prediction file needs the GT file's base name)")
    extra = sorted(set(by_name) - {v.name for v in gt})
    if extra:
        log.warning("ignoring %d prediction videos without GT: %s", len(extra), ", ".join(extra[:5]))
    pairs = []
    for g in sorted(gt, key=lambda v: v.name):
        p = by_name[g.name]
        if len(p.frames) != len(g.frames):
            raise EvaluationMismatch(f"{p.source or p.name}: {len(p.frames)} prediction frames but the GT "
                                     f"{g.source or g.name} has {len(g.frames)} (list every GT image, in order)")
        for video, kind in ((g, "GT"), (p, "prediction")):
            for frame in video.frames:
                ids = [person.track_id for person in frame.people]
                if kind == "prediction" and any(t is None for t in ids):
                    raise EvaluationMismatch(f"{video.source or video.name}: frame {frame.file_name}: a predicted "
                                             "person has no track_id")
                ids = [t for t in ids if t is not None]
                if len(set(ids)) != len(ids):
                    raise EvaluationMismatch(f"{video.source or video.name}: frame {frame.file_name}: duplicate "
                                             f"{kind} track ids {sorted(ids)}")
                if ids and (max(ids) >= MAX_TRACK_ID or min(ids) < 0):
                    raise EvaluationMismatch(f"{video.source or video.name}: frame {frame.file_name}: {kind} "
                                             f"track ids must lie in 0..{MAX_TRACK_ID - 1}, got {sorted(ids)}")
        pairs.append((g, p))
    return pairs


def _joints(keypoints: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 17, 3) -> xy (N, 15, 2) and presence (N, 15) in poseval joint order."""
    kp = keypoints[:, JOINT_SLOTS]
    x, y, v = kp[..., 0], kp[..., 1], kp[..., 2]
    if mode == "posetrack21":
        has = (x > 0) & (y > 0)
    else:
        has = ~((x == 0) & (y == 0) & (v == 0))
    return kp[..., :2], has


def _inside_any(polygons: list[np.ndarray], xy: np.ndarray) -> np.ndarray:
    """(N, 15) bool: point strictly inside any polygon (shapely ``contains``). A polygon with fewer
    than 3 vertices has no interior and contains nothing."""
    inside = np.zeros(xy.shape[:2], dtype=bool)
    if xy.size == 0:
        return inside
    flat = xy.reshape(-1, 2)
    for region in polygons:
        if len(region) < 3:
            continue
        poly = shapely.Polygon(region)
        inside |= shapely.contains_xy(poly, flat[:, 0], flat[:, 1]).reshape(inside.shape)
    return inside


def collect_frames(pairs: list[tuple[Video, Video]], mode: str = "posetrack18") -> FrameArrays:
    """Select frames, apply presence rules and ignore regions, and flatten everything."""
    if mode not in MODES:
        raise ValueError(f"unknown evaluation mode {mode!r}; expected one of {MODES}")
    frame_seq = []
    gt_parts: list[tuple] = []
    pr_parts: list[tuple] = []
    kept = 0
    for seq, (gvid, pvid) in enumerate(pairs):
        for gframe, pframe in zip(gvid.frames, pvid.frames):
            if not gframe.people or (mode == "posetrack21" and not gframe.is_labeled):
                continue
            gkp = np.stack([p.keypoints for p in gframe.people])
            gxy, ghas = _joints(gkp, mode)
            gkeep = np.ones(len(gframe.people), dtype=bool)
            if pframe.people:
                pkp = np.stack([p.keypoints for p in pframe.people])
                pxy, phas = _joints(pkp, mode)
                pscore = np.stack([
                    p.scores[JOINT_SLOTS] if p.scores is not None else np.full(NUM_JOINTS, MIN_SCORE)
                    for p in pframe.people
                ]).astype(np.float64)
            else:
                pxy, phas, pscore = np.zeros((0, NUM_JOINTS, 2)), np.zeros((0, NUM_JOINTS), bool), np.zeros((0, NUM_JOINTS))
            pkeep = np.ones(len(pframe.people), dtype=bool)
            if gframe.ignore_regions:
                ghas &= ~_inside_any(gframe.ignore_regions, gxy)
                phas &= ~_inside_any(gframe.ignore_regions, pxy)
                gkeep, pkeep = ghas.any(1), phas.any(1)
            if mode == "posetrack21":  # the kit removes people whose points are all invalid
                gkeep, pkeep = ghas.any(1), phas.any(1)
            heads = []
            for k in np.flatnonzero(gkeep):
                head = gframe.people[k].bbox_head
                if head is None:
                    raise AnnotationError(gvid.source or gvid.name, f"frame {gframe.file_name}, person {k}",
                                          "GT person has no bbox_head; PCKh needs the head box")
                heads.append(0.6 * float(np.hypot(head[2], head[3])))
            gt_parts.append((np.full(gkeep.sum(), kept), gxy[gkeep], ghas[gkeep], np.array(heads, dtype=np.float64),
                             np.array([(gframe.people[k].track_id or 0) + seq * MAX_TRACK_ID
                                       for k in np.flatnonzero(gkeep)], dtype=np.int64)))
            pr_parts.append((np.full(pkeep.sum(), kept), pxy[pkeep], phas[pkeep], pscore[pkeep],
                             np.array([pframe.people[k].track_id + seq * MAX_TRACK_ID
                                       for k in np.flatnonzero(pkeep)], dtype=np.int64)))
            frame_seq.append(seq)
            kept += 1

    def cat(parts: list[tuple], i: int, shape: tuple, dtype: Any) -> np.ndarray:
        arrays = [p[i] for p in parts]
        return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(shape, dtype)

    return FrameArrays(
        num_frames=kept,
        frame_seq=np.array(frame_seq, dtype=np.int64),
        gt_frame=cat(gt_parts, 0, (0,), np.int64), gt_xy=cat(gt_parts, 1, (0, NUM_JOINTS, 2), np.float64),
        gt_has=cat(gt_parts, 2, (0, NUM_JOINTS), bool), gt_head=cat(gt_parts, 3, (0,), np.float64),
        gt_track=cat(gt_parts, 4, (0,), np.int64),
        pr_frame=cat(pr_parts, 0, (0,), np.int64), pr_xy=cat(pr_parts, 1, (0, NUM_JOINTS, 2), np.float64),
        pr_has=cat(pr_parts, 2, (0, NUM_JOINTS), bool), pr_score=cat(pr_parts, 3, (0, NUM_JOINTS), np.float64),
        pr_track=cat(pr_parts, 4, (0,), np.int64),
    )


# ----------------------------------------------------------------------------------------------
# Matching
# ----------------------------------------------------------------------------------------------


@dataclass
class Matching:
    """The result of poseval's per-frame assignment over all frames."""

    pair_pred: np.ndarray  # (M,) prediction index of each (pred, GT) pair in the same frame
    pair_gt: np.ndarray  # (M,)
    dist: np.ndarray  # (M, 15) normalised distance, inf where either side lacks the joint
    match: np.ndarray  # (M, 15) dist <= 0.5
    gt_of_pred: np.ndarray  # (P,) matched GT index or -1
    pair_of_pred: np.ndarray  # (P,) pair index of the matched pair or -1


def _first_argmax_in_groups(values: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max value and first position of the max within consecutive non-empty groups."""
    maxima = np.maximum.reduceat(values, starts)
    local = np.arange(len(values)) - np.repeat(starts, sizes)
    at_max = values == np.repeat(maxima, sizes)
    first = np.minimum.reduceat(np.where(at_max, local, np.iinfo(np.int64).max), starts)
    return maxima, first


@dataclass
class FrameBlocks:
    """Where each kept frame's people and (prediction, GT) pairs sit in the flat arrays. A
    frame's pairs form one contiguous block, prediction-major: (n_pr, n_gt) when reshaped."""

    n_gt: np.ndarray  # (F,)
    n_pr: np.ndarray
    gt_start: np.ndarray
    pr_start: np.ndarray
    pair_start: np.ndarray


def frame_blocks(fa: FrameArrays) -> FrameBlocks:
    F = fa.num_frames
    n_gt = np.bincount(fa.gt_frame, minlength=F)
    n_pr = np.bincount(fa.pr_frame, minlength=F)
    starts = lambda counts: np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)  # noqa: E731
    return FrameBlocks(n_gt, n_pr, starts(n_gt), starts(n_pr), starts(n_gt * n_pr))


def match_frames(fa: FrameArrays, threshold: float = DIST_THRESHOLD) -> Matching:
    """poseval ``assignGTmulti`` for every frame at once (no loop over people or joints)."""
    F = fa.num_frames
    blocks = frame_blocks(fa)
    n_gt, n_pr, gt_start, pr_start = blocks.n_gt, blocks.n_pr, blocks.gt_start, blocks.pr_start
    sizes = n_gt * n_pr
    total = int(sizes.sum())
    P = len(fa.pr_frame)
    gt_of_pred = np.full(P, -1, dtype=np.int64)
    pair_of_pred = np.full(P, -1, dtype=np.int64)
    if total == 0:
        empty = np.zeros((0, NUM_JOINTS))
        return Matching(np.zeros(0, np.int64), np.zeros(0, np.int64), empty, empty.astype(bool), gt_of_pred, pair_of_pred)

    # Pairs ordered prediction-major within each frame: k = p_local * n_gt + g_local.
    pair_frame = np.repeat(np.arange(F), sizes)
    k = np.arange(total) - blocks.pair_start[pair_frame]
    g_local = k % n_gt[pair_frame]
    p_local = k // n_gt[pair_frame]
    pair_gt = gt_start[pair_frame] + g_local
    pair_pred = pr_start[pair_frame] + p_local

    both = fa.pr_has[pair_pred] & fa.gt_has[pair_gt]
    delta = fa.pr_xy[pair_pred] - fa.gt_xy[pair_gt]
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.where(both, np.hypot(delta[..., 0], delta[..., 1]) / fa.gt_head[pair_gt][:, None], np.inf)
    match = dist <= threshold
    n_gt_joints = fa.gt_has.sum(1)[pair_gt]
    pck = match.sum(1).astype(np.float64)
    pck = np.where(n_gt_joints > 0, pck / np.maximum(n_gt_joints, 1), pck)

    # (a) each prediction keeps only its best GT (first GT on ties).
    frames_with_pairs = sizes > 0
    pred_rows = np.repeat(n_gt[frames_with_pairs], n_pr[frames_with_pairs])  # group size per prediction
    pred_starts = np.concatenate([[0], np.cumsum(pred_rows)[:-1]])
    _, best_g = _first_argmax_in_groups(pck, pred_starts, pred_rows)
    pck = np.where(g_local == np.repeat(best_g, pred_rows), pck, 0.0)

    # (b) each GT takes the prediction with the largest remaining PCKh (first on ties).
    order = np.lexsort((p_local, g_local, pair_frame))  # GT-major within each frame
    gt_rows = np.repeat(n_pr[frames_with_pairs], n_gt[frames_with_pairs])
    gt_starts = np.concatenate([[0], np.cumsum(gt_rows)[:-1]])
    best_val, best_p = _first_argmax_in_groups(pck[order], gt_starts, gt_rows)
    matched_pair = order[gt_starts + best_p]
    ok = best_val > 0
    gt_of_pred[pair_pred[matched_pair[ok]]] = pair_gt[matched_pair[ok]]
    pair_of_pred[pair_pred[matched_pair[ok]]] = matched_pair[ok]
    return Matching(pair_pred, pair_gt, dist, match, gt_of_pred, pair_of_pred)


# ----------------------------------------------------------------------------------------------
# Average precision
# ----------------------------------------------------------------------------------------------


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """VOC2010 all-point interpolated AP (poseval ``VOCap``), as a fraction."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def detections_per_joint(fa: FrameArrays, m: Matching) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Per joint: scores and TP labels of all predicted joints in (frame, prediction) order, and
    the number of GT joints."""
    matched = m.pair_of_pred >= 0
    labels = np.zeros(fa.pr_has.shape, dtype=bool)
    labels[matched] = m.match[m.pair_of_pred[matched]]
    scores, tps = [], []
    for j in range(NUM_JOINTS):
        has = fa.pr_has[:, j]
        scores.append(fa.pr_score[has, j])
        tps.append(labels[has, j])
    return scores, tps, fa.gt_has.sum(0)


def average_precision(scores: np.ndarray, tps: np.ndarray, n_gt: int, pt21: bool = False) -> tuple[float, float, float]:
    """AP, precision and recall (x 100) of one joint, with poseval's NaN and zero rules."""
    if len(scores) == 0:
        return 0.0, 0.0, 0.0
    order = np.asarray(scores, dtype=np.float64).argsort()[::-1]  # poseval's exact ranking call
    tp = np.cumsum(tps[order])
    denom = max(n_gt, 1) if pt21 else n_gt
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tp / np.float64(denom)
    precision = tp / np.arange(1, len(tp) + 1)
    ap = np.nan if np.isnan(recall).any() else voc_ap(recall, precision)
    return ap * 100, precision[-1] * 100, recall[-1] * 100


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else float("nan")


def _grouped(per_slot: dict[int, float], total: float) -> dict[str, float]:
    """Group means (plain mean: NaN propagates, as in poseval getCum) plus Total."""
    out = {g: float(np.mean([per_slot[s] for s in slots])) for g, slots in JOINT_GROUPS.items()}
    out["Total"] = total
    return out


def evaluate_posetrack(gt: str | os.PathLike | Sequence[Video], pred: str | os.PathLike | Sequence[Video],
                       mode: str = "posetrack18", mota: bool = False) -> dict[str, Any]:
    """Multi-person pose AP (and optionally MOTA) of predictions against GT.

    ``gt`` and ``pred`` are each a folder of per-video files, one file, or a list of ``Video``s.
    Returns ``Head .. Ankle, Total`` (AP x 100), ``per_joint`` AP, ``precision`` and ``recall``
    (per joint and per group), counts, and with ``mota`` a ``MOTA`` block.
    """
    if mode not in MODES:
        raise ValueError(f"unknown evaluation mode {mode!r}; expected one of {MODES}")
    pairs = pair_videos(load_videos(gt, predictions=False), load_videos(pred, predictions=True))
    fa = collect_frames(pairs, mode)
    m = match_frames(fa)
    scores, tps, n_gt = detections_per_joint(fa, m)
    ap = np.zeros(NUM_JOINTS)
    pre = np.zeros(NUM_JOINTS)
    rec = np.zeros(NUM_JOINTS)
    for j in range(NUM_JOINTS):
        ap[j], pre[j], rec[j] = average_precision(scores[j], tps[j], int(n_gt[j]), pt21=mode == "posetrack21")
    slot = lambda values: {int(JOINT_SLOTS[j]): float(values[j]) for j in range(NUM_JOINTS)}  # noqa: E731
    named = lambda values: {KEYPOINT_NAMES[JOINT_SLOTS[j]]: float(values[j]) for j in range(NUM_JOINTS)}  # noqa: E731
    result: dict[str, Any] = _grouped(slot(ap), _nanmean(ap))
    result["per_joint"] = named(ap)
    result["precision"] = {**_grouped(slot(pre), _nanmean(pre)), "per_joint": named(pre)}
    result["recall"] = {**_grouped(slot(rec), _nanmean(rec)), "per_joint": named(rec)}
    result["num_videos"] = len(pairs)
    result["num_frames"] = fa.num_frames
    result["num_gt_people"] = int(len(fa.gt_frame))
    result["num_pred_people"] = int(len(fa.pr_frame))
    result["mode"] = mode
    if mota:
        from vidpose.evaluation.tracking import evaluate_mota

        result["MOTA"] = evaluate_mota(fa, m)
    return result


def format_table(result: dict[str, Any], title: str = "AP") -> str:
    """The usual one-line-per-metric PoseTrack table."""
    header = "         " + " ".join(f"{g:>8}" for g in GROUP_NAMES)
    rows = [header, f"{title:<8} " + " ".join(f"{result[g]:8.2f}" for g in GROUP_NAMES)]
    for name in ("precision", "recall"):
        if name in result:
            rows.append(f"{name[:8]:<8} " + " ".join(f"{result[name][g]:8.2f}" for g in GROUP_NAMES))
    return "\n".join(rows)
