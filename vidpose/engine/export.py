"""A model as one ONNX graph (``vidpose export``): a clip of crops in, the key frame's heatmaps out.

The graph holds the backbone, run on every frame of the clip, and the temporal head: input
``clip`` (B, T, 3, H, W), the key frame first and then the frames at ``data.offsets``, RGB
normalised as ``vidpose.data.clips.to_tensor`` does; output ``heatmaps`` (B, 17, h, w). B is fixed
at export (``batch``, default 1): the traced graph folds the backbone's (B x T) reshapes into
constants, so a dynamic batch axis would be a promise the graph does not keep. DCNv2 (``models/deform.py``) is plain PyTorch and exports as it is. GLPose's
global proposals are an input its graph does not take, so it exports without them (its local
branch); ``export_onnx`` refuses it rather than export something else under its name.
``onnx_difference`` runs the file in ONNX Runtime and returns the largest difference from PyTorch.
The export traces the model with PyTorch's TorchScript-based exporter (``dynamo=False``, deprecated
in torch 2.9 but kept): the ``torch.export`` one needs the ``onnxscript`` package, which vidpose does
not pin, and these graphs have no data-dependent control flow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vidpose.engine.data import clip_config
from vidpose.errors import ConfigError


class ClipToHeatmaps(nn.Module):
    """A vidpose model as a function of the clip alone."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.model(clip)["heatmaps"]


def example_clip(cfg: dict[str, Any], batch: int = 1, seed: int = 0) -> torch.Tensor:
    """A random clip of the model's input shape (B, T, 3, H, W)."""
    clip = clip_config(cfg["data"])
    h, w = clip.input_size[1], clip.input_size[0]
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 1 + len(clip.offsets), 3, h, w, generator=generator)


def export_onnx(model: nn.Module, cfg: dict[str, Any], path: str | os.PathLike, batch: int = 1,
                opset: int = 18) -> Path:
    """Write ``model`` (eval mode, CPU) as an ONNX graph of ``batch`` clips to ``path``."""
    if batch < 1:
        raise ConfigError(f"batch must be at least 1, got {batch}")
    if getattr(model, "use_global", False):
        raise ConfigError(f"{cfg['model']['name']}: its global proposals are not a graph input; it cannot be "
                          "exported whole (export a model without model.use_global)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = ClipToHeatmaps(model.cpu().eval())
    with torch.no_grad():
        torch.onnx.export(wrapped, (example_clip(cfg, batch),), str(path), opset_version=opset, dynamo=False,
                          input_names=["clip"], output_names=["heatmaps"])
    return path


def onnx_difference(model: nn.Module, cfg: dict[str, Any], path: str | os.PathLike) -> float:
    """The largest absolute difference between PyTorch's heatmaps and ONNX Runtime's on random
    clips (another draw than the export's) of the graph's batch size."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = session.get_inputs()[0].shape[0]
    clip = example_clip(cfg, batch, seed=1)
    with torch.no_grad():
        expected = model.cpu().eval()(clip)["heatmaps"].numpy()
    (got,) = session.run(["heatmaps"], {"clip": clip.numpy()})
    return float(np.abs(got - expected).max())
