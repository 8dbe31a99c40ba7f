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

``onnx_frame_features`` is the other graph, the one video inference runs (``predict --runtime
onnx``): ``model.frame_features`` alone, a batch of crops in (any batch size), the per-frame
features the temporal head caches out (no (B x T) reshape there, so any batch size works; tested).
The backbone is where the time goes (one pass per person
and frame); the head then runs in PyTorch on the cached features as before. The graph is exported
once per model into the asset cache (``assets.home()/onnx``, keyed by a hash of the weights, the
config and the model's source files) and loaded from there afterwards.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from vidpose.assets import home
from vidpose.engine.data import clip_config
from vidpose.errors import ConfigError, VidposeError


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
    wrapped = ClipToHeatmaps(model.cpu()).eval()  # the exporter restores the wrapper's mode, and with it the model's
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


class FrameFeaturesGraph(nn.Module):
    """``model.frame_features`` as a function of a crop batch, its outputs in a fixed (sorted)
    order: what ONNX can export (a tuple, not a dict)."""

    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = self.model.frame_features(crops)
        return tuple(feats[name] for name in self.names)


class OnnxFrameFeatures:
    """``model.frame_features`` run by ONNX Runtime on the CPU: crops (N, 3, H, W) in, the same
    dict of (N, ...) tensors out, on as many threads as PyTorch uses."""

    def __init__(self, path: str | os.PathLike, names: list[str]):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        # PyTorch's own threads run between calls: ONNX Runtime's must sleep, not spin, while they wait
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path, self.names = Path(path), names
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, crops: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = self.session.run(self.names, {"crops": crops.detach().cpu().float().numpy()})
        return {name: torch.from_numpy(value) for name, value in zip(self.names, outputs)}


def _graph_key(model: nn.Module, cfg: dict[str, Any], opset: int) -> str:
    """What the exported graph depends on: the weights, the model's config (input size included),
    the source files of the model's modules, the opset and the torch version."""
    digest = hashlib.sha256(f"{opset} {torch.__version__}".encode())
    digest.update(json.dumps({"model": cfg["model"], "data": cfg["data"]}, sort_keys=True, default=str).encode())
    sources = {inspect.getsourcefile(type(m)) for m in model.modules()}
    for path in sorted(p for p in sources if p and Path(p).is_file()):
        digest.update(Path(path).read_bytes())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


def onnx_frame_features(model: nn.Module, cfg: dict[str, Any], name: str, folder: str | os.PathLike | None = None,
                        opset: int = 18) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    """``model.frame_features`` as an ONNX Runtime session (``OnnxFrameFeatures``), exported on
    first use into ``folder`` (default ``assets.home()/onnx``) as ``NAME-HASH.onnx``, the hash
    covering what the graph depends on (``_graph_key``). A CPU model only."""
    if importlib.util.find_spec("onnxruntime") is None:
        raise VidposeError("--runtime onnx needs ONNX Runtime: pip install 'vidpose[export]' (onnxruntime==1.31.1)")
    if next(model.parameters()).device.type != "cpu":
        raise VidposeError("--runtime onnx runs on the CPU; leave it out on a GPU")
    model = model.eval()
    clip = clip_config(cfg["data"])
    width, height = clip.input_size
    example = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        names = sorted(model.frame_features(example))
    folder = Path(folder) if folder is not None else home() / "onnx"
    path = folder / f"{name}-{_graph_key(model, cfg, opset)}.onnx"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        with torch.no_grad(), warnings.catch_warnings():  # the tracer's notes on folded shape checks
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(FrameFeaturesGraph(model, names).eval(), (example,), str(partial), opset_version=opset,
                              dynamo=False, input_names=["crops"], output_names=names,
                              dynamic_axes={"crops": {0: "crops"}, **{n: {0: "crops"} for n in names}})
        os.replace(partial, path)  # whole or not at all: another process may be loading it
    return OnnxFrameFeatures(path, names)
