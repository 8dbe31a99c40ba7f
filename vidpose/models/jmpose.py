"""JM-Pose: joint-motion mutual learning with the information orthogonality objective
(Wu et al., ACM MM 2024; shared/papers/jmpose-abstract.txt, Fig. 2 pipeline, Fig. 3 block;
reconstruction notes in shared/specs/jmpose.md).

Pipeline (Fig. 2): a frozen backbone gives every frame's initial heatmaps and features ->
(a) a global pixel-level motion representation M_t between the key frame and its left and right
neighbours -> (b) the Context-aware Joint Learner: initial heatmaps H^ and M_t predict deformable
offsets (JO) and modulation weights (JW), and DCNv2 over M_t gives the local joint feature J_t
-> (c) L Joint-Motion Mutual Learning blocks, each exchanging information both ways (cross
attention, residual, gate; Fig. 3) and each adding the information orthogonality loss
L_IO = I(J; M | H^) = I(J; M) - I(M; H^) + I(M; H^ | J) -> (d) fusion and a 3x3 head.

The paper's method text is not available; every choice below follows the figures and, where they
are silent, jmpose.md's recommendations (also in docs/methods.md):
- motion ``learned`` (default): per side, the neighbours' feature differences to the key frame
  with the key feature, through residual blocks (shared by both sides) -> M^l, M^r; concatenated
  and merged by a 1x1 convolution. ``flow``: OpenCV DIS flow between the key crop and each
  neighbour, encoded by two stride-2 convolutions and residual blocks per side (RAFT stand-in);
- H^ = the initial heatmaps of all frames, concatenated and detached (the backbone is frozen);
- CJL: 3x3 dilation-3 predictors of offsets and masks for a DCNv2 with ``offset_groups`` groups;
- JMML: channel ("transposed") cross-attention with a learnable temperature, conv blocks 1x1 +
  3x3 depthwise, a 1x1 convolution mixing both streams before the sigmoid gate (Fig. 3 draws
  concat -> sigmoid -> chunk; without the mixing layer each stream would only gate itself);
- the IO terms use the authors' lineage forms at a resolution-independent scale
  (``mutual_info.py``): a spatial-softmax
  dependence for I(J; M), a predictive (variational) lower bound for I(M; H^) and the difference
  of two predictive bounds for I(M; H^ | J) = I(M, J; H^) - I(J; H^), whose gradient reaches
  only J (see ``InformationOrthogonality``); they train each block's gate convolution only
  (``io_route: gates``): read on the live streams, as the lineage does (``all``), their gradients
  on the motion module, CJL and JMML blocks dwarf the pose loss's (benchmarks/jmpose.md);
- the head reads cat(M_L, J_L) and, as the released code does, the key frame's appearance
  feature (``appearance``; Fig. 2 draws only M and J, which leaves the flow variant with no
  appearance at all).
- ``start_from_backbone`` (off as published; on for the heads on frozen real BlazePose,
  configs/real): the fused feature is added to the key frame's backbone feature through a
  zero-started 1x1 convolution and the head starts as the backbone's own (``layers.StartFromBackbone``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidpose.models.deform import ModulatedDeformConv2d
from vidpose.models.flow import dis_flow
from vidpose.models.layers import (BasicBlock, ResidualBlocks, check_clip, clip_features,
                                   conv_bn_relu, head_for)
from vidpose.models.mutual_info import Probe, dependence, map_errors, standardise_maps
from vidpose.models.tdmi import MI_ROUTES, temporal_order

#: which parameters L_IO may train: the routes of TDMI's Eq. 8-9 (``JMPose.io_inputs``); "gates" by
#: default, chosen on val among the frozen bench rows of every route (benchmarks/jmpose.md)
IO_ROUTES = MI_ROUTES


class LearnedMotion(nn.Module):
    """Feature-level motion: per side, cat(key feature, neighbour - key differences) -> blocks."""

    def __init__(self, channels: int, per_side: int, width: int, blocks: int = 2):
        super().__init__()
        self.side = ResidualBlocks((per_side + 1) * channels, width, blocks)  # shared by both sides
        self.merge = conv_bn_relu(2 * width, width, 1)

    def forward(self, key: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """``key`` (B, C, h, w); ``left`` / ``right`` (B, n, C, h, w) neighbour features."""
        sides = [self.side(torch.cat([key, (n - key[:, None]).flatten(1, 2)], 1)) for n in (left, right)]
        return self.merge(torch.cat(sides, 1))


class FlowMotion(nn.Module):
    """Optical-flow motion (jmpose.md 3.1): per side, the flows to its neighbours (2 channels
    each) -> two stride-2 convolutions to the feature stride -> residual blocks."""

    def __init__(self, per_side: int, width: int, blocks: int = 2, stride: int = 4):
        super().__init__()
        if stride != 4:
            raise ValueError("JM-Pose flow motion expects heatmaps at stride 4")
        self.side = nn.Sequential(nn.Conv2d(2 * per_side, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width),
                                  conv_bn_relu(width, width, 3, 2), *[BasicBlock(width, width) for _ in range(blocks)])
        self.merge = conv_bn_relu(2 * width, width, 1)

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """``left`` / ``right``: (B, n, 2, H, W) flows in pixels."""
        return self.merge(torch.cat([self.side(f.flatten(1, 2) / 8.0) for f in (left, right)], 1))


class ContextAwareJointLearner(nn.Module):
    """Fig. 2 (b): cat(H^, M) -> JO (offsets) and JW (modulation weights) -> DCNv2 over M -> J."""

    def __init__(self, heatmap_channels: int, width: int, offset_groups: int = 4):
        super().__init__()
        self.context = ResidualBlocks(heatmap_channels + width, width, 1)
        self.dcn = ModulatedDeformConv2d(width, width, 3, padding=1, offset_groups=offset_groups)
        self.offsets = nn.Conv2d(width, self.dcn.offset_channels, 3, 1, padding=3, dilation=3)
        self.weights = nn.Conv2d(width, self.dcn.mask_channels, 3, 1, padding=3, dilation=3)
        nn.init.zeros_(self.offsets.weight)
        nn.init.zeros_(self.offsets.bias)
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=True))

    def forward(self, heatmaps: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        x = self.context(torch.cat([heatmaps, motion], 1))
        return self.out(self.dcn(motion, self.offsets(x), self.weights(x)))


class ConvQKV(nn.Module):
    """Fig. 3's conv block: 1x1 convolution to 3C, 3x3 depthwise, split into Q, K, V."""

    def __init__(self, channels: int):
        super().__init__()
        self.pointwise = nn.Conv2d(channels, 3 * channels, 1)
        self.depthwise = nn.Conv2d(3 * channels, 3 * channels, 3, 1, 1, groups=3 * channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.depthwise(self.pointwise(x)).chunk(3, 1)


def channel_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, temperature: torch.Tensor
                      ) -> torch.Tensor:
    """Transposed attention: tokens are channels (each an h*w map), so the cost is C^2 per head
    instead of (h*w)^2. Q, K are L2-normalised over positions; ``temperature`` (heads,)."""
    B, C, h, w = q.shape
    q, k, v = (t.reshape(B, heads, C // heads, h * w) for t in (q, k, v))
    q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    attn = (q @ k.transpose(-2, -1) * temperature.view(1, heads, 1, 1)).softmax(-1)
    return (attn @ v).reshape(B, C, h, w)


class JointMotionMutualLearning(nn.Module):
    """One JMML block (Fig. 3). Motion path: Q^m K^j V^j, + M; joint path: Q^j K^m V^m, + J;
    gate = sigmoid(conv(cat(both))) chunked in two, one half per path."""

    def __init__(self, width: int, heads: int = 1):
        super().__init__()
        if width % heads:
            raise ValueError(f"JM-Pose: width {width} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv_motion, self.qkv_joint = ConvQKV(width), ConvQKV(width)
        self.temperature_motion = nn.Parameter(torch.ones(heads))
        self.temperature_joint = nn.Parameter(torch.ones(heads))
        self.out_motion, self.out_joint = nn.Conv2d(width, width, 1), nn.Conv2d(width, width, 1)
        self.gate = nn.Conv2d(2 * width, 2 * width, 1)

    def exchange(self, motion: torch.Tensor, joint: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two cross-attention paths with their residuals, before the gate."""
        qm, km, vm = self.qkv_motion(motion)
        qj, kj, vj = self.qkv_joint(joint)
        pm = motion + self.out_motion(channel_attention(qm, kj, vj, self.heads, self.temperature_motion))
        pj = joint + self.out_joint(channel_attention(qj, km, vm, self.heads, self.temperature_joint))
        return pm, pj

    def gated(self, pm: torch.Tensor, pj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """gate = sigmoid(conv(cat(pm, pj))), one half per path: (M, J, gate)."""
        gate = torch.sigmoid(self.gate(torch.cat([pm, pj], 1)))
        gm, gj = gate.chunk(2, 1)
        return pm * gm, pj * gj, gate

    def forward(self, motion: torch.Tensor, joint: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.gated(*self.exchange(motion, joint))


# ----------------------------------------------------------------------------------------------
# Information orthogonality (Fig. 3): I(J; M | H^) = I(J; M) - I(M; H^) + I(M; H^ | J)
# ----------------------------------------------------------------------------------------------


class InformationOrthogonality(nn.Module):
    """L_IO for one block, I(J; M | H^) = I(J; M) - I(M; H^) + I(M; H^ | J) (Fig. 3), each term
    on the heatmap loss's scale (``mutual_info.py``):

    - I(J; M), minimised: the lineage's feature-feature term, each channel of J and of M read as
      a distribution over positions (standardised maps, softmax at ``tau`` = 1), with the
      bounded dependence log 2 - JS divided by the number of positions (the lineage's
      ``reduction="mean"``): a smooth map's mass spreads over every position, and this keeps the
      term's weight against the heatmap loss the same at 32x24 and 96x72 (measured).
    - -I(M; H^): the error of predicting H^ from M by a probe (1x1, fitted on detached M,
      applied with detached weights): a Gaussian decoder's log-likelihood bounds I(M; H^) from
      below up to H(H^), so lowering the error raises the bound.
    - I(M; H^ | J) = I(M, J; H^) - I(J; H^): [err(H^ | J) - err(H^ | M, J)]_+ with two probes,
      the (M, J) side detached. Only J moves: the term asks J to carry what (M, J) knows about
      H^. Moving the (M, J) side instead would be rewarded for making the head's own input worse
      at predicting the heatmaps, against L_H (at the last block, cat(M, J) is what the head
      reads).

    ``fit_io`` is the probes' own fit; it trains only the probes."""

    def __init__(self, width: int, heatmap_channels: int, tau: float = 1.0):
        super().__init__()
        self.tau = tau
        self.probe_m = Probe(width, heatmap_channels)
        self.probe_j = Probe(width, heatmap_channels)
        self.probe_mj = Probe(2 * width, heatmap_channels)

    def forward(self, motion: torch.Tensor, joint: torch.Tensor, context: torch.Tensor) -> dict[str, torch.Tensor]:
        both = torch.cat([motion, joint], 1)
        positions = motion.shape[-1] * motion.shape[-2]  # smooth maps: their mass spreads over all of them
        err_j = map_errors(self.probe_j(joint), context).mean()
        err_mj = map_errors(self.probe_mj(both), context).mean()
        return {
            "io_joint_motion": dependence(standardise_maps(joint), standardise_maps(motion), self.tau) / positions,  # I(J; M), minimised
            "io_motion_context": map_errors(self.probe_m(motion), context).mean(),  # -I(M; H^) + const
            "io_conditional": (err_j - err_mj.detach()).clamp(min=0),  # I(M; H^ | J)
            "fit_io": (self.probe_m.fit_loss(motion, context) + self.probe_j.fit_loss(joint, context)
                       + self.probe_mj.fit_loss(both, context)),
        }


class JMPose(nn.Module):
    """JM-Pose around a backbone that returns per-frame heatmaps and a stride-4 feature (HRNet,
    ResNet or ViT all do)."""

    trainable_in_backbone: tuple[str, ...] = ()
    #: the parts the pose path shares with the information terms (engine/balance.py measures them)
    shared_parts: tuple[str, ...] = ("motion", "cjl", "blocks")

    def __init__(self, backbone: nn.Module, joints: int = 17, offsets: tuple[int, ...] = (-2, -1, 1, 2),
                 width: int | None = None, motion: str = "learned", motion_blocks: int = 2, offset_groups: int = 4,
                 blocks: int = 3, heads: int = 1, joint_learner: bool = True, mutual_learning: bool = True,
                 io_weight: float = 1.0, io_tau: float = 1.0, io_route: str = "gates", appearance: bool = True,
                 fusion_blocks: int = 3, start_from_backbone: bool = False):
        super().__init__()
        if motion not in ("learned", "flow"):
            raise ValueError(f"JM-Pose: unknown motion source {motion!r}; expected learned or flow")
        if io_route not in IO_ROUTES:
            raise ValueError(f"JM-Pose: io_route must be one of {IO_ROUTES}, got {io_route!r}")
        self.io_route = io_route
        self.offsets = tuple(offsets)
        left = [i for i, o in enumerate(self.offsets, 1) if o < 0]
        right = [i for i, o in enumerate(self.offsets, 1) if o > 0]
        if len(left) != len(right) or not left:
            raise ValueError(f"JM-Pose needs as many past as future supporting frames (offsets {self.offsets})")
        self.left, self.right = left, right
        self.order = temporal_order(self.offsets)
        self.backbone = backbone
        self.heatmap_stride = backbone.heatmap_stride
        channels = backbone.feature_channels
        width = width or channels
        frames = len(self.order)
        self.motion_source = motion
        if motion == "learned":
            self.motion = LearnedMotion(channels, len(left), width, motion_blocks)
        else:
            self.motion = FlowMotion(len(left), width, motion_blocks, backbone.heatmap_stride)
        self.joint_learner, self.mutual_learning = joint_learner, mutual_learning and joint_learner
        context = frames * joints
        if joint_learner:
            self.cjl = ContextAwareJointLearner(context, width, offset_groups)
        n_blocks = blocks if self.mutual_learning else 0
        self.blocks = nn.ModuleList([JointMotionMutualLearning(width, heads) for _ in range(n_blocks)])
        self.io_weight = float(io_weight)
        self.io = nn.ModuleList([InformationOrthogonality(width, context, io_tau) for _ in range(n_blocks)]) \
            if self.io_weight > 0 else nn.ModuleList()
        # the released code also fuses the key frame's appearance feature into the head's input
        self.appearance = appearance
        streams = (2 if joint_learner else 1) * width + (channels if appearance else 0)
        self.fuse = ResidualBlocks(streams, width, fusion_blocks)
        self.head = head_for(backbone, width, joints, start_from_backbone)  # off as published

    def io_inputs(self, block: JointMotionMutualLearning, pm: torch.Tensor, pj: torch.Tensor, m: torch.Tensor,
                  j: torch.Tensor, gate: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(M, J) as a block's IO terms read them, routed by ``io_route`` (the sources are silent on
        what L_IO may train; docs/methods.md): "all" the block's live outputs (the lineage);
        "detached" its pre-gate streams detached, times its live gate (the terms reach the shared
        path only through the gate's input); "gates" the gate recomputed from the detached streams
        as well, so only the block's gate convolution moves."""
        if self.io_route == "all":
            return m, j
        if self.io_route == "gates":
            m_io, j_io, _ = block.gated(pm.detach(), pj.detach())
            return m_io, j_io
        gm, gj = gate.chunk(2, 1)
        return pm.detach() * gm, pj.detach() * gj

    def frame_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.backbone(x)
        return {"feature": out["feature"], "heatmaps": out["heatmaps"]}

    def forward(self, frames: torch.Tensor, batch: dict | None = None) -> dict:
        check_clip(frames, "JM-Pose", self.offsets)
        return self.forward_features(clip_features(self, frames), frames, batch)

    def forward_features(self, clip: dict[str, torch.Tensor], frames: torch.Tensor | None = None,
                         batch: dict | None = None) -> dict:
        feats, initial = clip["feature"], clip["heatmaps"]
        T = feats.shape[1]
        context = initial[:, self.order].flatten(1, 2).detach().float()  # H^ (B, T*J, h, w)
        if context.shape[-2:] != feats.shape[-2:]:  # heatmaps finer than the features: pooled to their grid
            context = F.adaptive_avg_pool2d(context, feats.shape[-2:])
        if self.motion_source == "learned":
            m = self.motion(feats[:, 0], feats[:, self.left], feats[:, self.right])
        else:
            if frames is None:
                raise ValueError("JM-Pose with motion=flow needs the clip's frames")
            flow = dis_flow(frames, list(range(T)), 0)
            m = self.motion(flow[:, self.left], flow[:, self.right])
        aux: dict[str, torch.Tensor] = {}
        gates = []
        if not self.joint_learner:  # ablation: motion only
            fused = m
        else:
            j = self.cjl(context, m)
            for i, block in enumerate(self.blocks):
                pm, pj = block.exchange(m, j)
                m, j, gate = block.gated(pm, pj)
                gates.append(gate)
                if self.training and len(self.io):
                    for name, value in self.io[i](*self.io_inputs(block, pm, pj, m, j, gate), context).items():
                        aux[name] = aux.get(name, 0.0) + (value if name.startswith("fit_") else self.io_weight * value)
            fused = torch.cat([m, j], 1)
        if self.appearance:
            fused = torch.cat([fused, feats[:, 0]], 1)
        heatmaps = self.head(self.fuse(fused), feats[:, 0])
        return {"heatmaps": heatmaps, "aux_losses": aux, "gates": gates, "initial_heatmaps": initial[:, 0]}
