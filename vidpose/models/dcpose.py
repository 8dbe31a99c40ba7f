"""DCPose (Liu et al., "Deep Dual Consecutive Network for Human Pose Estimation", CVPR 2021; the
official code: shared/specs/methods-reference.md section 2).

Pipeline (Sec. 3, Fig. 2): the backbone's heatmaps of the key frame t and its two neighbours
t - 1 and t + 1 -> the Pose Temporal Merger (PTM, Sec. 3.2) merges each joint's three heatmaps,
weighted by the neighbours' temporal distances, into a searching scope Phi; the Pose Residual
Fusion (PRF, Sec. 3.3) encodes the weighted pose residuals H_t - H_t-1 and H_t - H_t+1 into a
motion feature Psi; the Pose Correction Network (PCN, Sec. 3.4) predicts, from Phi and Psi,
offsets and masks for five dilated modulated deformable convolutions (rates 3, 6, 9, 12, 15) that
resample Phi; their outputs averaged are the heatmaps. The loss is the heatmap MSE only.

Where the paper and the code leave choices (also in docs/methods.md):
- weights of the neighbours (Sec. 3.2-3.3): with the key frame at t and neighbours at t - p and
  t + n, the previous frame gets n / (p + n) and the next p / (p + n) (the code's margins; 0.5 each
  at distance 1). ``offsets`` must name one previous and one next frame ([-1, 1] as published);
- PTM and PRF inputs are interleaved per joint, as the code does: [H_t, w_p H_t-1, w_n H_t+1] for
  each joint (3 J channels) and [R_p, w_p R_p, R_n, w_n R_n] with R_p = H_t - H_t-1,
  R_n = H_t - H_t+1 (4 J channels);
- the blocks are RSN's residual steps blocks (``ResidualSteps``, the code's "RSB"): the PTM one
  block (3 J -> J), the PRF two (4 J -> 2 J), their concatenation two more (3 J -> ``width``, 64);
- PCN: per rate, a 3x3 convolution at that rate predicts offsets (2 x J x 9) and one predicts
  masks (J x 9), for a DCNv2 J -> J with J deformable groups at the same rate over Phi. The
  deformable convolutions start as the identity (each joint's map through its centre tap), as in
  the code. The offset convolutions start at exactly zero (the code draws them from N(0, 0.001),
  which gives offsets of order 1e-3 pixels; zero makes the start exactly Phi resampled in place,
  tested); the masks pass through a sigmoid (DCNv2's definition) from a convolution drawn from
  N(0, 0.001), so they start near 0.5 as in the code;
- ``use_pcn: false`` (the ablation study's "without PCN"): the heatmaps come from a 3x3
  convolution over the PTM + PRF feature instead of the deformable resampling of Phi; with
  ``start_from_backbone`` they are Phi plus that convolution (drawn from N(0, 0.001), so the
  start is H_t as with PCN), so that the ablation removes the correction and not the start;
- the code feeds the backbone's heatmaps with the backbone frozen; a fine-tuned backbone (the
  bench's ``paper`` protocol) gets the gradient through them;
- ``start_from_backbone`` (off as published; on for the head on frozen real BlazePose,
  configs/real/dcpose_blazepose.yaml): the PTM's searching scope becomes a residual on the key
  frame's heatmaps, Phi = H_t + to_scope(PTM(...)), with ``to_scope`` a 1x1 convolution (J -> J)
  that starts at zero. Published, the PTM's residual steps block mixes the 3 J interleaved maps
  from a random start, so the head must relearn which map is which joint, left from right above
  all; with this, Phi starts as H_t and PCN's identity-started deformable convolutions give the
  backbone's own heatmaps (times the masks' 0.5), as ``layers.StartFromBackbone`` does for the
  feature-based methods (docs/methods.md).
"""

from __future__ import annotations

import torch
from torch import nn

from vidpose.models.deform import ModulatedDeformConv2d
from vidpose.models.layers import check_clip, clip_features, conv_bn_relu, init_heatmap_layer


class ResidualSteps(nn.Module):
    """RSN's residual steps block (Cai et al., ECCV 2020), the code's RSB: a 1x1 projection split
    into ``branches`` branches, branch k with k + 1 3x3 steps, each step adding the previous
    branch's output at the same step; the branch outputs concatenated -> 1x1 -> + shortcut."""

    def __init__(self, cin: int, cout: int, branches: int = 4):
        super().__init__()
        w = max(4, cout // branches)
        self.branches = branches
        self.project = conv_bn_relu(cin, branches * w, 1)
        self.steps = nn.ModuleList([nn.ModuleList([conv_bn_relu(w, w, 3) for _ in range(k + 1)])
                                    for k in range(branches)])
        self.merge = nn.Sequential(nn.Conv2d(branches * w, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = nn.Identity() if cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False),
                                                                        nn.BatchNorm2d(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        splits = self.project(x).chunk(self.branches, 1)
        previous: list[torch.Tensor] = []
        outs = []
        for k, steps in enumerate(self.steps):
            h, current = splits[k], []
            for j, step in enumerate(steps):
                if j < len(previous):
                    h = h + previous[j]
                h = step(h)
                current.append(h)
            previous = current
            outs.append(h)
        return self.relu(self.merge(torch.cat(outs, 1)) + self.shortcut(x))


def interleave(*maps: torch.Tensor) -> torch.Tensor:
    """(B, J, h, w) maps -> (B, len(maps) * J, h, w), the joints' maps side by side (per joint
    [a_j, b_j, ...]), as the code orders its inputs."""
    return torch.stack(maps, 2).flatten(1, 2)


class PoseCorrection(nn.Module):
    """Sec. 3.4: per dilation rate, offsets and masks from the PTM + PRF feature, DCNv2 over Phi."""

    def __init__(self, joints: int, width: int, dilations: tuple[int, ...]):
        super().__init__()
        self.dcn = nn.ModuleList([ModulatedDeformConv2d(joints, joints, 3, padding=d, dilation=d, offset_groups=joints)
                                  for d in dilations])
        self.offsets = nn.ModuleList([nn.Conv2d(width, 2 * joints * 9, 3, 1, d, dilation=d) for d in dilations])
        self.masks = nn.ModuleList([nn.Conv2d(width, joints * 9, 3, 1, d, dilation=d) for d in dilations])
        for dcn, off, mask in zip(self.dcn, self.offsets, self.masks):
            with torch.no_grad():
                dcn.weight.zero_()
                dcn.weight[torch.arange(joints), torch.arange(joints), 1, 1] = 1.0
            nn.init.zeros_(off.weight)
            nn.init.zeros_(off.bias)
            nn.init.normal_(mask.weight, std=0.001)
            nn.init.zeros_(mask.bias)

    def offset_maps(self, feature: torch.Tensor) -> list[torch.Tensor]:
        return [conv(feature) for conv in self.offsets]

    def forward(self, scope: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        outs = [dcn(scope, off(feature), mask(feature)) for dcn, off, mask in zip(self.dcn, self.offsets, self.masks)]
        return torch.stack(outs).mean(0)


class DCPose(nn.Module):
    """DCPose around any backbone that returns per-frame heatmaps; window [t - p, t, t + n]."""

    trainable_in_backbone: tuple[str, ...] = ()
    shared_parts: tuple[str, ...] = ()  # no auxiliary terms

    def __init__(self, backbone: nn.Module, joints: int = 17, offsets: tuple[int, ...] = (-1, 1), width: int = 64,
                 dilations: tuple[int, ...] = (3, 6, 9, 12, 15), use_pcn: bool = True, rsb_branches: int = 4,
                 start_from_backbone: bool = False):
        super().__init__()
        self.offsets = tuple(offsets)
        previous = [i for i, o in enumerate(self.offsets, 1) if o < 0]
        following = [i for i, o in enumerate(self.offsets, 1) if o > 0]
        if len(previous) != 1 or len(following) != 1 or len(self.offsets) != 2:
            raise ValueError(f"DCPose reads one previous and one next frame (offsets like [-1, 1]), got {self.offsets}")
        self.prev_index, self.next_index = previous[0], following[0]
        p, n = -self.offsets[self.prev_index - 1], self.offsets[self.next_index - 1]
        self.prev_weight, self.next_weight = n / (p + n), p / (p + n)  # the code's margins
        self.backbone = backbone
        self.heatmap_stride = backbone.heatmap_stride
        self.ptm = ResidualSteps(3 * joints, joints, rsb_branches)  # Sec. 3.2
        self.to_scope = None  # published: Phi is the PTM's output
        if start_from_backbone:  # Phi = H_t + to_scope(PTM), starting at H_t (module docstring)
            self.to_scope = nn.Conv2d(joints, joints, 1)
            nn.init.zeros_(self.to_scope.weight)
            nn.init.zeros_(self.to_scope.bias)
        self.prf = nn.Sequential(ResidualSteps(4 * joints, 2 * joints, rsb_branches),
                                 ResidualSteps(2 * joints, 2 * joints, rsb_branches))  # Sec. 3.3
        self.combine = nn.Sequential(ResidualSteps(3 * joints, width, rsb_branches),
                                     ResidualSteps(width, width, rsb_branches))
        self.use_pcn = use_pcn
        if use_pcn:
            self.pcn = PoseCorrection(joints, width, tuple(dilations))  # Sec. 3.4
        else:
            self.head = init_heatmap_layer(nn.Conv2d(width, joints, 3, 1, 1))

    def frame_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"heatmaps": self.backbone(x)["heatmaps"]}

    def forward(self, frames: torch.Tensor, batch: dict | None = None) -> dict:
        check_clip(frames, "DCPose", self.offsets)
        return self.forward_features(clip_features(self, frames), frames, batch)

    def merge(self, clip: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Phi (the PTM's merged heatmaps, B x J) and the PTM + PRF feature (B x width)."""
        hm = clip["heatmaps"].float()
        cur, prev, nxt = hm[:, 0], hm[:, self.prev_index], hm[:, self.next_index]
        wp, wn = self.prev_weight, self.next_weight
        scope = self.ptm(interleave(cur, wp * prev, wn * nxt))  # Phi
        if self.to_scope is not None:
            scope = cur + self.to_scope(scope)
        rp, rn = cur - prev, cur - nxt
        residual = self.prf(interleave(rp, wp * rp, rn, wn * rn))  # Psi
        return scope, self.combine(torch.cat([residual, scope], 1))

    def forward_features(self, clip: dict[str, torch.Tensor], frames: torch.Tensor | None = None,
                         batch: dict | None = None) -> dict:
        scope, feature = self.merge(clip)
        if self.use_pcn:
            heatmaps = self.pcn(scope, feature)
        else:
            heatmaps = self.head(feature) if self.to_scope is None else scope + self.head(feature)
        return {"heatmaps": heatmaps, "aux_losses": {}, "scope": scope}
