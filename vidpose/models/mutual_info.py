"""Variational self-distillation (VSD) style estimators for the information terms of TDMI
(Sec. 3.2, Eq. 7-13) and JM-Pose, written so that each is what it claims to be.

Every feature map (B, C, H, W) is read, channel by channel, as a distribution over the H x W
positions: p = softmax(x / tau) over space. A heatmap prediction (B, J, H, W) is read the same
way as p(y | x), the predicted location distribution of each joint. With these:

- ``kl_spatial(p, q)``: KL(p || q) averaged over batch and channels, computed from
  log-probabilities (``F.kl_div(log q, log p, log_target=True)``).
- ``vsd_preservation(source, target)``: KL(p_source || p_target) with the source detached. VSD
  (Tian et al., CVPR 2021, Sec. 3.2) shows I(v; y) - I(z; y) <= E KL(p(y|v) || p(y|z)) for a
  representation z of v; minimising it makes the target keep the source's information, i.e. it
  *maximises* a lower bound on the information shared. Used for I(M; M_u) (Eq. 9) and, with
  predicted heatmaps, for the conditional terms I(M_u; y | F~) and I(F; y | F~) (Eq. 10-12).
- ``dependence_js(a, b)``: log 2 - JS(p_a, p_b), in [0, log 2]. It is 0 when the two maps put
  their mass on disjoint positions and log 2 when they are identical. Minimising it pushes the
  useful and the noisy motion components apart (Eq. 8). A KL would be unbounded when maximised,
  so the bounded Jensen-Shannon divergence is used; this is a dependence proxy, not an MI value.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def spatial_log_softmax(x: torch.Tensor, tau: float) -> torch.Tensor:
    """(B, C, H, W) -> (B*C, H*W) log-probabilities over positions."""
    return F.log_softmax(x.float().flatten(2).flatten(0, 1) / tau, dim=1)


def kl_spatial(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per row, averaged. Inputs are log-probabilities (N, positions)."""
    return F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)


def vsd_preservation(source: torch.Tensor, target: torch.Tensor, tau: float = 0.05) -> torch.Tensor:
    """KL(p_source || p_target), gradients only into ``target``. Channels must match."""
    if source.shape != target.shape:
        raise ValueError(f"vsd_preservation: shapes differ, {tuple(source.shape)} vs {tuple(target.shape)}")
    return kl_spatial(spatial_log_softmax(source.detach(), tau), spatial_log_softmax(target, tau))


def dependence_js(a: torch.Tensor, b: torch.Tensor, tau: float = 0.05) -> torch.Tensor:
    """log 2 - JS(p_a, p_b): gradients into both inputs."""
    if a.shape != b.shape:
        raise ValueError(f"dependence_js: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    log_pa, log_pb = spatial_log_softmax(a, tau), spatial_log_softmax(b, tau)
    log_m = torch.logsumexp(torch.stack([log_pa, log_pb]), 0) - math.log(2.0)
    js = 0.5 * kl_spatial(log_pa, log_m) + 0.5 * kl_spatial(log_pb, log_m)
    return math.log(2.0) - js
