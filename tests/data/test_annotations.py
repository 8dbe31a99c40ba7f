"""Readers, writers and malformed input for PoseTrack annotations and detection files."""

import json

import numpy as np
import pytest

from conftest import make_person, make_video
from vidpose.data.annotations import (
    AnnotationError,
    load_posetrack,
    parse_posetrack,
    save_posetrack,
    save_videos,
    to_posetrack18_dict,
)
from vidpose.data.detections import load_detections


def assert_same_videos(a, b):
    assert [v.name for v in a] == [v.name for v in b]
    for va, vb in zip(a, b):
        assert [f.file_name for f in va.frames] == [f.file_name for f in vb.frames]
        assert [f.is_labeled for f in va.frames] == [f.is_labeled for f in vb.frames]
        for fa, fb in zip(va.frames, vb.frames):
            assert len(fa.people) == len(fb.people)
            assert len(fa.ignore_regions) == len(fb.ignore_regions)
            for ra, rb in zip(fa.ignore_regions, fb.ignore_regions):
                np.testing.assert_allclose(ra, rb)
            for pa, pb in zip(fa.people, fb.people):
                np.testing.assert_allclose(pa.keypoints, pb.keypoints)
                assert pa.track_id == pb.track_id
                np.testing.assert_allclose(pa.bbox_head, pb.bbox_head)


def test_fixture_per_video_files(fixtures):
    videos, summary = load_posetrack(fixtures / "annotations" / "val")
    assert summary.files == 3 and summary.videos == 3 and summary.frames == 3 and summary.labeled_frames == 3
    assert summary.people == 14 and summary.ignore_regions == 15
    assert summary.joints["head_top"] == 14 and "left_ear" not in summary.joints
    v = {v.name: v for v in videos}["003418_mpii_test"]
    person = v.frames[0].people[0]
    np.testing.assert_allclose(person.keypoints[0], (621, 471, 1))
    np.testing.assert_allclose(person.bbox_head, (346, 337, 296, 237))
    assert person.scores is None  # the GT stores "scores": []


def test_fixture_merged_file_is_split_into_the_same_videos(fixtures):
    merged, summary = load_posetrack(fixtures / "annotations" / "test_posetrack18_val.json")
    per_video, _ = load_posetrack(fixtures / "annotations" / "val")
    assert sorted(v.name for v in merged) == sorted(v.name for v in per_video)
    by_name = {v.name: v for v in per_video}
    assert_same_videos(sorted(merged, key=lambda v: v.name), [by_name[n] for n in sorted(by_name)])


def test_fixture_detections_mmpose_layout(fixtures):
    dets = load_detections(fixtures / "annotations" / "test_posetrack18_human_detections.json")
    videos, _ = load_posetrack(fixtures / "annotations" / "val")
    assert dets.total == 278 and dets.skipped_degenerate == 0
    frame = videos[0].frames[0]
    found = dets.for_frame(frame, min_score=0.5)
    assert found and all(d.score >= 0.5 for d in found)
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)


@pytest.mark.parametrize("fmt", ["posetrack18", "posetrack17"])
def test_round_trip_read_write_read(tmp_path, fmt, fixtures):
    videos, _ = load_posetrack(fixtures / "annotations" / "val")
    paths = save_videos(videos, tmp_path, fmt)
    again, _ = load_posetrack(tmp_path)
    assert [p.name for p in paths] == [f"{v.name}.json" for v in videos]
    assert_same_videos(sorted(videos, key=lambda v: v.name), again)


def test_round_trip_synthetic_with_scores_and_unlabeled_frames(tmp_path):
    video = make_video([[make_person(1, track_id=3), make_person(2, track_id=7, scores=0.5)], [],
                        [make_person(3, track_id=3, missing=(0, 9))]],
                       ignore={2: [np.array([[0, 0], [10, 0], [10, 10.5]])]})
    for fmt in ("posetrack18", "posetrack17"):
        path = tmp_path / fmt / f"{video.name}.json"
        save_posetrack(video, path, fmt)
        (back,), summary = load_posetrack(path)
        assert_same_videos([video], [back])
        np.testing.assert_allclose(back.frames[0].people[1].scores[5], 0.5)
        assert summary.labeled_frames == 2 and summary.people == 3


def test_prediction_file_mirrors_gt_images_and_has_what_poseval_needs(fixtures):
    (gt,), _ = load_posetrack(fixtures / "annotations" / "val" / "009473_mpii_test.json")
    raw = json.loads((fixtures / "annotations" / "val" / "009473_mpii_test.json").read_text())
    pred = gt.empty_like()
    pred.frames[0].people = [make_person(0, track_id=None), make_person(1, track_id=None)]
    doc = to_posetrack18_dict(pred)
    assert [i["id"] for i in doc["images"]] == [i["id"] for i in raw["images"]]
    assert [i["file_name"] for i in doc["images"]] == [i["file_name"] for i in raw["images"]]
    assert doc["categories"][0]["name"] == "person" and len(doc["categories"][0]["keypoints"]) == 17
    assert [a["track_id"] for a in doc["annotations"]] == [0, 1]  # missing ids become unique integers
    assert all(len(a["keypoints"]) == 51 and len(a["scores"]) == 17 for a in doc["annotations"])


def test_duplicate_track_ids_cannot_be_written(tmp_path):
    video = make_video([[make_person(0, track_id=1), make_person(1, track_id=1)]])
    with pytest.raises(AnnotationError, match="duplicate track_id 1"):
        save_posetrack(video, tmp_path / "x.json")


def test_posetrack17_points_use_poseval_ids():
    doc = {"annolist": [{"image": [{"name": "images/bonn/000001_bonn/00000001.jpg"}], "imgnum": [1],
                         "annorect": [{"x1": [10], "y1": [20], "x2": [30], "y2": [50], "track_id": [4],
                                       "annopoints": [{"point": [{"id": [0], "x": [5.0], "y": [6.0], "score": [0.5]},
                                                                 {"id": [12], "x": [7], "y": [8]}]}]}]}]}
    (video,) = parse_posetrack(doc, "mem.json")
    person = video.frames[0].people[0]
    np.testing.assert_allclose(person.keypoints[16], (5, 6, 1))  # poseval 0 = right_ankle
    np.testing.assert_allclose(person.keypoints[1], (7, 8, 1))  # poseval 12 = head_bottom ("neck")
    np.testing.assert_allclose(person.bbox_head, (10, 20, 20, 30))
    assert person.track_id == 4 and person.scores[16] == 0.5 and video.frames[0].is_labeled


def test_person_without_keypoints_is_kept_and_counted(tmp_path):
    video = make_video([[make_person(0, track_id=0), make_person(1, track_id=1, missing=tuple(range(17)))]])
    save_posetrack(video, tmp_path / "v.json")
    (back,), summary = load_posetrack(tmp_path / "v.json")
    assert len(back.frames[0].people) == 2
    assert summary.people == 2 and summary.people_without_keypoints == 1


# --- malformed input ---------------------------------------------------------------------------


def write(tmp_path, data, name="bad.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def good_doc():
    video = make_video([[make_person(0, track_id=0)]])
    return to_posetrack18_dict(video)


def test_truncated_json_names_the_file(tmp_path):
    text = json.dumps(good_doc())
    path = write(tmp_path, text[: len(text) // 2])
    with pytest.raises(AnnotationError) as err:
        load_posetrack(path)
    assert str(path) in str(err.value) and "truncated" in str(err.value)


def test_missing_key_names_its_json_path(tmp_path):
    doc = good_doc()
    del doc["annotations"][0]["image_id"]
    with pytest.raises(AnnotationError, match=r"\$\.annotations\[0\]\.image_id: missing required key"):
        load_posetrack(write(tmp_path, doc))
    doc = good_doc()
    del doc["images"]
    with pytest.raises(AnnotationError, match=r"\$\.images: missing"):
        load_posetrack(write(tmp_path, doc))


def test_keypoints_of_the_wrong_length(tmp_path):
    doc = good_doc()
    doc["annotations"][0]["keypoints"] = doc["annotations"][0]["keypoints"][:48]
    with pytest.raises(AnnotationError, match=r"\$\.annotations\[0\]\.keypoints: expected 51 numbers, got 48"):
        load_posetrack(write(tmp_path, doc))


def test_annotation_of_an_unknown_image_and_bad_values(tmp_path):
    doc = good_doc()
    doc["annotations"][0]["image_id"] = 123
    with pytest.raises(AnnotationError, match="not listed"):
        load_posetrack(write(tmp_path, doc))
    doc = good_doc()
    doc["annotations"][0]["keypoints"][4] = "x"
    with pytest.raises(AnnotationError, match=r"keypoints\[4\]: expected a number"):
        load_posetrack(write(tmp_path, doc))
    doc = good_doc()
    doc["categories"][0]["keypoints"][0] = "snout"
    with pytest.raises(AnnotationError, match="unknown keypoint name 'snout'"):
        load_posetrack(write(tmp_path, doc))


def test_keypoints_are_mapped_by_category_names(tmp_path):
    doc = good_doc()
    names = doc["categories"][0]["keypoints"]
    kps = np.array(doc["annotations"][0]["keypoints"]).reshape(17, 3)
    order = np.arange(17)[::-1]
    doc["categories"][0]["keypoints"] = [names[i] for i in order]
    doc["annotations"][0]["keypoints"] = kps[order].reshape(-1).tolist()
    doc["annotations"][0]["scores"] = []
    (video,), _ = load_posetrack(write(tmp_path, doc))
    np.testing.assert_allclose(video.frames[0].people[0].keypoints, kps)


def test_empty_folder_and_missing_path(tmp_path):
    with pytest.raises(AnnotationError, match="no .json"):
        load_posetrack(tmp_path)
    with pytest.raises(AnnotationError, match="no such file"):
        load_posetrack(tmp_path / "nope.json")


def test_posewarper_detections_and_zero_size_boxes(tmp_path, caplog):
    dets = [
        {"image_name": "images/val/000001_mpii_test/000000.jpg", "bbox": [10, 10, 50, 100], "score": 0.9,
         "category_id": 1, "nframes": 2, "frame_id": 10000},
        {"image_name": "images/val/000001_mpii_test/000000.jpg", "bbox": [10, 10, 0, 100], "score": 0.8,
         "category_id": 1},
        {"image_name": "images/val/000001_mpii_test/000001.jpg", "bbox": [1, 2, 3, 4], "score": 0.1, "category_id": 1},
    ]
    path = write(tmp_path, dets, "dets.json")
    loaded = load_detections(path)
    assert loaded.total == 3 and loaded.skipped_degenerate == 1
    assert "skipped 1 of 3 boxes with zero or negative size (first at $[1])" in caplog.text
    video = make_video([[make_person(0)], [make_person(1)]])
    assert len(loaded.for_frame(video.frames[0])) == 1
    assert len(loaded.for_frame(video.frames[1], min_score=0.2)) == 0
    with pytest.raises(AnnotationError, match=r"\$\[1\]\.bbox: box has zero or negative size"):
        load_detections(path, strict=True)
    with pytest.raises(AnnotationError, match="neither 'image_id'"):
        load_detections(write(tmp_path, [{"bbox": [1, 2, 3, 4], "score": 1}], "d2.json"))
