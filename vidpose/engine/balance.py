"""How strongly each auxiliary loss pulls on a method's own parameters, against the heatmap loss.

A loss weight copied from a paper (TDMI's alpha, JM-Pose's lambda_IO, SDTC's lambda) only means
what it meant there if our loss terms are scaled as the authors' were. This module measures the
balance directly: for one batch, the L2 norm of the gradient of every term on the parameters the
method trains (everything outside the backbone, estimators excluded), divided by the heatmap
loss's. ``benchmarks/aux_balance.py`` writes these ratios for every method at two heatmap sizes;
``tests/models/test_balance.py`` holds them to a stated band.

Estimators (a variational network fitted to its own likelihood, as JM-Pose's probes) are marked by
``is_estimator = True`` on their module. Their parameters are not the method's: their fitting
losses never reach the pose network (inputs detached), and the trainer clips their gradients
separately (``engine/trainer.py``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vidpose.models.layers import clip_features, heatmap_loss


def estimator_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters of every submodule marked ``is_estimator``."""
    seen: dict[int, nn.Parameter] = {}
    for module in model.modules():
        if getattr(module, "is_estimator", False):
            for p in module.parameters():
                seen[id(p)] = p
    return list(seen.values())


def own_parameters(model: nn.Module) -> list[nn.Parameter]:
    """What the method trains on a frozen backbone: parameters outside ``model.backbone`` and
    outside its estimators."""
    excluded = {id(p) for p in estimator_parameters(model)}
    backbone = getattr(model, "backbone", None)
    if backbone is not None:
        excluded |= {id(p) for p in backbone.parameters()}
    return [p for p in model.parameters() if id(p) not in excluded]


def gradient_norm(loss: torch.Tensor, params: list[nn.Parameter]) -> float:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    total = sum(float(g.float().pow(2).sum()) for g in grads if g is not None)
    return math.sqrt(total)


def fit_estimators(model: nn.Module, frames: torch.Tensor, batch: dict, steps: int = 100, lr: float = 1e-2) -> None:
    """Fit the model's estimators (and only them) to one batch by their own ``fit_*`` losses, as
    they track the features during training; an unfitted probe reads every feature as uniform
    and its terms then have no gradient at all."""
    params = estimator_parameters(model)
    if not params:
        return
    optimizer = torch.optim.Adam(params, lr=lr)
    with torch.no_grad():  # the backbone is frozen: its features are computed once
        clip = clip_features(model, frames)
    for _ in range(steps):
        aux = model.forward_features(clip, frames, batch)["aux_losses"]
        fit = sum(v for k, v in aux.items() if k.startswith("fit_"))
        optimizer.zero_grad(set_to_none=True)
        fit.backward()
        optimizer.step()
    model.zero_grad(set_to_none=True)


def aux_gradient_ratios(model: nn.Module, frames: torch.Tensor, batch: dict) -> dict[str, dict[str, float]]:
    """For one batch in training mode: each term's value, gradient norm on ``own_parameters`` and
    ratio to the heatmap loss's gradient norm. Terms with no gradient on those parameters (an
    estimator's own fit) get ``ratio`` None."""
    params = [p for p in own_parameters(model) if p.requires_grad]
    out = model(frames, batch)
    loss_h = heatmap_loss(out["heatmaps"], batch["heatmaps"], batch["target_weight"])
    base = gradient_norm(loss_h, params)
    rows = {"heatmap": {"value": loss_h.item(), "grad_norm": base, "ratio": 1.0}}
    for name, value in out.get("aux_losses", {}).items():
        norm = gradient_norm(value, params) if value.requires_grad else 0.0
        rows[name] = {"value": value.item(), "grad_norm": norm, "ratio": norm / base if norm > 0 else None}
    return rows
