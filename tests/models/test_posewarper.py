"""PoseWarper: shapes, the identity warp, the aggregation weights, the 1-dilation ablation, one training step."""

import pytest
import torch

from vidpose.models.posewarper import aggregation_weights
from vidpose.models.registry import build_model

from conftest import assert_adam_steps_lower

HRNET = {"name": "hrnet", "size": "tiny"}
SMALL = {"blocks": 2, "width": 16}  # the paper's 20 blocks at 128 are slow on two CPU cores


def build(**kw):
    return build_model({"name": "posewarper", "backbone": HRNET, **SMALL, **kw})


def batch(b=2):
    return {"heatmaps": torch.rand(b, 17, 32, 24) * 0.1, "target_weight": torch.ones(b, 17)}


@pytest.mark.parametrize("offsets", [(-1, 1), (-2, -1, 1, 2)])
def test_shapes(offsets):
    model = build(offsets=list(offsets)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, len(offsets) + 1, 3, 128, 96))
    assert out["heatmaps"].shape == (2, 17, 32, 24)
    assert out["warped"].shape == (2, len(offsets) + 1, 17, 32, 24)
    with pytest.raises(ValueError, match="built for"):
        model(torch.randn(1, len(offsets) + 2, 3, 128, 96))


def test_a_stride_2_backbone_gives_stride_2_heatmaps():
    model = build_model({"name": "posewarper", "backbone": {**HRNET, "head_stride": 2}, **SMALL, "offsets": [-1, 1]},
                        input_size=(96, 128)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 3, 128, 96))["heatmaps"].shape == (1, 17, 64, 48)


def test_the_warp_with_zero_offsets_is_the_identity():
    torch.manual_seed(0)
    model = build().eval()
    key, support = torch.rand(2, 17, 32, 24), torch.rand(2, 17, 32, 24)
    zeros = [torch.zeros(2, 2 * 17 * 9, 32, 24) for _ in model.dilations]
    torch.testing.assert_close(model.warp(key, support, zeros), support)
    offsets = model.predictor(key - support)  # a fresh model predicts zero offsets: it starts as the identity
    assert all(o.abs().max() == 0 for o in offsets)
    torch.testing.assert_close(model.warp(key, support), support)


def test_at_the_start_the_output_is_the_weighted_sum_of_the_frames_heatmaps():
    torch.manual_seed(0)
    model = build().eval()
    frames = torch.randn(2, 5, 3, 128, 96)
    with torch.no_grad():
        out = model(frames)["heatmaps"]
        single = torch.stack([model.backbone(frames[:, i])["heatmaps"] for i in range(5)], 1)
    w = aggregation_weights(model.offsets, "paper").view(1, 5, 1, 1, 1)
    torch.testing.assert_close(out, (single * w).sum(1), atol=1e-6, rtol=1e-5)


def test_aggregation_weights():
    w = aggregation_weights((-2, -1, 1, 2), "paper")
    torch.testing.assert_close(w, torch.tensor([0.3, 0.1, 0.25, 0.25, 0.1]))  # the code's test-time weights
    assert aggregation_weights((-1, 1), "mean").tolist() == pytest.approx([1 / 3] * 3)
    with pytest.raises(ValueError, match="aggregation"):
        build(aggregation="max")


def test_one_dilation_changes_the_forward():
    """The paper's ablation (one dilation rate instead of five): once the offsets are not zero,
    the two models warp differently."""
    clip = {"heatmaps": torch.rand(1, 5, 17, 32, 24)}  # maps with structure (an untrained backbone's are flat)
    outs = []
    for dilations in ([3, 6, 12, 18, 24], [3]):
        torch.manual_seed(0)
        model = build(dilations=dilations).eval()
        assert len(model.warps) == len(dilations)
        gen = torch.Generator().manual_seed(1)  # offsets of about a pixel, another for each rate
        for conv in model.predictor.offsets:
            torch.nn.init.normal_(conv.bias, generator=gen, std=1.0)
        with torch.no_grad():
            outs.append(model.forward_features(clip)["heatmaps"])
    assert (outs[0] - outs[1]).abs().max() > 0.05


@pytest.mark.parametrize("training", ["pairs", "clips"])
def test_training_steps_on_a_frozen_backbone_lower_the_loss(training):
    from vidpose.engine.trainer import heatmap_loss, set_frozen

    torch.manual_seed(0)
    model = build(training=training).train()
    model.backbone.requires_grad_(False)
    set_frozen(model, True)
    frames, b = torch.randn(2, 5, 3, 128, 96), batch()

    def total():
        torch.manual_seed(1)  # the same training pairs at every evaluation
        out = model(frames, b)
        assert set(out["aux_losses"]) == ({"warp"} if training == "clips" else set())
        return heatmap_loss(out["heatmaps"], b["heatmaps"], b["target_weight"]) + sum(out["aux_losses"].values())

    assert_adam_steps_lower(total, model.parameters(), steps=3, lr=1e-3)


def test_training_on_pairs_warps_one_drawn_frame_to_the_key_frame_and_runs_the_backbone_on_two():
    """Sec. 3.2 and the code: in training each clip gives one pair (A, B), B drawn uniformly from
    the clip with the key frame included; only A and B go through the backbone, and the output is
    B's heatmaps warped to A. The cached path (every frame's heatmaps) draws the same pair."""
    from vidpose.engine.trainer import set_frozen

    torch.manual_seed(0)
    model = build().train()
    set_frozen(model, True)  # the backbone's batch norm on running statistics, as the code's stage 2
    frames = torch.randn(64, 5, 3, 128, 96)
    seen = []
    model.backbone.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    torch.manual_seed(3)
    pairs = model.draw_pairs(frames)
    assert (pairs[:, 0] == 0).all() and set(pairs[:, 1].tolist()) == {0, 1, 2, 3, 4}  # the key frame included
    torch.manual_seed(3)
    with torch.no_grad():
        out = model(frames)["heatmaps"]
    assert seen == [64 * 2]
    with torch.no_grad():
        hm = torch.stack([model.backbone(frames[:, i])["heatmaps"] for i in range(5)], 1)
        pick = hm[torch.arange(64)[:, None], pairs]
        torch.testing.assert_close(out, model.warp(pick[:, 0], pick[:, 1]), atol=1e-5, rtol=1e-4)
        torch.manual_seed(3)
        cached = model.forward_features({"heatmaps": hm})["heatmaps"]
    torch.testing.assert_close(cached, out, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="training"):
        build(training="all")


@pytest.mark.parametrize("offsets", [(-1,), (-2, -1, 1, 2)])
def test_the_cached_path_draws_the_pair_forward_draws(offsets):
    """Cached features (every frame's heatmaps) and frames give the same training output under the
    same random state, a clip of two frames included (it is a clip, not a pair)."""
    from vidpose.engine.trainer import set_frozen

    torch.manual_seed(0)
    model = build(offsets=list(offsets)).train()
    set_frozen(model, True)
    frames = torch.randn(48, len(offsets) + 1, 3, 128, 96)
    with torch.no_grad():
        hm = torch.stack([model.backbone(frames[:, i])["heatmaps"] for i in range(frames.shape[1])], 1)
        torch.manual_seed(5)
        uncached = model(frames)["heatmaps"]
        torch.manual_seed(5)
        cached = model.forward_features({"heatmaps": hm})["heatmaps"]
        torch.manual_seed(5)
        pairs = model.draw_pairs(frames)
    assert set(pairs[:, 1].tolist()) == set(range(len(offsets) + 1))
    torch.testing.assert_close(cached, uncached, atol=1e-5, rtol=1e-4)
