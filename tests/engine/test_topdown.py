"""The one top-down path: settings with one set of defaults, a box to its crop and back, and
heatmaps to image keypoints with and without the flip test."""

import numpy as np
import pytest

from vidpose.data.clips import ClipConfig
from vidpose.data.heatmaps import encode_gaussian
from vidpose.data.transforms import apply_transform
from vidpose.engine.topdown import TopDownSettings, keypoints_from_heatmaps


def test_settings_come_from_the_config_with_one_set_of_defaults():
    assert TopDownSettings.from_config({}) == TopDownSettings() == TopDownSettings(flip=True, flip_shift=True, decode="dark")
    assert TopDownSettings.from_config({"test": {"flip": False, "decode": "argmax"}}) == \
        TopDownSettings(flip=False, flip_shift=True, decode="argmax")
    with pytest.raises(ValueError, match="test.decode"):
        TopDownSettings(decode="soft-argmax")


def test_video_inference_without_a_test_section_uses_the_testers_defaults():
    """They used to differ: the tester flipped by default and video inference did not."""
    from vidpose.engine.video import VideoPredictor
    from vidpose.models.registry import build_model

    model = build_model({"name": "single_frame", "backbone": {"name": "hrnet", "size": "tiny"}})
    data = {"input_size": [96, 128], "heatmap_size": [24, 32], "offsets": []}
    assert VideoPredictor(model, {"data": data}).settings == TopDownSettings()
    assert VideoPredictor(model, {"data": data, "test": {"flip": False}}).settings.flip is False


def test_a_joint_maps_back_to_where_it_was_in_the_image():
    clip = ClipConfig(input_size=(192, 256), heatmap_size=(48, 64), offsets=())
    box = np.array([300.0, 100.0, 120.0, 260.0])
    joint = np.array([[352.0, 171.0]])  # in the image
    in_heatmap = apply_transform(joint, clip.crop_matrix(box)) / clip.stride
    joints = np.zeros((17, 2))
    joints[5] = in_heatmap[0]
    visible = np.zeros(17, bool)
    visible[5] = True
    maps = encode_gaussian(joints, visible, (48, 64), sigma=2.0)[0][None].astype(np.float32)
    calls = []

    def heatmaps_of(mirrored: bool) -> np.ndarray:
        calls.append(mirrored)
        return maps

    xy, peaks = keypoints_from_heatmaps(heatmaps_of, [clip.crop_to_image(box)], clip.stride,
                                        TopDownSettings(flip=False))
    assert calls == [False]  # no mirror asked for without the flip test
    assert np.abs(xy[0, 5] - joint[0]).max() < 0.5 and peaks[0, 5] > 0.9
    calls.clear()
    keypoints_from_heatmaps(heatmaps_of, [clip.crop_to_image(box)], clip.stride, TopDownSettings(flip=True))
    assert calls == [False, True]
