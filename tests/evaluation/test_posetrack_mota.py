"""MOTA with poseval's semantics, checked by hand on tiny sequences."""

import copy

import numpy as np
import pytest

from conftest import make_person, make_video
from vidpose.evaluation import evaluate_posetrack


def three_frames():
    return make_video([[make_person(0, track_id=0), make_person(1, center=(600, 200), track_id=1)] for _ in range(3)])


def test_perfect_tracking_and_the_skipped_last_frame():
    gt = three_frames()
    mota = evaluate_posetrack([gt], [copy.deepcopy(gt)], mota=True)["MOTA"]
    assert mota["Total"] == 100.0 and mota["MOTP"] == 100.0 and mota["switches"] == 0
    assert mota["precision"] == 100.0 and mota["recall"] == 100.0


def test_an_identity_switch_costs_one_per_joint():
    gt = three_frames()
    pred = copy.deepcopy(gt)
    pred.frames[1].people[0].track_id, pred.frames[1].people[1].track_id = 1, 0  # swapped in frame 1
    mota = evaluate_posetrack([gt], [pred], mota=True)["MOTA"]
    # frames 0 and 1 are evaluated (frame 2 is the skipped last one): 4 GT joints per joint
    # class, 2 switches -> MOTA = 100 (1 - 2/4)
    assert mota["Total"] == pytest.approx(50.0) and mota["switches"] == 2 * 15
    # a switch in the last frame is never seen
    pred = copy.deepcopy(gt)
    pred.frames[2].people[0].track_id, pred.frames[2].people[1].track_id = 1, 0
    assert evaluate_posetrack([gt], [pred], mota=True)["MOTA"]["Total"] == 100.0


def test_a_frame_without_predictions_counts_one_miss_and_one_fp():
    gt = three_frames()
    pred = copy.deepcopy(gt)
    pred.frames[0].people = []
    mota = evaluate_posetrack([gt], [pred], mota=True)["MOTA"]
    # frame 0 -> dummy entry (1 object, 1 miss, 1 FP); frame 1 -> 2 objects, 2 matches
    assert mota["Total"] == pytest.approx(100 * (1 - 2 / 3))
    assert mota["recall"] == pytest.approx(100 * 2 / 3)


def test_misses_and_false_positives():
    gt = three_frames()
    pred = copy.deepcopy(gt)
    pred.frames[1].people[1].keypoints[:, 0] += 400  # lost person 1 in frame 1, an FP instead
    mota = evaluate_posetrack([gt], [pred], mota=True)["MOTA"]
    assert mota["Total"] == pytest.approx(100 * (1 - 2 / 4))
    assert mota["precision"] == pytest.approx(100 * 3 / 4) and not np.isnan(mota["MOTP"])
