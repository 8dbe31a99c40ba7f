"""HRNet (Sun et al., "Deep High-Resolution Representation Learning for Human Pose Estimation",
CVPR 2019, Sec. 3) for top-down pose, with the official ``pose_hrnet`` module layout.

Parallel branches at strides 4, 8, 16, 32 exchange information at the end of every module.
The high-resolution branch (stride 4) after each of the four stages is exposed as
``features``; TDMI and JM-Pose build their motion cues from these. Attribute names
(``conv1``, ``layer1``, ``transition1``, ``stage2``, ``fuse_layers``, ``final_layer``, ...) match the
official checkpoints such as ``pose_hrnet_w48_384x288.pth``, so those load by key.
"""

from __future__ import annotations

import torch
from torch import nn

from vidpose.models.layers import BasicBlock, Bottleneck, HeatmapBackbone, init_heatmap_layer, make_layer

#: name -> (stem width, layer1 planes, branch widths, modules per stage 2-4, blocks per branch)
SIZES = {
    "w18": (64, 64, (18, 36, 72, 144), (1, 4, 3), 4),
    "w32": (64, 64, (32, 64, 128, 256), (1, 4, 3), 4),
    "w48": (64, 64, (48, 96, 192, 384), (1, 4, 3), 4),
    "tiny": (32, 16, (16, 32, 64, 128), (1, 1, 1), 1),
    # tiny's depth at W32's widths: a 32-channel high-resolution branch (tiny's 16 channels feed
    # 17 heatmaps through a 1x1 layer; benchmarks/baselines.md measures what the width buys)
    "tiny_w32": (32, 16, (32, 64, 128, 256), (1, 1, 1), 1),
}


class HighResolutionModule(nn.Module):
    """Parallel branches of basic blocks, then every output branch sums all inputs resampled to
    its resolution (upsampling by 1x1 conv + nearest, downsampling by strided 3x3 convs)."""

    def __init__(self, channels: tuple[int, ...], blocks: int, multi_scale_output: bool = True):
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList([
            nn.Sequential(*[BasicBlock(c, c) for _ in range(blocks)]) for c in channels
        ])
        outputs = n if multi_scale_output else 1
        fuse = []
        for i in range(outputs):
            row: list[nn.Module | None] = []
            for j in range(n):
                if j > i:
                    row.append(nn.Sequential(nn.Conv2d(channels[j], channels[i], 1, bias=False),
                                             nn.BatchNorm2d(channels[i]),
                                             nn.Upsample(scale_factor=2 ** (j - i), mode="nearest")))
                elif j == i:
                    row.append(None)
                else:
                    steps = []
                    for k in range(i - j):
                        last = k == i - j - 1
                        cout = channels[i] if last else channels[j]
                        layers = [nn.Conv2d(channels[j], cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout)]
                        if not last:
                            layers.append(nn.ReLU(inplace=True))
                        steps.append(nn.Sequential(*layers))
                    row.append(nn.Sequential(*steps))
            fuse.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(fuse)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        out = []
        for row in self.fuse_layers:
            y = None
            for j, layer in enumerate(row):
                term = xs[j] if layer is None else layer(xs[j])
                y = term if y is None else y + term
            out.append(self.relu(y))
        return out


def _transition(pre: tuple[int, ...], cur: tuple[int, ...]) -> nn.ModuleList:
    layers: list[nn.Module | None] = []
    for i, c in enumerate(cur):
        if i < len(pre):
            layers.append(None if pre[i] == c else nn.Sequential(
                nn.Conv2d(pre[i], c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)))
        else:
            steps = []
            for k in range(i + 1 - len(pre)):
                cout = c if k == i - len(pre) else pre[-1]
                steps.append(nn.Sequential(nn.Conv2d(pre[-1], cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout),
                                           nn.ReLU(inplace=True)))
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


class HRNet(HeatmapBackbone):
    """``forward`` returns ``features`` (the stride-4 branch after stages 1-4, all of the branch
    width; stage 1's is layer1 after ``transition1``, as the TDMI-lineage code takes it),
    ``feature`` (the last of them) and ``heatmaps`` (1x1 ``final_layer``)."""

    def __init__(self, stem: int = 64, layer1_planes: int = 64, widths: tuple[int, ...] = (32, 64, 128, 256),
                 modules: tuple[int, ...] = (1, 4, 3), blocks: int = 4, joints: int = 17, head_stride: int | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.conv2 = nn.Conv2d(stem, stem, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_layer(Bottleneck, stem, layer1_planes, blocks)
        stage1_out = layer1_planes * Bottleneck.expansion
        pre: tuple[int, ...] = (stage1_out,)
        for s, n_modules in enumerate(modules, start=2):
            cur = tuple(widths[:s])
            setattr(self, f"transition{s - 1}", _transition(pre, cur))
            last_stage = s == 4
            setattr(self, f"stage{s}", nn.Sequential(*[
                HighResolutionModule(cur, blocks, multi_scale_output=not (last_stage and m == n_modules - 1))
                for m in range(n_modules)
            ]))
            pre = cur
        self.final_layer = init_heatmap_layer(nn.Conv2d(widths[0], joints, 1))
        self.stage_channels = [widths[0]] * 4
        self.feature_channels = widths[0]
        self.set_head_stride(head_stride)

    def forward_features(self, x: torch.Tensor) -> dict:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        features = []
        for s in (2, 3, 4):
            transition = getattr(self, f"transition{s - 1}")
            xs = []
            for i, t in enumerate(transition):
                source = ys[i] if i < len(ys) else ys[-1]
                xs.append(source if t is None else t(source))
            if s == 2:  # stage 1's high-resolution output: layer1 brought to branch width by transition1
                features.append(xs[0])
            ys = getattr(self, f"stage{s}")(xs)
            features.append(ys[0])
        return {"features": features, "feature": ys[0]}



def build_hrnet(size: str = "w32", joints: int = 17, head_stride: int | None = None) -> HRNet:
    """``head_stride`` 2: heatmaps at stride 2 through one deconvolution (features stay at 4)."""
    if size not in SIZES:
        raise ValueError(f"unknown HRNet size {size!r}; expected one of {sorted(SIZES)}")
    stem, planes, widths, modules, blocks = SIZES[size]
    return HRNet(stem, planes, widths, modules, blocks, joints, head_stride)
