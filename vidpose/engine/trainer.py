"""Training: one loop for every model, on CPU, one GPU, or several through ``torchrun``.

    train:
      epochs: 10
      batch_size: 32            # per process
      optimizer: adamw          # or adam
      betas: [0.9, 0.999]       # Adam's moment decays (MAE pre-training: [0.9, 0.95])
      lr: 1.0e-3
      weight_decay: 1.0e-4
      decay_skip_1d: false      # no weight decay on biases, norms and the ViT's position embedding
      layer_decay: null         # layer-wise lr decay rate for the ViT backbone (ViTPose: 0.75)
      schedule: cosine          # or step (milestones in epochs, gamma)
      warmup_steps: 100
      clip_grad: 1.0            # max gradient norm, null = off (the pose network's and the
                                # estimators' parameters are clipped separately)
      freeze_backbone: false    # frozen = no gradients and eval() (BatchNorm statistics stay)
      feature_cache: null       # with a frozen backbone: train the head from the backbone's cached
                                # outputs on this many augmentation passes (engine/feature_cache.py)
      feature_cache_dir: runs/cache
      amp: true                 # mixed precision on GPU (ignored on CPU unless amp_dtype is bf16)
      amp_dtype: fp16           # fp16 (with a GradScaler) or bf16 (no scaling; Ampere or newer GPUs,
                                # and the one CPU autocast); default fp16
      channels_last: false      # NHWC memory format for the model's convolutions (GPU tensor cores)
      compile: false            # torch.compile the training forward: true (inductor) or a backend name
      seed: 0
      checkpoint_every: 200     # steps; also at every epoch end
      max_steps: null           # a step budget: the schedule then spans min(epochs, max_steps)
      max_minutes: null         # a wall-clock cap (machine-dependent); a checkpoint is written
      stop_at_step: null        # stop here (checkpointed) without changing the schedule: run a
                                # long job in chunks, each continued with --resume

The loss is the joint-weighted heatmap MSE plus the model's ``aux_losses`` (already weighted by
the model's own config). Checkpoints are written atomically (temporary file, then rename) and
hold the model, optimizer, scheduler, scaler, step and RNG state, so ``resume`` continues the
same run exactly: the data order and augmentation of every step depend only on (seed, epoch,
item). A non-finite loss stops training with a message; the last good checkpoint stays.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

from vidpose.data.clips import collate
from vidpose.engine.balance import estimator_parameters
from vidpose.engine import feature_cache
from vidpose.engine.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, load_model_weights, save_checkpoint
from vidpose.engine.config import config_diff, save_config
from vidpose.engine.distributed import init_distributed
from vidpose.engine.data import check_offsets, make_dataset
from vidpose.engine.tester import test_model
from vidpose.errors import CheckpointError, TrainingInterrupted, VidposeError
from vidpose.models.layers import heatmap_loss
from vidpose.models.pretrained import load_pretrained
from vidpose.models.registry import build_model

log = logging.getLogger(__name__)


class TrainingDiverged(VidposeError, RuntimeError):
    """The loss became NaN or infinite."""


# ----------------------------------------------------------------------------------------------
# Data order (each process its share; engine/distributed.py sets up the processes)
# ----------------------------------------------------------------------------------------------


class EpochSampler(Sampler[int]):
    """A permutation that depends only on (seed, epoch), this process's share of it, from
    ``start`` items on (to resume inside an epoch)."""

    def __init__(self, n: int, seed: int, epoch: int, rank: int = 0, world: int = 1, start: int = 0):
        order = np.random.default_rng([seed, epoch]).permutation(n)
        per = math.ceil(n / world)
        order = np.concatenate([order, order[: per * world - n]])  # pad so every rank has as many
        self.indices = order[rank::world][start:].tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


# ----------------------------------------------------------------------------------------------
# Optimisation
# ----------------------------------------------------------------------------------------------


def param_groups(model: nn.Module, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """The trainable parameters in optimizer groups: one group, unless

    - ``decay_skip_1d``: biases, norm weights and the names of the model's and the backbone's
      ``no_weight_decay()`` (position tables) get no weight decay, as in timm and ViTPose's optimizer;
    - ``layer_decay`` (a rate < 1): layer-wise learning-rate decay (BEiT, Sec. 3.3; ViTPose's
      ``LayerDecayOptimizerConstructor``): a backbone parameter at depth ``i`` of ``n``
      (``backbone.layer_id``) learns at ``lr * rate ** (n + 1 - i)``; the rest at ``lr``.
    """
    lr, wd = float(cfg.get("lr", 1e-3)), float(cfg.get("weight_decay", 0.0))
    skip_1d, rate = bool(cfg.get("decay_skip_1d", False)), cfg.get("layer_decay")
    backbone = getattr(model, "backbone", None)
    if rate is not None and not hasattr(backbone, "layer_id"):
        raise ValueError("train.layer_decay: this model's backbone has no layer_id (only the ViT has)")
    top = len(backbone.blocks) + 1 if rate is not None else 0
    skip_names = set()
    if skip_1d:  # names relative to the model; a backbone's own are relative to it
        skip_names |= set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
        if hasattr(backbone, "no_weight_decay"):
            skip_names |= {f"backbone.{n}" for n in backbone.no_weight_decay()}
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        local = name[len("backbone."):] if name.startswith("backbone.") else None
        decay = 0.0 if skip_1d and (param.ndim <= 1 or name in skip_names) else wd
        scale = float(rate) ** (top - backbone.layer_id(local)) if rate is not None and local is not None else 1.0
        groups.setdefault((lr * scale, decay), []).append(param)
    return [{"params": params, "lr": group_lr, "weight_decay": decay}
            for (group_lr, decay), params in groups.items()]


def build_optimizer(model: nn.Module, cfg: dict[str, Any]) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg)
    name = cfg.get("optimizer", "adamw")
    betas = tuple(float(b) for b in cfg.get("betas", (0.9, 0.999)))
    if name == "adamw":
        return torch.optim.AdamW(groups, betas=betas)
    if name == "adam":
        return torch.optim.Adam(groups, betas=betas)
    raise ValueError(f"train.optimizer: unknown optimizer {name!r}; expected adamw or adam")


def lr_factor(step: int, total: int, cfg: dict[str, Any], steps_per_epoch: int) -> float:
    """Linear warm-up, then cosine to zero or steps at ``milestones`` (epochs) by ``gamma``."""
    warmup = int(cfg.get("warmup_steps", 0))
    if step < warmup:
        return (step + 1) / warmup
    schedule = cfg.get("schedule", "cosine")
    if schedule == "cosine":
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    if schedule == "step":
        epoch = step / max(steps_per_epoch, 1)
        return float(cfg.get("gamma", 0.1)) ** sum(epoch >= m for m in cfg.get("milestones", []))
    if schedule == "constant":
        return 1.0
    raise ValueError(f"train.schedule: unknown schedule {schedule!r}; expected cosine, step or constant")


def set_frozen(model: nn.Module, frozen: bool) -> None:
    backbone = getattr(model, "backbone", None)
    if frozen and backbone is not None:
        backbone.eval()


# ----------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------


#: keys a resumed run may change: how long to run this time, where things go, how to test
RESUMABLE_CHANGES = ("train.max_minutes", "train.stop_at_step", "train.checkpoint_every", "train.feature_cache_dir",
                     "data.workers", "output", "test")
RUN_FILES = ("model.pt", "last.pt", "metrics.jsonl", "config.yaml", "tb")


def check_train_config(cfg: dict[str, Any]) -> None:
    """Numbers the loop needs, checked before anything is created."""
    from vidpose.errors import ConfigError

    tcfg = cfg.get("train", {})

    def integer(key: str, minimum: int, optional: bool = False) -> None:
        value = tcfg.get(key)
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < minimum:
            raise ConfigError(f"train.{key} must be an integer >= {minimum}{' or null' if optional else ''}, "
                              f"got {value!r}")

    integer("epochs", 1)
    integer("batch_size", 1)
    integer("max_steps", 1, optional=True)
    integer("stop_at_step", 1, optional=True)
    integer("feature_cache", 1, optional=True)
    lr = tcfg.get("lr", 1e-3)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ConfigError(f"train.lr must be a positive number, got {lr!r}")
    betas = tcfg.get("betas", (0.9, 0.999))
    if not isinstance(betas, (list, tuple)) or len(betas) != 2 or \
            not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in betas):
        raise ConfigError(f"train.betas must be two numbers in [0, 1), got {betas!r}")
    decay = tcfg.get("layer_decay")
    if decay is not None and (isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay <= 1):
        raise ConfigError(f"train.layer_decay must be a number in (0, 1] or null, got {decay!r}")
    minutes = tcfg.get("max_minutes")
    if minutes is not None and (not isinstance(minutes, (int, float)) or minutes <= 0):
        raise ConfigError(f"train.max_minutes must be a positive number or null, got {minutes!r}")
    if tcfg.get("amp_dtype", "fp16") not in ("fp16", "bf16"):
        raise ConfigError(f"train.amp_dtype must be fp16 or bf16, got {tcfg.get('amp_dtype')!r}")
    compile_ = tcfg.get("compile", False)
    if not isinstance(compile_, (bool, str)) or compile_ == "":
        raise ConfigError(f"train.compile must be true, false or a torch.compile backend name, got {compile_!r}")


def autocast_settings(tcfg: dict[str, Any], device: torch.device) -> tuple[bool, torch.dtype, bool]:
    """(autocast on, its dtype, GradScaler on) for ``train.amp`` / ``train.amp_dtype`` on ``device``.
    fp16 autocasts only on CUDA (CPU has no fp16 autocast worth having: it is ignored there) and
    scales the loss; bf16 needs no scaler and also autocasts on CPU, where it is asked for."""
    amp = bool(tcfg.get("amp", True))
    dtype = torch.bfloat16 if tcfg.get("amp_dtype", "fp16") == "bf16" else torch.float16
    if device.type == "cuda" and amp and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        from vidpose.errors import ConfigError

        raise ConfigError(f"train.amp_dtype bf16: {torch.cuda.get_device_name(device)} has no bf16 support; use fp16")
    on = amp and (device.type == "cuda" or dtype == torch.bfloat16)
    if amp and not on:
        log.debug("train.amp: fp16 autocast is for CUDA; training in float32 on %s", device.type)
    return on, dtype, on and dtype == torch.float16 and device.type == "cuda"


def precision_name(amp: tuple[bool, torch.dtype, bool]) -> str:
    """What ``autocast_settings`` gave, as a name a checkpoint and a manifest keep: "bf16", "fp16"
    (autocast on CUDA) or "fp32" (no autocast, e.g. ``amp_dtype: fp16`` on a CPU)."""
    on, dtype, _ = amp
    return "fp32" if not on else ("bf16" if dtype == torch.bfloat16 else "fp16")


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two configs, except ``RESUMABLE_CHANGES``."""
    return [f"{path} ({a!r} -> {b!r})" for path, a, b in config_diff(old, new, RESUMABLE_CHANGES)]


def prepare_run_folder(cfg: dict[str, Any], out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to mix runs: a folder holding a run is continued only with ``resume`` (and the same
    config) or replaced only with ``overwrite``. Nothing is written until this passes."""
    from vidpose.errors import ConfigError

    present = [name for name in RUN_FILES if (out / name).exists()]
    if resume:
        if not (out / "last.pt").exists():
            raise CheckpointError(f"{out / 'last.pt'}: nothing to resume from")
        stored = load_checkpoint(out / "last.pt").get("config") or {}
        changed = config_changes(stored, cfg)
        if changed:
            raise ConfigError(f"{out}: --resume needs the run's own config, but these keys differ: "
                              + "; ".join(changed) + ". Resume with the same config, or start over with --overwrite")
    elif present and not overwrite:
        raise ConfigError(f"{out}: already holds a run ({', '.join(present)}). Continue it with --resume, or "
                          "start over with --overwrite (deletes them)")
    elif present:
        import shutil

        for name in present:
            target = out / name
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        log.info("%s: --overwrite: removed the earlier run (%s)", out, ", ".join(present))


def build_training_model(cfg: dict[str, Any], device: torch.device) -> tuple[nn.Module, bool]:
    """The model of ``cfg`` on ``device``, with its pretrained backbone or ``train.init_from``
    weights loaded, and its backbone frozen when ``train.freeze_backbone``. Returns (model, frozen)."""
    tcfg, data_cfg = cfg["train"], cfg["data"]
    model = build_model(cfg["model"], input_size=tuple(data_cfg["input_size"])).to(device)
    if tcfg.get("channels_last", False):
        model = model.to(memory_format=torch.channels_last)
    pretrained = cfg["model"].get("pretrained")
    if pretrained:
        load_pretrained(model.backbone, pretrained, skip_head=bool(cfg["model"].get("pretrained_skip_head", False)))
    init = tcfg.get("init_from")  # a vidpose checkpoint of a (single-frame) model: load what fits
    if init:
        state = load_checkpoint(init)
        own = model.state_dict()
        fits = {k: v for k, v in state["model"].items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(fits, strict=False)
        log.info("initialised %d of %d tensors from %s", len(fits), len(own), init)
    frozen = bool(tcfg.get("freeze_backbone", False))
    if frozen:  # the baselines' head lives in the backbone (final_layer) and stays trainable
        model.backbone.requires_grad_(False)
        for name in getattr(model, "trainable_in_backbone", ()):
            getattr(model.backbone, name).requires_grad_(True)
    return model, frozen


def training_forward(raw_model: nn.Module, dataset, cfg: dict[str, Any], frozen: bool, world: int,
                     device: torch.device, progress: bool):
    """What a training step calls, and what it reads: ``raw_model`` itself, or its head on cached
    backbone outputs (``train.feature_cache``), wrapped in DDP and ``torch.compile`` when asked.
    Returns (model, dataset, collate function, cached)."""
    tcfg, data_cfg = cfg["train"], cfg["data"]
    model, collate_batch = raw_model, collate
    cached = bool(tcfg.get("feature_cache"))
    if cached:  # the head trains from the frozen backbone's stored outputs
        if not frozen:
            raise ValueError("train.feature_cache needs train.freeze_backbone: true (the cache holds the backbone's "
                             "outputs, which must not change)")
        if feature_cache.needs_frames(cfg["model"]):
            raise ValueError(f"model {cfg['model']['name']} with motion=flow reads the clip's pixels in its head; "
                             "it cannot train from cached features (set train.feature_cache: null)")
        dataset = feature_cache.cached_dataset(raw_model, dataset, data_cfg, tcfg.get("feature_cache_dir", "runs/cache"),
                                               int(tcfg["feature_cache"]), batch_size=int(tcfg.get("batch_size", 32)),
                                               workers=int(data_cfg.get("workers", 0)), progress=progress)
        collate_batch = feature_cache.collate_cached
        model = feature_cache.CachedForward(raw_model)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                                    find_unused_parameters=frozen)
    if tcfg.get("compile", False):  # the forward only: checkpoints keep raw_model's own keys
        compile_ = tcfg["compile"]
        model = torch.compile(model, **({"backend": compile_} if isinstance(compile_, str) else {}))
    return model, dataset, collate_batch, cached


def step_loss(model: nn.Module, batch: dict[str, Any], cached: bool, device: torch.device,
              amp: tuple[bool, torch.dtype, bool]) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """One batch forward: (total loss, heatmap loss, each auxiliary term)."""
    use_amp, amp_dtype, _ = amp
    target = batch["heatmaps"].to(device)
    weight = batch["target_weight"].to(device)
    with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
        if cached:
            out = model({k: v.to(device) for k, v in batch["features"].items()}, batch)
        else:
            out = model(batch["images"].to(device, non_blocking=True), batch)
        if "heatmaps" in out:
            loss_h = heatmap_loss(out["heatmaps"].float(), target, weight)
        else:  # pre-training without labels (models/mae.py): the auxiliary terms are the whole loss
            loss_h = torch.zeros((), device=device)
        aux = {k: v.float() for k, v in out.get("aux_losses", {}).items()}
        loss = loss_h + sum(aux.values()) if aux else loss_h
    return loss, loss_h, aux


def step_record(step: int, epoch: int, loss: float, loss_h: torch.Tensor, aux: dict[str, torch.Tensor],
                lr: float) -> dict[str, float]:
    """The metrics.jsonl line of a step: every auxiliary term on its own; ``aux_objective`` sums
    the method's terms, leaving out the estimators' own fits (``fit_*``), which train only the
    estimators."""
    record = {"step": step, "epoch": epoch, "loss": loss, "heatmap_loss": loss_h.item(), "lr": lr,
              **{k: v.item() for k, v in aux.items()}}
    if aux:
        record["aux_objective"] = sum(v.item() for k, v in aux.items() if not k.startswith("fit_"))
    return record


def resume_state(ckpt_path: Path, cfg: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer,
                 scheduler, scaler) -> tuple[int, int, int, float]:
    """Load a run's ``last.pt`` into the model, optimizer, scheduler, scaler and torch's RNG.
    Returns (step, epoch, step within that epoch, minutes trained so far)."""
    state = load_checkpoint(ckpt_path, cfg["model"]["name"])
    load_model_weights(model, state, ckpt_path)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"]["torch"])
    log.info("resumed %s at step %d (epoch %d, step %d of it)", ckpt_path, state["step"], state["epoch"],
             state["step_in_epoch"])
    return state["step"], state["epoch"], state["step_in_epoch"], float(state.get("minutes", 0.0))


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scheduler, scaler,
                   clip_groups: list[list[nn.Parameter]], clip_grad: float | None) -> None:
    """Backward, gradient clipping per group (an estimator's gradient never clips the pose
    network's update), the optimizer step and the schedule's."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if clip_grad:
        scaler.unscale_(optimizer)
        for group in clip_groups:
            torch.nn.utils.clip_grad_norm_(group, float(clip_grad))
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()


def train(cfg: dict[str, Any], out_dir: str | os.PathLike, resume: bool = False, progress: bool = True,
          overwrite: bool = False) -> dict:
    """Train ``cfg`` into ``out_dir``. Returns a summary (steps, minutes, last loss, paths).
    A folder that holds a run needs ``resume`` (continue it, same config) or ``overwrite``."""
    from vidpose.errors import ConfigError

    out = Path(out_dir)
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other: continue the run in "
                          f"{out} (--resume) or start it over (--overwrite), not both")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: is a file; --out needs a run folder (a new or a run's folder)")
    check_offsets(cfg)
    check_train_config(cfg)
    rank, world, device = init_distributed()
    tcfg, data_cfg = cfg["train"], cfg["data"]
    seed = int(tcfg.get("seed", 0))
    torch.manual_seed(seed)
    if rank == 0:
        prepare_run_folder(cfg, out, resume, overwrite)
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")

    dataset = make_dataset(data_cfg, data_cfg.get("train_split", "train"), train=True, seed=seed)
    if len(dataset) == 0:
        raise ValueError(f"{data_cfg['root']}: the training split has no usable people")
    raw_model, frozen = build_training_model(cfg, device)
    if tcfg.get("curve_every_epochs") and not getattr(raw_model, "predicts_heatmaps", True):
        raise ConfigError(f"train.curve_every_epochs: model {cfg['model']['name']} predicts no poses to score; set 0")
    model, dataset, collate_batch, cached = training_forward(raw_model, dataset, cfg, frozen, world, device,
                                                             progress and rank == 0)
    optimizer = build_optimizer(raw_model, tcfg)
    estimators = {id(p) for p in estimator_parameters(raw_model)}
    clip_groups = [g for g in ([p for p in raw_model.parameters() if id(p) not in estimators],
                               [p for p in raw_model.parameters() if id(p) in estimators]) if g]
    batch_size = int(tcfg.get("batch_size", 32))
    steps_per_epoch = math.ceil(math.ceil(len(dataset) / world) / batch_size)
    epochs = int(tcfg.get("epochs", 1))
    total = steps_per_epoch * epochs
    if tcfg.get("max_steps") is not None:  # a step budget: the schedule decays over it
        total = min(total, int(tcfg["max_steps"]))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, tcfg, steps_per_epoch))
    amp = autocast_settings(tcfg, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp[2])

    ckpt_path = out / "last.pt"
    step, start_epoch, start_in_epoch, minutes_before = \
        resume_state(ckpt_path, cfg, raw_model, optimizer, scheduler, scaler) if resume else (0, 0, 0, 0.0)

    def checkpoint(epoch: int, in_epoch: int) -> None:
        if rank != 0:
            return
        save_checkpoint(ckpt_path, {
            "format": CHECKPOINT_FORMAT, "model_name": cfg["model"]["name"], "config": cfg,
            "model": raw_model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "step": step, "epoch": epoch,
            "step_in_epoch": in_epoch, "rng": {"torch": torch.get_rng_state()},
            "minutes": minutes_before + (time.perf_counter() - began) / 60,
        })

    writer = _tensorboard(out / "tb") if rank == 0 else None
    metrics = open(out / "metrics.jsonl", "a") if rank == 0 else None
    every = int(tcfg.get("checkpoint_every", 200))
    max_steps, max_minutes, stop_at = tcfg.get("max_steps"), tcfg.get("max_minutes"), tcfg.get("stop_at_step")
    curve_every = int(tcfg.get("curve_every_epochs") or 0)  # val AP every N epochs: the learning curve
    began = time.perf_counter()
    last_loss = float("nan")
    stopped_early = False
    interrupted = CtrlC()  # finish the step in flight, write a resumable checkpoint, say how to continue

    def stop_here(epoch: int, in_epoch: int) -> None:
        checkpoint(epoch, in_epoch)
        raise TrainingInterrupted(f"interrupted at step {step}; {ckpt_path} holds the run: continue it with "
                                  f"vidpose train ... --resume")

    try:
        for epoch in range(start_epoch, epochs):
            dataset.epoch = epoch
            skip = start_in_epoch * batch_size if epoch == start_epoch else 0
            sampler = EpochSampler(len(dataset), seed, epoch, rank, world, start=skip)
            loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=int(data_cfg.get("workers", 0)),
                                drop_last=False, collate_fn=collate_batch)
            model.train()
            set_frozen(raw_model, frozen)
            in_epoch = start_in_epoch if epoch == start_epoch else 0
            bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress or rank != 0,
                       initial=in_epoch, total=steps_per_epoch)
            for batch in bar:
                loss, loss_h, aux = step_loss(model, batch, cached, device, amp)
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"step {step}: loss is {loss.item()} (heatmap {loss_h.item():.4g}, "
                        + ", ".join(f"{k} {v.item():.4g}" for k, v in aux.items())
                        + f"). Training stopped; the last good checkpoint is {ckpt_path if ckpt_path.exists() else 'none'}."
                        " Lower train.lr or enable train.clip_grad.")
                optimizer_step(loss, optimizer, scheduler, scaler, clip_groups, tcfg.get("clip_grad"))
                step += 1
                in_epoch += 1
                last_loss = loss.item()
                if rank == 0:
                    lr_now = max(scheduler.get_last_lr())  # the head's rate where layer_decay groups differ
                    bar.set_postfix(loss=f"{last_loss:.3g}", lr=f"{lr_now:.2e}")
                    if step % 10 == 0 or step == 1:
                        write_record(metrics, writer, step_record(step, epoch, last_loss, loss_h, aux, lr_now))
                elapsed = minutes_before + (time.perf_counter() - began) / 60
                budget_over = max_minutes is not None and elapsed >= float(max_minutes)
                if (max_steps is not None and step >= int(max_steps)) or budget_over or \
                        (stop_at is not None and step >= int(stop_at)):
                    stopped_early = True
                    break
                if interrupted.flag:
                    stop_here(epoch, in_epoch)
                if step % every == 0:
                    checkpoint(epoch, in_epoch)
            bar.close()
            finished_epoch = not stopped_early or in_epoch >= steps_per_epoch
            if not finished_epoch:  # stopped inside the epoch
                checkpoint(epoch, in_epoch)
                break
            checkpoint(epoch + 1, 0)
            # a finished epoch gets its curve point even where a stop falls on its last step (a run
            # resumed from there starts at the next epoch and would never score this one)
            if curve_every and rank == 0 and ((epoch + 1) % curve_every == 0 or epoch + 1 == epochs):
                learning_curve_point(cfg, raw_model, device, out, epoch + 1, step, metrics, progress)
                model.train()
            if stopped_early:
                break
    except RuntimeError:
        if not interrupted.flag:  # a DataLoader worker stopped by the same Ctrl-C ends up here
            raise
        stop_here(epoch, in_epoch)
    finally:
        interrupted.restore()
    minutes = minutes_before + (time.perf_counter() - began) / 60
    if rank == 0:
        final = {"format": CHECKPOINT_FORMAT, "model_name": cfg["model"]["name"], "config": cfg,
                 "model": raw_model.state_dict(), "step": step, "train_minutes": minutes,
                 "precision": precision_name(amp)}
        save_checkpoint(out / "model.pt", final)
        metrics.close()
        if writer is not None:
            writer.close()
    return {"steps": step, "minutes": minutes, "loss": last_loss, "checkpoint": str(out / "model.pt"),
            "stopped_early": stopped_early, "params_m": sum(p.numel() for p in raw_model.parameters()) / 1e6}


class CtrlC:
    """Ctrl-C sets ``flag`` instead of raising, so the loop can finish its step and checkpoint;
    ``restore`` puts the previous handler back. Only the main thread can own a signal handler."""

    def __init__(self) -> None:
        self.flag = False
        self.previous = signal.signal(signal.SIGINT, self._on_interrupt) \
            if threading.current_thread() is threading.main_thread() else None

    def _on_interrupt(self, signum, frame) -> None:
        self.flag = True

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def write_record(metrics, writer, record: dict[str, float]) -> None:
    """Append ``record`` to metrics.jsonl and to TensorBoard."""
    metrics.write(json.dumps(record) + "\n")
    metrics.flush()
    if writer is not None:
        for k, v in record.items():
            if k not in ("step", "epoch"):
                writer.add_scalar(f"train/{k}", v, record["step"])


def learning_curve_point(cfg: dict[str, Any], model: nn.Module, device: torch.device, out: Path, epoch: int,
                         step: int, metrics, progress: bool) -> None:
    """Score the model on ``data.val_split`` with the test settings and append one learning-curve
    record ``{"epoch", "step", "split", "val_AP": {...}}`` to metrics.jsonl."""
    model.eval()
    result = test_model(cfg, model, device, out / "curve", progress=False)
    from vidpose.data.schema import GROUP_NAMES

    record = {"step": step, "epoch": epoch, "split": result["split"],
              "val_AP": {g: round(float(result[g]), 2) for g in GROUP_NAMES}}
    metrics.write(json.dumps(record) + "\n")
    metrics.flush()
    log.info("epoch %d (step %d): %s AP %.1f", epoch, step, result["split"], result["Total"])


def _tensorboard(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is a dependency; tolerate its absence in trimmed installs
        log.warning("tensorboard is not installed; scalars go to metrics.jsonl only")
        return None
    return SummaryWriter(str(folder))
