"""Backbones and baselines: output shapes, registry, and pretrained weights by key."""

import pytest
import torch

from vidpose.models.hrnet import build_hrnet
from vidpose.models.pretrained import CheckpointMismatch, load_pretrained, load_state
from vidpose.models.registry import build_model
from vidpose.models.resnet import build_resnet
from vidpose.models.vit import build_vit

SMALL = (96, 128)  # (width, height)


@pytest.mark.parametrize("backbone,size", [("resnet", "tiny"), ("resnet", "r18"), ("resnet", "r50"),
                                           ("hrnet", "tiny"), ("hrnet", "tiny_w32"), ("hrnet", "w18"), ("hrnet", "w32"), ("hrnet", "w48"),
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


def test_vit_conv_stem_gives_the_patch_stems_tokens_and_grid():
    patch, conv = build_vit("tiny", input_size=SMALL).eval(), build_vit("tiny", input_size=SMALL, stem="conv").eval()
    x = torch.randn(2, 3, 128, 96)
    with torch.no_grad():
        a, b = patch(x), conv(x)
    assert b["tokens"].shape == a["tokens"].shape and b["grid"] == a["grid"] == conv.patch_embed.grid(128, 96)
    assert b["heatmaps"].shape == a["heatmaps"].shape
    strides = [m.stride[0] for m in conv.patch_embed.modules() if isinstance(m, torch.nn.Conv2d)]
    assert strides == [2, 2, 2, 1]  # log2(8) stride-2 3x3 convolutions, then the 1x1 projection
    with pytest.raises(ValueError, match="stem"):
        build_vit("tiny", input_size=SMALL, stem="hybrid")


def test_vit_drop_path_acts_in_training_only_and_rises_with_depth():
    net = build_vit("tiny", input_size=SMALL, drop_path=0.3)
    assert [b.drop_path for b in net.blocks] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    x = torch.randn(4, 3, 128, 96)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x)["tokens"], net(x)["tokens"])
        plain = build_vit("tiny", input_size=SMALL).eval()
        plain.load_state_dict(net.state_dict())
        assert torch.allclose(plain(x)["tokens"], net(x)["tokens"])
        net.train()
        torch.manual_seed(0)
        assert not torch.allclose(net(x)["tokens"], plain(x)["tokens"])


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


# --- the published checkpoints, key for key and shape for shape -----------------------------------
#
# The layouts below are written from the releases' model code, not from vidpose's: HRNet's
# lib/models/pose_hrnet.py with the COCO configs (experiments/coco/hrnet/w{32,48}_*.yaml: stage 2-4
# with 1/4/3 modules, 4 BASIC blocks per branch, 2/3/4 branches of widths w, 2w, 4w, 8w, a 1x1
# final layer, the last module of stage 4 fusing into one branch), and ViTPose's
# mmpose/models/backbones/vit.py + TopdownHeatmapSimpleHead with ViTPose_base_coco_256x192.py (dim
# 768, 12 blocks, qkv bias, patch 16 padded by 2, two 4x4 deconvolutions of 256, 17 joints), saved
# by mmcv as {"state_dict": ..., "meta": ...} with backbone. / keypoint_head. prefixes. Their
# parameter counts are checked against the HRNet paper (Table 1: W32 28.5 M, W48 63.6 M).


def _bn(layout: dict, prefix: str, c: int, tracked: bool) -> None:
    for name in ("weight", "bias", "running_mean", "running_var"):
        layout[f"{prefix}.{name}"] = (c,)
    if tracked:
        layout[f"{prefix}.num_batches_tracked"] = ()


def official_pose_hrnet_layout(width: int, joints: int = 17, tracked: bool = True) -> dict[str, tuple]:
    """Keys and shapes of ``pose_hrnet_w{width}_*.pth`` (deep-high-resolution-net.pytorch)."""
    out: dict[str, tuple] = {}

    def conv(key, cout, cin, k):
        out[f"{key}.weight"] = (cout, cin, k, k)

    conv("conv1", 64, 3, 3), _bn(out, "bn1", 64, tracked), conv("conv2", 64, 64, 3), _bn(out, "bn2", 64, tracked)
    cin = 64
    for b in range(4):  # layer1: four Bottlenecks of 64 planes (expansion 4)
        q = f"layer1.{b}"
        conv(f"{q}.conv1", 64, cin, 1), _bn(out, f"{q}.bn1", 64, tracked)
        conv(f"{q}.conv2", 64, 64, 3), _bn(out, f"{q}.bn2", 64, tracked)
        conv(f"{q}.conv3", 256, 64, 1), _bn(out, f"{q}.bn3", 256, tracked)
        if b == 0:
            conv(f"{q}.downsample.0", 256, cin, 1), _bn(out, f"{q}.downsample.1", 256, tracked)
        cin = 256
    pre = [256]
    for stage, modules in ((2, 1), (3, 4), (4, 3)):
        cur = [width * 2 ** i for i in range(stage)]
        t = f"transition{stage - 1}"
        for i, c in enumerate(cur):
            if i < len(pre) and pre[i] != c:
                conv(f"{t}.{i}.0", c, pre[i], 3), _bn(out, f"{t}.{i}.1", c, tracked)
            elif i >= len(pre):
                for j in range(i + 1 - len(pre)):
                    cout = c if j == i - len(pre) else pre[-1]
                    conv(f"{t}.{i}.{j}.0", cout, pre[-1], 3), _bn(out, f"{t}.{i}.{j}.1", cout, tracked)
        for m in range(modules):
            q = f"stage{stage}.{m}"
            for br, c in enumerate(cur):
                for b in range(4):
                    blk = f"{q}.branches.{br}.{b}"
                    conv(f"{blk}.conv1", c, c, 3), _bn(out, f"{blk}.bn1", c, tracked)
                    conv(f"{blk}.conv2", c, c, 3), _bn(out, f"{blk}.bn2", c, tracked)
            for i in range(1 if stage == 4 and m == modules - 1 else len(cur)):
                for j in range(len(cur)):
                    f = f"{q}.fuse_layers.{i}.{j}"
                    if j > i:
                        conv(f"{f}.0", cur[i], cur[j], 1), _bn(out, f"{f}.1", cur[i], tracked)
                    for k in range(i - j):  # j < i: strided 3x3 convolutions down to branch i
                        cout = cur[i] if k == i - j - 1 else cur[j]
                        conv(f"{f}.{k}.0", cout, cur[j], 3), _bn(out, f"{f}.{k}.1", cout, tracked)
        pre = cur
    out["final_layer.weight"], out["final_layer.bias"] = (joints, width, 1, 1), (joints,)
    return out


def vitpose_release_layout(dim: int = 768, depth: int = 12, grid: tuple[int, int] = (16, 12)) -> dict[str, tuple]:
    """Keys and shapes of the ViTPose release's COCO checkpoints (``vitpose-b.pth``: dim 768)."""
    out: dict[str, tuple] = {"backbone.pos_embed": (1, grid[0] * grid[1] + 1, dim),
                             "backbone.patch_embed.proj.weight": (dim, 3, 16, 16),
                             "backbone.patch_embed.proj.bias": (dim,)}
    for i in range(depth):
        q = f"backbone.blocks.{i}"
        for name, shape in (("norm1", (dim,)), ("norm2", (dim,))):
            out[f"{q}.{name}.weight"] = out[f"{q}.{name}.bias"] = shape
        out[f"{q}.attn.qkv.weight"], out[f"{q}.attn.qkv.bias"] = (3 * dim, dim), (3 * dim,)
        out[f"{q}.attn.proj.weight"], out[f"{q}.attn.proj.bias"] = (dim, dim), (dim,)
        out[f"{q}.mlp.fc1.weight"], out[f"{q}.mlp.fc1.bias"] = (4 * dim, dim), (4 * dim,)
        out[f"{q}.mlp.fc2.weight"], out[f"{q}.mlp.fc2.bias"] = (dim, 4 * dim), (dim,)
    out["backbone.last_norm.weight"] = out["backbone.last_norm.bias"] = (dim,)
    out["keypoint_head.deconv_layers.0.weight"] = (dim, 256, 4, 4)
    _bn(out, "keypoint_head.deconv_layers.1", 256, True)
    out["keypoint_head.deconv_layers.3.weight"] = (256, 256, 4, 4)
    _bn(out, "keypoint_head.deconv_layers.4", 256, True)
    out["keypoint_head.final_layer.weight"], out["keypoint_head.final_layer.bias"] = (17, 256, 1, 1), (17,)
    return out


def synthetic_state(layout: dict[str, tuple]) -> dict[str, torch.Tensor]:
    """A state dict with exactly these keys and shapes, each tensor filled with its own position
    in the file (stride-0 views, so even ViT-B costs no memory)."""
    return {k: torch.full((), float(i)).expand(shape) for i, (k, shape) in enumerate(layout.items())}


def _parameters(layout: dict[str, tuple]) -> int:
    return sum(int(torch.Size(s).numel()) for k, s in layout.items() if k.endswith((".weight", ".bias")))


@pytest.mark.parametrize("width,params_m", [(48, 63.6), (32, 28.5)])
def test_the_official_pose_hrnet_checkpoints_load_key_for_key(width, params_m):
    """Every tensor of pose_hrnet_w48 / w32 lands in HRNet-W48 / W32 (nothing skipped; final_layer
    too, unless pretrained_skip_head), with or without num_batches_tracked in the file."""
    layout = official_pose_hrnet_layout(width)
    assert _parameters(layout) / 1e6 == pytest.approx(params_m, abs=0.05)  # the paper's count
    model = build_hrnet(f"w{width}")
    assert set(model.state_dict()) == set(layout)
    report = load_state(model, synthetic_state(layout), f"pose_hrnet_w{width}_384x288.pth")
    assert not (report.missing or report.unexpected or report.shape_mismatch)
    assert len(report.loaded) == len(layout)
    order = {k: i for i, k in enumerate(layout)}
    own = model.state_dict()
    for key in ("conv1.weight", "stage4.2.fuse_layers.0.3.0.weight", "final_layer.bias", "layer1.0.bn3.running_var"):
        assert torch.all(own[key] == order[key]), key
    lean = {k: v for k, v in synthetic_state(official_pose_hrnet_layout(width, tracked=False)).items()}
    report = load_state(build_hrnet(f"w{width}"), lean, "pose_hrnet_without_counters.pth", skip_head=True)
    assert {k for k in report.missing if not k.endswith("num_batches_tracked")} == {"final_layer.weight",
                                                                                   "final_layer.bias"}


def test_the_vitpose_b_release_checkpoint_loads_key_for_key(tmp_path):
    """Every tensor of vitpose-b.pth lands in ViT-B at SDTC's 256x192 (backbone. and keypoint_head.
    prefixes mapped, pos_embed at its own 16x12 grid, nothing skipped)."""
    layout = vitpose_release_layout()
    model = build_vit("base", input_size=(192, 256))
    assert {"backbone." + k if not k.startswith(("deconv_layers", "final_layer")) else "keypoint_head." + k
            for k in model.state_dict()} == set(layout)
    report = load_state(model, synthetic_state(layout), "vitpose-b.pth")
    assert not (report.missing or report.unexpected or report.shape_mismatch) and len(report.loaded) == len(layout)
    order = {k: i for i, k in enumerate(layout)}
    assert torch.all(model.pos_embed == order["backbone.pos_embed"])
    assert torch.all(model.final_layer.weight == order["keypoint_head.final_layer.weight"])
    # as a file, in mmcv's wrapper, into SDTC's backbone the way training loads it
    small = {k: torch.randn(s) for k, s in vitpose_release_layout(dim=96, depth=2).items()}
    small = {k: v.abs() + 0.5 if k.endswith("running_var") else v for k, v in small.items()}
    torch.save({"meta": {"mmpose_version": "0.24.0"}, "state_dict": small}, tmp_path / "vitpose-b.pth")
    from vidpose.models.vit import ViTPose

    target = ViTPose(dim=96, depth=2, heads=3, input_size=(192, 256))
    report = load_pretrained(target, tmp_path / "vitpose-b.pth")
    assert not report.missing
    assert torch.equal(target.blocks[1].mlp.fc2.weight, small["backbone.blocks.1.mlp.fc2.weight"])


def test_wrong_weight_files_are_clear_errors_naming_the_file(tmp_path):
    """Another architecture, another width, another layout, a truncated or empty file: each is a
    VidposeError that names the file and says what it holds."""
    from vidpose.errors import VidposeError

    w48 = build_hrnet("w48")
    cases = [(synthetic_state(vitpose_release_layout()), "a ViT of width 768, 12 blocks, patch 16"),
             (synthetic_state(official_pose_hrnet_layout(32)), "holds a pose HRNet, HRNet-W32 .*builds a pose HRNet, "
                                                              "HRNet-W48"),
             ({f"backbone.layers.{i}.ln1.weight": torch.zeros(768) for i in range(12)}, "mmpose 1.x")]
    for state, pattern in cases:
        with pytest.raises(CheckpointMismatch, match=f"weights.pth: does not fit HRNet.*{pattern}"):
            load_state(w48, state, "weights.pth")
    assert issubclass(CheckpointMismatch, VidposeError)
    torch.save(build_hrnet("tiny").state_dict(), tmp_path / "pose_hrnet_tiny.pth")
    data = (tmp_path / "pose_hrnet_tiny.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointMismatch, match=r"cut\.pth: not a readable PyTorch checkpoint: truncated"):
        load_pretrained(build_hrnet("tiny"), tmp_path / "cut.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointMismatch, match=r"empty\.pth: empty file"):
        load_pretrained(build_hrnet("tiny"), tmp_path / "empty.pth")
    import numpy as np  # an mmcv-style file whose meta holds a numpy scalar: refused, with the way out

    torch.save({"state_dict": build_hrnet("tiny").state_dict(), "meta": {"best": np.float64(0.7)}}, tmp_path / "m.pth")
    with pytest.raises(CheckpointMismatch, match=r"m\.pth: holds Python objects.*keep only its weights"):
        load_pretrained(build_hrnet("tiny"), tmp_path / "m.pth")


def test_a_posetrack_trained_single_frame_run_is_a_pretrained_backbone(tmp_path):
    """JM-Pose and GLPose start from a PoseTrack-trained HRNet: a vidpose single-frame run's
    model.pt works as model.pretrained of a temporal model (its backbone. prefix is mapped)."""
    single = build_model({"name": "single_frame", "backbone": {"name": "hrnet", "size": "tiny"}})
    torch.save({"format": "vidpose-checkpoint-v1", "model_name": "single_frame", "model": single.state_dict()},
               tmp_path / "model.pt")
    temporal = build_model({"name": "jmpose", "offsets": [-1, 1], "backbone": {"name": "hrnet", "size": "tiny"}})
    report = load_pretrained(temporal.backbone, tmp_path / "model.pt")
    assert not report.missing and not report.shape_mismatch
    assert torch.equal(temporal.backbone.final_layer.weight, single.backbone.final_layer.weight)


@pytest.mark.parametrize("backbone", ["hrnet", "resnet", "vit"])
def test_a_stride_2_head_gives_finer_heatmaps_and_keeps_the_features_at_stride_4(backbone):
    from vidpose.models.registry import build_backbone

    net = build_backbone({"name": backbone, "size": "tiny", "head_stride": 2}, input_size=(96, 128))
    out = net(torch.randn(1, 3, 128, 96))
    assert net.heatmap_stride == 2 and net.feature_stride == 4
    assert out["heatmaps"].shape[-2:] == (64, 48) and out["feature"].shape[-2:] == (32, 24)
    with pytest.raises(ValueError, match="cannot be reached"):
        build_backbone({"name": backbone, "size": "tiny", "head_stride": 3}, input_size=(96, 128))


@pytest.mark.parametrize("method", ["naive_temporal", "tdmi", "jmpose", "glpose", "sdtc", "posewarper", "dcpose",
                                    "fami_pose"])
def test_every_method_follows_its_backbones_heatmap_stride(method):
    from vidpose.models.registry import build_model

    backbone = {"name": "vit" if method == "sdtc" else "hrnet", "size": "tiny", "head_stride": 2}
    spec = {"name": method, "backbone": backbone}
    if method != "naive_temporal":
        spec["offsets"] = [-1, 1]
    model = build_model(spec, input_size=(96, 128)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 3, 128, 96))["heatmaps"].shape == (1, 17, 64, 48)


@pytest.mark.parametrize("backbone", [{"name": "hrnet", "size": "tiny", "head_stride": 2},
                                      {"name": "resnet", "size": "tiny"}])
def test_the_limb_auxiliary_trains_the_backbone_and_leaves_the_heatmaps_alone(backbone):
    from vidpose.data.schema import SKELETON

    torch.manual_seed(0)
    plain = build_model({"name": "single_frame", "backbone": backbone}, input_size=(96, 128))
    torch.manual_seed(0)
    limbs = build_model({"name": "single_frame", "backbone": backbone, "limb_weight": 1.0}, input_size=(96, 128))
    limbs.backbone.load_state_dict(plain.backbone.state_dict())
    x = torch.randn(2, 1, 3, 128, 96)
    plain.eval(), limbs.eval()
    assert torch.equal(plain(x)["heatmaps"], limbs(x)["heatmaps"])  # inference: the same model
    h, w = plain(x)["heatmaps"].shape[-2:]
    batch = {"limb_heatmaps": torch.rand(2, len(SKELETON), h, w), "limb_weight": torch.ones(2, len(SKELETON))}
    limbs.train()
    out = limbs(x, batch)
    assert torch.equal(out["heatmaps"], limbs.backbone(x[:, 0])["heatmaps"])
    out["aux_losses"]["limb"].backward()
    assert limbs.limb_layer.weight.grad.abs().sum() > 0
    assert limbs.backbone.conv1.weight.grad.abs().sum() > 0  # the auxiliary reaches the backbone
    batch["limb_weight"].zero_()
    assert limbs(x, batch)["aux_losses"]["limb"].item() == 0  # unannotated limbs cost nothing
    with pytest.raises(ValueError, match="data.limb_maps"):
        limbs(x, {})
