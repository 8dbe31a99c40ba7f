"""ResNet with the SimpleBaseline deconvolution head (Xiao et al., "Simple Baselines for Human
Pose Estimation and Tracking", ECCV 2018, Sec. 2).

Input (B, 3, H, W) -> C2..C5 stage features, three 4x4 stride-2 deconvolutions back to stride 4,
and a 1x1 layer to one heatmap per joint. Attribute names follow torchvision and the official
SimpleBaseline code (``conv1``, ``layer1``..``layer4``, ``deconv_layers``, ``final_layer``), so
their checkpoints load by key.
"""

from __future__ import annotations

import torch
from torch import nn

from vidpose.models.layers import BasicBlock, Bottleneck, HeatmapBackbone, init_heatmap_layer, make_layer

#: depth -> (block, blocks per stage)
DEPTHS = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)), 50: (Bottleneck, (3, 4, 6, 3)),
          101: (Bottleneck, (3, 4, 23, 3)), 152: (Bottleneck, (3, 8, 36, 3))}
#: named sizes; ``tiny`` trains on SynthTrack in minutes on 2 CPU cores at 128x96
SIZES = {
    "tiny": dict(depth=18, blocks=(1, 1, 1, 1), width=16, deconv=(64, 64, 64)),
    "r18": dict(depth=18), "r50": dict(depth=50), "r101": dict(depth=101), "r152": dict(depth=152),
}


class ResNetPose(HeatmapBackbone):
    """A ResNet backbone plus SimpleBaseline head. ``forward`` returns ``features`` (C2..C5),
    ``feature`` (the last deconvolution output, stride 4) and ``heatmaps``."""

    def __init__(self, depth: int = 50, joints: int = 17, width: int = 64, blocks: tuple[int, ...] | None = None,
                 deconv: tuple[int, ...] = (256, 256, 256), head_stride: int | None = None):
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"ResNet depth must be one of {sorted(DEPTHS)}, got {depth}")
        block, default_blocks = DEPTHS[depth]
        blocks = tuple(blocks or default_blocks)
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels, inplanes = [], width
        for i, n in enumerate(blocks):
            layer = make_layer(block, inplanes, width * 2 ** i, n, stride=1 if i == 0 else 2)
            setattr(self, f"layer{i + 1}", layer)
            inplanes = width * 2 ** i * block.expansion
            channels.append(inplanes)
        self.stage_channels = channels
        layers: list[nn.Module] = []
        for c in deconv:
            layers += [nn.ConvTranspose2d(inplanes, c, 4, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            inplanes = c
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(inplanes, joints, 1)
        self.feature_channels = inplanes
        self.feature_stride = 32 // 2 ** len(deconv)
        self.set_head_stride(head_stride)
        for m in self.deconv_layers.modules():
            if isinstance(m, nn.ConvTranspose2d):
                nn.init.normal_(m.weight, std=0.001)
        init_heatmap_layer(self.final_layer)

    def forward_features(self, x: torch.Tensor) -> dict:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        features = []
        for i in range(len(self.stage_channels)):
            x = getattr(self, f"layer{i + 1}")(x)
            features.append(x)
        return {"features": features, "feature": self.deconv_layers(x)}



def build_resnet(size: str = "r50", joints: int = 17, **overrides) -> ResNetPose:
    if size not in SIZES:
        raise ValueError(f"unknown ResNet size {size!r}; expected one of {sorted(SIZES)}")
    return ResNetPose(joints=joints, **{**SIZES[size], **overrides})
