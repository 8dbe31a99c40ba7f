"""The degradation module shared by SynthTrack and real video: seeded, pure, and as strong as it
says."""

import numpy as np
import pytest

from vidpose.data.degrade import KINDS, Cutout, FrameContext, degrade, linear_kernel, smear


def frames(seed=0, h=96, w=128):
    """Three frames of a textured square moving 4 px right per frame on a textured background."""
    rng = np.random.default_rng(seed)
    background = rng.uniform(0.2, 0.8, (h, w, 3)).astype(np.float32)
    patch = rng.uniform(0, 1, (30, 20, 3)).astype(np.float32)
    out = []
    for t in range(3):
        f = background.copy()
        f[30:60, 40 + 4 * t: 60 + 4 * t] = patch
        out.append(f)
    return out


def context(prev, nxt):
    box = np.array([40.0, 30.0, 24.0, 30.0])
    joints = np.array([[50.0, 35.0, 1.0], [50.0, 55.0, 1.0]])
    cut = Cutout(np.full((20, 20, 3), 0.5, np.float32), np.ones((20, 20), np.float32), "patch")
    return FrameContext(prev=prev, next=nxt, boxes=[box], masks=[None], joints=[joints], cutouts=[cut], ids=[0])


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_bytes_and_the_inputs_are_untouched(kind):
    prev, key, nxt = frames()
    copies = [prev.copy(), key.copy(), nxt.copy()]
    a, rec_a, _ = degrade(key, kind, 0.8, np.random.default_rng(3), context(prev, nxt))
    b, rec_b, _ = degrade(key, kind, 0.8, np.random.default_rng(3), context(prev, nxt))
    assert a.tobytes() == b.tobytes() and rec_a == rec_b and rec_a["type"] == kind
    for before, after in zip(copies, (prev, key, nxt)):  # the clean neighbours (and the key) stay as they were
        assert np.array_equal(before, after)
    assert not np.array_equal(a, key)


def test_the_occluder_covers_the_share_it_says_and_returns_its_alpha():
    prev, key, nxt = frames()
    out, record, alpha = degrade(key, "occluder", 1.0, np.random.default_rng(0), context(prev, nxt))
    assert record["coverage"] == pytest.approx(0.55)
    assert alpha.sum() == pytest.approx(0.55 * 24 * 30, rel=0.1)  # the pasted area is the share of the box
    assert alpha[30:60, 40:64].sum() / (24 * 30) > 0.3  # centred on a joint, most of it lands on the person
    assert np.allclose(out[alpha > 0.99], 0.5, atol=1e-5)


def test_motion_blur_smears_along_the_motion():
    prev, key, nxt = frames()
    out, record, _ = degrade(key, "motion_blur", 1.0, np.random.default_rng(0), context(prev, nxt))
    assert record["smear_px"][0] >= 0.25 * 30 - 1e-6
    row = 45  # across the moving square: the horizontal gradient is flattened, the vertical one much less
    assert np.abs(np.diff(out[row, 30:75], axis=0)).mean() < 0.6 * np.abs(np.diff(key[row, 30:75], axis=0)).mean()


def test_smear_with_zero_flow_is_the_identity_and_kernels_are_normalised():
    _, key, _ = frames()
    assert np.allclose(smear(key, np.zeros(key.shape[:2] + (2,), np.float32)), key, atol=1e-6)
    assert linear_kernel(9, 0.3).sum() == pytest.approx(1.0)


def test_bad_kind_or_severity_is_a_clear_error():
    _, key, _ = frames()
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(key, "fog", 0.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="severity"):
        degrade(key, "defocus", 1.5, np.random.default_rng(0))
