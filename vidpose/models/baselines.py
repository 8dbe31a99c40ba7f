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

from vidpose.models.layers import check_clip, clip_features


class SingleFrame(nn.Module):
    trainable_in_backbone = ("final_layer",)  # stays trainable with train.freeze_backbone

    def __init__(self, backbone: nn.Module, joints: int = 17):
        super().__init__()
        self.backbone = backbone
        self.heatmap_stride = backbone.heatmap_stride

    def frame_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-frame backbone outputs (N, ...) that the clip head needs (what video inference caches)."""
        return {"heatmaps": self.backbone(x)["heatmaps"]}

    def forward_features(self, feats: dict[str, torch.Tensor], frames: torch.Tensor | None = None,
                         batch: dict | None = None) -> dict:
        """The clip head on per-frame features shaped (B, T, ...), key frame first."""
        return {"heatmaps": feats["heatmaps"][:, 0], "aux_losses": {}}

    def forward(self, frames: torch.Tensor, batch: dict | None = None) -> dict:
        check_clip(frames, type(self).__name__)
        return self.forward_features(clip_features(self, frames[:, :1]), frames, batch)


class NaiveTemporal(SingleFrame):
    """Same parameters as ``SingleFrame``; only the forward pass differs."""

    def frame_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"feature": self.backbone.forward_features(x)["feature"]}

    def forward_features(self, feats: dict[str, torch.Tensor], frames: torch.Tensor | None = None,
                         batch: dict | None = None) -> dict:
        return {"heatmaps": self.backbone.head(feats["feature"].mean(1)), "aux_losses": {}}

    def forward(self, frames: torch.Tensor, batch: dict | None = None) -> dict:
        check_clip(frames, type(self).__name__)
        return self.forward_features(clip_features(self, frames), frames, batch)
