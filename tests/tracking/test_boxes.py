"""Boxes for a video: track linking and the box-file reader (layouts, checks, several videos)."""

import json

import numpy as np
import pytest

from vidpose.data.annotations import AnnotationError, load_posetrack
from vidpose.data.frames import open_frames
from vidpose.tracking.boxes import VideoBoxes, boxes_in_time, decided_after, link_tracks, load_video_boxes


def _video(synth_tiny, split="train"):
    """A SynthTrack video folder and its GT."""
    folder = sorted((synth_tiny / "images" / split).iterdir())[0]
    videos, _ = load_posetrack(synth_tiny / "annotations" / split / f"{folder.name}.json")
    return folder, videos[0]


def test_link_tracks_follows_overlapping_boxes():
    a = np.array([[0, 0, 10, 10], [50, 50, 10, 10]], float)
    b = np.array([[52, 51, 10, 10], [1, 1, 10, 10], [200, 200, 5, 5]], float)
    t0, t1 = link_tracks([a, b])
    assert t1[0] == t0[1] and t1[1] == t0[0] and t1[2] not in t0


def test_detection_files_are_checked_against_the_video(synth_tiny, tmp_path):
    folder, _ = _video(synth_tiny)
    source = open_frames(folder)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"frame_index": len(source) + 3, "bbox": [0, 0, 5, 5]}]))
    with pytest.raises(AnnotationError, match="outside the video"):
        load_video_boxes(bad, source)
    bad.write_text(json.dumps([{"bbox": [0, 0, 5, 5]}]))
    with pytest.raises(AnnotationError, match="frame_index"):
        load_video_boxes(bad, source)


def test_unusable_boxes_are_skipped_counted_and_named_and_bad_frames_are_errors(synth_tiny, tmp_path, caplog):
    import logging

    from vidpose.data.annotations import AnnotationError

    folder, _ = _video(synth_tiny)
    source = open_frames(folder)
    entries = [{"frame_index": 0, "bbox": [10, 10, 40, 80], "score": 0.9},
               {"frame_index": 0, "bbox": [10, 10, 0, 80], "score": 0.9},
               {"frame_index": 1, "bbox": [10, 10, -4, 80]},
               {"frame_index": 1, "bbox": [10, 10, 40]},
               {"frame_index": 1, "bbox": None},
               {"frame_index": 2, "bbox": [float("nan"), 10, 40, 80]},
               {"frame_index": 2, "bbox": [10, 10, float("inf"), 80]},
               {"frame_index": 2, "bbox": [10, 10, 40, 80], "score": float("nan")},
               {"frame_index": 3, "bbox": [10, 10, 40, 80], "score": 0.05}]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(entries).replace("NaN", "NaN").replace("Infinity", "Infinity"))
    caplog.set_level(logging.WARNING)
    boxes = load_video_boxes(path, source, min_score=0.2)
    assert sum(len(b) for b in boxes.boxes) == 1
    assert boxes.skipped == {"of zero or negative size": 2, "not 4 numbers": 2, "with NaN or Inf": 2,
                             "with a score that is not a finite number": 1, "scored below --min-box-score 0.2": 1}
    message = caplog.records[-1].getMessage()
    assert "skipped 8 of 9 boxes" in message and "first at $[1].bbox" in message
    for bad, pattern in [({"frame_index": 1.5, "bbox": [1, 1, 5, 5]}, "integer frame position"),
                         ({"frame_index": "3", "bbox": [1, 1, 5, 5]}, "integer frame position"),
                         ({"frame_index": 999, "bbox": [1, 1, 5, 5]}, "outside the video")]:
        path.write_text(json.dumps([bad]))
        with pytest.raises(AnnotationError, match=pattern):
            load_video_boxes(path, source)


def test_boxes_from_a_posetrack18_file_and_from_mmpose_image_ids(fixtures, tmp_path):
    from vidpose.data.frames import open_frames as frames_of

    ann = fixtures / "annotations" / "val" / "003418_mpii_test.json"
    doc = json.loads(ann.read_text())
    boxes = load_video_boxes(ann, frames_of(fixtures / "images" / "val" / "003418_mpii_test"))
    assert sum(len(b) for b in boxes.boxes) == sum(1 for a in doc["annotations"] if "bbox" in a) > 0
    video = frames_of(next((fixtures / "videos").rglob("*.mp4")))
    mm = [{"image_id": 10000 * 7 + f, "bbox": [5, 5, 50, 90], "score": 0.8} for f in range(len(video))]
    (tmp_path / "mm.json").write_text(json.dumps(mm))
    assert [len(b) for b in load_video_boxes(tmp_path / "mm.json", video).boxes] == [1] * len(video)


def test_a_detection_file_of_several_videos_gives_each_video_its_own_boxes(fixtures, tmp_path):
    """mmpose's PoseTrack18 detection file (image_id layout) holds every val video: `predict --boxes`
    keeps the boxes of the video it runs on, found by the number in the folder or file name."""
    from vidpose.data.frames import open_frames as frames_of

    path = fixtures / "annotations" / "test_posetrack18_human_detections.json"
    entries = json.loads(path.read_text())
    for folder in sorted((fixtures / "images" / "val").iterdir()):
        number = int(folder.name[:6])
        expected = sum(1 for e in entries if e["image_id"] // 10000 % 10 ** 6 == number and e["score"] >= 0.5)
        boxes = load_video_boxes(path, frames_of(folder), min_score=0.5)
        assert [len(b) for b in boxes.boxes] == [expected] and expected > 0
    with pytest.raises(AnnotationError, match=r"holds boxes of 3 videos \(003418, 009473, 012834\) but none of "
                                              r"video 000001"):
        load_video_boxes(path, frames_of(next((fixtures / "videos").rglob("*.mp4"))))
    (tmp_path / "clip").symlink_to(fixtures / "images" / "val" / "003418_mpii_test")
    with pytest.raises(AnnotationError, match="has no PoseTrack video number in its name"):
        load_video_boxes(path, frames_of(tmp_path / "clip"))


def _walker(frames=12, missing=(4,), weak=(7,), jump=(9,)):
    """One person walking right 10 px a frame: missing in some frames, weakly scored in others,
    and in ``jump`` measured 200 px off with a high score."""
    boxes, scores, tracks = [], [], []
    for f in range(frames):
        box = np.array([[10.0 * f, 50, 40, 100]])
        if f in jump:
            box = box + [200, 0, 0, 0]
        if f in missing:
            boxes.append(np.zeros((0, 4))), scores.append(np.zeros(0)), tracks.append(np.zeros(0, int))
            continue
        boxes.append(box), scores.append(np.array([0.1 if f in weak else 0.9])), tracks.append(np.array([3]))
    return VideoBoxes(boxes, scores, tracks)


def test_boxes_in_time_offline_interpolates_missing_weak_and_jumping_frames():
    out = boxes_in_time(_walker(), "offline")
    for f in range(12):
        assert out.tracks[f].tolist() == [3]
        np.testing.assert_allclose(out.boxes[f][0], [10.0 * f, 50, 40, 100], atol=1e-9)
    assert out.scores[4][0] == pytest.approx(0.9) and out.scores[0][0] == pytest.approx(0.9)
    # a gap longer than max_gap stays as found
    far = boxes_in_time(_walker(missing=(3, 4, 5, 6), weak=(), jump=()), "offline", max_gap=3)
    assert [len(b) for b in far.boxes[3:7]] == [0, 0, 0, 0]
    assert boxes_in_time(_walker(), "off").boxes[4].shape == (0, 4)


def test_boxes_in_time_causal_coasts_at_the_tracks_velocity_and_reads_no_future_frame():
    found = _walker(frames=12, missing=(4, 5), weak=(8,), jump=())
    out = boxes_in_time(found, "causal", coast=3)
    for f in (4, 5, 8):
        np.testing.assert_allclose(out.boxes[f][0], [10.0 * f, 50, 40, 100], atol=1e-9)
    # after the track's last frame it coasts `coast` frames, as a live tracker would
    ended = boxes_in_time(_walker(frames=12, missing=(9, 10, 11), weak=(), jump=()), "causal", coast=2)
    assert [len(b) for b in ended.boxes[9:]] == [1, 1, 0]
    # frame t's box is the same whether or not the frames after t exist
    for t in range(12):
        part = VideoBoxes(found.boxes[: t + 1], found.scores[: t + 1], found.tracks[: t + 1])
        np.testing.assert_array_equal(boxes_in_time(part, "causal", coast=3).boxes[t], out.boxes[t])


def test_boxes_in_time_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="offline, causal or off"):
        boxes_in_time(_walker(), "later")


def test_boxes_outside_the_frame_are_skipped_and_boxes_across_its_border_clipped(tmp_path, caplog):
    """Issue 41: [5000, 5000, 100, 200] on a 1768x994 video gave keypoints at x = 5100, a 1e9
    box coordinates of 7.5e8. Such boxes are skipped, counted by reason in the one warning."""
    import logging

    from vidpose.data.frames import ArrayFrames

    source = ArrayFrames(np.zeros((2, 994, 1768, 3), np.uint8))
    entries = [{"frame_index": 0, "bbox": [100, 100, 50, 120]},
               {"frame_index": 0, "bbox": [5000, 5000, 100, 200]},
               {"frame_index": 0, "bbox": [-300, 10, 100, 200]},
               {"frame_index": 1, "bbox": [0, 0, 1e9, 1e9]},
               {"frame_index": 1, "bbox": [-50, 900, 150, 200]},
               {"frame_index": 1, "bbox": [-10000, -10000, 20000, 20000]}]
    (tmp_path / "b.json").write_text(json.dumps(entries))
    caplog.set_level(logging.INFO)
    boxes = load_video_boxes(tmp_path / "b.json", source)
    assert boxes.skipped == {"wholly outside the 1768x994 frame": 2, "larger than 10 times the frame's diagonal": 1}
    assert np.allclose(boxes.boxes[0], [[100, 100, 50, 120]])
    assert np.allclose(boxes.boxes[1], [[0, 900, 100, 94], [0, 0, 1768, 994]])
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING][-1]
    assert "skipped 3 of 6 boxes" in warning and "wholly outside" in warning and "first at $[1].bbox" in warning


def test_a_box_file_of_another_video_is_refused_naming_both(fixtures, tmp_path):
    """Issue 41: a file naming only video 000522, and another video's PoseTrack18 GT, were used
    on 003418_mpii_test as if they were its own."""
    from vidpose.data.frames import open_frames as frames_of

    own = frames_of(fixtures / "images" / "val" / "003418_mpii_test")
    other = [{"image_name": "images/val/000522_mpii_test/000000.jpg", "bbox": [5, 5, 50, 90]}]
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(AnnotationError, match=r"other.json: \$: holds boxes of PoseTrack video 000522 only, but "
                                              r".*003418_mpii_test is video 003418"):
        load_video_boxes(tmp_path / "other.json", own)
    with pytest.raises(AnnotationError, match="PoseTrack video 009473 only.*003418"):
        load_video_boxes(fixtures / "annotations" / "val" / "009473_mpii_test.json", own)
    other[0]["image_name"] = "images/val/003418_mpii_test/000000.jpg"
    (tmp_path / "own.json").write_text(json.dumps(other))
    assert [len(b) for b in load_video_boxes(tmp_path / "own.json", own).boxes] == [1]


def test_box_file_frames_are_positions_in_the_whole_video_also_with_a_frame_range(tmp_path):
    """Issue 41: with --frames 10:15, a file whose frame_index runs 0-4 was applied to frames
    10-14. Its frames are those of the whole video: a file with no box in the range is refused."""
    from vidpose.data.frames import ArrayFrames, FrameRange

    part = FrameRange(ArrayFrames(np.zeros((20, 60, 80, 3), np.uint8)), 10, 15)
    early = [{"frame_index": f, "bbox": [10, 10, 20, 30]} for f in range(5)]
    (tmp_path / "early.json").write_text(json.dumps(early))
    with pytest.raises(AnnotationError, match=r"none of its boxes is in frames 10:15 .*frames 0..4.*whole video"):
        load_video_boxes(tmp_path / "early.json", part)
    spread = [{"frame_index": f, "bbox": [f, 10, 20, 30]} for f in (3, 10, 12, 14, 19)]
    (tmp_path / "spread.json").write_text(json.dumps(spread))
    boxes = load_video_boxes(tmp_path / "spread.json", part)
    assert [len(b) for b in boxes.boxes] == [1, 0, 1, 0, 1]
    assert [b[0][0] for b in boxes.boxes if len(b)] == [10, 12, 14]
    (tmp_path / "far.json").write_text(json.dumps([{"frame_index": 25, "bbox": [1, 1, 5, 5]}]))
    with pytest.raises(AnnotationError, match="outside the video"):
        load_video_boxes(tmp_path / "far.json", part)


def test_boxes_in_time_fills_each_track_from_its_own_frames():
    a, b = _walker(missing=(4,), weak=(), jump=()), _walker(missing=(), weak=(), jump=())
    both = VideoBoxes([np.concatenate([x, y + [0, 300, 0, 0]]) for x, y in zip(a.boxes, b.boxes)],
                      [np.concatenate([x, y]) for x, y in zip(a.scores, b.scores)],
                      [np.concatenate([x, y + 4]) for x, y in zip(a.tracks, b.tracks)])  # tracks 3 and 7
    for mode in ("offline", "causal"):
        out = boxes_in_time(both, mode)
        assert sorted(out.tracks[4].tolist()) == [3, 7]
        by_track = dict(zip(out.tracks[4].tolist(), out.boxes[4]))
        np.testing.assert_allclose(by_track[3], [40, 50, 40, 100], atol=1e-9)
        np.testing.assert_allclose(by_track[7], [40, 350, 40, 100], atol=1e-9)


def test_boxes_in_time_keeps_a_kept_measurements_crop_and_crops_a_placed_box_as_it_is():
    found = _walker()
    crops = VideoBoxes([], [], [])
    for f in range(len(found.boxes)):
        crops.append(found.boxes[f], found.scores[f], found.tracks[f], found.boxes[f] + [-5, -5, 10, 10])
    for mode in ("offline", "causal"):
        out = boxes_in_time(crops, mode)
        assert len(out.crops) == len(out.boxes) == 12
        kept = [f for f in range(12) if np.isfinite(out.crops[f][0]).all()]
        for f in kept:  # a measurement kept as found keeps its crop
            np.testing.assert_array_equal(out.boxes[f][0], found.boxes[f][0])
            np.testing.assert_array_equal(out.crop_of(f, 0), found.boxes[f][0] + [-5, -5, 10, 10])
        for f in set(range(12)) - set(kept):  # a box placed from time is cropped as it is
            assert np.array_equal(out.crop_of(f, 0), out.boxes[f][0])
        assert {0, 1, 2, 3, 5, 11} <= set(kept) and not {4, 7} & set(kept), (mode, kept)
    # without crops every box is cropped as it is
    plain = boxes_in_time(_walker(), "offline")
    assert np.array_equal(plain.crop_of(0, 0), plain.boxes[0][0])


def test_an_offline_decision_reads_no_further_than_decided_after_so_a_video_can_be_decided_as_it_is_tracked():
    """Pipeline.track_and_predict decides frame g's boxes from frames g - decided_after .. g +
    decided_after alone: the same boxes as the whole video's decision, on random tracks that go
    missing, score weakly and jump."""
    rng = np.random.default_rng(0)
    for trial in range(20):
        n, found = 60, VideoBoxes([], [], [])
        for f in range(n):
            rows = []
            for track in range(2):
                if rng.random() < 0.25:
                    continue  # missing here
                box = np.array([5.0 * f + 100 * track, 40, 40, 90]) + (rng.random() < 0.1) * np.array([150, 0, 0, 0])
                rows.append((box, 0.1 if rng.random() < 0.25 else 0.9, track))
            found.append(np.array([r[0] for r in rows]).reshape(-1, 4), np.array([r[1] for r in rows]),
                         np.array([r[2] for r in rows], int))
        whole = boxes_in_time(found, "offline", max_gap=4)
        reach = decided_after(4)
        for end in range(reach, n):
            first = max(0, end - 3 * reach)
            part = boxes_in_time(VideoBoxes(found.boxes[first:end + 1], found.scores[first:end + 1],
                                            found.tracks[first:end + 1]), "offline", max_gap=4)
            for g in range(first + reach, end - reach + 1):
                order = np.argsort(part.tracks[g - first])
                assert part.tracks[g - first][order].tolist() == sorted(whole.tracks[g].tolist()), (trial, end, g)
                np.testing.assert_allclose(part.boxes[g - first][order], whole.boxes[g][np.argsort(whole.tracks[g])])
