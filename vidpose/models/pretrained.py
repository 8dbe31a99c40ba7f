"""Pretrained weights from files the user supplies, mapped onto our modules by key.

Supported layouts:
- the official HRNet / SimpleBaseline checkpoints (``pose_hrnet_w48_384x288.pth``,
  ``pose_resnet_50_256x192.pth``): keys already match ``HRNet`` / ``ResNetPose``;
- mmpose ViTPose checkpoints: ``backbone.*`` and ``keypoint_head.*`` map to ``ViTPose``;
- our own checkpoints (``{"format": "vidpose-checkpoint", "model": ...}``) and plain state dicts,
  optionally wrapped in ``state_dict`` / ``model`` and prefixed by ``module.`` (DDP).

Nothing is downloaded. A checkpoint that does not fit (fewer than half of the model's tensors
found with the right shape) fails with a message naming the file and showing examples.
"""

from __future__ import annotations

import logging
import os
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
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for corrupt or foreign files
        raise CheckpointMismatch(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from None
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


def load_pretrained(module: nn.Module, path: str | os.PathLike, skip_head: bool = False,
                    min_fraction: float = 0.5) -> LoadReport:
    """Load the tensors of ``path`` that fit ``module`` (a backbone or a whole model); report the
    rest. ``skip_head`` leaves ``final_layer`` as initialised (e.g. COCO joints -> PoseTrack)."""
    state = read_state_dict(path)
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
            f"shape ({report.summary()}). Examples: {'; '.join(examples)}. Is it a checkpoint of another model "
            "or size?")
    module.load_state_dict(new, strict=False)
    log.info("%s -> %s: %s", path, type(module).__name__, report.summary())
    for name, items in (("missing", report.missing), ("unexpected", report.unexpected),
                        ("wrong shape", report.shape_mismatch)):
        if items:
            log.info("  %s: %s%s", name, ", ".join(items[:8]), " ..." if len(items) > 8 else "")
    return report
