"""Parameters and GFLOPs of a model on one clip, with PyTorch's own FLOP counter.

GFLOPs are reported as multiply-accumulates x 1e-9, the convention of the pose papers' tables
(tools such as thop count one multiply-accumulate as one FLOP); ``FlopCounterMode`` counts two.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> float:
    """Millions of parameters."""
    return sum(p.numel() for p in model.parameters()) / 1e6


def count_method_params(model: nn.Module) -> float:
    """Millions of parameters outside the backbone: what a temporal method adds and trains on a
    frozen backbone (the figure TDMI's and SDTC's complexity tables report)."""
    backbone = getattr(model, "backbone", None)
    return count_params(model) - (count_params(backbone) if backbone is not None else 0.0)


@torch.no_grad()
def count_gflops(model: nn.Module, frames: int, input_size: tuple[int, int]) -> float:
    """GFLOPs (multiply-accumulates) of one clip of ``frames`` frames at (width, height)."""
    was_training = model.training
    model.eval()
    x = torch.zeros(1, frames, 3, input_size[1], input_size[0])
    with FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() / 2e9
