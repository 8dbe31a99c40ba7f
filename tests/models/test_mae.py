"""The ViT's masked-autoencoder pre-training: masking, target, loss, and the hand-over to pose."""

import pytest
import torch

from conftest import tiny_config
from vidpose.engine.checkpoint import load_checkpoint
from vidpose.engine.tester import test_model as score_model
from vidpose.engine.trainer import build_training_model, train
from vidpose.errors import ConfigError
from vidpose.models.mae import MaskedAutoencoder, patchify
from vidpose.models.vit import build_vit

SMALL = (96, 128)  # (width, height)


def test_patchify_follows_the_patch_embeddings_token_order():
    vit = build_vit("tiny", input_size=SMALL)
    images = torch.randn(2, 3, 128, 96)
    # a patch embedding that copies each patch's pixels: token n must be patchify's row n
    p = vit.patch_embed.proj.kernel_size[0]
    copy = torch.nn.Conv2d(3, 3 * p * p, p, p, bias=False)
    with torch.no_grad():
        copy.weight.zero_()
        for c in range(3):
            for i in range(p):
                for j in range(p):
                    copy.weight[(i * p + j) * 3 + c, c, i, j] = 1.0
        tokens = copy(images).flatten(2).transpose(1, 2)
    assert torch.equal(patchify(images, p), tokens)


def test_the_loss_counts_the_masked_patches_only_and_the_mask_has_the_ratio():
    torch.manual_seed(0)
    mae = MaskedAutoencoder(build_vit("tiny", input_size=SMALL), mask_ratio=0.75)
    images = torch.randn(3, 1, 3, 128, 96)
    out = mae(images)
    n = 16 * 12
    assert out["mask"].shape == (3, n) and (out["mask"].sum(1) == n - round(n * 0.25)).all()
    target = patchify(images[:, 0], 8)
    target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
    errors = (out["prediction"] - target).pow(2).mean(-1).detach()
    expected = ((errors * out["mask"]).sum() / out["mask"].sum()).item()
    assert out["aux_losses"]["reconstruction"].item() == pytest.approx(expected, rel=1e-5)
    assert expected != pytest.approx(errors.mean().item(), rel=1e-3)  # the visible patches would change it


def test_the_encoder_never_sees_a_masked_patch():
    """Changing the pixels of a masked patch changes no visible token's reconstruction input."""
    torch.manual_seed(1)
    mae = MaskedAutoencoder(build_vit("tiny", input_size=SMALL)).eval()
    images = torch.randn(1, 1, 3, 128, 96)
    torch.manual_seed(2)
    out = mae(images)
    masked = int(out["mask"][0].nonzero()[0])
    row, col = divmod(masked, 12)
    changed = images.clone()
    changed[..., row * 8:(row + 1) * 8, col * 8:(col + 1) * 8] += 5.0
    torch.manual_seed(2)
    again = mae(changed)
    assert torch.equal(again["mask"], out["mask"])
    assert torch.allclose(again["prediction"], out["prediction"], atol=1e-6)


def test_the_decoder_puts_the_mask_token_at_the_masked_positions():
    """With no decoder block, a masked patch's prediction is the mask token at its position alone,
    whatever the image: the unshuffle put the encoded tokens back at the visible positions."""
    torch.manual_seed(3)
    mae = MaskedAutoencoder(build_vit("tiny", input_size=SMALL), decoder_depth=0).eval()
    out = mae(torch.randn(2, 1, 3, 128, 96))
    with torch.no_grad():
        alone = mae.decoder_pred(mae.decoder_norm(mae.mask_token + mae.decoder_pos))[0]  # (N, p*p*3)
        for b in range(2):
            masked, visible = out["mask"][b].bool(), ~out["mask"][b].bool()
            assert torch.allclose(out["prediction"][b][masked], alone[masked], atol=1e-5)
            assert not torch.allclose(out["prediction"][b][visible], alone[visible], atol=1e-3)


def test_it_refuses_overlapping_patches_and_bad_ratios():
    with pytest.raises(ValueError, match="patch stem"):
        MaskedAutoencoder(build_vit("tiny", input_size=SMALL, stem="conv"))
    with pytest.raises(ValueError, match="patch stem"):
        MaskedAutoencoder(build_vit("small", input_size=(192, 256)))
    with pytest.raises(ValueError, match="mask_ratio"):
        MaskedAutoencoder(build_vit("tiny", input_size=SMALL), mask_ratio=1.0)


def test_pretraining_trains_and_a_single_frame_vit_starts_from_it(synth_tiny, tmp_path):
    cfg = tiny_config(synth_tiny, model="mae", backbone="vit", epochs=1, clip_grad=None)
    cfg["data"]["heatmap_size"] = [48, 64]
    cfg["model"].update({"decoder_dim": 32, "decoder_depth": 1})
    torch.manual_seed(cfg["train"]["seed"])  # what train() builds the model from
    start, _ = build_training_model(cfg, torch.device("cpu"))
    start = {k: v.clone() for k, v in start.state_dict().items()}
    summary = train(cfg, tmp_path / "mae", progress=False)
    pretrained = load_checkpoint(summary["checkpoint"])["model"]
    assert torch.equal(pretrained["backbone.final_layer.weight"], start["backbone.final_layer.weight"])  # not trained
    moved = [k for k in start if k.startswith("backbone.blocks") and not torch.equal(pretrained[k], start[k])]
    assert moved  # the encoder trained

    pose = tiny_config(synth_tiny, backbone="vit", init_from=summary["checkpoint"])
    model, _ = build_training_model(pose, torch.device("cpu"))
    for key, value in model.state_dict().items():
        if key.startswith("backbone.blocks") or key == "backbone.pos_embed":
            assert torch.equal(value, pretrained[key]), key
    mae, _ = build_training_model(cfg, torch.device("cpu"))
    with pytest.raises(ValueError, match="pre-training model"):
        score_model(cfg, mae, torch.device("cpu"), tmp_path / "scores")
    with pytest.raises(ConfigError, match="curve_every_epochs"):
        train({**cfg, "train": {**cfg["train"], "curve_every_epochs": 1}}, tmp_path / "curve", progress=False)


def test_one_pretraining_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    mae = MaskedAutoencoder(build_vit("tiny", input_size=SMALL), decoder_dim=32)
    images = torch.randn(4, 1, 3, 128, 96)
    opt = torch.optim.Adam(mae.parameters(), lr=1e-3)
    losses = []
    for _ in range(4):
        torch.manual_seed(5)  # the same mask each time
        loss = mae(images)["aux_losses"]["reconstruction"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
