"""The evaluator against poseval's known answers and hand-computed cases."""

import copy
import json

import numpy as np
import pytest

from conftest import make_person, make_video
from vidpose.data.annotations import AnnotationError, load_posetrack, save_videos, to_posetrack18_dict
from vidpose.evaluation import EvaluationMismatch, evaluate_posetrack
from vidpose.evaluation.posetrack import collect_frames, match_frames, pair_videos, voc_ap

GROUPS = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total")


def table(result):
    return [round(result[g], 2) for g in GROUPS]


# --- known answers on the real fixture (posetrack-evaluation.md §2.7) ---------------------------


@pytest.fixture
def fixture_gt(fixtures):
    return load_posetrack(fixtures / "annotations" / "val")[0]


def scored(gt):
    """GT as prediction, score 1 for annotated joints and 0 otherwise (the spec's setup)."""
    pred = copy.deepcopy(gt)
    for v in pred:
        for f in v.frames:
            for p in f.people:
                p.scores = (p.keypoints[:, 2] > 0).astype(float)
    return pred


def test_gt_as_prediction_gives_100(fixture_gt, fixtures):
    assert table(evaluate_posetrack(fixture_gt, scored(fixture_gt))) == [100.0] * 8
    folder = fixtures / "annotations" / "val"
    assert table(evaluate_posetrack(folder, folder)) == [100.0] * 8  # files, without scores


@pytest.mark.parametrize("shift,expected", [
    (0.49, [97.44, 96.43, 86.43, 100.0, 100.0, 100.0, 95.0, 96.53]),
    (0.51, None),
])
def test_head_size_shifts(fixture_gt, shift, expected):
    pred = scored(fixture_gt)
    for v in pred:
        for f in v.frames:
            for p in f.people:
                vis = p.keypoints[:, 2] > 0
                p.keypoints[vis, 0] += shift * 0.6 * np.hypot(*p.bbox_head[2:])
    result = evaluate_posetrack(fixture_gt, pred)
    if expected:
        assert table(result) == expected
    else:
        assert round(result["Total"], 2) == 0.12


def test_unannotated_joints_scored_2(fixture_gt):
    pred = scored(fixture_gt)
    for v in pred:
        for f in v.frames:
            for p in f.people:
                un = p.keypoints[:, 2] == 0
                p.keypoints[un, 2] = 1
                p.scores[un] = 2.0
    assert table(evaluate_posetrack(fixture_gt, pred)) == [97.62, 100.0, 85.71, 78.57, 92.86, 74.18, 71.43, 86.56]


@pytest.mark.parametrize("where,expected", [("after", 50.0), ("before", 100.0)])
def test_duplicates_after_or_before_the_originals(fixture_gt, where, expected):
    pred = scored(fixture_gt)
    for v in pred:
        for f in v.frames:
            dups = copy.deepcopy(f.people)
            for d in dups:
                d.scores = d.scores * 2
                d.track_id += 100
            f.people = f.people + dups if where == "after" else dups + f.people
    assert table(evaluate_posetrack(fixture_gt, pred)) == [expected] * 8


# --- hand-computed cases ---------------------------------------------------------------------


def test_voc_ap_by_hand():
    # ranks: TP, FP, TP with 3 GT -> recall 1/3, 1/3, 2/3; precision 1, 1/2, 2/3
    ap = voc_ap(np.array([1 / 3, 1 / 3, 2 / 3]), np.array([1.0, 0.5, 2 / 3]))
    assert ap == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3)


def test_ranking_mixes_frames_globally():
    gt = make_video([[make_person(0)], [make_person(1)], [make_person(2)]])
    pred = copy.deepcopy(gt)
    pred.frames[0].people[0].scores[:] = 0.9
    pred.frames[1].people[0].keypoints[:, 0] += 500  # far away: every joint an FP
    pred.frames[1].people[0].scores[:] = 0.8
    pred.frames[2].people[0].scores[:] = 0.7
    result = evaluate_posetrack([gt], [pred])
    assert result["Total"] == pytest.approx(100 * (1 / 3 + 1 / 3 * 2 / 3))
    assert result["precision"]["Total"] == pytest.approx(100 * 2 / 3)
    assert result["recall"]["Total"] == pytest.approx(100 * 2 / 3)


def test_unmatched_gt_halves_recall():
    gt = make_video([[make_person(0, center=(100, 100), track_id=0), make_person(1, center=(600, 100), track_id=1)]])
    pred = make_video([[make_person(0, center=(100, 100))]])
    result = evaluate_posetrack([gt], [pred])
    assert table(result) == [50.0] * 8
    assert result["recall"]["Total"] == 50.0 and result["precision"]["Total"] == 100.0


def test_assignment_ties_go_to_the_first_prediction_not_the_best_score():
    gt = make_video([[make_person(0)]])
    first, second = make_person(0, track_id=0, scores=0.3), make_person(0, track_id=1, scores=0.9)
    result = evaluate_posetrack([gt], [make_video([[first, second]])])
    # the first (lower score) is matched; the higher-scored copy is an FP ranked first: AP 50
    assert table(result) == [50.0] * 8


def test_assignment_ties_between_gts_go_to_the_first_gt():
    gt = make_video([[make_person(0, track_id=0), make_person(0, track_id=1)]])
    pred = make_video([[make_person(0)]])
    pairs = pair_videos([gt], [pred])
    m = match_frames(collect_frames(pairs))
    assert m.gt_of_pred.tolist() == [0]


def test_prediction_keeps_only_its_best_gt_even_if_another_gt_then_goes_unmatched():
    # GT a and b overlap; prediction 0 fits b best, prediction 1 fits a only partly but better than nothing.
    a = make_person(0, center=(200, 200), track_id=0)
    b = make_person(0, center=(200, 200), track_id=1)
    b.keypoints[:9, 0] += 300  # b shares only slots 9.. with a
    p0 = copy.deepcopy(b)
    p0.track_id = 0
    pairs = pair_videos([make_video([[a, b]])], [make_video([[p0]])])
    m = match_frames(collect_frames(pairs))
    assert m.gt_of_pred.tolist() == [1]


def test_ignore_regions_drop_gt_and_predicted_points_independently():
    gt_person = make_person(0)
    wrist = gt_person.keypoints[10, :2]  # right wrist
    square = lambda c: np.array([[c[0] - 2, c[1] - 2], [c[0] + 2, c[1] - 2], [c[0] + 2, c[1] + 2], [c[0] - 2, c[1] + 2]])  # noqa: E731

    # (1) the predicted wrist moves into a region the GT wrist is outside of: the prediction is
    # dropped and the GT wrist is never recalled -> right wrist AP 0, wrist 50.
    pred_person = copy.deepcopy(gt_person)
    pred_person.keypoints[10, :2] += (4, 0)
    gt = make_video([[gt_person]], ignore={0: [square(wrist + (4, 0))]})
    result = evaluate_posetrack([gt], [make_video([[pred_person]])])
    assert result["per_joint"]["right_wrist"] == 0.0 and result["Wrist"] == 50.0
    assert result["Total"] == pytest.approx(14 * 100 / 15)

    # (2) the GT wrist lies in the region and the prediction just outside: the GT joint is gone,
    # the predicted wrist is an FP of a joint with no GT -> NaN, left out of Total.
    pred_person = copy.deepcopy(gt_person)
    pred_person.keypoints[10, :2] += (3, 0)
    gt = make_video([[gt_person]], ignore={0: [square(wrist - (1, 0))]})
    result = evaluate_posetrack([gt], [make_video([[pred_person]])])
    assert np.isnan(result["per_joint"]["right_wrist"]) and np.isnan(result["Wrist"])
    assert result["Total"] == 100.0

    # (3) a point on the polygon's edge is not strictly inside: kept.
    gt = make_video([[gt_person]], ignore={0: [square(wrist + (2, 0))]})
    assert evaluate_posetrack([gt], [make_video([[copy.deepcopy(gt_person)]])])["Total"] == 100.0


def test_a_joint_with_no_gt_is_nan_and_a_joint_with_no_predictions_is_zero():
    gt = make_video([[make_person(0, missing=(2,))]])  # GT has no head_top
    pred = make_video([[make_person(0)]])  # ... but it is predicted
    result = evaluate_posetrack([gt], [pred])
    assert np.isnan(result["per_joint"]["head_top"]) and result["Total"] == 100.0

    pred = make_video([[make_person(0, missing=(0,))]])  # nose never predicted
    result = evaluate_posetrack([make_video([[make_person(0)]])], [pred])
    assert result["per_joint"]["nose"] == 0.0 and round(result["Head"], 2) == 66.67
    assert result["Total"] == pytest.approx(14 * 100 / 15)

    # no GT and no predictions for a joint: poseval leaves its AP at 0 and averages it in
    result = evaluate_posetrack([make_video([[make_person(0, missing=(0,))]])], [make_video([[make_person(0, missing=(0,))]])])
    assert result["per_joint"]["nose"] == 0.0 and result["Total"] == pytest.approx(14 * 100 / 15)


def test_frames_without_gt_people_are_dropped_with_their_predictions():
    gt = make_video([[make_person(0)], []])
    pred = make_video([[make_person(0)], [make_person(5, track_id=0)]])
    result = evaluate_posetrack([gt], [pred])
    assert result["Total"] == 100.0 and result["num_frames"] == 1


def test_missing_scores_rank_last():
    gt = make_video([[make_person(0)], [make_person(1)]])
    fp = make_person(1, scores=0.5)
    fp.keypoints[:, 0] += 400
    pred = make_video([[make_person(0, scores=None)], [fp]])
    # the FPs (score 0.5) outrank the TPs that have no score (-9999): AP = 1/2 * 1/2
    assert evaluate_posetrack([gt], [pred])["Total"] == pytest.approx(25.0)


def test_gt_person_without_head_box_is_a_clear_error():
    person = make_person(0)
    person.bbox_head = None
    with pytest.raises(AnnotationError, match="bbox_head"):
        evaluate_posetrack([make_video([[person]])], [make_video([[make_person(0)]])])


# --- PoseTrack21 mode ------------------------------------------------------------------------


def test_posetrack21_mode_selects_labeled_frames_and_uses_positive_coordinates():
    gt = make_video([[make_person(0)], [make_person(1)]])
    gt.frames[1].is_labeled = False
    bad = make_person(1, scores=0.5)  # distinct scores: poseval ranks ties in arbitrary order
    bad.keypoints[:, 0] += 500
    pred = make_video([[make_person(0)], [bad]])
    assert evaluate_posetrack([gt], [pred], mode="posetrack18")["Total"] == 50.0
    assert evaluate_posetrack([gt], [pred], mode="posetrack21")["Total"] == 100.0

    # a predicted joint at x = 0 is "not predicted" in PoseTrack21 mode, present in poseval mode
    gt = make_video([[make_person(0)]])
    pred = make_person(0)
    pred.keypoints[0] = (0.0, 5.0, 1.0)
    pt18 = evaluate_posetrack([gt], [make_video([[pred]])])
    pt21 = evaluate_posetrack([gt], [make_video([[pred]])], mode="posetrack21")
    assert pt18["per_joint"]["nose"] == 0.0  # present, wrong place: FP, the GT nose not recalled
    assert pt21["per_joint"]["nose"] == 0.0 and pt21["recall"]["per_joint"]["nose"] == 0.0
    assert pt18["precision"]["per_joint"]["nose"] == 0.0 and pt21["precision"]["per_joint"]["nose"] == 0.0

    # a labeled frame with no GT people (the PoseTrack21 kit crashes there) is dropped
    gt = make_video([[make_person(0)], []])
    gt.frames[1].is_labeled = True
    result = evaluate_posetrack([gt], [make_video([[make_person(0)], [make_person(1)]])], mode="posetrack21")
    assert result["Total"] == 100.0 and result["num_frames"] == 1


# --- mismatches ------------------------------------------------------------------------------


def write_pair(tmp_path, gt_video, pred_video):
    save_videos([gt_video], tmp_path / "gt")
    save_videos([pred_video], tmp_path / "pred")
    return tmp_path / "gt", tmp_path / "pred"


def test_missing_prediction_file(tmp_path):
    gt, pred = write_pair(tmp_path, make_video([[make_person(0)]]), make_video([[make_person(0)]], name="other"))
    with pytest.raises(EvaluationMismatch, match="no prediction for 1 of 1 GT videos: 000001_mpii_test"):
        evaluate_posetrack(gt, pred)


def test_different_frame_count(tmp_path):
    gt, pred = write_pair(tmp_path, make_video([[make_person(0)], []]), make_video([[make_person(0)]]))
    with pytest.raises(EvaluationMismatch, match="1 prediction frames but the GT .* has 2"):
        evaluate_posetrack(gt, pred)


def test_duplicate_track_ids_in_a_prediction_frame(tmp_path):
    gt, pred = write_pair(tmp_path, make_video([[make_person(0)]]), make_video([[make_person(0)]]))
    path = pred / "000001_mpii_test.json"
    doc = json.loads(path.read_text())
    doc["annotations"].append(dict(doc["annotations"][0]))
    path.write_text(json.dumps(doc))
    with pytest.raises(EvaluationMismatch, match="duplicate prediction track ids"):
        evaluate_posetrack(gt, pred)


@pytest.mark.parametrize("damage,error,match", [
    (lambda d: d.pop("categories"), EvaluationMismatch, "no 'categories'"),
    (lambda d: d["annotations"][0].pop("track_id"), EvaluationMismatch, "has no 'track_id'"),
    (lambda d: d["annotations"][0].update(keypoints=[1.0] * 45), AnnotationError, "expected 51 numbers, got 45"),
])
def test_malformed_prediction_files(tmp_path, damage, error, match):
    gt, pred = write_pair(tmp_path, make_video([[make_person(0)]]), make_video([[make_person(0)]]))
    path = pred / "000001_mpii_test.json"
    doc = json.loads(path.read_text())
    damage(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(error, match=match):
        evaluate_posetrack(gt, pred)


def test_track_ids_out_of_range():
    pred = make_video([[make_person(0, track_id=10000)]])
    with pytest.raises(EvaluationMismatch, match="0..9999"):
        evaluate_posetrack([make_video([[make_person(0)]])], [pred])


def test_single_files_and_the_posetrack17_format(tmp_path):
    gt = make_video([[make_person(0), make_person(1, center=(500, 200), track_id=1)], [make_person(2)]])
    save_videos([gt], tmp_path / "gt")
    save_videos([gt], tmp_path / "pred17", fmt="posetrack17")
    gt_file = tmp_path / "gt" / "000001_mpii_test.json"
    assert evaluate_posetrack(gt_file, tmp_path / "pred17" / "000001_mpii_test.json")["Total"] == 100.0
    assert to_posetrack18_dict(gt)["images"][0]["file_name"].endswith("000000.jpg")


# --- the fast columnar reader against the careful reader -----------------------------------------


def random_pair(n_videos=3, n_frames=12, seed=0):
    """GT with ignore regions and unlabeled frames; noisy, shuffled predictions with extra people."""
    rng = np.random.default_rng(seed)
    gts, preds = [], []
    for v in range(n_videos):
        g_frames, p_frames = [], []
        for f in range(n_frames):
            people = [make_person(int(rng.integers(1 << 30)), center=rng.uniform(100, 600, 2), track_id=k,
                                  missing=tuple(rng.choice(17, 3, replace=False))) for k in range(3)]
            guesses = copy.deepcopy(people) + [make_person(int(rng.integers(1 << 30)), track_id=7)]
            for p in guesses:
                p.keypoints[:, :2] += rng.normal(0, 4, (17, 2))
                p.scores = rng.random(17)
            rng.shuffle(guesses)
            g_frames.append(people if f % 3 == 0 else [])
            p_frames.append(guesses)
        square = rng.uniform(100, 600, 2) + np.array([[0, 0], [120, 0], [120, 90], [0, 90]])
        ignore = {f: [square] for f in range(0, n_frames, 2)}
        gts.append(make_video(g_frames, name=f"{900000 + v}_mpii_test", ignore=ignore))
        preds.append(make_video(p_frames, name=f"{900000 + v}_mpii_test"))
    return gts, preds


def test_fast_reader_and_careful_reader_agree(tmp_path):
    from vidpose.evaluation.posetrack import read_tables
    from vidpose.evaluation.tables import table_from_document, table_from_video

    gts, preds = random_pair()
    save_videos(gts, tmp_path / "gt")
    save_videos(preds, tmp_path / "pred")
    for file in sorted((tmp_path / "pred").glob("*.json")):
        fast = table_from_document(json.loads(file.read_text()), file, file.stem)
        careful = table_from_video(load_posetrack(file)[0][0])
        assert fast is not None
        for key in ("person_frame", "keypoints", "scores", "has_scores", "track", "labeled"):
            np.testing.assert_array_equal(getattr(fast, key), getattr(careful, key))
        np.testing.assert_array_equal(fast.head, careful.head)  # NaN where absent, on both
    for file in sorted((tmp_path / "gt").glob("*.json")):  # ignore regions, on every frame with people
        fast = table_from_document(json.loads(file.read_text()), file, file.stem)
        careful = table_from_video(load_posetrack(file)[0][0])
        with_people = np.unique(careful.person_frame)
        assert any(len(careful.regions[f]) for f in with_people)
        for f in with_people:
            assert len(fast.regions[f]) == len(careful.regions[f])
            for a, b in zip(fast.regions[f], careful.regions[f]):
                np.testing.assert_array_equal(a, b)
    assert len(read_tables(tmp_path / "gt", predictions=False)) == 3
    from_files = evaluate_posetrack(tmp_path / "gt", tmp_path / "pred", mota=True)
    from_objects = evaluate_posetrack(gts, preds, mota=True)
    assert from_files == from_objects
    # AP alone reads only the predictions of the frames the GT evaluates: the same result
    assert evaluate_posetrack(tmp_path / "gt", tmp_path / "pred") == evaluate_posetrack(gts, preds)
    assert 0 < from_files["Total"] < 100


def test_people_listed_out_of_frame_order_are_regrouped_by_frame(tmp_path):
    gts, preds = random_pair(n_videos=1)
    save_videos(gts, tmp_path / "gt")
    save_videos(preds, tmp_path / "pred")
    file = next((tmp_path / "pred").glob("*.json"))
    doc = json.loads(file.read_text())
    doc["annotations"].reverse()
    file.write_text(json.dumps(doc))
    expected = evaluate_posetrack(gts, [make_video([list(reversed(f.people)) for f in preds[0].frames],
                                                   name=preds[0].name)])
    assert evaluate_posetrack(tmp_path / "gt", tmp_path / "pred") == expected


def test_worker_processes_give_the_same_result_and_the_same_errors(tmp_path):
    gts, preds = random_pair(n_videos=16, n_frames=4)
    save_videos(gts, tmp_path / "gt")
    save_videos(preds, tmp_path / "pred")
    assert evaluate_posetrack(tmp_path / "gt", tmp_path / "pred", workers=2) == \
        evaluate_posetrack(tmp_path / "gt", tmp_path / "pred")
    bad = sorted((tmp_path / "pred").glob("*.json"))[9]
    doc = json.loads(bad.read_text())
    doc["annotations"][0]["keypoints"] = doc["annotations"][0]["keypoints"][:-3]
    bad.write_text(json.dumps(doc))
    with pytest.raises(AnnotationError, match=r"annotations\[0\]\.keypoints: expected 51 numbers"):
        evaluate_posetrack(tmp_path / "gt", tmp_path / "pred", workers=2)


def test_pooled_per_video_detections_give_the_evaluators_total_and_a_paired_bootstrap():
    from vidpose.evaluation.bootstrap import paired_bootstrap, per_video_detections, pooled_total

    rng = np.random.default_rng(0)
    gt = [make_video([[make_person(seed=10 * v + f, track_id=0)] for f in range(4)], name=f"00000{v}_mpii_test")
          for v in range(5)]
    pred = copy.deepcopy(gt)
    for v in pred:
        for f in v.frames:
            for p in f.people:
                p.keypoints[:, :2] += rng.normal(0, 8, (17, 2))
                p.scores = rng.uniform(0.1, 1.0, 17)
    per_video = per_video_detections(gt, pred)
    assert pooled_total(per_video, np.arange(5)) == pytest.approx(evaluate_posetrack(gt, pred)["Total"], abs=1e-9)
    same = paired_bootstrap([per_video], [per_video], resamples=50)
    assert same["delta"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0
    perfect = per_video_detections(gt, gt)
    better = paired_bootstrap([perfect], [per_video], resamples=200)
    assert better["delta"] > 0 and better["ci_low"] > 0 and better["ci_low"] <= better["delta"] <= better["ci_high"]
    # several runs on the baseline's side: the difference of the means over runs
    both = paired_bootstrap([perfect], [per_video, perfect], resamples=50)
    assert both["delta"] == pytest.approx(better["delta"] / 2, abs=1e-3)  # deltas are rounded to 3 decimals
    with pytest.raises(ValueError, match="same videos"):
        paired_bootstrap([perfect], [per_video[:4]], resamples=5)


def test_paired_ratio_bootstrap_pools_counts_over_the_drawn_units():
    from vidpose.evaluation.bootstrap import paired_ratio_bootstrap

    base = {f"v/{t}": [5, 10] for t in range(20)}
    same = paired_ratio_bootstrap(base, base, resamples=50)
    assert same["delta"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0 and same["units"] == 20
    better = paired_ratio_bootstrap({k: [8, 10] for k in base}, base, resamples=200)
    assert better["delta"] == pytest.approx(30.0) and better["ci_low"] == pytest.approx(30.0)  # every unit +3 of 10
    # one unit carries the whole gain: the interval reaches 0 (draws without it) and the pooled delta is small
    lucky = dict(base, **{"v/0": [10, 10]})
    one = paired_ratio_bootstrap(lucky, base, resamples=500)
    assert one["delta"] == pytest.approx(100 * 5 / 200) and one["ci_low"] == 0 < one["ci_high"]
    with pytest.raises(ValueError, match="different units"):
        paired_ratio_bootstrap(base, {"v/0": [1, 10]})
    with pytest.raises(ValueError, match="different totals"):
        paired_ratio_bootstrap(base, dict(base, **{"v/3": [5, 11]}))


# --- ties, frame pairing and silent inputs ------------------------------------------------------


def _two_video_tie_case():
    """Video "b" (listed first): one GT, a matching and a stray prediction; video "a": one GT and
    a stray prediction. Every score is 1.0, so the ranking of each joint is decided by how poseval
    concatenates the detections: in GT order (b, then a), person order within a frame."""
    gt_b = make_video([[make_person(seed=1, track_id=0)]], name="000002_mpii_test")
    gt_a = make_video([[make_person(seed=2, track_id=0)]], name="000001_mpii_test")
    pred_b = copy.deepcopy(gt_b)
    stray = copy.deepcopy(gt_b.frames[0].people[0])
    stray.keypoints[:, :2] += 500.0
    stray.track_id = 1
    pred_b.frames[0].people.append(stray)
    pred_a = copy.deepcopy(gt_a)
    pred_a.frames[0].people[0].keypoints[:, :2] += 500.0
    for v in (pred_b, pred_a):
        for p in v.frames[0].people:
            p.scores = np.where(p.keypoints[:, 2] > 0, 1.0, 0.0)
    return [gt_b, gt_a], [pred_b, pred_a]


def test_tied_scores_rank_in_poseval_concatenation_order():
    """Derivation, per joint: detections in poseval's order are [TP (b, person 0), FP (b, person
    1), FP (a, person 0)], all scored 1.0. numpy's argsort keeps equal keys in place here (checked
    below), and poseval reverses it: the ranking is FP, FP, TP. With 2 GT joints: recall 0, 0,
    0.5; precision 0, 0, 1/3; VOC AP = 0.5 x 1/3 = 16.67 for every joint. Sorting the videos by
    name first (a, b) would rank FP, TP, FP and give 0.5 x 0.5 = 25.0."""
    if not (np.ones(3).argsort() == np.arange(3)).all():
        pytest.skip("this numpy's argsort reorders equal keys (a SIMD sort): poseval's ties fall otherwise too")
    gt, pred = _two_video_tie_case()
    assert evaluate_posetrack(gt, pred)["Total"] == pytest.approx(100 / 6, abs=1e-9)
    assert evaluate_posetrack(gt[::-1], pred)["Total"] == pytest.approx(25.0, abs=1e-9)


def test_frames_are_paired_by_file_name_and_differing_frames_are_an_error():
    gt = [make_video([[make_person(seed=f, track_id=0)] for f in range(4)], name="000003_mpii_test")]
    pred = copy.deepcopy(gt)
    for f in pred[0].frames:
        f.people[0].keypoints[:, :2] += np.random.default_rng(f.image_id).normal(0, 3, (17, 2))
        f.people[0].scores = np.full(17, 0.9)
    expected = evaluate_posetrack(gt, pred)["Total"]
    reversed_pred = copy.deepcopy(pred)
    reversed_pred[0].frames.reverse()
    assert evaluate_posetrack(gt, reversed_pred)["Total"] == pytest.approx(expected)
    other = copy.deepcopy(pred)
    other[0].frames[1].file_name = "images/val/000009_mpii_test/000001.jpg"
    with pytest.raises(EvaluationMismatch, match=r"frame 1 is '000009_mpii_test/000001.jpg'"):
        evaluate_posetrack(gt, other)


def test_silent_inputs_are_said_or_refused(caplog):
    import logging

    gt = [make_video([[make_person(seed=0, track_id=0)]], name="000004_mpii_test")]
    pred = copy.deepcopy(gt)
    pred[0].frames[0].people[0].scores = None
    caplog.set_level(logging.WARNING)
    evaluate_posetrack(gt, pred)
    assert "have no 'scores'" in caplog.text
    empty = [make_video([[]], name="000004_mpii_test")]
    with pytest.raises(EvaluationMismatch, match="nothing to evaluate"):
        evaluate_posetrack(empty, pred)
    negative = copy.deepcopy(pred)
    negative[0].frames[0].people[0].track_id = -3
    negative[0].frames[0].people[0].scores = np.ones(17)
    with pytest.raises(EvaluationMismatch, match=r"track ids must lie in 0\.\.9999, got \[-3\]"):
        evaluate_posetrack(gt, negative)
