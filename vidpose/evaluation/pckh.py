"""PCKh@0.5 of predicted people against the GT people they stand for (no assignment): a joint is
correct when it lies within 0.5 head sizes of the GT joint, a head size being 0.6 x the diagonal of
the GT head box (PoseTrack's rule, as ``evaluate_posetrack`` uses it). Pooled over joints: a group's
PCKh is its correct joints over its annotated joints, ``Total`` over the 15 evaluated joints. The
metric of the real-video benchmarks and the demo."""

from __future__ import annotations

from typing import Any

import numpy as np

from vidpose.data.annotations import Person
from vidpose.data.schema import EVALUATED_JOINTS, JOINT_GROUPS, KEYPOINT_NAMES

PCKH_THRESHOLD = 0.5


def head_size(person: Person) -> float | None:
    """PoseTrack's head size: 0.6 x the head box diagonal (None without a head box)."""
    return None if person.bbox_head is None else 0.6 * float(np.hypot(person.bbox_head[2], person.bbox_head[3]))


def correct_joints(xy: np.ndarray, gt: Person, threshold: float = PCKH_THRESHOLD) -> np.ndarray:
    """(17,) bool: the predicted joints ``xy`` (17, 2) within ``threshold`` head sizes of ``gt``'s
    annotated joints; False where GT has no joint or no head box."""
    size = head_size(gt)
    ok = np.zeros(len(KEYPOINT_NAMES), bool)
    if size is None:
        return ok
    has = gt.keypoints[:, 2] > 0
    ok[has] = np.hypot(*(np.asarray(xy, float)[has, :2] - gt.keypoints[has, :2]).T) <= threshold * size
    return ok


class PCKh:
    """Joints within 0.5 head sizes, pooled per group. ``add`` one GT person at a time with its
    prediction (None: a missed person, whose joints count as wrong); ``mask`` picks the joints that
    count (default: every annotated evaluated joint). A person without a head box, or without any
    joint that counts, is left out."""

    def __init__(self) -> None:
        self.hit = np.zeros(len(KEYPOINT_NAMES), int)
        self.total = np.zeros(len(KEYPOINT_NAMES), int)
        self.people = 0
        self.missed = 0

    def add(self, gt: Person, xy: np.ndarray | None, mask: np.ndarray | None = None) -> None:
        if head_size(gt) is None:
            return
        use = np.zeros(len(KEYPOINT_NAMES), bool)
        use[list(EVALUATED_JOINTS)] = True
        use &= gt.keypoints[:, 2] > 0
        if mask is not None:
            use &= mask
        if not use.any():
            return
        self.people += 1
        self.total += use
        if xy is None:
            self.missed += 1
            return
        self.hit += use & correct_joints(xy, gt)

    def result(self, per_joint: bool = False) -> dict[str, Any]:
        """Percentages per group and ``Total`` (None where no joint counted), the joint and people
        counts; ``per_joint`` adds each evaluated joint's."""
        def pct(slots) -> float | None:
            t = int(self.total[list(slots)].sum())
            return round(100.0 * int(self.hit[list(slots)].sum()) / t, 2) if t else None

        out: dict[str, Any] = {g: pct(s) for g, s in JOINT_GROUPS.items()}
        out["Total"] = pct(EVALUATED_JOINTS)
        out["joints_within"] = int(self.hit.sum())
        out["joints"] = int(self.total.sum())
        out["people"] = self.people
        if self.missed:
            out["people_without_prediction"] = self.missed
        if per_joint:
            out["per_joint"] = {KEYPOINT_NAMES[s]: pct([s]) for s in EVALUATED_JOINTS}
        return out
