"""Affine crop maps and the heatmap codec, with property tests."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidpose.data.heatmaps import decode, decode_argmax, decode_dark, encode_gaussian, flip_back, flip_test_average
from vidpose.data.schema import flip_permutation
from vidpose.data.transforms import apply_transform, box_to_center_size, crop_transform, invert_transform

finite = dict(allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(
    box=st.tuples(st.floats(-500, 2000, **finite), st.floats(-500, 2000, **finite),
                  st.floats(2, 1500, **finite), st.floats(2, 1500, **finite)),
    rotation=st.floats(-180, 180, **finite), flip=st.booleans(),
    points=st.lists(st.tuples(st.floats(-3000, 3000, **finite), st.floats(-3000, 3000, **finite)), min_size=1, max_size=17),
)
def test_point_to_crop_to_image_round_trip(box, rotation, flip, points):
    center, size = box_to_center_size(np.array(box))
    m = crop_transform(center, size, (192, 256), rotation, flip)
    pts = np.array(points)
    back = apply_transform(apply_transform(pts, m), invert_transform(m))
    assert np.abs(back - pts).max() < 1e-3


def test_crop_geometry():
    center, size = box_to_center_size(np.array([100, 100, 60, 200]), aspect_ratio=0.75, enlarge=1.25)
    np.testing.assert_allclose(center, (130, 200))
    np.testing.assert_allclose(size, (150 * 1.25 / 1.25 * 1.25 / 1.25 * 1.25, 250))  # padded to w/h = 0.75, x1.25
    m = crop_transform(center, size, (192, 256))
    np.testing.assert_allclose(apply_transform(center, m), (95.5, 127.5))  # box centre -> crop centre
    mf = crop_transform(center, size, (192, 256), flip=True)
    left = apply_transform(center - (10, 0), m)
    np.testing.assert_allclose(apply_transform(center - (10, 0), mf)[0], 191 - left[0])
    with pytest.raises(ValueError, match="zero or negative size"):
        box_to_center_size(np.array([0, 0, 0, 10]))


@settings(max_examples=200, deadline=None)
@given(x=st.floats(6, 41, **finite), y=st.floats(6, 57, **finite), sigma=st.floats(1.5, 3.0, **finite))
def test_dark_recovers_subpixel_positions(x, y, sigma):
    # With DARK's 11x11 modulation blur: exact away from the border (the blur's reflected border
    # biases peaks within ~5 px of the edge, a documented limitation).
    hm, w = encode_gaussian(np.array([[x, y]]), np.array([1]), (48, 64), sigma)
    coords, maxvals = decode_dark(hm[None], blur_kernel=11)
    assert w[0] == 1 and maxvals[0, 0] > 0.5
    assert np.abs(coords[0, 0] - (x, y)).max() < 0.1


@settings(max_examples=200, deadline=None)
@given(x=st.floats(1, 46, **finite), y=st.floats(1, 62, **finite), sigma=st.floats(1.5, 3.0, **finite))
def test_dark_without_blur_recovers_positions_up_to_the_border(x, y, sigma):
    hm, _ = encode_gaussian(np.array([[x, y]]), np.array([1]), (48, 64), sigma)
    coords, _ = decode_dark(hm[None], blur=False)
    assert np.abs(coords[0, 0] - (x, y)).max() < 0.1


@settings(max_examples=100, deadline=None)
@given(x=st.floats(2, 45, **finite), y=st.floats(2, 61, **finite))
def test_argmax_decoding_is_within_a_quarter_pixel_plus_rounding(x, y):
    hm, _ = encode_gaussian(np.array([[x, y]]), np.array([1]), (48, 64), 2.0)
    coords, _ = decode_argmax(hm[None])
    assert np.abs(coords[0, 0] - (x, y)).max() <= 0.5 + 1e-9


def test_invisible_or_far_joints_get_zero_weight_and_decode_to_zero():
    hm, w = encode_gaussian(np.array([[10, 10], [500, 10], [5, 5]]), np.array([1, 1, 0]), (48, 64), 2.0)
    assert list(w) == [1, 0, 0] and hm[1].max() == 0 and hm[2].max() == 0
    coords, maxvals = decode(hm[None], "dark")
    assert maxvals[0, 1] == 0 and (coords[0, 1] == 0).all()
    with pytest.raises(ValueError, match="unknown heatmap decoding"):
        decode(hm, "softargmax")


def test_flip_back_inverts_a_flipped_input():
    rng = np.random.default_rng(0)
    joints = rng.uniform(5, 40, (17, 2))
    hm, _ = encode_gaussian(joints, np.ones(17), (48, 64), 2.0)
    mirrored = joints.copy()
    mirrored[:, 0] = 47 - mirrored[:, 0]
    hm_flipped, _ = encode_gaussian(mirrored[flip_permutation()], np.ones(17), (48, 64), 2.0)
    np.testing.assert_allclose(flip_back(hm_flipped), hm, atol=1e-6)
    avg = flip_test_average(hm, hm_flipped, shift=False)
    np.testing.assert_allclose(avg, hm, atol=1e-6)
    shifted = flip_test_average(hm, hm_flipped, shift=True)
    coords, _ = decode_dark(shifted[None])
    assert np.abs(coords[0] - (joints + (0.5, 0))).max() < 0.1  # half of the one-pixel shift


def test_limb_maps_peak_on_the_segment_and_follow_the_joint_weights():
    from vidpose.data.heatmaps import encode_limbs

    joints = np.zeros((17, 2))
    joints[13], joints[15] = (10.0, 10.0), (10.0, 30.0)  # left knee, left ankle: a vertical shin
    weights = np.zeros(17, dtype=np.float32)
    weights[[13, 15]] = 1
    maps, limb_weights = encode_limbs(joints, weights, (48, 64), sigma=2.0, limbs=((13, 15), (14, 16)))
    assert maps.shape == (2, 64, 48) and limb_weights.tolist() == [1.0, 0.0]
    assert maps[0, 10:31, 10].min() == pytest.approx(1.0)  # every point of the segment
    assert maps[0, 20, 12] == pytest.approx(np.exp(-4 / 8))  # 2 px beside it
    assert maps[0, 40, 10] == pytest.approx(np.exp(-100 / 8))  # 10 px past the ankle end
    assert not maps[1].any()  # the right shin has no annotated ends


def test_limb_maps_travel_with_the_clip_and_flip_with_the_joints():
    from vidpose.data.clips import ClipConfig, make_clip
    from vidpose.data.schema import SKELETON
    from vidpose.data.transforms import AugmentParams

    frame = np.zeros((200, 160, 3), np.uint8)
    kp = np.zeros((17, 3))
    kp[11], kp[13], kp[15] = (60, 80, 1), (62, 120, 1), (64, 160, 1)  # left hip, knee, ankle
    cfg = ClipConfig(input_size=(96, 128), heatmap_size=(48, 64), offsets=(), limb_maps=True)
    for flip in (False, True):
        sample = make_clip([frame], np.array([20, 20, 120, 170.0]), cfg, kp, AugmentParams(flip=flip))
        shin = SKELETON.index((13, 15)), SKELETON.index((14, 16))
        assert sample.limb_heatmaps.shape == (len(SKELETON), 64, 48)
        on, off = (shin[1], shin[0]) if flip else shin  # flipped: the shin is labelled right
        assert sample.limb_weight[on] == 1 and sample.limb_weight[off] == 0
        ankle = sample.heatmaps[16 if flip else 15]
        y, x = np.unravel_index(ankle.argmax(), ankle.shape)
        assert sample.limb_heatmaps[on, y, x] > 0.9  # the limb map reaches the ankle's blob
