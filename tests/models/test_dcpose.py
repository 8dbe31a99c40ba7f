"""DCPose: shapes, the window, PCN's zero offsets at the start, the "without PCN" ablation, the start
from the backbone's heatmaps, one training step."""

import pytest
import torch

from vidpose.models.dcpose import ResidualSteps, interleave
from vidpose.models.registry import build_model

from conftest import assert_adam_steps_lower

HRNET = {"name": "hrnet", "size": "tiny"}


def build(**kw):
    return build_model({"name": "dcpose", "backbone": HRNET, "offsets": [-1, 1], **kw})


def batch(b=2):
    return {"heatmaps": torch.rand(b, 17, 32, 24) * 0.1, "target_weight": torch.ones(b, 17)}


@pytest.mark.parametrize("offsets", [(-1, 1), (1, -1), (-2, 1)])
def test_shapes_and_the_neighbour_weights(offsets):
    model = build(offsets=list(offsets)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 3, 128, 96))
    assert out["heatmaps"].shape == (2, 17, 32, 24) and out["scope"].shape == (2, 17, 32, 24)
    p, n = -min(offsets), max(offsets)
    assert (model.prev_weight, model.next_weight) == (n / (p + n), p / (p + n))  # 0.5 each at distance 1


@pytest.mark.parametrize("offsets", [(-2, -1, 1, 2), (1, 2), (-1,)])
def test_a_window_other_than_one_previous_and_one_next_frame_is_refused(offsets):
    with pytest.raises(ValueError, match="one previous and one next"):
        build(offsets=list(offsets))


def test_pcn_offsets_are_zero_at_the_start_and_its_convolutions_the_identity():
    torch.manual_seed(0)
    model = build().eval()
    with torch.no_grad():
        clip = {"heatmaps": torch.rand(2, 3, 17, 32, 24)}
        scope, feature = model.merge(clip)
        offsets = model.pcn.offset_maps(feature)
        assert len(offsets) == 5 and all(o.abs().max() == 0 for o in offsets)
        # zero offsets and identity kernels: each rate's output is Phi times its mask at the centre tap
        out = model.pcn(scope, feature)
        masks = [torch.sigmoid(m(feature)).view(2, 17, 9, 32, 24)[:, :, 4] for m in model.pcn.masks]
        torch.testing.assert_close(out, scope * torch.stack(masks).mean(0), atol=1e-6, rtol=1e-5)


def test_without_pcn_the_forward_changes():
    clip = {"heatmaps": torch.rand(1, 3, 17, 32, 24)}
    outs = []
    for use_pcn in (True, False):
        torch.manual_seed(0)
        model = build(use_pcn=use_pcn).eval()
        assert hasattr(model, "pcn") == use_pcn
        with torch.no_grad():
            outs.append(model.forward_features(clip)["heatmaps"])
            scope, _ = model.merge(clip)
        if use_pcn:
            first_scope = scope
    torch.testing.assert_close(scope, first_scope)  # the same PTM and PRF, a different correction
    assert (outs[0] - outs[1]).abs().max() > 1e-2 * outs[0].abs().max()


def test_start_from_backbone_starts_as_the_key_frame_heatmaps_and_then_learns():
    torch.manual_seed(0)
    maps = torch.rand(2, 3, 17, 32 * 24) * 0.1
    maps.scatter_(-1, torch.randint(0, 32 * 24, (2, 3, 17, 1)), 1.0)  # one clear peak per map
    clip = {"heatmaps": maps.view(2, 3, 17, 32, 24)}
    published = build().eval()
    assert published.to_scope is None
    model = build(start_from_backbone=True).eval()
    with torch.no_grad():
        scope, feature = model.merge(clip)
        torch.testing.assert_close(scope, clip["heatmaps"][:, 0])  # Phi = H_t at the start
        out = model.forward_features(clip)["heatmaps"]
        # zero offsets, identity kernels: the key frame's maps times the masks, peaks where H_t's are
        assert torch.equal(out.flatten(2).argmax(-1), clip["heatmaps"][:, 0].flatten(2).argmax(-1))
        assert (published.merge(clip)[0] - clip["heatmaps"][:, 0]).abs().max() > 0.1  # published: a random mix
    no_pcn = build(start_from_backbone=True, use_pcn=False).eval()  # the ablation keeps the start
    with torch.no_grad():
        out = no_pcn.forward_features(clip)["heatmaps"]
    torch.testing.assert_close(out, clip["heatmaps"][:, 0], atol=0.05, rtol=0)
    assert torch.equal(out.flatten(2).argmax(-1), clip["heatmaps"][:, 0].flatten(2).argmax(-1))
    model.train()
    target = batch()
    loss = lambda: ((model.forward_features(clip)["heatmaps"] - target["heatmaps"]) ** 2).mean()  # noqa: E731
    before = loss().item()
    loss().backward()
    assert model.to_scope.weight.grad.abs().sum() > 0  # the PTM's path is trained through to_scope
    torch.optim.Adam(model.parameters(), lr=1e-3).step()
    assert loss().item() < before


def test_residual_steps_and_interleave():
    block = ResidualSteps(12, 8)
    assert block(torch.randn(2, 12, 8, 6)).shape == (2, 8, 8, 6)
    a, b = torch.zeros(1, 2, 1, 1), torch.ones(1, 2, 1, 1)
    assert interleave(a, b).flatten().tolist() == [0, 1, 0, 1]  # per joint side by side


def test_training_steps_on_a_frozen_backbone_lower_the_loss():
    from vidpose.engine.trainer import heatmap_loss, set_frozen

    torch.manual_seed(0)
    model = build().train()
    model.backbone.requires_grad_(False)
    set_frozen(model, True)
    frames, b = torch.randn(2, 3, 3, 128, 96), batch()

    def total():
        out = model(frames, b)
        assert out["aux_losses"] == {}
        return heatmap_loss(out["heatmaps"], b["heatmaps"], b["target_weight"])

    assert_adam_steps_lower(total, model.parameters(), steps=3, lr=1e-3)
