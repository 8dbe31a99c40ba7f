"""The baselines every temporal method must beat.

- ``SingleFrame``: a backbone and its own head on the key frame only (SimpleBaseline, HRNet or
  ViTPose, depending on the backbone).
- ``NaiveTemporal``: the same backbone on every frame of the clip, the final features averaged
  over time, then the same head. It has exactly the single-frame parameters and sees the same
  frames as the temporal methods, so a method's gain over it is what its design adds beyond
  having more frames.

All models take a clip (B, T, 3, H, W) with the key frame first and return a dict with
``heatmaps`` (B, J, h, w) and ``aux_losses`` (a dict of scalar tensors, empty here).
"""

from __future__ import annotations

import torch
from torch import nn

from vidpose.models.layers import check_clip


class SingleFrame(nn.Module):
    trainable_in_backbone = ("final_layer",)  # stays trainable with train.freeze_backbone

    def __init__(self, backbone: nn.Module, joints: int = 17):
        super().__init__()
        self.backbone = backbone
        self.heatmap_stride = backbone.heatmap_stride

    def forward(self, frames: torch.Tensor, batch: dict | None = None) -> dict:
        check_clip(frames, type(self).__name__)
        out = self.backbone(frames[:, 0])
        return {"heatmaps": out["heatmaps"], "aux_losses": {}}


class NaiveTemporal(SingleFrame):
    """Same parameters as ``SingleFrame``; only the forward pass differs."""

    def forward(self, frames: torch.Tensor, batch: dict | None = None) -> dict:
        check_clip(frames, type(self).__name__)
        B, T = frames.shape[:2]
        feature = self.backbone.forward_features(frames.flatten(0, 1))["feature"]
        mean = feature.reshape(B, T, *feature.shape[1:]).mean(1)
        return {"heatmaps": self.backbone.head(mean), "aux_losses": {}}
