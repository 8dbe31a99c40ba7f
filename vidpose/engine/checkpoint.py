"""Checkpoints: the one file format vidpose saves and loads, for training, testing and video.

A checkpoint is a dict ``{"format", "model", "config", "step", ...}`` saved with ``torch.save`` and
loaded with ``weights_only=True`` (only tensors and plain values). Saving is atomic (a temporary
file, then a rename). A stored config lacking a setting that was added later gets the value the
checkpoint was trained under (``SETTINGS_BEFORE_THEY_EXISTED``). ``export_head`` writes a temporal
head without the frozen backbone it was trained on, which loads from its asset."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidpose.errors import CheckpointError
from vidpose.models.registry import build_model
from vidpose.resources import locate, verify_shipped

log = logging.getLogger(__name__)
CHECKPOINT_FORMAT = "vidpose-checkpoint-v1"

# Model settings added after checkpoints were already written, with the behaviour those older
# checkpoints were trained under: (model name, key, value when the key is absent). A stored
# config lacking the key gets this value on load, so an old checkpoint is never rebuilt with a
# newer default it was not trained with.
SETTINGS_BEFORE_THEY_EXISTED: tuple[tuple[str, str, Any], ...] = (
    ("tdmi", "mi_read", "raw"),  # TDMI's MI read: raw maps until mi_read existed (docs/methods.md)
    ("tdmi", "mi_route", "all"),  # Eq. 8-9 trained everything until mi_route existed (its default is gates now)
    ("jmpose", "io_route", "all"),  # L_IO likewise until io_route existed
)


def upgrade_stored_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """A checkpoint's stored config with every setting in ``SETTINGS_BEFORE_THEY_EXISTED`` that
    it lacks filled in as it was when the checkpoint was trained (a copy; the input is unchanged)."""
    if not config or not isinstance(config.get("model"), dict):
        return config
    model = dict(config["model"])
    for name, key, old in SETTINGS_BEFORE_THEY_EXISTED:
        if model.get("name") == name and key not in model:
            model[key] = old
    return {**config, "model": model}





def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike, model_name: str | None = None,
                    backbone: dict[str, Any] | None = None) -> dict[str, Any]:
    """A vidpose checkpoint, loaded with ``weights_only=True`` (a crafted file cannot run code:
    it holds only tensors and plain types). ``model_name`` / ``backbone``: the model the caller
    builds; a checkpoint of another one is refused, naming both. ``weights/...`` names the shipped
    file where no such file exists as given (``resources.locate``); a shipped file must have the
    sha256 its manifest records (``resources.verify_shipped``)."""
    path = locate(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint")
    verify_shipped(path)
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"{path}: empty file, not a vidpose checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path}: holds objects other than tensors and plain values, which vidpose never "
                              f"writes; refusing to load it ({str(e).splitlines()[0][:120]})") from None
    except Exception as e:  # noqa: BLE001 - a file that is not a zip is read by the legacy unpickler, which
        # fails in many ways on foreign bytes (struct.error on a cut opcode, EOFError, UnicodeDecodeError, ...)
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (truncated or another kind of file: "
                              f"{str(e).splitlines()[0][:120] if str(e) else type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a vidpose checkpoint (for third-party weights use model.pretrained)")
    if model_name is not None and state.get("model_name") != model_name:
        raise CheckpointError(f"{path}: checkpoint of model {state.get('model_name')!r}, but the config builds "
                              f"{model_name!r}")
    stored = (state.get("config") or {}).get("model", {}).get("backbone")
    if backbone is not None and stored is not None and stored != backbone:
        raise CheckpointError(f"{path}: its backbone is {stored}, but the config builds {backbone}")
    if state.get("config"):
        state["config"] = upgrade_stored_config(state["config"])
    return state


def frozen_backbone_keys(model: nn.Module) -> list[str]:
    """The state-dict keys of the parts ``train.freeze_backbone`` freezes: the backbone, less the
    parts of it the method trains (``trainable_in_backbone``, e.g. the baselines' final layer)."""
    trained = tuple(f"backbone.{name}." for name in getattr(model, "trainable_in_backbone", ()))
    return [k for k in model.state_dict() if k.startswith("backbone.") and not k.startswith(trained)]


def export_head(checkpoint: str | os.PathLike, dest: str | os.PathLike, model: nn.Module | None = None
                ) -> dict[str, Any]:
    """Write the trained part of a frozen-backbone run to ``dest``: the checkpoint without the
    backbone tensors, marked ``backbone_from_asset``. Loading it builds the model (whose backbone
    reads its weights from its asset, e.g. BlazePose's) and loads the head on top; a head of a
    few hundred kB instead of the backbone's MB each time. Returns the written state."""
    state = load_checkpoint(checkpoint)
    cfg = state.get("config") or {}
    if not cfg.get("model") or not cfg.get("data"):
        raise CheckpointError(f"{checkpoint}: holds no config; cannot tell which backbone its head sits on")
    if not (cfg.get("train") or {}).get("freeze_backbone"):
        raise CheckpointError(f"{checkpoint}: trained with an unfrozen backbone; its backbone weights are part of "
                              "the result and cannot be dropped")
    if model is None:
        model = build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"]))
    frozen = set(frozen_backbone_keys(model))
    built = model.state_dict()
    # only a backbone that building the model gives back (an asset's weights) may be dropped; one from
    # train.init_from or model.pretrained is part of the result
    differ = [k for k in sorted(frozen) if k in state["model"] and not torch.equal(state["model"][k], built[k])]
    if differ:
        raise CheckpointError(f"{checkpoint}: its frozen backbone is not the one the config builds ({len(differ)} "
                              f"tensors differ, e.g. {differ[0]}); it came from init_from or pretrained weights and "
                              "cannot be dropped")
    head = {"format": CHECKPOINT_FORMAT, "model_name": state["model_name"], "config": cfg,
            "model": {k: v for k, v in state["model"].items() if k not in frozen},
            "backbone_from_asset": True, "step": state.get("step"), "train_minutes": state.get("train_minutes"),
            "precision": state.get("precision")}
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(Path(dest), head)
    return head


def load_model_weights(model: nn.Module, state: dict[str, Any], path: str | os.PathLike) -> None:
    """Load a checkpoint's weights into ``model``; every key must fit. A head exported by
    ``export_head`` (``backbone_from_asset``) leaves the frozen backbone as built."""
    try:
        result = model.load_state_dict(state["model"], strict=False)
    except RuntimeError as e:  # tensors of other shapes: another size of the same architecture
        raise CheckpointError(f"{path}: weights do not fit this model (another model size?): "
                              f"{str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else e}") from None
    missing = result.missing_keys
    if state.get("backbone_from_asset"):
        frozen = set(frozen_backbone_keys(model))
        missing = [k for k in missing if k not in frozen]
    if missing or result.unexpected_keys:
        raise CheckpointError(f"{path}: weights do not fit this model (is the config's model size the same?): "
                              f"missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}")
