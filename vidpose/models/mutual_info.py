"""Information estimators shared by TDMI (Sec. 3.2, Eq. 7-13) and JM-Pose (Fig. 3), written so
that each is what it claims to be and is scaled as the authors' code base scales its terms.

Two readings of a map (B, C, H, W):

- **as distributions over positions** (the lineage's VSD proxies, FAMI-Pose / TDMI / JM-Pose
  code): channel by channel, p = softmax(x / tau) over the H x W positions. A heatmap
  prediction (B, J, H, W) read this way is p(y | x), the predicted location of each joint.
- **as a predictor of a target** (variational, predictive bounds): a prediction error is the
  negative log-likelihood of a Gaussian decoder up to constants, so err(y | x) bounds
  I(x; y) from below up to H(y), and a difference of two errors estimates a conditional term.

Scale. A divergence between two maps is a quantity per map (nats); the heatmap loss
(SimpleBaseline's JointsMSELoss) is a mean over positions, and its mass lives where the target
Gaussian is, a fraction 2 pi sigma^2 / (H W) of the map. The lineage code divides its divergences
by H W (``F.kl_div(..., reduction="mean")``), which ties their weight against the heatmap loss to
the heatmap size: measured 10x weaker at 96x72 than at 32x24 (``analysis/aux_balance.py``).
That is right for divergences of smooth maps, whose mass spreads over every position (JM-Pose's
feature-feature term on standardised maps), but not for divergences of heatmap-like predictions,
whose mass sits in one target-sized blob. Those are multiplied by ``cell_fraction`` of the
targets instead, mean(G) / max(G) = 2 pi sigma^2 / (H W) for a Gaussian G, read off the batch, so
a paper's weight (TDMI's alpha, JM-Pose's lambda_IO) weighs the term about the same at every
resolution (at the papers' 96x72 with sigma = 3 this is 56x the lineage's 1 / (H W)).

Functions:
- ``kl_positions(log_p, log_q)``: KL(p || q) per row, from log-probabilities (a true KL: the
  lineage passes probabilities where ``F.kl_div`` expects log-probabilities; we do not copy that).
- ``preservation(source, target)``: KL(p_source || p_target) with the source detached. VSD (Tian et al., CVPR 2021, Sec. 3.2): I(v; y) - I(z; y) <= E KL(p(y|v) || p(y|z))
  for a representation z of v, so minimising it makes the target keep the source's information.
- ``dependence(a, b)``: log 2 - JS(p_a, p_b), in [0, log 2]: 0 when the
  two maps put their mass on disjoint positions, its maximum when they are identical. A KL would
  be unbounded when maximised, so the bounded Jensen-Shannon divergence is used (a dependence
  proxy, not an MI value).
- ``map_errors(pred, target, weight)``: the heatmap loss per (sample, joint) map, for predictive
  bounds that are gated map by map (already on the heatmap loss's scale).
- ``cell_fraction(targets)``: the scale factor for divergences described above.
- ``standardise_maps(x)``: feature maps as shapes: a raw feature's spatial softmax at the
  lineage's tau = 0.05 is nearly one-hot and its gradient huge (JM-Pose's I(J; M) measured 21x
  the heatmap loss's at 96x72); standardised maps at tau = 1 are smooth at any magnitude.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def spatial_log_softmax(x: torch.Tensor, tau: float) -> torch.Tensor:
    """(B, C, H, W) -> (B*C, H*W) log-probabilities over positions."""
    return F.log_softmax(x.float().flatten(2).flatten(0, 1) / tau, dim=1)


def kl_positions(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) of every row (N, positions) -> (N,), from log-probabilities."""
    return (log_p.exp() * (log_p - log_q)).sum(1)


def cell_fraction(targets: torch.Tensor) -> torch.Tensor:
    """The share of a map one target Gaussian occupies, mean(G) / max(G) over the maps that have
    a target (2 pi sigma^2 / (H W)); a scalar without gradient."""
    t = targets.detach().float().flatten(2)
    peak = t.amax(2)
    has = peak > 0
    if not has.any():
        return t.new_tensor(1.0 / t.shape[-1])
    return (t.mean(2)[has] / peak[has]).mean()


def preservation(source: torch.Tensor, target: torch.Tensor, tau: float = 0.05) -> torch.Tensor:
    """Mean over maps of KL(p_source || p_target) in nats; gradients only into ``target``."""
    if source.shape != target.shape:
        raise ValueError(f"preservation: shapes differ, {tuple(source.shape)} vs {tuple(target.shape)}")
    return kl_positions(spatial_log_softmax(source.detach(), tau), spatial_log_softmax(target, tau)).mean()


def dependence(a: torch.Tensor, b: torch.Tensor, tau: float = 0.05) -> torch.Tensor:
    """Mean over maps of log 2 - JS(p_a, p_b) in nats; gradients into both inputs."""
    if a.shape != b.shape:
        raise ValueError(f"dependence: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    log_pa, log_pb = spatial_log_softmax(a, tau), spatial_log_softmax(b, tau)
    log_m = torch.logsumexp(torch.stack([log_pa, log_pb]), 0) - math.log(2.0)
    js = 0.5 * kl_positions(log_pa, log_m) + 0.5 * kl_positions(log_pb, log_m)
    return (math.log(2.0) - js).mean()


def standardise_maps(x: torch.Tensor) -> torch.Tensor:
    """Each channel map to zero mean and unit variance over its positions, so that a spatial
    softmax of a feature depends on its shape, not on its magnitude."""
    flat = x.float().flatten(2)
    mean, std = flat.mean(2, keepdim=True), flat.std(2, keepdim=True, unbiased=False)
    return ((flat - mean) / (std + 1e-5)).view_as(x)


def map_errors(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """(B, J, H, W) -> (B, J): 0.5 x the mean squared error of each map, times its joint weight
    (the heatmap loss is the mean of these)."""
    err = 0.5 * (pred.float() - target.float()).pow(2).mean((2, 3))
    return err if weight is None else err * weight.float()


class Probe(torch.nn.Module):
    """A variational predictor q(target | x): a 1x1 convolution fitted by ``fit_loss`` on detached
    inputs (so fitting never moves the network), and applied by ``forward`` with detached weights
    (so an information term built on it moves only the features). An estimator, not part of the
    method: ``is_estimator`` keeps its gradients out of the method's clipping and balance."""

    is_estimator = True

    def __init__(self, channels: int, outputs: int, upsample: int = 0):
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, outputs, 1)
        self.scale = 2 ** upsample  # outputs bilinearly upsampled to a finer heatmap grid
        torch.nn.init.normal_(self.conv.weight, std=0.001)
        torch.nn.init.zeros_(self.conv.bias)

    def _up(self, y: torch.Tensor) -> torch.Tensor:
        return y if self.scale == 1 else F.interpolate(y, scale_factor=self.scale, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._up(F.conv2d(x, self.conv.weight.detach(), self.conv.bias.detach()))

    def fit_loss(self, x: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        return map_errors(self._up(self.conv(x.detach())), target.detach(), weight).mean()
