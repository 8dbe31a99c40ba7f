"""How strongly each auxiliary loss pulls on a method's own parameters, against the heatmap loss.

A loss weight copied from a paper (TDMI's alpha, JM-Pose's lambda_IO, SDTC's lambda) only means
what it meant there if our loss terms are scaled as the authors' were. This module measures the
balance directly: for one batch, the L2 norm of the gradient of every term on the parameters the
method trains (everything outside the backbone, estimators excluded), divided by the heatmap
loss's. ``analysis/aux_balance.py`` writes these ratios for every method at two heatmap sizes;
``tests/models/test_balance.py`` holds them to a stated band.

A ratio over all of a method's parameters can hide where a term pulls: TDMI's Eq. 9 measured 0.23x
over all of them and 20x on the motion encoder alone (shared/specs/audit-information-objectives.md).
So every term is also measured on the parts the pose path shares with it, which each method names
in ``shared_parts`` (TDMI: the temporal difference encoder and the RDM; JM-Pose: the motion module,
the CJL and the JMML blocks): the gradient norm there as a multiple of the heatmap loss's, and the
cosine between the two gradients.

Estimators (a variational network fitted to its own likelihood, as JM-Pose's probes) are marked by
``is_estimator = True`` on their module. Their parameters are not the method's: their fitting
losses never reach the pose network (inputs detached), and the trainer clips their gradients
separately (``engine/trainer.py``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidpose.data.annotations import load_posetrack
from vidpose.data.clips import ClipConfig, TopDownClipDataset, collate
from vidpose.models.layers import clip_features, heatmap_loss
from vidpose.models.registry import build_model

#: the two heatmap sizes the balance is measured at, named at stride 4: (input (H, W), heatmaps (H, W),
#: sigma): the CPU configs' 128x96 input and the papers' 384x288
SIZES = {"32x24": ((96, 128), (24, 32), 1.5), "96x72": ((288, 384), (72, 96), 3.0)}
#: target sigma at heatmap stride 2, per size: the bench configs' at 128x96, scaled with the map at 384x288
SIGMA_STRIDE_2 = {"32x24": 2.0, "96x72": 6.0}
OFFSETS = (-2, -1, 1, 2)


def target_sigma(size: str, stride: int) -> float:
    """The heatmap targets' sigma at ``size``'s input and heatmap ``stride`` (2 or 4)."""
    if stride not in (2, 4):
        raise ValueError(f"heatmap stride {stride}: the balance knows strides 2 and 4")
    return SIZES[size][2] if stride == 4 else SIGMA_STRIDE_2[size]


def clip_batch(root: Path, size: str, count: int, seed: int = 0, stride: int = 4, start: int = 0) -> dict:
    """``count`` training clips of the SynthTrack folder ``root`` at ``size``'s input, spread over the
    split (``start`` shifts the picks); heatmaps at the backbone's output ``stride`` (``SIZES``
    names them at stride 4; at stride 2 they are twice as large, sigma from ``SIGMA_STRIDE_2``)."""
    inp = SIZES[size][0]
    hm, sigma = (inp[0] // stride, inp[1] // stride), target_sigma(size, stride)
    videos, _ = load_posetrack(Path(root) / "annotations" / "train")
    ds = TopDownClipDataset(videos, root, ClipConfig(input_size=inp, heatmap_size=hm, sigma=sigma, offsets=OFFSETS),
                            train=True, seed=seed)
    step = max(1, len(ds) // count)
    return collate([ds[(i * step + start) % len(ds)] for i in range(count)])


def method_on_backbone(spec: dict, backbone_cfg: dict, state: dict | None) -> nn.Module:
    """A method (``spec``: its model config) on a backbone loaded from a single-frame checkpoint's
    ``state`` and frozen, as ``vidpose bench`` trains it, in training mode."""
    model = build_model({**spec, "backbone": backbone_cfg, "offsets": list(OFFSETS)})
    if state is not None:
        own = model.state_dict()
        model.load_state_dict({k: v for k, v in state.items() if k in own and own[k].shape == v.shape}, strict=False)
    model.backbone.requires_grad_(False)
    model.train()
    model.backbone.eval()  # frozen: BatchNorm statistics stay, as the trainer's set_frozen
    return model


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


def shared_parts(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The trainable parameters of each part the pose path shares with the auxiliary terms, as the
    method names them in ``shared_parts`` (empty for a method that names none; a part absent or
    without trainable parameters, as an identity or an ablated module, is left out)."""
    parts = {name: [p for p in getattr(model, name).parameters() if p.requires_grad]
             for name in getattr(model, "shared_parts", ()) if getattr(model, name, None) is not None}
    return {name: ps for name, ps in parts.items() if ps}


def flat_gradient(loss: torch.Tensor, params: list[nn.Parameter]) -> torch.Tensor:
    """d loss / d params, flattened into one vector (zeros where a parameter gets no gradient)."""
    if not loss.requires_grad:
        return torch.zeros(sum(p.numel() for p in params))
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).float().flatten() for g, p in zip(grads, params)])


def aux_gradient_ratios(model: nn.Module, frames: torch.Tensor, batch: dict) -> dict[str, dict[str, Any]]:
    """For one batch in training mode: each term's value, gradient norm on ``own_parameters`` and
    ratio to the heatmap loss's gradient norm, and under ``parts`` the same ratio and the cosine
    with the heatmap loss's gradient on each of the method's ``shared_parts``. Terms with no
    gradient (an estimator's own fit) get ``ratio`` None."""
    params = [p for p in own_parameters(model) if p.requires_grad]
    parts = shared_parts(model)
    out = model(frames, batch)
    loss_h = heatmap_loss(out["heatmaps"], batch["heatmaps"], batch["target_weight"])
    base = gradient_norm(loss_h, params)
    base_parts = {name: flat_gradient(loss_h, ps) for name, ps in parts.items()}
    rows: dict[str, dict[str, Any]] = {"heatmap": {"value": loss_h.item(), "grad_norm": base, "ratio": 1.0, "parts": {
        name: {"grad_norm": float(g.norm()), "ratio": 1.0, "cosine": 1.0} for name, g in base_parts.items()}}}
    for name, value in out.get("aux_losses", {}).items():
        norm = gradient_norm(value, params) if value.requires_grad else 0.0
        row = {"value": value.item(), "grad_norm": norm, "ratio": norm / base if norm > 0 else None, "parts": {}}
        for part, ps in parts.items():
            g, h = flat_gradient(value, ps), base_parts[part]
            gn, hn = float(g.norm()), float(h.norm())
            row["parts"][part] = {"grad_norm": gn, "ratio": gn / hn if gn > 0 and hn > 0 else None,
                                  "cosine": float(g @ h) / (gn * hn) if gn > 0 and hn > 0 else None}
        rows[name] = row
    return rows
