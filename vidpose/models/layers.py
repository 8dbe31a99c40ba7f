"""Layers shared by the backbones and the temporal methods."""

from __future__ import annotations

import copy

import torch
from torch import nn


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convolutions). Attribute names follow torchvision / HRNet so
    their checkpoints load by key."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """ResNet bottleneck block (1x1, 3x3, 1x1)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def make_layer(block: type, inplanes: int, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes * block.expansion:
        downsample = nn.Sequential(nn.Conv2d(inplanes, planes * block.expansion, 1, stride, bias=False),
                                   nn.BatchNorm2d(planes * block.expansion))
    layers = [block(inplanes, planes, stride, downsample)]
    layers += [block(planes * block.expansion, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class ResidualBlocks(nn.Sequential):
    """``n`` basic residual blocks at constant width, after a 3x3 projection from ``cin``
    (the fusion blocks of TDMI Eq. 2 and the RDM fusion)."""

    def __init__(self, cin: int, cout: int, n: int):
        layers: list[nn.Module] = [conv_bn_relu(cin, cout)] if cin != cout else []
        layers += [BasicBlock(cout, cout) for _ in range(n)]
        super().__init__(*layers)


def upsampling(channels: int, times: int) -> nn.Module:
    """``times`` 4x4 stride-2 deconvolutions (+ BN + ReLU) at constant width, SimpleBaseline's
    upsampling step; the identity for ``times`` = 0."""
    layers: list[nn.Module] = []
    for _ in range(times):
        deconv = nn.ConvTranspose2d(channels, channels, 4, 2, 1, bias=False)
        nn.init.normal_(deconv.weight, std=0.001)
        layers += [deconv, nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers) if layers else nn.Identity()


def stride_steps(feature_stride: int, heatmap_stride: int) -> int:
    """How many 2x upsamplings bring ``feature_stride`` to ``heatmap_stride`` (both powers of 2)."""
    steps = 0
    while feature_stride > heatmap_stride:
        feature_stride //= 2
        steps += 1
    if feature_stride != heatmap_stride:
        raise ValueError(f"a heatmap stride of {heatmap_stride} cannot be reached from features at stride "
                         f"{feature_stride * 2 ** steps} by 2x upsampling")
    return steps


class HeatmapBackbone(nn.Module):
    """What every backbone offers: ``forward_features`` (subclasses) returns ``features`` and the
    head's input ``feature`` (at ``feature_stride``, 4); ``head`` is ``head_upsample`` (the
    identity, or deconvolutions for a finer ``heatmap_stride``, e.g. ``head_stride: 2``) and the
    1x1 ``final_layer``; ``forward`` adds ``heatmaps``. The temporal methods read ``feature`` and
    bring their own heads to the same ``heatmap_stride`` (``HeatmapHead``)."""

    final_layer: nn.Conv2d
    head_upsample: nn.Module
    feature_stride: int = 4

    def set_head_stride(self, head_stride: int | None) -> None:
        """Heatmaps at ``head_stride`` (default: the feature stride) by upsampling deconvolutions."""
        steps = stride_steps(self.feature_stride, head_stride or self.feature_stride)
        self.head_upsample = upsampling(self.feature_channels, steps)
        self.heatmap_stride = self.feature_stride // 2 ** steps

    def forward_features(self, x: torch.Tensor) -> dict:
        raise NotImplementedError

    def head(self, feature: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.head_upsample(feature))

    @staticmethod
    def heatmaps_from_logits(logits: torch.Tensor) -> torch.Tensor:
        """The final layer's output already is the heatmaps (BlazePose maps its own)."""
        return logits

    def forward(self, x: torch.Tensor) -> dict:
        out = self.forward_features(x)
        out["heatmaps"] = self.head(out["feature"])
        return out


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Joint-weighted MSE, averaged over joints and pixels (SimpleBaseline's JointsMSELoss,
    including its factor 0.5)."""
    if pred.shape != target.shape:
        raise ValueError(f"heatmap loss: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ "
                         "(does data.heatmap_size match the model's output stride?)")
    w = weight[:, :, None, None]
    return 0.5 * ((pred.float() - target) ** 2 * w).mean()


def init_heatmap_layer(conv: nn.Conv2d) -> nn.Conv2d:
    """Near-zero maps at the start (std 0.001, as the official SimpleBaseline/HRNet code): a
    default-initialised last layer starts with a loss ~100x the all-zero prediction's, and
    small backbones then collapse to predicting zeros."""
    nn.init.normal_(conv.weight, std=0.001)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


class HeatmapHead(nn.Module):
    """The 3x3 detection head of the temporal methods: features -> one heatmap per joint, after
    ``upsample`` 2x deconvolutions when the backbone's heatmaps are finer than its features."""

    def __init__(self, cin: int, joints: int = 17, kernel: int = 3, upsample: int = 0):
        super().__init__()
        self.upsample = upsampling(cin, upsample)
        self.conv = init_heatmap_layer(nn.Conv2d(cin, joints, kernel, 1, kernel // 2))

    def forward(self, x: torch.Tensor, key_feature: torch.Tensor | None = None) -> torch.Tensor:
        """``key_feature`` is what ``StartFromBackbone`` reads; a head trained from scratch reads
        only the method's fused feature ``x``."""
        return self.conv(self.upsample(x))


def head_for(backbone: nn.Module, cin: int, joints: int = 17, start_from_backbone: bool = False) -> nn.Module:
    """A temporal method's head on features of ``backbone``, at the backbone's heatmap stride,
    called as ``head(fused, key_feature)``: the 3x3 ``HeatmapHead`` from scratch (as published),
    or ``StartFromBackbone`` (``model.start_from_backbone``)."""
    if start_from_backbone:
        return StartFromBackbone(backbone, cin)
    return HeatmapHead(cin, joints, upsample=stride_steps(getattr(backbone, "feature_stride", backbone.heatmap_stride),
                                                           backbone.heatmap_stride))


class BackboneHead(nn.Module):
    """A temporal method's 3x3 detection head started as the backbone's own head: the centre tap of
    its 3x3 convolution is the backbone's 1x1 final layer (the other taps zero), after a copy of the
    backbone's upsampling, in the backbone's output space (BlazePose: its 39 heatmap logits, mapped
    to the 17 PoseTrack maps by the backbone's parameter-free ``heatmaps_from_logits``). On the
    backbone's own feature it gives exactly the backbone's heatmaps; all of it trains."""

    def __init__(self, backbone: nn.Module, kernel: int = 3):
        super().__init__()
        final: nn.Conv2d = backbone.final_layer
        if final.kernel_size != (1, 1):
            raise ValueError(f"BackboneHead: the backbone's final layer is {final.kernel_size}, not 1x1")
        self.upsample = copy.deepcopy(getattr(backbone, "head_upsample", None) or nn.Identity())
        self.conv = nn.Conv2d(final.in_channels, final.out_channels, kernel, 1, kernel // 2)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[:, :, kernel // 2, kernel // 2] = final.weight[:, :, 0, 0]
            self.conv.bias.copy_(final.bias if final.bias is not None else torch.zeros_like(self.conv.bias))
        self.to_heatmaps = type(backbone).heatmaps_from_logits  # a plain function, no parameters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_heatmaps(self.conv(self.upsample(x)))


class StartFromBackbone(nn.Module):
    """``model.start_from_backbone: true`` (a choice where the papers are silent; docs/methods.md):
    the temporal model starts as the single-frame model, so a head on a frozen pretrained backbone
    does not relearn from scratch what the backbone's head knows (left from right, above all).
    The method's fused feature F~ becomes a residual on the key frame's backbone feature F_t,
    through a 1x1 convolution that starts at zero (``to_feature``), and the detection head is a
    ``BackboneHead``: heatmaps = BackboneHead(F_t + to_feature(F~)). At step 0 the output is the
    backbone's own heatmaps; the method's modules then learn what to add."""

    def __init__(self, backbone: nn.Module, width: int):
        super().__init__()
        self.to_feature = nn.Conv2d(width, backbone.feature_channels, 1)
        nn.init.zeros_(self.to_feature.weight)
        nn.init.zeros_(self.to_feature.bias)
        self.head = BackboneHead(backbone)

    def forward(self, fused: torch.Tensor, key_feature: torch.Tensor) -> torch.Tensor:
        return self.head(key_feature + self.to_feature(fused).to(key_feature.dtype))


def check_clip(frames: torch.Tensor, name: str, offsets: tuple[int, ...] | None = None) -> None:
    """Inputs are clips (B, T, 3, H, W), with T = 1 + len(offsets) when ``offsets`` is given;
    say so clearly when they are not."""
    if frames.dim() != 5 or frames.shape[2] != 3:
        raise ValueError(f"{name}: expected a clip tensor (batch, frames, 3, height, width), "
                         f"got shape {tuple(frames.shape)}")
    if offsets is not None and frames.shape[1] != len(offsets) + 1:
        raise ValueError(f"{name} was built for {len(offsets) + 1} frames (offsets {tuple(offsets)}), "
                         f"got {frames.shape[1]}")


def clip_features(model: nn.Module, frames: torch.Tensor) -> dict[str, torch.Tensor]:
    """``model.frame_features`` on every frame of a clip (B, T, 3, H, W), reshaped to (B, T, ...)."""
    B, T = frames.shape[:2]
    return {k: v.view(B, T, *v.shape[1:]) for k, v in model.frame_features(frames.flatten(0, 1)).items()}


def frame_heatmaps(model: nn.Module, feats: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """The single-frame heatmaps (N, J, h, w) of the backbone behind ``model.frame_features``'
    output ``feats``: its own ``heatmaps`` where it caches them (JM-Pose, PoseWarper, DCPose, the
    single-frame baselines), else the backbone's head on the cached ``feature`` (the naive head,
    FAMI-Pose, GLPose, SDTC on a feature map). None where neither is cached (TDMI's stages,
    SDTC's tokens): the frame's heatmaps then need a pass of their own."""
    if "heatmaps" in feats:
        return feats["heatmaps"]
    head = getattr(getattr(model, "backbone", None), "head", None)
    if "feature" in feats and callable(head):
        return head(feats["feature"])
    return None
