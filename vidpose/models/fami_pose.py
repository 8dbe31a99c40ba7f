"""FAMI-Pose (Liu, Feng et al., "Temporal Feature Alignment and Mutual Information Maximization for
Video-Based Human Pose Estimation", CVPR 2022; the official code: shared/specs/methods-reference.md
section 3, its information estimator section 4.3).

Pipeline (Sec. 3, Fig. 2): backbone features z_t of the key frame and z_t+delta of each supporting
frame -> hierarchical alignment (Sec. 3.2): a global transformation module regresses an affine
transformation from the pair and warps z_t+delta with it (coarse), then a local calibration module
predicts deformable offsets and masks from the key feature and the globally aligned one and
resamples it with a deformable convolution (fine), giving the aligned features z-bar_t+delta ->
adaptive aggregation of z_t and every z-bar_t+delta into z~_t -> a detection head -> heatmaps.
Training (Sec. 3.3): the heatmap loss L_H plus the mutual-information objective L_MI, which asks
the aligned supporting features and the aggregated feature to carry task-relevant information
about the key frame's pose y_t beyond what z_t already holds.

Where the paper, the code and vidpose differ, or the sources are silent (also in docs/methods.md):
- the global transformation: the paper estimates an affine transformation (``global_transform:
  affine``, the default: 6 parameters, started at the identity); the released code regresses a
  translation only (``global_transform: translation``). Its regressor follows the code's shape: a
  3x3 projection to 16 channels, stride-2 convolutions, pooled to 3x3, three linear layers; its
  input is cat(z_t, z_t+delta) (the code feeds the difference z_t+delta - z_t, which the
  concatenation contains). ``global_alignment: false`` is the ablation "without global alignment";
- local calibration per supporting frame, as the paper describes it: offsets and masks from a
  residual block over cat(z_t, z'_t+delta), a 3x3 dilation-3 convolution each (offset convolution
  zero-initialised), DCNv2 (3x3, dilation 3, ``offset_groups`` groups, the code's 12 at W48) over
  z'_t+delta; the masks pass through a sigmoid (DCNv2's definition; the code passes them raw). The
  released code instead aggregates the supporting features first and runs four deformable
  convolutions on the aggregate, which leaves no per-frame aligned feature for the paper's terms;
- adaptive aggregation (the paper's "aggregated adaptively"; its form is our choice): a 3x3
  convolution scores each of z_t, z-bar_t+delta against z_t, a softmax over the frames at every
  position weighs them, and their weighted sum with z_t passes through residual blocks
  (``fusion_blocks``) to the 3x3 head. Features are first brought to ``width`` by a 1x1
  convolution (null: the backbone's width);
- the information objective, in the estimator forms of the TDMI/JM-Pose code base (specs 4.3)
  as vidpose rebuilt them (``mutual_info.py``): every feature is read as a predictor of y through
  a 1x1 probe fitted on the detached feature (``fit_probe``, an estimator that never moves the
  network), so a term's value is a prediction error on the heatmap loss's scale and a Gaussian
  decoder's error bounds the information from below (up to H(y)):
  - ``mi_support``: maximise I(y_t; z-bar_t+delta) for every aligned supporting feature, as the
    mean error of the probe's prediction from z-bar_t+delta (the code's "+I(y; z_sup)" group):
    the alignment is asked to bring the supporting frame's evidence to the key frame's joints;
  - ``mi_complement``: maximise I(y_t; z~_t | z_t) = I(y_t; z~_t, z_t) - I(y_t; z_t), estimated as
    err(y | z~) - err(y | z_t) with z_t read by the backbone's own head, held fixed (z~ contains
    z_t, so err(y | z~, z_t) is err(y | z~)). Its gradient reaches the fused feature only; its
    value is negative where the fused feature predicts better than the key frame alone;
  - dropped: the code's feature-feature terms -I(z_sup; z~) and -I(z; z~), read at face value,
    push the fused feature away from the key frame's and the aligned features, which the
    decomposition I(y; z~ | z) = I(y; z~) - I(z~; z) + I(z~; z | y) does not ask (only the
    task-irrelevant redundancy is to be removed, which the conditional estimate above does);
  ``mi_weight`` (alpha, 1 by default) multiplies both; the code multiplies its sum by 0.5 with
  its own term weights, on another scale (a divergence averaged over positions), so its number
  does not transfer. The balance against the heatmap loss is measured in docs/methods.md;
- ``start_from_backbone`` (off as published): as for the other methods (``layers.StartFromBackbone``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidpose.models.deform import ModulatedDeformConv2d
from vidpose.models.layers import (BasicBlock, ResidualBlocks, check_clip, clip_features, conv_bn_relu, head_for,
                                   stride_steps)
from vidpose.models.mutual_info import Probe, map_errors

TRANSFORMS = ("affine", "translation")
MI_TERMS = ("mi_support", "mi_complement")


class GlobalTransformation(nn.Module):
    """Sec. 3.2, the coarse step: cat(z_t, z_t+delta) -> theta (affine, or a translation) -> z_t+delta
    warped by theta. Starts at the identity transformation."""

    def __init__(self, channels: int, transform: str = "affine", hidden: int = 16, downsamples: int = 3):
        super().__init__()
        if transform not in TRANSFORMS:
            raise ValueError(f"FAMI-Pose: global_transform must be one of {TRANSFORMS}, got {transform!r}")
        self.transform = transform
        layers: list[nn.Module] = [conv_bn_relu(2 * channels, hidden)]
        layers += [conv_bn_relu(hidden, hidden, 3, 2) for _ in range(downsamples)]
        self.encode = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(3), nn.Flatten())
        out = 6 if transform == "affine" else 2
        self.regress = nn.Sequential(nn.Linear(9 * hidden, 64), nn.ReLU(inplace=True), nn.Linear(64, 64),
                                     nn.ReLU(inplace=True), nn.Linear(64, out))
        nn.init.zeros_(self.regress[-1].weight)
        with torch.no_grad():
            self.regress[-1].bias.copy_(torch.tensor([1.0, 0, 0, 0, 1.0, 0]) if out == 6 else torch.zeros(2))

    def theta(self, key: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
        """(B, 2, 3) affine matrices in normalised coordinates."""
        p = self.regress(self.encode(torch.cat([key, support], 1))).float()
        if self.transform == "affine":
            return p.view(-1, 2, 3)
        eye = torch.eye(2, device=p.device, dtype=p.dtype).expand(p.shape[0], 2, 2)
        return torch.cat([eye, p[:, :, None]], 2)

    def forward(self, key: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
        theta = self.theta(key, support)
        grid = F.affine_grid(theta, list(support.shape), align_corners=False)
        return F.grid_sample(support.float(), grid, mode="bilinear", padding_mode="zeros",
                             align_corners=False).to(support.dtype)


class LocalCalibration(nn.Module):
    """Sec. 3.2, the fine step: offsets and masks from cat(z_t, z'_t+delta), DCNv2 over z'_t+delta."""

    def __init__(self, channels: int, offset_groups: int = 4, dilation: int = 3):
        super().__init__()
        if channels % offset_groups:
            raise ValueError(f"FAMI-Pose: {channels} channels are not divisible by {offset_groups} offset groups")
        self.context = ResidualBlocks(2 * channels, channels, 1)
        self.dcn = ModulatedDeformConv2d(channels, channels, 3, padding=dilation, dilation=dilation,
                                         offset_groups=offset_groups)
        self.offsets = nn.Conv2d(channels, self.dcn.offset_channels, 3, 1, dilation, dilation=dilation)
        self.masks = nn.Conv2d(channels, self.dcn.mask_channels, 3, 1, dilation, dilation=dilation)
        nn.init.zeros_(self.offsets.weight)
        nn.init.zeros_(self.offsets.bias)

    def forward(self, key: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
        x = self.context(torch.cat([key, support], 1))
        return self.dcn(support, self.offsets(x), self.masks(x))


class AdaptiveAggregation(nn.Module):
    """z~ = Blocks(sum_i w_i z_i), the softmax weights w_i over the key frame and the aligned
    supporting frames scored at every position by a 3x3 convolution over cat(z_t, z_i)."""

    def __init__(self, channels: int, width: int, blocks: int = 3):
        super().__init__()
        self.score = nn.Sequential(BasicBlock(2 * channels, channels, downsample=nn.Sequential(
            nn.Conv2d(2 * channels, channels, 1, bias=False), nn.BatchNorm2d(channels))), nn.Conv2d(channels, 1, 3, 1, 1))
        self.fuse = ResidualBlocks(2 * channels, width, blocks)

    def forward(self, key: torch.Tensor, aligned: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``aligned`` (B, n, C, h, w). Returns z~ and the weights (B, 1 + n, h, w)."""
        frames = torch.cat([key[:, None], aligned], 1)  # (B, 1 + n, C, h, w)
        B, T = frames.shape[:2]
        pairs = torch.cat([key[:, None].expand_as(frames), frames], 2).flatten(0, 1)
        weights = self.score(pairs).view(B, T, *frames.shape[-2:]).softmax(1)
        aggregated = (frames * weights[:, :, None]).sum(1)
        return self.fuse(torch.cat([key, aggregated], 1)), weights


class FAMIPose(nn.Module):
    """FAMI-Pose around any backbone that returns a feature map (``feature``) and a head."""

    trainable_in_backbone: tuple[str, ...] = ()
    #: the parts the pose path shares with the information terms (engine/balance.py measures them)
    shared_parts: tuple[str, ...] = ("reduce", "global_align", "local_align", "aggregate")

    def __init__(self, backbone: nn.Module, joints: int = 17, offsets: tuple[int, ...] = (-2, -1, 1, 2),
                 width: int | None = None, global_alignment: bool = True, global_transform: str = "affine",
                 offset_groups: int = 4, fusion_blocks: int = 3, mi_weight: float = 1.0,
                 mi_terms: tuple[str, ...] = MI_TERMS, start_from_backbone: bool = False):
        super().__init__()
        if not set(mi_terms) <= set(MI_TERMS):
            raise ValueError(f"FAMI-Pose: mi_terms must be among {MI_TERMS}, got {list(mi_terms)}")
        if not offsets:
            raise ValueError("FAMI-Pose needs at least one supporting frame")
        self.backbone = backbone
        self.heatmap_stride = backbone.heatmap_stride
        self.offsets = tuple(offsets)
        channels = backbone.feature_channels
        width = width or channels
        self.reduce = nn.Identity() if width == channels else conv_bn_relu(channels, width, 1)
        self.global_alignment = global_alignment
        self.global_align = GlobalTransformation(width, global_transform) if global_alignment else None
        self.local_align = LocalCalibration(width, offset_groups)
        self.aggregate = AdaptiveAggregation(width, width, fusion_blocks)
        self.head = head_for(backbone, width, joints, start_from_backbone)
        self.mi_weight, self.mi_terms = float(mi_weight), tuple(mi_terms)
        upsample = stride_steps(getattr(backbone, "feature_stride", self.heatmap_stride), self.heatmap_stride)
        use_mi = self.mi_weight > 0 and bool(self.mi_terms)
        self.probe_support = Probe(width, joints, upsample) if use_mi and "mi_support" in self.mi_terms else None
        self.probe_fused = Probe(width, joints, upsample) if use_mi and "mi_complement" in self.mi_terms else None

    def frame_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"feature": self.backbone.forward_features(x)["feature"]}

    def forward(self, frames: torch.Tensor, batch: dict | None = None) -> dict:
        check_clip(frames, "FAMI-Pose", self.offsets)
        return self.forward_features(clip_features(self, frames), frames, batch)

    def align(self, key: torch.Tensor, supports: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sec. 3.2 for every supporting feature (B, n, C, h, w): the globally aligned z' and the
        aligned z-bar, both (B, n, C, h, w)."""
        B, n = supports.shape[:2]
        keys = key[:, None].expand_as(supports).flatten(0, 1)
        flat = supports.flatten(0, 1)
        coarse = self.global_align(keys, flat) if self.global_align is not None else flat
        fine = self.local_align(keys, coarse)
        return coarse.view_as(supports), fine.view_as(supports)

    def forward_features(self, clip: dict[str, torch.Tensor], frames: torch.Tensor | None = None,
                         batch: dict | None = None) -> dict:
        raw = clip["feature"]  # (B, T, C, h, w), key frame first
        B, T = raw.shape[:2]
        feats = self.reduce(raw.flatten(0, 1)).view(B, T, -1, *raw.shape[-2:])
        key = feats[:, 0]
        _, aligned = self.align(key, feats[:, 1:])
        fused, weights = self.aggregate(key, aligned)
        heatmaps = self.head(fused, raw[:, 0])
        aux: dict[str, torch.Tensor] = {}
        if self.training and batch is not None and (self.probe_support is not None or self.probe_fused is not None):
            aux = self.information_terms(raw[:, 0], aligned, fused, batch)
        return {"heatmaps": heatmaps, "aux_losses": aux, "aligned": aligned, "weights": weights}

    def information_terms(self, key_raw: torch.Tensor, aligned: torch.Tensor, fused: torch.Tensor,
                          batch: dict) -> dict[str, torch.Tensor]:
        """Sec. 3.3's objective in predictive form (module docstring), times alpha, plus the
        probes' own fit (``fit_probe``, which trains only the probes)."""
        target = batch["heatmaps"].to(fused.device)
        weight = batch["target_weight"].to(fused.device)
        a = self.mi_weight
        out: dict[str, torch.Tensor] = {}
        fit = fused.new_zeros(())
        if self.probe_support is not None:
            flat = aligned.flatten(0, 1)
            t = target.repeat_interleave(aligned.shape[1], 0)
            w = weight.repeat_interleave(aligned.shape[1], 0)
            out["mi_support"] = a * map_errors(self.probe_support(flat), t, w).mean()  # -I(y; z-bar) + const
            fit = fit + self.probe_support.fit_loss(flat, t, w)
        if self.probe_fused is not None:
            with torch.no_grad():  # err(y | z_t): the backbone's own head on the key frame, held fixed
                single = self.backbone.head(key_raw)
                err_key = map_errors(single, target, weight).mean()
            out["mi_complement"] = a * (map_errors(self.probe_fused(fused), target, weight).mean() - err_key)
            fit = fit + self.probe_fused.fit_loss(fused, target, weight)
        return {**out, "fit_probe": fit}
