"""PoseWarper (Bertasius et al., "Learning Temporal Pose Estimation from Sparsely-Labeled Videos",
NeurIPS 2019; the official code: shared/specs/methods-reference.md section 8).

Pipeline (Sec. 3, Fig. 2): the backbone's heatmaps of the key frame A and a supporting frame B ->
their difference (A - B) -> a stack of residual blocks -> offsets at several dilation rates, one
per rate -> deformable convolutions at those rates warp B's heatmaps towards A -> the warped
heatmaps of all rates averaged. Training (Sec. 3.2): the warped heatmaps of B are compared with
A's ground truth. Temporal pose aggregation at inference (Sec. 4.3): every frame of the window,
the key frame included (delta = 0), is warped to the key frame and the warped heatmaps are summed
with weights.

How it fits vidpose (a clip of T frames with the key frame first, one heatmap loss on the output):
- ``training``: "pairs" trains as the paper (Sec. 3.2) and the released code do: each training
  clip draws one supporting frame B uniformly from its frames, the key frame included (the code's
  delta in [-2, 2]), only A and B go through the backbone and the offset network, and the output
  in training is B's heatmaps warped to A, which the trainer's heatmap loss compares with A's
  ground truth. "clips" is an earlier reading of ours: every frame of the clip is warped, the
  output is their aggregate (trained by the heatmap loss) and ``aux_losses["warp"]`` adds every
  warp's own loss (``warp_weight``); it costs the offset network T times per clip;
- at inference ``heatmaps`` is Sec. 4.3's aggregation over the clip's frames. ``aggregation``:
  "paper" weighs the frames as the released code does at test time (0.3 for the key frame, 0.25
  at distance 1, 0.1 at distance 2; farther frames 0.1), normalised over the clip's frames so that
  they sum to 1; "mean" weighs them equally;
- the offsets are predicted from heatmap differences, the deformable convolutions warp heatmaps
  (per joint: ``joints`` deformable groups, as the code's 17), so the method runs on any backbone
  that gives heatmaps (HRNet, ResNet, ViT, BlazePose's 17 mapped maps);
- ``dilations``: the released code uses (3, 6, 12, 18, 24) and so do we; the paper's ablation with
  a single rate is ``dilations: [3]``. (3, 6, 9, 12, 15 are DCPose's rates, not PoseWarper's.)
  At the tiny configs' 64x48 heatmaps a rate of 24 reaches half
  the map; sampling outside reads zero and the learned offsets can bring it back;
- the deformable convolutions are DCNv1 (no modulation) as in the paper, identity-initialised
  (each joint's map copies itself through the centre tap) and the offset convolutions start at
  zero, so at the start every warp is the identity (tested). The code does the same;
- ``blocks`` residual blocks at ``width`` channels (the code: 20 basic blocks at 128, the first
  with a 1x1 projection shortcut); the tiny configs use fewer.
"""

from __future__ import annotations

import torch
from torch import nn

from vidpose.models.deform import deform_conv2d
from vidpose.models.layers import BasicBlock, check_clip, clip_features, heatmap_loss

AGGREGATIONS = ("paper", "mean")
TRAINING = ("pairs", "clips")
#: the released code's test-time weights by distance to the key frame (Sec. 4.3)
PAPER_WEIGHTS = {0: 0.3, 1: 0.25, 2: 0.1}


def aggregation_weights(offsets: tuple[int, ...], mode: str) -> torch.Tensor:
    """(T,) weights of the key frame (offset 0) and of ``offsets``, summing to 1."""
    times = [0, *offsets]
    if mode == "mean":
        w = [1.0] * len(times)
    else:
        w = [PAPER_WEIGHTS.get(abs(t), 0.1) for t in times]
    w = torch.tensor(w)
    return w / w.sum()


class HeatmapWarp(nn.Module):
    """A deformable convolution over ``channels`` heatmaps, one deformable group per map (DCNv1:
    no modulation), identity-initialised; its offsets come from outside."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.dilation = dilation
        self.weight = nn.Parameter(torch.zeros(channels, channels, 3, 3))
        with torch.no_grad():
            self.weight[torch.arange(channels), torch.arange(channels), 1, 1] = 1.0
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, heatmaps: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return deform_conv2d(heatmaps, offsets.to(heatmaps.dtype), None, self.weight.to(heatmaps.dtype),
                             self.bias.to(heatmaps.dtype), 1, self.dilation, self.dilation)


class OffsetPredictor(nn.Module):
    """Heatmap difference -> ``blocks`` residual blocks -> one zero-initialised 3x3 offset
    convolution per dilation rate, (2 x joints x 9) channels each."""

    def __init__(self, joints: int, width: int, blocks: int, dilations: tuple[int, ...]):
        super().__init__()
        project = nn.Sequential(nn.Conv2d(joints, width, 1, bias=False), nn.BatchNorm2d(width))
        layers = [BasicBlock(joints, width, downsample=project)]
        layers += [BasicBlock(width, width) for _ in range(blocks - 1)]
        self.blocks = nn.Sequential(*layers)
        self.offsets = nn.ModuleList([nn.Conv2d(width, 2 * joints * 9, 3, 1, d, dilation=d) for d in dilations])
        for conv in self.offsets:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, difference: torch.Tensor) -> list[torch.Tensor]:
        x = self.blocks(difference)
        return [conv(x) for conv in self.offsets]


class PoseWarper(nn.Module):
    """PoseWarper around any backbone that returns per-frame heatmaps."""

    trainable_in_backbone: tuple[str, ...] = ()
    shared_parts: tuple[str, ...] = ()  # no information terms: nothing to balance

    def __init__(self, backbone: nn.Module, joints: int = 17, offsets: tuple[int, ...] = (-2, -1, 1, 2),
                 width: int = 128, blocks: int = 20, dilations: tuple[int, ...] = (3, 6, 12, 18, 24),
                 aggregation: str = "paper", training: str = "pairs", warp_weight: float = 1.0):
        super().__init__()
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"PoseWarper: aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        if training not in TRAINING:
            raise ValueError(f"PoseWarper: training must be one of {TRAINING}, got {training!r}")
        if not dilations:
            raise ValueError("PoseWarper needs at least one dilation rate")
        if blocks < 1:
            raise ValueError("PoseWarper needs at least one residual block")
        self.backbone = backbone
        self.heatmap_stride = backbone.heatmap_stride
        self.offsets = tuple(offsets)
        self.dilations = tuple(int(d) for d in dilations)
        self.predictor = OffsetPredictor(joints, width, blocks, self.dilations)
        self.warps = nn.ModuleList([HeatmapWarp(joints, d) for d in self.dilations])
        self.training_mode = training
        self.warp_weight = float(warp_weight)  # "clips" only
        self.register_buffer("frame_weights", aggregation_weights(self.offsets, aggregation), persistent=False)

    def frame_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"heatmaps": self.backbone(x)["heatmaps"]}

    def forward(self, frames: torch.Tensor, batch: dict | None = None) -> dict:
        check_clip(frames, "PoseWarper", self.offsets)
        if self.training and self.training_mode == "pairs":
            rows = torch.arange(len(frames), device=frames.device)[:, None]
            pair = frames[rows, self.draw_pairs(frames)]  # only A and B reach the backbone
            return self.warp_pair(clip_features(self, pair)["heatmaps"])
        return self.forward_features(clip_features(self, frames), frames, batch)

    def draw_pairs(self, clip: torch.Tensor) -> torch.Tensor:
        """(B, 2) frame indices of the training pairs: the key frame (0) and one frame of the clip
        drawn uniformly, the key frame included (Sec. 3.2; the code's delta in [-2, 2])."""
        B, T = clip.shape[:2]
        support = torch.randint(0, T, (B,), device=clip.device)
        return torch.stack([torch.zeros_like(support), support], 1)

    def warp_pair(self, pair: torch.Tensor) -> dict:
        """Sec. 3.2's training output: the pair's (B, 2, J, h, w) heatmaps, B's warped to A, which
        the trainer's heatmap loss compares with A's ground truth."""
        pair = pair.float()
        warped = self.warp(pair[:, 0], pair[:, 1])
        return {"heatmaps": warped, "aux_losses": {}, "warped": warped[:, None]}

    def warp(self, key: torch.Tensor, support: torch.Tensor, offsets: list[torch.Tensor] | None = None
             ) -> torch.Tensor:
        """Sec. 3.1: ``support``'s heatmaps warped towards ``key``'s, averaged over the rates.
        ``offsets`` (one per rate) replace the predicted ones when given."""
        if offsets is None:
            offsets = self.predictor(key - support)
        return torch.stack([w(support, o) for w, o in zip(self.warps, offsets)]).mean(0)

    def forward_features(self, clip: dict[str, torch.Tensor], frames: torch.Tensor | None = None,
                         batch: dict | None = None) -> dict:
        """Heatmaps from every frame's own heatmaps (B, T, J, h, w): in training with ``pairs``
        (cached features), the pair is drawn here as ``forward`` draws it; otherwise every frame is
        warped and aggregated."""
        hm = clip["heatmaps"].float()
        B, T = hm.shape[:2]
        if self.training and self.training_mode == "pairs":
            return self.warp_pair(hm[torch.arange(B, device=hm.device)[:, None], self.draw_pairs(hm)])
        key = hm[:, :1].expand_as(hm).flatten(0, 1)
        warped = self.warp(key, hm.flatten(0, 1)).view_as(hm)  # every frame, the key frame too (delta 0)
        heatmaps = (warped * self.frame_weights.view(1, T, 1, 1, 1).to(warped.dtype)).sum(1)  # Sec. 4.3
        aux: dict[str, torch.Tensor] = {}
        if self.training and batch is not None and self.warp_weight > 0:  # "clips"
            target = batch["heatmaps"].to(hm.device)
            weight = batch["target_weight"].to(hm.device)
            aux["warp"] = self.warp_weight * torch.stack(
                [heatmap_loss(warped[:, i], target, weight) for i in range(T)]).mean()
        return {"heatmaps": heatmaps, "aux_losses": aux, "warped": warped}
