"""Training a temporal head on a frozen backbone from cached features.

Every temporal method in ``vidpose bench`` trains its own modules on a frozen stage-1 backbone.
Decoding five (GLPose: five plus its global proposals) JPEG frames per clip and running the
backbone over them then costs more than the head itself on 2 CPU cores, and gives the same
numbers every time. So the backbone's per-frame outputs (``model.frame_features``) for a fixed
set of augmented training clips are computed once and stored on disk:

- ``copies`` passes over the training split, pass c with the dataset's augmentation of epoch c
  (so training epoch e sees pass e mod copies: the same crops as the uncached run for the first
  ``copies`` epochs, and the same set again after);
- every tensor the head reads is stored as a float16 (or float32) ``numpy`` memmap, one file
  per key: the frame features, GLPose's ``global_features`` (the backbone on each global
  proposal), the targets (``heatmaps``, ``target_weight``, and the model's ``cached_targets``:
  SDTC's ``clip_heatmaps`` and ``clip_weight``) and ``global_valid``;
- ``meta.json`` records what was cached (backbone weights digest, data config, model feature
  keys, copies) and how far the build got, so an interrupted build resumes and a cache of
  another backbone or data config is never reused.

``CachedClips`` is the dataset the trainer then reads; the model runs only its clip head,
``forward_features``. ``tests/engine/test_feature_cache.py`` checks that the cached and the
uncached paths give the same loss. Methods that need the raw frames in their head (the optical
flow ablations) cannot use the cache and say so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from vidpose.data.clips import collate

log = logging.getLogger(__name__)
FORMAT = "vidpose-feature-cache-v1"
TARGETS = ("heatmaps", "target_weight")  # plus a model's ``cached_targets`` (SDTC: every clip frame's targets)


def needs_frames(cfg_model: dict[str, Any]) -> bool:
    """Heads that read the clip's pixels (optical flow) cannot train from cached features."""
    return cfg_model.get("motion") == "flow"


def backbone_digest(model: nn.Module) -> str:
    """A digest of the backbone's weights (the cache is valid for exactly these)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.backbone.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def cache_identity(model: nn.Module, data_cfg: dict[str, Any], copies: int, dtype: str) -> dict[str, Any]:
    data = {k: v for k, v in data_cfg.items() if k not in ("workers",)}
    return {"format": FORMAT, "backbone": backbone_digest(model), "data": data, "copies": copies, "dtype": dtype,
            "model_kind": type(model).__name__, "targets": list(TARGETS + tuple(getattr(model, "cached_targets", ())))}


def cache_folder(root: str | os.PathLike, identity: dict[str, Any]) -> Path:
    key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return Path(root) / f"{identity['model_kind'].lower()}-{key}"


def _write_meta(folder: Path, meta: dict[str, Any]) -> None:
    tmp = folder / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, folder / "meta.json")


def _frame_outputs(model: nn.Module, batch: dict, device: torch.device) -> dict[str, torch.Tensor]:
    """The backbone's per-frame outputs of one batch, shaped (B, T, ...), plus the global
    proposals' features (B, G, C, h, w) when the batch has them."""
    from vidpose.models.layers import clip_features

    images = batch["images"].to(device)
    out = clip_features(model, images)
    if "global_crops" in batch:
        crops = batch["global_crops"].to(device)
        B, G = crops.shape[:2]
        if G:
            feats = model.frame_features(crops.flatten(0, 1))["feature"]
            out["global_features"] = feats.view(B, G, *feats.shape[1:])
    return out


def build_cache(model: nn.Module, dataset: Dataset, folder: str | os.PathLike, identity: dict[str, Any],
                batch_size: int = 32, workers: int = 0, progress: bool = True,
                device: torch.device | None = None) -> Path:
    """Fill (or finish filling) the cache in ``folder``; returns it. Resumable at batch
    boundaries: ``meta.json`` says how many rows are complete."""
    from tqdm import tqdm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    device = device or next(model.parameters()).device
    n, copies = len(dataset), int(identity["copies"])
    dtype = np.float16 if identity["dtype"] == "float16" else np.float32
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    if meta is not None and meta.get("identity") != identity:
        raise ValueError(f"{folder}: holds a feature cache of another backbone or data config; delete it")
    done = int(meta["rows_done"]) if meta else 0
    if meta and done >= n * copies:
        return folder
    modes = {m: m.training for m in model.modules()}  # restored exactly afterwards (a frozen backbone stays eval)
    model.eval()
    arrays: dict[str, np.memmap] = {}
    shapes: dict[str, list[int]] = dict(meta["shapes"]) if meta else {}
    bar = tqdm(total=n * copies, initial=done, desc="caching features", unit="clip", disable=not progress)
    try:
        for copy in range(done // n, copies):
            dataset.epoch = copy
            start = done - copy * n if copy == done // n else 0
            indices = list(range(start, n))
            loader = DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=batch_size, shuffle=False,
                                num_workers=workers, collate_fn=collate)
            row = copy * n + start
            for batch in loader:
                with torch.no_grad():
                    feats = _frame_outputs(model, batch, device)
                wanted = TARGETS + tuple(getattr(model, "cached_targets", ()))
                items = {**{f"feature.{k}": v for k, v in feats.items()},
                         **{k: batch[k] for k in wanted if k in batch}}
                if "global_valid" in batch:
                    items["global_valid"] = batch["global_valid"]
                for key, value in items.items():
                    value = value.detach().cpu()
                    if key not in arrays:
                        if key not in shapes:
                            shapes[key] = list(value.shape[1:])
                        kind = np.bool_ if value.dtype == torch.bool else dtype
                        mode = "r+" if (folder / f"{key}.npy").exists() else "w+"
                        arrays[key] = np.lib.format.open_memmap(folder / f"{key}.npy", mode=mode, dtype=kind,
                                                                shape=(n * copies, *shapes[key]))
                    arrays[key][row: row + len(value)] = value.numpy().astype(arrays[key].dtype)
                row += len(batch["images"])
                for a in arrays.values():
                    a.flush()
                _write_meta(folder, {"identity": identity, "rows_done": row, "rows": n * copies, "items": n,
                                     "shapes": shapes})
                bar.update(len(batch["images"]))
            done = row
    finally:
        bar.close()
        for module, mode in modes.items():
            module.training = mode
    return folder


class CachedClips(Dataset):
    """The cached training clips: ``epoch`` selects the augmentation pass, as the dataset's
    ``epoch`` does. Items hold ``features`` (the frame features, float32) and the targets."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        meta = json.loads((self.folder / "meta.json").read_text())
        if meta["rows_done"] < meta["rows"]:
            raise ValueError(f"{self.folder}: the feature cache is incomplete ({meta['rows_done']} of "
                             f"{meta['rows']} rows); build it again")
        self.items, self.copies = int(meta["items"]), int(meta["identity"]["copies"])
        self.arrays = {k: np.load(self.folder / f"{k}.npy", mmap_mode="r") for k in meta["shapes"]}
        self.epoch = 0

    def __len__(self) -> int:
        return self.items

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = (self.epoch % self.copies) * self.items + i
        out: dict[str, Any] = {"features": {}}
        for key, array in self.arrays.items():
            value = torch.from_numpy(np.asarray(array[row]).copy())
            value = value if value.dtype == torch.bool else value.float()
            if key.startswith("feature."):
                name = key.split(".", 1)[1]
                if name == "global_features":
                    out["global_features"] = value
                else:
                    out["features"][name] = value
            else:
                out[key] = value
        return out


def collate_cached(items: list[dict]) -> dict:
    out: dict[str, Any] = {"features": {k: torch.stack([it["features"][k] for it in items]) for k in items[0]["features"]}}
    for key in items[0]:
        if key != "features":
            out[key] = torch.stack([it[key] for it in items])
    return out


def cached_dataset(model: nn.Module, dataset: Dataset, data_cfg: dict[str, Any], root: str | os.PathLike,
                   copies: int, dtype: str = "float16", batch_size: int = 32, workers: int = 0,
                   progress: bool = True) -> CachedClips:
    """The cache for this (backbone, data config, copies) under ``root``, built if needed."""
    identity = cache_identity(model, data_cfg, copies, dtype)
    folder = cache_folder(root, identity)
    build_cache(model, dataset, folder, identity, batch_size, workers, progress)
    log.info("training from cached features in %s", folder)
    return CachedClips(folder)


class CachedForward(nn.Module):
    """The model's clip head as a module (so DDP can wrap it): features + batch -> outputs."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, features: dict[str, torch.Tensor], batch: dict) -> dict:
        return self.model.forward_features(features, None, batch)
