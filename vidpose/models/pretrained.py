"""Pretrained weights from files the user supplies, mapped onto our modules by key.

Supported layouts:
- the official HRNet / SimpleBaseline checkpoints (``pose_hrnet_w48_384x288.pth``,
  ``pose_resnet_50_256x192.pth``): keys already match ``HRNet`` / ``ResNetPose``;
- mmpose ViTPose checkpoints: ``backbone.*`` and ``keypoint_head.*`` map to ``ViTPose``;
- our own checkpoints (``{"format": "vidpose-checkpoint", "model": ...}``) and plain state dicts,
  optionally wrapped in ``state_dict`` / ``model`` and prefixed by ``module.`` (DDP).

Nothing is downloaded. A checkpoint that does not fit (fewer than half of the model's tensors
found with the right shape) fails with a message naming the file, saying what the file looks like
(``describe_layout``: HRNet-W32, a ViTPose ViT of some width, ...) against what the config builds,
and showing examples. A truncated or foreign file fails as unreadable, naming the file.

What is skipped with the published checkpoints (tests/models/test_backbones.py loads state dicts
with exactly their keys and shapes):
- ``pose_hrnet_w48_384x288.pth`` / ``pose_hrnet_w32_*.pth`` (COCO): nothing. Every tensor loads,
  ``final_layer`` (17 COCO joints) too: its slots 0 and 5-16 are PoseTrack's joints, slots 1-4
  (COCO's eyes and ears) become head_bottom / head_top and the two never-annotated ear slots, and
  fine-tuning retrains them, as the DCPose lineage does. ``pretrained_skip_head: true`` leaves
  ``final_layer`` initialised instead. BatchNorm's ``num_batches_tracked`` loads when present and
  is not counted either way (it has no effect on the outputs).
- ViTPose-B (``vitpose-b.pth``, mmpose 0.x layout, 256x192): nothing. ``backbone.*`` and
  ``keypoint_head.*`` map to ``ViTPose``; at another input size ``pos_embed`` is resized, not
  dropped. Tensors the model lacks (heads of other datasets in multi-task checkpoints) are
  reported as unexpected and skipped.
- Always: the temporal methods' own modules (TDMI's encoder, SDTC's transformer, ...) are not in
  these files; they keep their initialisation. A backbone built with ``head_stride: 2`` has a
  deconvolution no COCO checkpoint holds; it stays initialised (reported as missing).
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from vidpose.errors import VidposeError

log = logging.getLogger(__name__)


class CheckpointMismatch(VidposeError, ValueError):
    """A checkpoint made for another model."""


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the model, not in the file
    unexpected: list[str] = field(default_factory=list)  # in the file, not in the model
    shape_mismatch: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"loaded {len(self.loaded)} tensors; missing {len(self.missing)}, unexpected "
                f"{len(self.unexpected)}, wrong shape {len(self.shape_mismatch)}")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    if os.path.getsize(path) == 0:
        raise CheckpointMismatch(f"{path}: empty file, not a PyTorch checkpoint (an interrupted download?)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        detail = next((line.strip() for line in str(e).splitlines() if "Unsupported" in line), str(e)[:120])[:160]
        if "Unsupported global" not in str(e):  # not a pickle of objects: garbage or a cut file
            raise CheckpointMismatch(f"{path}: not a readable PyTorch checkpoint: truncated (an interrupted download?) "
                                     f"or another kind of file ({detail})") from None
        raise CheckpointMismatch(
            f"{path}: holds Python objects besides tensors and plain values, which vidpose does not load (a file "
            "could run code). If you trust it, keep only its weights: python -c \"import torch; s = torch.load('"
            f"{path}', weights_only=False); torch.save(s.get('state_dict', s), '{path}.weights.pth')\" "
            f"({detail})") from None
    except Exception as e:  # torch raises several types for corrupt or foreign files
        first = str(e).splitlines()[0][:160] if str(e) else ""
        raise CheckpointMismatch(f"{path}: not a readable PyTorch checkpoint: truncated (an interrupted download?) or "
                                 f"another kind of file ({type(e).__name__}: {first})") from None
    for key in ("model", "state_dict"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointMismatch(f"{path}: does not hold a state dict of tensors")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in data.items()}


def map_mmpose_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """mmpose ViTPose ``backbone.X`` -> ``X`` and ``keypoint_head.X`` -> ``X``."""
    out = {}
    for k, v in state.items():
        for prefix in ("backbone.", "keypoint_head."):
            if k.startswith(prefix):
                out[k[len(prefix):]] = v
                break
        else:
            out[k] = v
    return out


def _fit_pos_embed(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """Resize a ViT position table (1, 1 + h*w, C) to another grid, keeping the extra slot."""
    if value.dim() != 3 or target.dim() != 3 or value.shape[2] != target.shape[2]:
        return None
    n_src, n_dst = value.shape[1] - 1, target.shape[1] - 1
    # Grids are 4:3 (h:w) in top-down pose; find the factorisation closest to it.
    def grid(n: int) -> tuple[int, int] | None:
        best = None
        for h in range(1, n + 1):
            if n % h == 0 and (best is None or abs(h / (n // h) - 4 / 3) < abs(best[0] / best[1] - 4 / 3)):
                best = (h, n // h)
        return best
    src, dst = grid(n_src), grid(n_dst)
    if src is None or dst is None:
        return None
    table = value[:, 1:].reshape(1, *src, -1).permute(0, 3, 1, 2)
    table = F.interpolate(table, size=dst, mode="bicubic", align_corners=False).permute(0, 2, 3, 1).reshape(1, -1, value.shape[2])
    return torch.cat([value[:, :1], table], 1)


def describe_layout(state: dict[str, torch.Tensor]) -> str:
    """What a state dict looks like, in words, for error messages (after prefix mapping)."""
    def blocks(prefix: str) -> int:
        found = {int(m.group(1)) for k in state for m in [re.match(rf"{prefix}\.(\d+)\.", k)] if m}
        return max(found) + 1 if found else 0

    if "transition1.1.0.0.weight" in state:
        width = state["transition1.1.0.0.weight"].shape[0] // 2  # the second branch is twice the first
        widths = [width] + [state[f"transition{s - 1}.{s - 1}.0.0.weight"].shape[0]
                            for s in (2, 3, 4) if f"transition{s - 1}.{s - 1}.0.0.weight" in state]
        kind = "an ImageNet HRNet classifier" if any(k.startswith("incre_modules.") for k in state) else "a pose HRNet"
        return f"{kind}, HRNet-W{width} (branch widths {'/'.join(map(str, widths))})"
    if "patch_embed.proj.weight" in state and blocks("blocks"):
        w = state["patch_embed.proj.weight"]
        return f"a ViT of width {w.shape[0]}, {blocks('blocks')} blocks, patch {w.shape[-1]} (ViTPose layout)"
    if any(re.match(r"(backbone\.)?layers\.\d+\.ln1\.", k) for k in state):
        return ("a ViT in the mmpose 1.x / mmpretrain layout (layers.N.ln1, ffn), which vidpose does not map; "
                "use the ViTPose release checkpoint (backbone.blocks.N...)")
    if "layer1.0.conv1.weight" in state:
        depth = sum(blocks(f"layer{i}") for i in range(1, 5))
        return f"a ResNet ({depth} residual blocks)"
    if not state:
        return "an empty state dict"
    return f"{len(state)} tensors, such as {', '.join(list(state)[:3])}"


def load_pretrained(module: nn.Module, path: str | os.PathLike, skip_head: bool = False,
                    min_fraction: float = 0.5) -> LoadReport:
    """Load the tensors of ``path`` that fit ``module`` (a backbone or a whole model); report the
    rest. ``skip_head`` leaves ``final_layer`` as initialised (e.g. COCO joints -> PoseTrack)."""
    return load_state(module, read_state_dict(path), str(path), skip_head, min_fraction)


def load_state(module: nn.Module, state: dict[str, torch.Tensor], source: str = "state dict", skip_head: bool = False,
               min_fraction: float = 0.5) -> LoadReport:
    """``load_pretrained`` for a state dict in memory; ``source`` names it in messages."""
    path = source
    if any(k.startswith(("backbone.", "keypoint_head.")) for k in state) and not any(
            k.startswith("backbone.") for k in module.state_dict()):
        state = map_mmpose_keys(state)
    own = module.state_dict()
    report = LoadReport()
    new = {}
    for k, target in own.items():
        if skip_head and k.startswith("final_layer."):
            report.missing.append(k)
            continue
        if k not in state:
            report.missing.append(k)
            continue
        value = state[k]
        if value.shape != target.shape and k.endswith("pos_embed"):
            value = _fit_pos_embed(value, target)
        if value is None or value.shape != target.shape:
            report.shape_mismatch.append(f"{k}: file {tuple(state[k].shape)} vs model {tuple(target.shape)}")
            continue
        new[k] = value
        report.loaded.append(k)
    report.unexpected = sorted(set(state) - set(own))
    counted = [k for k in own if not k.endswith("num_batches_tracked")]
    fraction = len([k for k in report.loaded if not k.endswith("num_batches_tracked")]) / max(len(counted), 1)
    if fraction < min_fraction:
        examples = (report.shape_mismatch[:3] + [f"missing {k}" for k in report.missing[:3]]
                    + [f"unexpected {k}" for k in report.unexpected[:3]])
        raise CheckpointMismatch(
            f"{path}: does not fit {type(module).__name__}: only {fraction:.0%} of its tensors found with the right "
            f"shape ({report.summary()}). The file holds {describe_layout(state)}; the config builds "
            f"{describe_layout(own)}. Examples: {'; '.join(examples)}. Is it a checkpoint of another model "
            "or size?")
    module.load_state_dict(new, strict=False)
    log.info("%s -> %s: %s", path, type(module).__name__, report.summary())
    for name, items in (("missing", report.missing), ("unexpected", report.unexpected),
                        ("wrong shape", report.shape_mismatch)):
        if items:  # a tensor of another shape is left initialised: say so louder than the rest
            log.log(logging.WARNING if name == "wrong shape" else logging.INFO, "  %s: %s%s", name,
                    ", ".join(items[:8]), " ..." if len(items) > 8 else "")
    return report
