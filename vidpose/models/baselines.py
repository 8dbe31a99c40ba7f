"""The baselines every temporal method must beat.

- ``SingleFrame``: a backbone and its own head on the key frame only (SimpleBaseline, HRNet or
  ViTPose, depending on the backbone).
- ``NaiveTemporal``: the same backbone on every frame of the clip, the final features averaged
  over time, then the same head. It has exactly the single-frame parameters and sees the same
  frames as the temporal methods, so a method's gain over it is what its design adds beyond
  having more frames.

All models take a clip (B, T, 3, H, W) with the key frame first and return a dict with
``heatmaps`` (B, J, h, w) and ``aux_losses`` (a dict of scalar tensors, empty here). Every model
splits its forward pass in two: ``frame_features`` (the backbone, per frame) and
``forward_features`` (the clip head), so video inference can compute each frame once.
"""

from __future__ import annotations

import torch
from torch import nn

from vidpose.data.schema import SKELETON
from vidpose.models.layers import check_clip, clip_features, heatmap_loss, init_heatmap_layer


class SingleFrame(nn.Module):
    """``limb_weight`` > 0 adds a training-only auxiliary: a 1x1 layer beside ``final_layer``
    predicts the limb maps of ``data.limb_maps`` (``encode_limbs``) from the same upsampled
    feature, with the heatmap loss times ``limb_weight`` as ``aux_losses["limb"]``. It gives the
    backbone dense left/right supervision along each limb, which breaks the symmetric stall of
    the ankles on SynthTrack (benchmarks/baselines.md). The layer is not part of the heatmaps, so
    the model predicts exactly as without it; stage-2 methods ignore it when they load the backbone."""

    trainable_in_backbone = ("final_layer",)  # stays trainable with train.freeze_backbone

    def __init__(self, backbone: nn.Module, joints: int = 17, limb_weight: float = 0.0):
        super().__init__()
        self.backbone = backbone
        self.heatmap_stride = backbone.heatmap_stride
        self.limb_weight = float(limb_weight)
        self.limb_layer = None
        if self.limb_weight > 0:
            self.limb_layer = init_heatmap_layer(nn.Conv2d(backbone.final_layer.in_channels, len(SKELETON), 1))

    def frame_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-frame backbone outputs (N, ...) that the clip head needs (what video inference caches)."""
        if self.limb_layer is None or not self.training:
            return {"heatmaps": self.backbone(x)["heatmaps"]}
        upsampled = self.backbone.head_upsample(self.backbone.forward_features(x)["feature"])
        return {"heatmaps": self.backbone.heatmaps_from_logits(self.backbone.final_layer(upsampled)),
                "limbs": self.limb_layer(upsampled)}

    def forward_features(self, feats: dict[str, torch.Tensor], frames: torch.Tensor | None = None,
                         batch: dict | None = None) -> dict:
        """The clip head on per-frame features shaped (B, T, ...), key frame first."""
        aux = {}
        if "limbs" in feats and batch is not None:
            if "limb_heatmaps" not in batch:
                raise ValueError("model.limb_weight > 0 trains on limb maps: set data.limb_maps: true")
            target = batch["limb_heatmaps"].to(feats["limbs"].device)
            aux["limb"] = self.limb_weight * heatmap_loss(feats["limbs"][:, 0].float(), target,
                                                          batch["limb_weight"].to(target.device))
        return {"heatmaps": feats["heatmaps"][:, 0], "aux_losses": aux}

    def forward(self, frames: torch.Tensor, batch: dict | None = None) -> dict:
        check_clip(frames, type(self).__name__)
        return self.forward_features(clip_features(self, frames[:, :1]), frames, batch)


class NaiveTemporal(SingleFrame):
    """Same parameters as ``SingleFrame``; only the forward pass differs."""

    def __init__(self, backbone: nn.Module, joints: int = 17):
        super().__init__(backbone, joints)

    def frame_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"feature": self.backbone.forward_features(x)["feature"]}

    def forward_features(self, feats: dict[str, torch.Tensor], frames: torch.Tensor | None = None,
                         batch: dict | None = None) -> dict:
        return {"heatmaps": self.backbone.head(feats["feature"].mean(1)), "aux_losses": {}}

    def forward(self, frames: torch.Tensor, batch: dict | None = None) -> dict:
        check_clip(frames, type(self).__name__)
        return self.forward_features(clip_features(self, frames), frames, batch)
