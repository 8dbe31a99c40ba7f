"""SDTC: masks, the axes divided attention mixes, the reconstruction loss, eval mode, switches,
one training step."""

import pytest
import torch

from vidpose.models.registry import build_model
from vidpose.models.sdtc import SDTC, AxisAttention, MotionEncoder, SpaceTimeLayer, frame_mask, sincos_2d, tube_mask

from conftest import assert_adam_steps_lower

VIT = {"name": "vit", "size": "tiny"}
SIZE = (96, 128)  # (width, height): a 16 x 12 token grid, 32 x 24 heatmaps


def build(**kw) -> SDTC:
    return build_model({"name": "sdtc", "backbone": VIT, "dim": 32, **kw}, input_size=SIZE)


def batch(b=2, t=5):
    return {"heatmaps": torch.rand(b, 17, 32, 24) * 0.1, "target_weight": torch.ones(b, 17),
            "clip_heatmaps": torch.rand(b, t, 17, 32, 24) * 0.1, "clip_weight": torch.ones(b, t, 17)}


def test_tube_masks_keep_the_ratio_and_frame_masks_hide_whole_frames():
    torch.manual_seed(0)
    tube = tube_mask(4, 192, 0.5)
    assert tube.shape == (4, 192) and (tube.sum(1) == 96).all()
    assert not (tube[0] == tube[1]).all()  # a new draw per sample
    frames = frame_mask(3, 5, 0.4)
    assert (frames.sum(1) == 2).all()
    # half of 5 frames: 2 or 3 per sample, 50% on average (round(2.5) would always give 2)
    counts = frame_mask(4000, 5, 0.5).sum(1).float()
    assert set(counts.unique().tolist()) == {2.0, 3.0}
    assert counts.mean().item() / 5 == pytest.approx(0.5, abs=0.02)
    # applied to a (B, T, N, d) sequence, a tube mask is identical in every frame
    model = build().train()
    t, f = model.masks(2, 5, 192, torch.device("cpu"))
    x = torch.zeros(2, 5, 192, 32)
    masked = model.patch_encoder.mask_token.detach()
    replaced = torch.where(t[..., None], masked, x)
    per_frame = (replaced != 0).any(-1)
    assert (per_frame == per_frame[:, :1]).all()
    assert f.shape == (2, 5, 1)


def test_mask_tokens_replace_exactly_the_masked_positions():
    enc = MotionEncoder(8, 2, ())
    x = torch.randn(1, 3, 4, 8)
    mask = torch.tensor([[[True, False, False, True]]])
    out = enc(x, mask)
    assert torch.equal(out[0, :, 1], x[0, :, 1]) and torch.equal(out[0, :, 2], x[0, :, 2])
    assert torch.equal(out[0, 2, 0], enc.mask_token.detach())


def test_masked_tokens_keep_their_place_so_attention_can_tell_them_apart():
    """Mask tokens carry the position encodings (the SimMIM convention): masked tokens of one frame,
    and two masked frames, come out of the encoders different, and the decoder predicts different
    contexts for them. Without the encodings they would be identical."""
    torch.manual_seed(0)
    model = build().train()
    B, T, N = 1, 5, 192
    r = torch.randn(B, T, N, 32)
    pe = model.encodings((16, 12), r.device)
    tube = torch.zeros(B, 1, N, dtype=torch.bool)
    tube[..., :40] = True
    frame = torch.zeros(B, T, 1, dtype=torch.bool)
    frame[:, [0, 3]] = True
    with torch.no_grad():
        rp = model.patch_encoder(r, tube, pe)
        assert rp[0, 1, :40].std(0).mean() > 1e-3  # masked positions of one frame differ
        rf = model.frame_encoder(rp, frame, pe)
        assert (rf[0, 0] - rf[0, 3]).abs().max() > 1e-3  # two masked frames differ
        context, _ = model.decoder(rf)
        assert (context[0, 0] - context[0, 3]).abs().max() > 1e-3
        bare = model.frame_encoder(model.patch_encoder(r, tube), frame)  # the literal Eq. 1 reading
        assert torch.allclose(bare[0, 0], bare[0, 3], atol=1e-5)  # what the encodings prevent


def test_the_plain_motion_row_has_mlsme_s_depth_and_masks_nothing():
    """Table 5 (a): the same two encoders as MLSME, nothing masked, no decoder, M = R^P + R^F."""
    torch.manual_seed(0)
    plain = build(patch_level=False, frame_level=False).train()
    full = build()
    assert plain.decoder is None and plain.frame_encoder is not None
    assert sum(p.numel() for p in plain.patch_encoder.parameters()) + sum(
        p.numel() for p in plain.frame_encoder.parameters()) == sum(
        p.numel() for p in full.patch_encoder.parameters()) + sum(p.numel() for p in full.frame_encoder.parameters())
    assert plain.masks(2, 5, 192, torch.device("cpu")) == (None, None)
    r = torch.randn(1, 5, 192, 32)
    with torch.no_grad():
        m, last = plain.encode_motion(r, None, None)
        rp = plain.patch_encoder(r)
        assert last is None and torch.allclose(m, rp + plain.frame_encoder(rp))
    single = build(frame_level=False)
    assert single.frame_encoder is None and single.decoder is not None  # Table 5 (b): the patch level alone


def _dependence(module, T=4, N=6, d=8):
    """Which input tokens the output token (t=1, n=2) depends on, by its gradient."""
    x = torch.randn(1, T, N, d, requires_grad=True)
    module(x)[0, 1, 2].sum().backward()
    return x.grad[0].abs().sum(-1) > 0  # (T, N)


def test_divided_attention_mixes_only_the_intended_axis():
    torch.manual_seed(0)
    time = _dependence(AxisAttention(8, 2, "time"))
    assert time[:, 2].all() and not time[:, [0, 1, 3, 4, 5]].any()  # same position, every frame
    space = _dependence(AxisAttention(8, 2, "space"))
    assert space[1].all() and not space[[0, 2, 3]].any()  # same frame, every position
    joint = _dependence(AxisAttention(8, 2, "joint"))
    assert joint.all()
    # a divided layer (time then space) reaches every token, but only through two hops
    assert _dependence(SpaceTimeLayer(8, 2, "divided")).all()


def test_the_reconstruction_loss_ignores_unmasked_positions():
    torch.manual_seed(0)
    model = build().train()
    B, T, N = 2, 5, 192
    tokens = torch.randn(B, T, N, model.backbone.dim)
    context = tokens.clone()
    pose = torch.zeros(B, T, N, 17 * 4)
    tube = torch.zeros(B, 1, N, dtype=torch.bool)
    tube[:, :, :10] = True
    frame = torch.zeros(B, T, 1, dtype=torch.bool)
    context[:, :, 50:] += 5.0  # wrong only where nothing is masked
    losses = model.reconstruction_losses((context, pose), tokens, tube, frame, (16, 12), {})
    assert losses["rec_context"].item() == pytest.approx(0.0, abs=1e-6)
    context[:, :, :10] += 1.0  # now wrong at masked positions too
    losses = model.reconstruction_losses((context, pose), tokens, tube, frame, (16, 12), {})
    assert losses["rec_context"].item() == pytest.approx(model.rec_weight * 1.0, rel=1e-5)


def test_the_pose_term_counts_only_labeled_frames():
    model = build().train()
    b = batch()
    b["clip_weight"][:, 1:] = 0  # only clip position 0 (the key) is labeled
    tokens = torch.randn(2, 5, 192, model.backbone.dim)
    pose = torch.zeros(2, 5, 192, 17 * 4)
    key_time = model.key
    zero_mask = torch.zeros(2, 1, 192, dtype=torch.bool)
    base = model.reconstruction_losses((tokens, pose), tokens, zero_mask, None, (16, 12), b)["rec_pose"]
    pose_other = pose.clone()
    pose_other[:, [t for t in range(5) if t != key_time]] = 3.0  # unlabeled frames: ignored
    other = model.reconstruction_losses((tokens, pose_other), tokens, zero_mask, None, (16, 12), b)["rec_pose"]
    assert other.item() == pytest.approx(base.item())
    pose_key = pose.clone()
    pose_key[:, key_time] = 3.0
    assert model.reconstruction_losses((tokens, pose_key), tokens, zero_mask, None, (16, 12), b)["rec_pose"] > base


def test_nothing_is_masked_in_eval_mode_and_the_output_is_deterministic():
    model = build().eval()
    assert model.masks(2, 5, 192, torch.device("cpu")) == (None, None)
    x = torch.randn(1, 5, 3, 128, 96)
    with torch.no_grad():
        a, b = model(x)["heatmaps"], model(x)["heatmaps"]
    assert a.shape == (1, 17, 32, 24) and torch.equal(a, b)


@pytest.mark.parametrize("offsets", [(-1, 1), (-2, -1, 1, 2), (-3, -2, -1, 1, 2, 3)])
def test_any_temporal_span(offsets):
    model = build(offsets=list(offsets)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, len(offsets) + 1, 3, 128, 96))["heatmaps"].shape == (1, 17, 32, 24)


@pytest.mark.parametrize("switches", [
    {"motion": "flow", "fusion": "add"}, {"motion": "flow", "fusion": "concat"},  # Table 4 (a, b)
    {"fusion": "add"}, {"fusion": "concat"},  # Table 4 (c, d)
    {"patch_level": False, "frame_level": False}, {"frame_level": False}, {"mask_ratio": 0.75},  # Table 5
    {"cross": False, "adaptive": False}, {"adaptive": False},  # Table 6
    {"spatial_encoding": False, "temporal_encoding": False},  # Table 7
    {"rec_weight": 1.0, "rec_positions": "both"},  # Table 8, Eq. 15 read literally
])
def test_ablation_switches_build_and_run(switches):
    torch.manual_seed(0)
    model = build(**switches).train()
    out = model(torch.randn(2, 5, 3, 128, 96), batch())
    assert out["heatmaps"].shape == (2, 17, 32, 24)
    reconstructs = switches.get("motion") != "flow" and (switches.get("patch_level", True) or
                                                         switches.get("frame_level", True))
    assert bool(out["aux_losses"]) == reconstructs
    if reconstructs:
        assert set(out["aux_losses"]) == {"rec_context", "rec_pose"}


def test_sincos_encoding_is_distinct_per_position():
    pe = sincos_2d(4, 3, 16)
    assert pe.shape == (12, 16)
    assert torch.cdist(pe, pe).add(torch.eye(12)).min() > 0


def test_a_backbone_without_tokens_is_refused():
    with pytest.raises(ValueError, match="ViT backbone"):
        build_model({"name": "sdtc", "backbone": {"name": "hrnet", "size": "tiny"}})


def test_a_training_step_lowers_the_loss():
    from vidpose.models.layers import heatmap_loss

    torch.manual_seed(0)
    model = build().train()
    frames, b = torch.randn(2, 5, 3, 128, 96), batch()

    def total():
        torch.manual_seed(1)  # the same masks each time
        out = model(frames, b)
        return heatmap_loss(out["heatmaps"], b["heatmaps"], b["target_weight"]) + sum(out["aux_losses"].values())

    assert_adam_steps_lower(total, model.parameters(), steps=3, lr=1e-3)


def effective_rank(x: torch.Tensor) -> float:
    """exp(entropy) of the normalised singular values of a (C, positions) matrix."""
    s = torch.linalg.svdvals(x)
    p = s / s.sum()
    return float(torch.exp(-(p * p.clamp_min(1e-12).log()).sum()))


def spatial_variation(x: torch.Tensor) -> float:
    """Mean over channels of std / |mean| over positions."""
    return float((x.std(1) / x.mean(1).abs().clamp_min(1e-6)).mean())


def test_self_refinement_keeps_the_spatial_structure_of_its_input():
    """Eq. 6-8 as OCR (spatial context maps, each pixel's own feature beside its context) keeps a
    smooth 64-channel map's structure at initialisation; the literal form without the pixel's
    own feature flattens it (measured here: effective rank 35 -> 21 against 35 -> 1.1)."""
    from vidpose.models.sdtc import SelfRefinement

    torch.manual_seed(0)
    x = torch.nn.functional.avg_pool2d(torch.relu(torch.randn(2, 64, 16, 12)), 3, 1, 1) * 3
    rank_in, var_in = effective_rank(x[0].flatten(1)), spatial_variation(x[0].flatten(1))
    with torch.no_grad():
        refined = SelfRefinement(64).eval()(x)[0].flatten(1)
        literal = SelfRefinement(64, context_softmax="channel", own_feature=False).eval()(x)[0].flatten(1)
    assert effective_rank(refined) >= 0.5 * rank_in and spatial_variation(refined) >= 0.5 * var_in
    assert effective_rank(literal) < 0.1 * rank_in
