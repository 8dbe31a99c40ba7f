"""PCKh@0.5: head size from the GT head box, pooled per group, missed people counted as wrong."""

import numpy as np
import pytest

from conftest import make_person
from vidpose.evaluation.pckh import PCKh, correct_joints, head_size


def test_a_joint_counts_within_half_a_head_size_and_not_beyond():
    gt = make_person(head_size=20.0)
    assert head_size(gt) == pytest.approx(20.0)
    xy = gt.keypoints[:, :2].copy()
    xy[5] += [9.9, 0.0]  # within 0.5 x 20
    xy[6] += [0.0, 10.1]  # beyond
    ok = correct_joints(xy, gt)
    assert ok[5] and not ok[6] and ok[[0, 7, 16]].all() and not ok[[3, 4]].any()  # ears are unannotated


def test_groups_pool_their_joints_and_a_missed_person_counts_as_wrong():
    gt = make_person(head_size=20.0)
    score = PCKh()
    score.add(gt, gt.keypoints[:, :2])
    score.add(gt, None)
    out = score.result(per_joint=True)
    assert out["Total"] == 50.0 and out["people"] == 2 and out["people_without_prediction"] == 1
    assert out["joints"] == 30 and out["joints_within"] == 15 and out["per_joint"]["nose"] == 50.0
    nohead = make_person()
    nohead.bbox_head = None
    score.add(nohead, nohead.keypoints[:, :2])  # no head box: no head size, left out
    assert score.result()["people"] == 2
    only_left_wrist = np.zeros(17, bool)
    only_left_wrist[9] = True
    masked = PCKh()
    masked.add(gt, gt.keypoints[:, :2], mask=only_left_wrist)
    assert masked.result()["joints"] == 1 and masked.result()["Wrist"] == 100.0 and masked.result()["Head"] is None
