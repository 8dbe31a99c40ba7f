"""Backbones and baselines: output shapes, registry, and pretrained weights by key."""

import pytest
import torch

from vidpose.models.hrnet import build_hrnet
from vidpose.models.pretrained import CheckpointMismatch, load_pretrained
from vidpose.models.registry import build_model
from vidpose.models.resnet import build_resnet
from vidpose.models.vit import build_vit

SMALL = (96, 128)  # (width, height)


@pytest.mark.parametrize("backbone,size", [("resnet", "tiny"), ("resnet", "r18"), ("resnet", "r50"),
                                           ("hrnet", "tiny"), ("hrnet", "w18"), ("hrnet", "w32"), ("hrnet", "w48"),
                                           ("vit", "tiny"), ("vit", "small"), ("vit", "base")])
def test_every_backbone_gives_stride_4_heatmaps(backbone, size):
    model = build_model({"name": "single_frame", "backbone": {"name": backbone, "size": size}}, input_size=SMALL).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, 3, SMALL[1], SMALL[0]))
    assert out["heatmaps"].shape == (2, 17, 32, 24)
    assert model.heatmap_stride == 4


def test_hrnet_exposes_the_high_resolution_branch_after_each_stage():
    net = build_hrnet("tiny").eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 128, 96))
    assert [f.shape[-2:] for f in out["features"]] == [torch.Size([32, 24])] * 4
    assert [f.shape[1] for f in out["features"]] == net.stage_channels


def test_vit_exposes_tokens():
    net = build_vit("tiny", input_size=SMALL).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 128, 96))
    assert out["tokens"].shape == (1, 16 * 12, 96) and out["grid"] == (16, 12)


def test_naive_temporal_equals_single_frame_on_a_static_clip():
    torch.manual_seed(0)
    single = build_model({"name": "single_frame", "backbone": {"name": "hrnet", "size": "tiny"}}).eval()
    naive = build_model({"name": "naive_temporal", "backbone": {"name": "hrnet", "size": "tiny"}}).eval()
    naive.load_state_dict(single.state_dict())
    frame = torch.randn(1, 1, 3, 128, 96)
    with torch.no_grad():
        a = single(frame)["heatmaps"]
        b = naive(frame.repeat(1, 5, 1, 1, 1))["heatmaps"]
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_wrong_input_shape_is_a_clear_error():
    model = build_model({"name": "single_frame", "backbone": {"name": "resnet", "size": "tiny"}})
    with pytest.raises(ValueError, match=r"expected a clip tensor \(batch, frames, 3, height, width\)"):
        model(torch.randn(2, 3, 128, 96))


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="unknown model 'tdmx'"):
        build_model({"name": "tdmx", "backbone": {"name": "resnet", "size": "tiny"}})
    with pytest.raises(ValueError, match="unknown HRNet size 'w64'"):
        build_hrnet("w64")


# --- pretrained weights ---------------------------------------------------------------------------

# Keys of the official pose_hrnet checkpoints (deep-high-resolution-net.pytorch), spot-checked.
OFFICIAL_HRNET_KEYS = [
    "conv1.weight", "bn1.running_mean", "conv2.weight", "layer1.0.downsample.0.weight", "layer1.3.conv3.weight",
    "transition1.0.0.weight", "transition1.1.0.0.weight", "stage2.0.branches.1.3.bn2.weight",
    "stage2.0.fuse_layers.0.1.0.weight", "stage2.0.fuse_layers.1.0.0.0.weight", "transition2.2.0.0.weight",
    "stage3.3.fuse_layers.2.0.1.0.weight", "transition3.3.0.0.weight", "stage4.0.fuse_layers.3.0.2.0.weight",
    "stage4.2.fuse_layers.0.3.0.weight", "final_layer.weight",
]


def test_hrnet_w48_has_the_official_key_layout():
    keys = build_hrnet("w48").state_dict()
    missing = [k for k in OFFICIAL_HRNET_KEYS if k not in keys]
    assert not missing
    assert "stage4.2.fuse_layers.1.0.0.0.weight" not in keys  # the last module outputs one branch
    assert sum(p.numel() for p in build_hrnet("w32").parameters()) == pytest.approx(28.5e6, rel=0.01)


def test_official_hrnet_checkpoint_loads_by_key(tmp_path):
    source = build_hrnet("tiny")
    torch.save({k: v.clone() for k, v in source.state_dict().items()}, tmp_path / "pose_hrnet_tiny.pth")
    target = build_hrnet("tiny")
    report = load_pretrained(target, tmp_path / "pose_hrnet_tiny.pth")
    assert not report.missing and not report.unexpected
    for k, v in source.state_dict().items():
        assert torch.equal(v, target.state_dict()[k])


def test_mmpose_vitpose_checkpoint_maps_backbone_and_head_prefixes(tmp_path):
    source = build_vit("tiny", input_size=SMALL)
    state = {}
    for k, v in source.state_dict().items():
        prefix = "keypoint_head." if k.startswith(("deconv_layers", "final_layer")) else "backbone."
        state[prefix + k] = v.clone()
    state["keypoint_head.extra_unused.weight"] = torch.zeros(1)
    torch.save({"state_dict": state, "meta": {}}, tmp_path / "vitpose.pth")
    target = build_vit("tiny", input_size=SMALL)
    report = load_pretrained(target, tmp_path / "vitpose.pth")
    assert report.unexpected == ["extra_unused.weight"] and not report.missing
    assert torch.equal(target.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight)
    # another input size: the position table is resized, not dropped
    bigger = build_vit("tiny", input_size=(192, 256))
    report = load_pretrained(bigger, tmp_path / "vitpose.pth")
    assert "pos_embed" in report.loaded


def test_checkpoint_of_another_model_fails_clearly(tmp_path):
    torch.save(build_resnet("tiny").state_dict(), tmp_path / "resnet.pth")
    with pytest.raises(CheckpointMismatch, match=r"resnet\.pth: does not fit HRNet"):
        load_pretrained(build_hrnet("tiny"), tmp_path / "resnet.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointMismatch, match="junk.pth: not a readable PyTorch checkpoint"):
        load_pretrained(build_hrnet("tiny"), tmp_path / "junk.pth")


@pytest.mark.parametrize("backbone", ["hrnet", "resnet", "vit"])
def test_a_stride_2_head_gives_finer_heatmaps_and_keeps_the_features_at_stride_4(backbone):
    from vidpose.models.registry import build_backbone

    net = build_backbone({"name": backbone, "size": "tiny", "head_stride": 2}, input_size=(96, 128))
    out = net(torch.randn(1, 3, 128, 96))
    assert net.heatmap_stride == 2 and net.feature_stride == 4
    assert out["heatmaps"].shape[-2:] == (64, 48) and out["feature"].shape[-2:] == (32, 24)
    with pytest.raises(ValueError, match="cannot be reached"):
        build_backbone({"name": backbone, "size": "tiny", "head_stride": 3}, input_size=(96, 128))


@pytest.mark.parametrize("method", ["naive_temporal", "tdmi", "jmpose", "glpose", "sdtc"])
def test_every_method_follows_its_backbones_heatmap_stride(method):
    from vidpose.models.registry import build_model

    backbone = {"name": "vit" if method == "sdtc" else "hrnet", "size": "tiny", "head_stride": 2}
    spec = {"name": method, "backbone": backbone}
    if method != "naive_temporal":
        spec["offsets"] = [-1, 1]
    model = build_model(spec, input_size=(96, 128)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 3, 128, 96))["heatmaps"].shape == (1, 17, 64, 48)
