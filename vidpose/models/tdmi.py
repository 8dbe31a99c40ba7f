"""TDMI: temporal difference learning with mutual-information disentanglement
(Feng et al., "Mutual Information-Based Temporal Difference Learning for Human Pose Estimation
in Video", CVPR 2023; paper: shared/papers/tdmi.txt).

Pipeline (Fig. 2): backbone features of the clip -> Temporal Difference Encoder (Sec. 3.1)
-> motion feature M -> Representation Disentanglement (Sec. 3.2) -> useful motion M_u, fused
with the key frame's visual feature by residual blocks -> F~ -> 3x3 detection head -> heatmaps.
Training adds the mutual-information objective L_MI (Eq. 13) with weight alpha (Eq. 15).

Choices where the paper is silent (also in docs/methods.md):
- the four stage features are the stride-4 high-resolution HRNet branch after each stage (as in
  the TDMI-lineage code); the differences are between consecutive frames in time order, so a
  span delta gives 2 * delta differences (Eq. 1 generalised);
- offsets and modulation scalars each come from one residual block and a 3x3 convolution
  (Eq. 3); the offset convolution starts at zero so DCN starts as a plain convolution;
- each accumulation step is one residual block (Eq. 5: "several 3x3 convolutions");
- the information terms (Eq. 8-13) read features as task predictions, as VSD does: p(y | X) is
  the spatial softmax of a 1x1 probe's heatmaps from X, each map standardised first (``mi_read``,
  softmax at ``mi_tau`` = 1). Mutual information does not change when a feature is rescaled, so
  its estimate must not either: read raw at the lineage's tau = 0.05 (``mi_read: raw``), Eq. 8's
  dependence keeps falling as M grows (0.0020 -> 0.0007 for M x 1 -> 4 on the trained model,
  ``analysis/tdmi_mi_scale.py``; standardised: flat) and training inflated M until the head
  ignored it (``benchmarks/tdmi.md``). The probe is an estimator,
  fitted on detached M_u to the ground-truth heatmaps (``fit_probe``), so its fitting never moves
  the network; for the key frame's visual feature the frozen backbone head is that probe. Reading
  through a probe matters for Eq. 8: M_u and M_n are channel rescalings of the same M, so their
  raw channel maps differ only in softmax temperature, while the probe mixes channels;
- the conditional terms of Eq. 10-12 are predictive bounds, [err(y | F~) - err(y | X)]_+ per
  map with X's side detached: positive only where X predicts the joint better than the fused
  feature, so the fused feature is asked to keep what X knows about y, never pulled toward a
  weaker predictor;
- ``start_from_backbone`` (off as published; on for the heads on frozen real BlazePose,
  configs/real): F~ is added to the key frame's backbone feature through a zero-started 1x1
  convolution and the 3x3 head starts as the backbone's own 1x1 head (``layers.StartFromBackbone``),
  so training starts from the single-frame model's output;
- divergences are scaled by the targets' ``cell_fraction`` (``mutual_info.py``), so alpha = 1
  weighs them the same at every heatmap size (checked by ``analysis/aux_balance.py``);
- Eq. 8-9 train the RDM's gates only (``mi_route: gates``): read on the live features, as the
  lineage code does (``all``), their gradients on the shared motion encoder dwarf the
  pose loss's and the motion path is lost (benchmarks/tdmi.md); Eq. 9's teacher is the probe of M_u
  read on M (``mi_eq9``) and the scale the cell fraction (``mi_scale``), the other readings being
  ablations.
"""

from __future__ import annotations

import torch
from torch import nn

from vidpose.models.deform import ModulatedDeformConv2d
from vidpose.models.layers import (BasicBlock, ResidualBlocks, check_clip, clip_features, head_for,
                                   stride_steps)
from vidpose.models.mutual_info import (Probe, cell_fraction, dependence, map_errors, preservation,
                                        standardise_maps)

MI_READS = ("standardised", "raw")
#: which parameters Eq. 8-9 may train (the paper is silent; ``information_terms``):
#: "all" (the lineage: the terms read the live M_u, M_n and M), "detached" (they read M.detach()
#: times the live gates, so they reach the encoder only through the gates' pooled input) and
#: "gates" (M.detach() and gates recomputed from it: only the RDM's two MLPs move; the default,
#: chosen on val among the frozen bench rows of every reading, benchmarks/tdmi.md)
MI_ROUTES = ("all", "detached", "gates")
#: Eq. 9's estimate of -I(M; M_u) (``information_terms``): "motion_probe" (VSD with a teacher of its
#: own, a probe fitted on M), "shared_probe" (the probe fitted on M_u read on the ungated M, our
#: first reading) and "lineage" (the lineage code's sign: the divergence is maximised)
MI_EQ9 = ("motion_probe", "shared_probe", "lineage")
#: the factor Eq. 8-9's per-map divergences are multiplied by: "cell" (the targets' cell_fraction)
#: or "positions" (1 / (H W), the lineage's ``reduction="mean"``; mutual_info.py)
MI_SCALES = ("cell", "positions")
MI_TERMS = ("mi_useful_noisy", "mi_motion_useful", "mi_cond_motion", "mi_cond_visual")  # Eq. 8, 9, 10-11, 12


def temporal_order(offsets: tuple[int, ...] | list[int]) -> list[int]:
    """Clip positions (key first, then ``offsets``) sorted by time."""
    times = [0] + list(offsets)
    return sorted(range(len(times)), key=lambda i: times[i])


class SpatialModulation(nn.Module):
    """Eq. 3-4: offsets O_j and modulation scalars W_j predicted from D_j, then DCNv2."""

    def __init__(self, width: int, offset_groups: int = 1):
        super().__init__()
        self.dcn = ModulatedDeformConv2d(width, width, 3, padding=1, offset_groups=offset_groups)
        self.offset = nn.Sequential(BasicBlock(width, width), nn.Conv2d(width, self.dcn.offset_channels, 3, 1, 1))
        self.mask = nn.Sequential(BasicBlock(width, width), nn.Conv2d(width, self.dcn.mask_channels, 3, 1, 1))
        nn.init.zeros_(self.offset[1].weight)
        nn.init.zeros_(self.offset[1].bias)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return self.dcn(d, self.offset(d), self.mask(d))


class TemporalDifferenceEncoder(nn.Module):
    """Sec. 3.1. ``fusion``: "progressive" (Eq. 5), "concat" (concatenate, then convolve; the
    ablation of Table 5) or progressive over ``stages`` = (3,) only ("last stage only").
    ``modulation=False`` drops the deformable spatial modulation."""

    def __init__(self, stage_channels: list[int], frames: int, width: int, intra_blocks: tuple[int, ...] = (3, 3, 2, 2),
                 stages: tuple[int, ...] = (0, 1, 2, 3), fusion: str = "progressive", modulation: bool = True,
                 offset_groups: int = 1):
        super().__init__()
        if fusion not in ("progressive", "concat"):
            raise ValueError(f"TDMI: unknown fusion {fusion!r}; expected progressive or concat")
        if frames < 2:
            raise ValueError("TDMI needs at least 2 frames (a temporal span of at least 1)")
        self.stages, self.fusion = tuple(stages), fusion
        # Eq. 2: intra-stage fusion of the 2*delta differences, {3,3,2,2} residual blocks.
        self.intra = nn.ModuleList([ResidualBlocks((frames - 1) * stage_channels[j], width, intra_blocks[j])
                                    for j in self.stages])
        self.modulate = nn.ModuleList([SpatialModulation(width, offset_groups) if modulation else nn.Identity()
                                       for _ in self.stages])
        if fusion == "progressive":
            self.accumulate = nn.ModuleList([BasicBlock(width, width) for _ in self.stages])
        else:
            self.merge = ResidualBlocks(len(self.stages) * width, width, 2)

    def forward(self, stage_features: list[torch.Tensor]) -> torch.Tensor:
        """``stage_features[j]``: (B, T, C_j, h, w) in time order. Returns M (B, width, h, w)."""
        modulated = []
        for k, j in enumerate(self.stages):
            f = stage_features[j]
            diffs = (f[:, 1:] - f[:, :-1]).flatten(1, 2)  # Eq. 1: consecutive differences, concatenated
            modulated.append(self.modulate[k](self.intra[k](diffs)))  # Eq. 2-4
        if self.fusion == "concat":
            return self.merge(torch.cat(modulated, 1))
        m = self.accumulate[0](modulated[0])  # Eq. 5: M = Conv(...Conv(Conv(D1) + D2)... + D4)
        for k in range(1, len(modulated)):
            m = self.accumulate[k](m + modulated[k])
        return m


class RepresentationDisentanglement(nn.Module):
    """Eq. 6: two independent channel attentions (GAP -> MLP -> sigmoid) give the useful and the
    noisy motion. ``mode="split"`` is the ablation that splits the channels in halves instead;
    ``mode="none"`` passes M through as useful (no RDM)."""

    def __init__(self, width: int, hidden: int | None = None, mode: str = "attention"):
        super().__init__()
        if mode not in ("attention", "split", "none"):
            raise ValueError(f"TDMI: unknown RDM mode {mode!r}; expected attention, split or none")
        self.mode = mode
        hidden = hidden or 2 * width
        if mode == "attention":
            self.useful = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, width))
            self.noisy = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, width))

    def gates(self, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The channel masks (B, C) of the useful and the noisy component."""
        if self.mode == "none":
            return torch.ones(m.shape[:2], device=m.device, dtype=m.dtype), None
        if self.mode == "split":
            half = torch.zeros(m.shape[1], device=m.device, dtype=m.dtype)
            half[: m.shape[1] // 2] = 1
            return half.expand(m.shape[0], -1), (1 - half).expand(m.shape[0], -1)
        pooled = m.mean((2, 3))
        return torch.sigmoid(self.useful(pooled)), torch.sigmoid(self.noisy(pooled))

    def forward(self, m: torch.Tensor) -> dict[str, torch.Tensor | None]:
        """The gates (B, C) and the useful and noisy parts of ``m`` (the noisy ones None without RDM)."""
        gate_u, gate_n = self.gates(m)
        return {"gate_useful": gate_u, "gate_noisy": gate_n, "useful": m * gate_u[..., None, None],
                "noisy": None if gate_n is None else m * gate_n[..., None, None]}


class TDMI(nn.Module):
    """TDMI around a backbone that exposes four stage features of one width (HRNet).
    ``spatiotemporal=True`` is TDMI-ST (Sec. 4.2): the key frame's visual feature is replaced by
    a spatio-temporal feature of the whole clip (all frames' last-stage features, convolved)."""

    trainable_in_backbone: tuple[str, ...] = ()
    #: the parts the pose path shares with the information terms (engine/balance.py measures them)
    shared_parts: tuple[str, ...] = ("encoder", "disentangle")

    def __init__(self, backbone: nn.Module, joints: int = 17, offsets: tuple[int, ...] = (-2, -1, 1, 2),
                 width: int | None = None, intra_blocks: tuple[int, ...] = (3, 3, 2, 2),
                 stages: tuple[int, ...] = (0, 1, 2, 3), fusion: str = "progressive", modulation: bool = True,
                 offset_groups: int = 1, rdm: str = "attention", fusion_blocks: int = 3, spatiotemporal: bool = False,
                 mi_weight: float = 1.0, mi_tau: float = 1.0, mi_read: str = "standardised",
                 mi_terms: tuple[str, ...] = MI_TERMS, mi_route: str = "gates", mi_eq9: str = "shared_probe",
                 mi_scale: str = "cell", start_from_backbone: bool = False):
        super().__init__()
        for key, value, allowed in (("mi_read", mi_read, MI_READS), ("mi_route", mi_route, MI_ROUTES),
                                    ("mi_eq9", mi_eq9, MI_EQ9), ("mi_scale", mi_scale, MI_SCALES)):
            if value not in allowed:
                raise ValueError(f"TDMI: {key} must be one of {allowed}, got {value!r}")
        if not set(mi_terms) <= set(MI_TERMS):
            raise ValueError(f"TDMI: mi_terms must be among {MI_TERMS}, got {list(mi_terms)}")
        channels = list(getattr(backbone, "stage_channels", None) or [])
        single = not channels and getattr(backbone, "single_feature_map", False)
        if single:  # one feature map (BlazePose): it is the only stage, TDMI's "last stage only" form
            channels = [backbone.feature_channels]
        if len(channels) != 4 and not single:
            raise ValueError(f"TDMI needs a backbone with four stage features (HRNet); {type(backbone).__name__} "
                             f"exposes {len(channels)}")
        if any(not 0 <= j < len(channels) for j in stages):
            raise ValueError(f"TDMI: stages {list(stages)} need four stage features (HRNet); "
                             f"{type(backbone).__name__} has {len(channels)} feature map(s): use stages: "
                             f"{list(range(len(channels)))}")
        self.backbone = backbone
        self.heatmap_stride = backbone.heatmap_stride
        self.offsets = tuple(offsets)
        self.order = temporal_order(self.offsets)
        frames = len(self.offsets) + 1
        width = width or channels[-1]
        self.encoder = TemporalDifferenceEncoder(channels, frames, width, tuple(intra_blocks), tuple(stages), fusion,
                                                 modulation, offset_groups)
        self.disentangle = RepresentationDisentanglement(width, mode=rdm)
        self.spatiotemporal = spatiotemporal
        visual = channels[-1]
        if spatiotemporal:
            self.clip_visual = ResidualBlocks(frames * visual, visual, 2)
        self.fuse = ResidualBlocks(width + visual, width, fusion_blocks)
        self.head = head_for(backbone, width, joints, start_from_backbone)  # off as published
        self.mi_weight, self.mi_tau, self.mi_read = float(mi_weight), float(mi_tau), mi_read
        self.mi_terms = tuple(mi_terms)  # which of Eq. 8-12 train the network (all, as published)
        self.mi_route, self.mi_eq9, self.mi_scale = mi_route, mi_eq9, mi_scale
        self.use_mi = rdm != "none" and self.mi_weight > 0
        upsample = stride_steps(getattr(backbone, "feature_stride", self.heatmap_stride), self.heatmap_stride)
        self.probe = Probe(width, joints, upsample) if self.use_mi else None  # q(y | M_u) for the information terms
        # q(y | M), Eq. 9's teacher when it has its own (mi_eq9: motion_probe)
        self.probe_motion = Probe(width, joints, upsample) if self.use_mi and mi_eq9 == "motion_probe" else None

    def frame_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"stages": torch.stack(self.backbone.forward_features(x)["features"], 1)}  # (N, 4, C, h, w)

    def forward(self, frames: torch.Tensor, batch: dict | None = None) -> dict:
        check_clip(frames, "TDMI", self.offsets)
        return self.forward_features(clip_features(self, frames), frames, batch)

    def forward_features(self, clip: dict[str, torch.Tensor], frames: torch.Tensor | None = None,
                         batch: dict | None = None) -> dict:
        parts = self.fusion_inputs(clip)
        useful, key_visual = parts["useful"], parts["key_visual"]
        fused = self.fuse(torch.cat([useful, parts["visual"]], 1))
        heatmaps = self.head(fused, key_visual)
        aux: dict[str, torch.Tensor] = {}
        if self.training and batch is not None and self.use_mi:
            aux = self.information_terms(parts, heatmaps, batch)
        return {"heatmaps": heatmaps, "aux_losses": aux, "motion": parts["motion"], "useful": useful}

    def fusion_inputs(self, clip: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | None]:
        """Everything before the fusion (Fig. 2): the motion feature M (Sec. 3.1), its RDM gates and
        the useful / noisy parts (Eq. 6), the key frame's last-stage feature F_t and the visual
        input of the fusion (F_t, or TDMI-ST's clip feature)."""
        feats = clip["stages"].unbind(2)  # four (B, T, C, h, w)
        m = self.encoder([f[:, self.order] for f in feats])
        key_visual = feats[-1][:, 0]  # the last stage (HRNet's stage 4; a single-map backbone's map)
        return {"motion": m, **self.disentangle(m), "key_visual": key_visual,
                "visual": self.clip_visual(feats[-1].flatten(1, 2)) if self.spatiotemporal else key_visual}

    def information_inputs(self, parts: dict[str, torch.Tensor | None]) -> tuple[torch.Tensor, ...]:
        """(M, M_u, M_n) as Eq. 8-9 read them, routed by ``mi_route`` (the paper is silent on what
        these terms may train; docs/methods.md): "all" reads the live features, as the lineage code
        does, so Eq. 8-9's gradients reach the motion encoder directly; "detached" multiplies
        M.detach() by the live gates; "gates" recomputes the gates from M.detach() as well."""
        m = parts["motion"]
        if self.mi_route == "all":
            return m, parts["useful"], parts["noisy"]
        m = m.detach()
        if self.mi_route == "detached":
            gate_u, gate_n = parts["gate_useful"], parts["gate_noisy"]
        else:
            gate_u, gate_n = self.disentangle.gates(m)
        return m, m * gate_u[..., None, None], None if gate_n is None else m * gate_n[..., None, None]

    def information_terms(self, parts: dict[str, torch.Tensor | None], heatmaps: torch.Tensor,
                          batch: dict) -> dict[str, torch.Tensor]:
        """Eq. 8-13, each multiplied by alpha (Eq. 15), plus the probes' own fit (``fit_probe``,
        which trains only the probes)."""
        tau, a = self.mi_tau, self.mi_weight
        read = standardise_maps if self.mi_read == "standardised" else (lambda x: x)  # a map's shape, not its scale
        target = batch["heatmaps"].to(heatmaps.device)
        # divergences per map -> the heatmap loss's scale (mi_scale)
        scale = cell_fraction(target) if self.mi_scale == "cell" else 1.0 / (target.shape[-1] * target.shape[-2])
        weight = batch["target_weight"].to(heatmaps.device)
        useful = parts["useful"]
        m, useful_mi, noisy_mi = self.information_inputs(parts)
        pred_useful = self.probe(useful)  # p(y | M_u)
        with torch.no_grad():  # p(y | F_t): the single-frame head, a fixed predictor (its side is not moved)
            pred_visual = self.backbone.head(parts["key_visual"])
        err_fused = map_errors(heatmaps, target, weight)  # err(y | F~): F~'s prediction is the output

        def conditional(pred_x: torch.Tensor) -> torch.Tensor:  # I(X; y | F~) >= 0, X's side fixed
            return (err_fused - map_errors(pred_x, target, weight).detach()).clamp(min=0).mean()

        def motion_useful() -> torch.Tensor:  # Eq. 9: -I(M; M_u) + c, VSD: KL(p(y | M) || p(y | M_u))
            student = read(self.probe(useful_mi))
            teacher = read((self.probe_motion if self.probe_motion is not None else self.probe)(m))
            divergence = preservation(teacher, student, tau)
            return -divergence if self.mi_eq9 == "lineage" else divergence

        terms = {
            "mi_useful_noisy": lambda: a * scale * dependence(read(self.probe(useful_mi)), read(self.probe(noisy_mi)), tau),  # Eq. 8, minimised
            "mi_motion_useful": lambda: a * scale * motion_useful(),  # Eq. 9
            "mi_cond_motion": lambda: a * conditional(pred_useful),  # Eq. 10-11
            "mi_cond_visual": lambda: a * conditional(pred_visual),  # Eq. 10, 12
        }
        fit = self.probe.fit_loss(useful, target, weight)
        if self.probe_motion is not None:
            fit = fit + self.probe_motion.fit_loss(parts["motion"], target, weight)
        return {**{name: term() for name, term in terms.items() if name in self.mi_terms}, "fit_probe": fit}
