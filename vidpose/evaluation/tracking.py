"""Multi-person pose tracking MOTA with poseval's semantics (``evaluateTracking.py``).

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

from typing import Any

import motmetrics as mm
import numpy as np

from vidpose.data.schema import JOINT_GROUPS

# evaluate_posetrack imports this module only for --mota, so motmetrics loads only then.
from vidpose.evaluation.posetrack import JOINT_SLOTS, NUM_JOINTS, FrameArrays, Matching, _nanmean, frame_blocks


def evaluate_mota(fa: FrameArrays, m: Matching) -> dict[str, Any]:
    """MOTA, MOTP, precision and recall per joint and in total."""
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
