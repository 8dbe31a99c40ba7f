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

MOTA (``mota=True``, ``evaluate_mota``): multi-person pose tracking MOTA with poseval's semantics
(``evaluateTracking.py``).

Per sequence and joint, one ``motmetrics.MOTAccumulator`` receives, for every kept frame, the
track ids of GT and predicted people that have the joint and their normalised distance where
they match (<= 0.5), NaN otherwise; motmetrics does the min-cost assignment and counts
switches. Quirks of the official code, reproduced on purpose so numbers agree
(shared/specs/posetrack-evaluation.md §2.9):

- the last kept frame of each sequence is not evaluated (poseval iterates ``imgidxs[:-1]``);
- a frame without predictions or without GT (after ignore regions) is entered as one dummy GT id
  0 against one dummy prediction id 0 that cannot match, i.e. one miss and one false positive
  per joint, whatever the real counts;
- track ids are offset by 10000 x the sequence index, so they must be below 10000.
MOTA = 100 (1 - (misses + switches + FP) / GT), MOTP = 100 (1 - sum D / matches),
precision = matches / (matches + FP), recall = matches / GT; totals are means over joints
without NaN, groups as in the AP table.
"""

from __future__ import annotations

import glob
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import shapely

from vidpose.data.annotations import AnnotationError, Video, annotation_files, load_json, parse_posetrack
from vidpose.data.schema import GROUP_NAMES, JOINT_GROUPS, KEYPOINT_NAMES, POSEVAL_TO_SLOT
from vidpose.evaluation.tables import NO_TRACK, VideoTable, frame_key, table_from_document, table_from_video
from vidpose.errors import VidposeError

log = logging.getLogger(__name__)

#: Evaluation runs in poseval's joint order (ids 0..14); each id's PoseTrack slot.
JOINT_SLOTS = np.array(POSEVAL_TO_SLOT)
NUM_JOINTS = len(JOINT_SLOTS)
MIN_SCORE = -9999.0  # poseval's score for a joint without one
MAX_TRACK_ID = 10000  # poseval asserts track ids below this
DIST_THRESHOLD = 0.5
MODES = ("posetrack18", "posetrack21")


class EvaluationMismatch(VidposeError, ValueError):
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
        annotations = data.get("annotations", [])
        for i, ann in enumerate(annotations if isinstance(annotations, list) else []):  # the reader names the rest
            if isinstance(ann, dict) and "track_id" not in ann:
                raise EvaluationMismatch(f"{file}: $.annotations[{i}] has no 'track_id' (poseval requires one "
                                         "per person, unique within the frame)")


def _read_file(file: Path, predictions: bool, keep: dict[str, set[str]] | None = None) -> list[VideoTable]:
    data = load_json(file)
    if predictions:
        _check_prediction_document(data, file)
    fast = table_from_document(data, file, file.stem, None if keep is None else keep.get(file.stem, set()))
    return [fast] if fast is not None else [table_from_video(v) for v in parse_posetrack(data, file)]


def evaluated_frames(tables: Sequence[VideoTable]) -> dict[str, set[str]]:
    """Per GT video, the keys of the frames that can be evaluated (those with a GT person)."""
    return {t.name: {frame_key(t.file_names[f]) for f in np.unique(t.person_frame)} for t in tables}


def read_tables(source: str | os.PathLike | Sequence[Video] | Sequence[VideoTable], predictions: bool,
                workers: int = 1, keep: dict[str, set[str]] | None = None) -> list[VideoTable]:
    """Tables from a folder of per-video files, one file, or already-loaded ``Video``s.

    ``keep`` (video name -> frame keys, ``evaluated_frames`` of the GT): a regular per-video file
    then converts only the people of those frames (``table_from_document``); a speed-up only.

    ``workers > 1`` reads files in forked processes (JSON parsing dominates the run time). Only
    the CLI does that by default: forking a process that already runs threads (a training job
    with PyTorch) is unsafe, so library calls read serially unless asked.
    """
    if not isinstance(source, (str, os.PathLike)):
        return [v if isinstance(v, VideoTable) else table_from_video(v) for v in source]
    files = annotation_files(source)
    if Path(source).is_dir():  # poseval's order: glob's (the folder's listing, unsorted); it breaks score ties
        listed = [Path(f) for f in glob.glob(os.path.join(glob.escape(str(source)), "*.json"))]
        files = [f for f in listed if f.is_file()] or files
    workers = min(workers, len(files) // 8)  # a pool only pays off for many files
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            chunks = pool.map(_read_file, files, [predictions] * len(files), [keep] * len(files),
                              chunksize=max(1, len(files) // (4 * workers)))
            return [t for chunk in chunks for t in chunk]
    return [t for file in files for t in _read_file(file, predictions, keep)]


def _check_track_ids(t: VideoTable, kind: str) -> None:
    missing = t.track == NO_TRACK
    if kind == "prediction" and missing.any():
        frame = t.file_names[t.person_frame[np.argmax(missing)]]
        raise EvaluationMismatch(f"{t.label}: frame {frame}: a predicted person has no track_id")
    known = ~missing
    bad = known & ((t.track >= MAX_TRACK_ID) | (t.track < 0))
    if bad.any():
        f = t.person_frame[np.argmax(bad)]
        raise EvaluationMismatch(f"{t.label}: frame {t.file_names[f]}: {kind} track ids must lie in "
                                 f"0..{MAX_TRACK_ID - 1}, got {sorted(t.track[t.person_frame == f].tolist())}")
    keys = t.person_frame[known] * MAX_TRACK_ID + t.track[known]
    unique, counts = np.unique(keys, return_counts=True)
    if (counts > 1).any():
        f = int(unique[np.argmax(counts > 1)] // MAX_TRACK_ID)
        ids = t.track[known & (t.person_frame == f)]
        raise EvaluationMismatch(f"{t.label}: frame {t.file_names[f]}: duplicate {kind} track ids {sorted(ids.tolist())}")


def pair_videos(gt: Sequence[Video] | Sequence[VideoTable],
                pred: Sequence[Video] | Sequence[VideoTable]) -> list[tuple[VideoTable, VideoTable]]:
    """Pair by name (the file base name) and check frame counts and track ids."""
    gt, pred = read_tables(gt, predictions=False), read_tables(pred, predictions=True)
    by_name: dict[str, VideoTable] = {}
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
    for g in gt:  # in the GT's order, as poseval concatenates (ties in the ranking follow it)
        p = align_frames(g, by_name[g.name])
        _check_track_ids(g, "GT")
        _check_track_ids(p, "prediction")
        pairs.append((g, p))
    return pairs


def align_frames(g: VideoTable, p: VideoTable) -> VideoTable:
    """The prediction's frames in the GT's order, paired by file name (as PoseTrack files
    identify their images). poseval pairs by position; vidpose does too only when the names say
    the same. Frames listed in another order are reordered; frames that differ are an error
    naming them."""
    gk, pk = [frame_key(n) for n in g.file_names], [frame_key(n) for n in p.file_names]
    if gk == pk:
        return p
    if sorted(gk) == sorted(pk) and len(set(pk)) == len(pk):
        where = {k: i for i, k in enumerate(pk)}
        order = np.array([where[k] for k in gk])  # new frame i = old frame order[i]
        new_of_old = np.empty_like(order)
        new_of_old[order] = np.arange(len(order))
        frames = new_of_old[p.person_frame]
        people = np.argsort(frames, kind="stable")
        log.warning("%s: frames listed in another order than the GT's %s; paired by file name", p.label, g.label)
        return VideoTable(p.name, p.source, [p.file_names[i] for i in order], p.labeled[order],
                          [p.regions[i] for i in order], frames[people], p.keypoints[people], p.scores[people],
                          p.has_scores[people], p.track[people], p.head[people])
    if p.num_frames != g.num_frames:
        raise EvaluationMismatch(f"{p.label}: {p.num_frames} prediction frames but the GT "
                                 f"{g.label} has {g.num_frames} (list every GT image, in order)")
    differ = [i for i, (a, b) in enumerate(zip(gk, pk)) if a != b]
    raise EvaluationMismatch(f"{p.label}: its frames are not the GT's ({g.label}): "
                             + ", ".join(f"frame {i} is {pk[i]!r}, the GT's is {gk[i]!r}" for i in differ[:3])
                             + (f" (and {len(differ) - 3} more)" if len(differ) > 3 else ""))


def _joints(keypoints: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 17, 3) -> xy (N, 15, 2) and presence (N, 15) in poseval joint order."""
    kp = keypoints[:, JOINT_SLOTS]
    x, y, v = kp[..., 0], kp[..., 1], kp[..., 2]
    if mode == "posetrack21":
        has = (x > 0) & (y > 0)
    else:
        has = ~((x == 0) & (y == 0) & (v == 0))
    return kp[..., :2], has


def _inside_regions(regions: list[list[np.ndarray]], frame: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(N, 15) bool: point strictly inside any ignore polygon of its person's frame (shapely
    ``contains``), for all people at once. A polygon with fewer than 3 vertices contains nothing."""
    inside = np.zeros(xy.shape[:2], dtype=bool)
    polys = [(f, r) for f in np.unique(frame) for r in regions[f] if len(r) >= 3]
    if not polys or xy.size == 0:
        return inside
    poly_frame = np.array([f for f, _ in polys])
    rings = np.concatenate([r for _, r in polys])
    ring_index = np.repeat(np.arange(len(polys)), [len(r) for _, r in polys])
    geoms = shapely.polygons(shapely.linearrings(rings, indices=ring_index))
    # Every (person, polygon of the person's frame) pair; polygons of a frame are contiguous.
    first = np.searchsorted(poly_frame, frame, side="left")
    count = np.searchsorted(poly_frame, frame, side="right") - first
    person = np.repeat(np.arange(len(frame)), count)
    poly = np.repeat(first, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    hit = shapely.contains_xy(geoms[poly][:, None], xy[person, :, 0], xy[person, :, 1])
    np.logical_or.at(inside, person, hit)
    return inside


def collect_frames(pairs: list[tuple[VideoTable, VideoTable]], mode: str = "posetrack18") -> FrameArrays:
    """Select frames, apply presence rules and ignore regions, and flatten everything."""
    if mode not in MODES:
        raise ValueError(f"unknown evaluation mode {mode!r}; expected one of {MODES}")
    frame_seq, gt_parts, pr_parts = [], [], []
    kept = 0
    for seq, (g, p) in enumerate(pairs):
        n_gt = np.bincount(g.person_frame, minlength=g.num_frames)
        keep_frame = n_gt > 0
        if mode == "posetrack21":
            keep_frame &= g.labeled
        new_index = np.cumsum(keep_frame) - 1 + kept
        frame_has_regions = np.array([len(r) > 0 for r in g.regions], dtype=bool)
        parts = []
        for t in (g, p):
            sel = keep_frame[t.person_frame]
            frame = t.person_frame[sel]
            xy, has = _joints(t.keypoints[sel], mode)
            with_regions = frame_has_regions[frame]
            if with_regions.any():
                has[with_regions] &= ~_inside_regions(g.regions, frame[with_regions], xy[with_regions])
            # A person left without points is removed: poseval where ignore regions apply,
            # the PoseTrack21 kit everywhere.
            keep = has.any(1) | (~with_regions if mode == "posetrack18" else False)
            parts.append((sel, keep, frame, xy, has))
        (gsel, gkeep, gframe, gxy, ghas), (psel, pkeep, pframe, pxy, phas) = parts
        heads = g.head[gsel][gkeep]
        if np.isnan(heads).any():
            k = int(np.flatnonzero(gsel)[np.flatnonzero(gkeep)[np.argmax(np.isnan(heads).any(1))]])
            f = int(g.person_frame[k])
            local = k - int(np.searchsorted(g.person_frame, f))
            raise AnnotationError(g.label, f"frame {g.file_names[f]}, person {local}",
                                  "GT person has no bbox_head; PCKh needs the head box")
        pscore = np.where(p.has_scores[:, None], p.scores, MIN_SCORE)[:, JOINT_SLOTS][psel][pkeep]
        gt_parts.append((new_index[gframe[gkeep]], gxy[gkeep], ghas[gkeep], 0.6 * np.hypot(heads[:, 2], heads[:, 3]),
                         np.maximum(g.track[gsel][gkeep], 0) + seq * MAX_TRACK_ID))
        pr_parts.append((new_index[pframe[pkeep]], pxy[pkeep], phas[pkeep], pscore,
                         p.track[psel][pkeep] + seq * MAX_TRACK_ID))
        frame_seq.extend([seq] * int(keep_frame.sum()))
        kept += int(keep_frame.sum())

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
                       mode: str = "posetrack18", mota: bool = False, workers: int = 1) -> dict[str, Any]:
    """Multi-person pose AP (and optionally MOTA) of predictions against GT.

    ``gt`` and ``pred`` are each a folder of per-video files, one file, or a list of ``Video``s;
    ``workers`` processes read the files (see ``read_tables``).
    Returns ``Head .. Ankle, Total`` (AP x 100), ``per_joint`` AP, ``precision`` and ``recall``
    (per joint and per group), counts, and with ``mota`` a ``MOTA`` block.
    """
    if mode not in MODES:
        raise ValueError(f"unknown evaluation mode {mode!r}; expected one of {MODES}")
    gt_tables = read_tables(gt, False, workers)
    # predictions on frames the GT does not evaluate are skipped, unread, for AP (MOTA reads all)
    pairs = pair_videos(gt_tables, read_tables(pred, True, workers, keep=None if mota else evaluated_frames(gt_tables)))
    unscored = sum(int((~p.has_scores).sum()) for _, p in pairs)
    if unscored:
        total = sum(len(p.has_scores) for _, p in pairs)
        log.warning("%d of %d predicted people have no 'scores': their joints are ranked at %s, all tied, as poseval "
                    "does; AP then depends on how ties fall (write per-joint scores)", unscored, total, MIN_SCORE)
    fa = collect_frames(pairs, mode)
    if len(fa.gt_frame) == 0:
        raise EvaluationMismatch(f"nothing to evaluate: the GT ({len(pairs)} videos) has no annotated person in any "
                                 + ("labeled " if mode == "posetrack21" else "") + "frame")
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
        result["MOTA"] = evaluate_mota(fa, m)
    return result


def evaluate_mota(fa: FrameArrays, m: Matching) -> dict[str, Any]:
    """MOTA, MOTP, precision and recall per joint and in total, as poseval's ``evaluateTracking.py``
    computes them (the quirks it reproduces are listed in the module docstring). motmetrics is
    imported here, so that it loads only for ``mota=True``."""
    import motmetrics as mm

    blocks = frame_blocks(fa)
    # Distance where the pair matches, NaN (motmetrics: "cannot match") otherwise.
    match_dist = np.where(m.match, m.dist, np.nan)

    names = ["num_misses", "num_switches", "num_false_positives", "num_objects", "num_detections"]
    totals = {n: np.zeros(NUM_JOINTS) for n in names}
    sum_d = np.zeros(NUM_JOINTS)
    metrics_host = mm.metrics.create()
    for seq in np.unique(fa.frame_seq):
        frames = np.flatnonzero(fa.frame_seq == seq)[:-1]  # poseval skips the last kept frame
        accs = [mm.MOTAccumulator(auto_id=True) for _ in range(NUM_JOINTS)]
        for f in frames:
            n_gt, n_pr = blocks.n_gt[f], blocks.n_pr[f]
            if n_gt == 0 or n_pr == 0:
                for acc in accs:
                    acc.update([0], [0], np.full((1, 1), np.nan))
                continue
            gts = slice(blocks.gt_start[f], blocks.gt_start[f] + n_gt)
            prs = slice(blocks.pr_start[f], blocks.pr_start[f] + n_pr)
            start = blocks.pair_start[f]
            dist = match_dist[start:start + n_gt * n_pr].reshape(n_pr, n_gt, NUM_JOINTS)
            for j in range(NUM_JOINTS):
                g_j, p_j = fa.gt_has[gts, j], fa.pr_has[prs, j]
                accs[j].update(fa.gt_track[gts][g_j].tolist(), fa.pr_track[prs][p_j].tolist(),
                               dist[:, :, j].T[np.ix_(g_j, p_j)])
        for j in range(NUM_JOINTS):
            summary = metrics_host.compute(accs[j], metrics=names, return_dataframe=False, name="acc")
            for n in names:
                totals[n][j] += summary[n]
            s = accs[j].events["D"].sum() if len(accs[j].events) else 0.0
            sum_d[j] += 0.0 if np.isnan(s) else s

    with np.errstate(divide="ignore", invalid="ignore"):
        num_obj = np.where(totals["num_objects"] > 0, totals["num_objects"], np.nan)
        fp, det = totals["num_false_positives"], totals["num_detections"]
        mota = 100 * (1 - (totals["num_misses"] + totals["num_switches"] + fp) / num_obj)
        motp = np.where(det == 0, 0.0, 100 * (1 - sum_d / np.where(det == 0, 1, det)))
        pre = 100 * det / np.where(fp + det > 0, fp + det, np.nan)
        rec = 100 * det / num_obj

    slot_mota = {int(JOINT_SLOTS[j]): float(mota[j]) for j in range(NUM_JOINTS)}
    result: dict[str, Any] = {g: float(np.mean([slot_mota[s] for s in slots])) for g, slots in JOINT_GROUPS.items()}
    result["Total"] = _nanmean(mota)
    result["MOTP"] = _nanmean(motp)
    result["precision"] = _nanmean(pre)
    result["recall"] = _nanmean(rec)
    result["switches"] = int(totals["num_switches"].sum())
    return result


def format_table(result: dict[str, Any], title: str = "AP") -> str:
    """The usual one-line-per-metric PoseTrack table."""
    header = "         " + " ".join(f"{g:>8}" for g in GROUP_NAMES)
    rows = [header, f"{title:<8} " + " ".join(f"{result[g]:8.2f}" for g in GROUP_NAMES)]
    for name in ("precision", "recall"):
        if name in result:
            rows.append(f"{name[:8]:<8} " + " ".join(f"{result[name][g]:8.2f}" for g in GROUP_NAMES))
    return "\n".join(rows)
