"""Top-down clips: neighbour rule at video boundaries, one transform per clip, targets, dataset."""

import cv2
import numpy as np
import pytest

from conftest import make_person, make_video
from vidpose.data.annotations import save_posetrack, load_posetrack
from vidpose.data.clips import ClipConfig, TopDownClipDataset, clip_indices, make_clip, resolve_window
from vidpose.data.frames import FrameError
from vidpose.data.heatmaps import decode_dark, heatmap_to_image
from vidpose.data.transforms import AugmentParams


def test_neighbours_are_clamped_to_the_nearest_existing_frame():
    assert clip_indices(5, (-2, -1, 1, 2), 10) == [5, 3, 4, 6, 7]
    assert clip_indices(0, (-2, -1, 1, 2), 10) == [0, 0, 0, 1, 2]
    assert clip_indices(9, (-2, -1, 1, 2), 10) == [9, 7, 8, 9, 9]
    assert clip_indices(0, (-2, -1, 1, 2), 1) == [0, 0, 0, 0, 0]  # 1-frame video: the key frame repeated
    with pytest.raises(ValueError, match="outside a video of 3 frames"):
        clip_indices(3, (-1,), 3)


def test_one_transform_for_the_whole_clip_and_targets_decode_back():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (240, 320, 3), np.uint8) for _ in range(5)]
    frames[3] = frames[0].copy()
    person = make_person(0, center=(160, 120))
    cfg = ClipConfig(input_size=(96, 128), heatmap_size=(24, 32), sigma=1.5)
    sample = make_clip(frames, person.bbox, cfg, person.keypoints)
    assert sample.images.shape == (5, 128, 96, 3)
    np.testing.assert_array_equal(sample.images[0], sample.images[3])  # same pixels, same crop
    coords, _ = decode_dark(sample.heatmaps[None], blur=False)
    back = heatmap_to_image(coords[0], sample.crop_to_image, cfg.stride)
    vis = sample.target_weight > 0
    assert vis.sum() >= 12
    assert np.abs(back[vis] - person.keypoints[vis, :2]).max() < 0.05


def test_flip_swaps_joints_and_mirrors_the_crop():
    frame = np.zeros((240, 320, 3), np.uint8)
    person = make_person(1, center=(160, 120))
    cfg = ClipConfig(input_size=(96, 128), heatmap_size=(24, 32), sigma=1.5)
    plain = make_clip([frame], person.bbox, cfg, person.keypoints)
    flipped = make_clip([frame], person.bbox, cfg, person.keypoints, AugmentParams(flip=True))
    c_plain, _ = decode_dark(plain.heatmaps[None], blur=False)
    c_flip, _ = decode_dark(flipped.heatmaps[None], blur=False)
    # the left shoulder's channel of the flipped clip sits at the mirror of the right shoulder's
    np.testing.assert_allclose(c_flip[0, 5, 0], (cfg.input_size[0] - 1) / cfg.stride - c_plain[0, 6, 0], atol=0.05)
    back = heatmap_to_image(c_flip[0, 5], flipped.crop_to_image, cfg.stride)
    np.testing.assert_allclose(back, person.keypoints[6, :2], atol=0.05)


def _write_dataset(root, n_frames):
    name = "000001_mpii_test"
    folder = root / "images" / "val" / name
    folder.mkdir(parents=True)
    for i in range(n_frames):
        cv2.imwrite(str(folder / f"{i:06d}.jpg"), np.full((240, 320, 3), 20 * i, np.uint8))
    video = make_video([[make_person(i, center=(160, 120), track_id=0)] for i in range(n_frames)], name=name)
    save_posetrack(video, root / "annotations" / f"{name}.json")
    return load_posetrack(root / "annotations")[0]


def test_dataset_on_a_one_frame_video(tmp_path):
    videos = _write_dataset(tmp_path, 1)
    cfg = ClipConfig(input_size=(48, 64), heatmap_size=(12, 16))
    item = TopDownClipDataset(videos, tmp_path, cfg, train=True, seed=1)[0]
    assert item["images"].shape == (5, 3, 64, 48)
    assert all((item["images"][k] == item["images"][0]).all() for k in range(5))
    assert item["heatmaps"].shape == (17, 16, 12) and item["target_weight"].sum() > 0


def test_dataset_augmentation_is_reproducible_and_a_missing_key_frame_is_named(tmp_path):
    videos = _write_dataset(tmp_path, 4)
    cfg = ClipConfig(input_size=(48, 64), heatmap_size=(12, 16))
    a = TopDownClipDataset(videos, tmp_path, cfg, train=True, seed=3)
    b = TopDownClipDataset(videos, tmp_path, cfg, train=True, seed=3)
    assert len(a) == 4 and a.missing_neighbours == 0
    assert (a[2]["images"] == b[2]["images"]).all()
    (tmp_path / "images" / "val" / "000001_mpii_test" / "000002.jpg").unlink()
    with pytest.raises(FrameError, match=r"000001_mpii_test/000002\.jpg: labeled frame's image is missing"):
        TopDownClipDataset(videos, tmp_path, cfg)


def test_missing_neighbours_take_the_nearest_frame_of_the_window_on_disk():
    on_disk = {0, 1, 4, 6}.__contains__
    # the border clamps -1 to 0; 2 and 3 are missing, and of the window's frames on disk (0, 1) 1 is nearer
    assert resolve_window(1, (-2, -1, 1, 2), 0, 9, on_disk) == ([1, 0, 0, 1, 1], [2, 3])
    assert resolve_window(4, (-2, -1, 1, 2), 0, 9, on_disk) == ([4, 4, 4, 4, 6], [2, 3, 5])
    # a tie is broken toward the key frame: 5 is 1 from both 4 and 6
    assert resolve_window(6, (-1, 1), 0, 9, on_disk) == ([6, 6, 6], [5, 7])
    # the video ends at 6: 7 and 8 are outside it (border rule), not missing
    assert resolve_window(6, (1, 2), 0, 6, on_disk) == ([6, 6, 6], [])
    with pytest.raises(ValueError, match="key frame 2"):
        resolve_window(2, (-1, 1), 0, 9, on_disk)


def test_a_dataset_with_gaps_replaces_missing_neighbours_and_says_how_many(tmp_path, caplog):
    videos = _write_dataset(tmp_path, 5)
    folder = tmp_path / "images" / "val" / "000001_mpii_test"
    (folder / "000003.jpg").unlink()
    labeled = videos[0].frames
    for frame in labeled[3:]:
        frame.is_labeled, frame.people = False, []  # frame 3 has no image, frame 4 no label
    cfg = ClipConfig(input_size=(48, 64), heatmap_size=(12, 16), offsets=(-1, 1))
    with caplog.at_level("WARNING", logger="vidpose.data.clips"):
        data = TopDownClipDataset(videos, tmp_path, cfg)
    # clips of 0, 1, 2 with offsets -1, +1: only frame 2's right neighbour (3) is missing
    assert data.windows == [[0, 0, 1], [1, 0, 2], [2, 1, 2]]
    assert data.missing_neighbours == 1
    assert "1 of 6 neighbour frames (in 1 of 3 clips) are not on disk" in caplog.text
    assert "(first missing: " + str(tmp_path / "images" / "val" / "000001_mpii_test" / "000003.jpg") in caplog.text
    item = data[2]
    assert (item["images"][2] == item["images"][0]).all()  # the key frame stands in for frame 3


def test_the_annotation_says_how_long_the_video_is(tmp_path, caplog):
    """Only the labeled frame is on disk, but PoseTrack18's nframes says the video goes on: its
    neighbours are missing frames (counted), not the end of the video."""
    videos = _write_dataset(tmp_path, 1)
    videos[0].frames[0].raw["nframes"] = 30
    cfg = ClipConfig(input_size=(48, 64), heatmap_size=(12, 16))
    with caplog.at_level("WARNING", logger="vidpose.data.clips"):
        data = TopDownClipDataset(videos, tmp_path, cfg)
    assert data.windows == [[0, 0, 0, 0, 0]] and data.missing_neighbours == 2  # +1, +2; -1, -2 are the border
    assert "2 of 4 neighbour frames" in caplog.text
