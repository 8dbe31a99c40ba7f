"""The stage-1 levers tried on the single-frame HRNet and ViT, measured the same way and kept as data.

    python analysis/stage1_levers.py [--levers baseline limb width vit ...] [--runs runs/levers]
        [--out analysis/results/stage1_levers.json]

Each lever is a committed stage-1 config (``configs/synthtrack/single_frame_hrnet_tiny.yaml`` or
``single_frame_vit_tiny.yaml``, 24-epoch cosine schedules) with the lever's overrides, trained for
its first 8 epochs (``train.stop_at_step`` 2,160: the same schedule, stopped, so the curves compare
step for step with the full run; ``--epochs`` sets another number, and a lever stopped earlier
resumes to it exactly) and scored on `val` every 2 epochs. Then ``analysis/ankle_symmetry.py``
measures on the stopped checkpoint whether the model tells the left ankle from the right.

The levers (every one measured on the single-frame model alone, never on a temporal method):

- ``baseline``: HRNet tiny (16-channel high-resolution branch), as committed before;
- ``limb``: the same with the limb-map auxiliary (``data.limb_maps``, ``model.limb_weight`` 0.25,
  which puts the limb term on the joint term's scale at the start: the limb maps' all-zero loss
  is 3.9x the joints' on `standard`'s training split);
- ``width``: tiny's depth at W32's widths (``hrnet`` size ``tiny_w32``), no auxiliary;
- ``vit``: the ViT tiny as committed (patchify stem, weight decay 1e-4 on every parameter);
- ``vit_conv_stem``: the convolutional stem of Xiao et al. 2021 in place of the patchify one;
- ``vit_regularised``: stochastic depth 0.1, AdamW weight decay 0.1 with biases, norms and the
  position embedding exempt (ViTPose's weight decay, with its smallest drop-path rate);
- ``vit_vitpose_optim``: the same at ViTPose's learning rate (5e-4) and warm-up (500 steps);
- ``vit_layer_decay``: layer-wise lr decay 0.75 (ViTPose-B's rate; a fine-tuning device, tried
  from scratch because the issue lists it);
- ``vit_conv_regularised``, ``vit_conv_vitpose_optim``: the convolutional stem with each;
- ``vit_mae``: the committed ViT started from a masked-autoencoder pre-training on the same
  training crops, labels unused (``configs/synthtrack/mae_vit_tiny.yaml``, 20 epochs).

The ViT's 24-epoch run peaked on `val` at epoch 8 and then drifted down, so its 8 epochs show the
rise, not the later overfitting.

A lever whose run folder already holds the stopped run is not trained again (delete it to do so).
Results merge into ``--out`` by lever.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HRNET = "configs/synthtrack/single_frame_hrnet_tiny.yaml"
VIT = "configs/synthtrack/single_frame_vit_tiny.yaml"
EPOCH = 270  # steps in an epoch of `standard` at batch 32
_REGULARISED = ["+model.backbone.drop_path=0.1", "train.weight_decay=0.1", "+train.decay_skip_1d=true"]
#: ViTPose-S's optimizer (mmpose td-hm_ViTPose-small_8xb64-210e_coco-256x192.py): AdamW at 5e-4, weight
#: decay 0.1 (none on biases, norms, pos_embed), drop path 0.1, 500 warm-up steps; its step decays
#: and 210 epochs are not taken: the 24-epoch cosine schedule stays, as for every lever
_VITPOSE_OPTIM = [*_REGULARISED, "train.lr=5.0e-4", "train.warmup_steps=500"]
#: lever -> (config, overrides)
LEVERS = {
    "baseline": (HRNET, ["model.backbone.size=tiny"]),
    "limb": (HRNET, ["model.backbone.size=tiny", "+data.limb_maps=true", "+model.limb_weight=0.25"]),
    "width": (HRNET, ["model.backbone.size=tiny_w32"]),
    "vit": (VIT, []),
    "vit_conv_stem": (VIT, ["+model.backbone.stem=conv"]),
    "vit_regularised": (VIT, _REGULARISED),
    "vit_vitpose_optim": (VIT, _VITPOSE_OPTIM),
    "vit_layer_decay": (VIT, ["+train.layer_decay=0.75"]),
    "vit_conv_regularised": (VIT, ["+model.backbone.stem=conv", *_REGULARISED]),
    "vit_conv_vitpose_optim": (VIT, ["+model.backbone.stem=conv", *_VITPOSE_OPTIM]),
    "vit_mae": (VIT, []),  # starts from its pre-training run (PRETRAIN)
}
#: lever -> (pre-training config, overrides): trained first, then the lever starts from it
PRETRAIN = {"vit_mae": ("configs/synthtrack/mae_vit_tiny.yaml", ["train.epochs=20"])}


def train_until(config: str, overrides: list[str], folder: Path, stop: int | None) -> None:
    """Train ``config`` into ``folder`` up to step ``stop`` (None: to the end), resuming a run
    stopped earlier; nothing to do when its ``model.pt`` is already at that step."""
    from vidpose.engine.checkpoint import load_checkpoint

    if (folder / "model.pt").is_file():
        done = load_checkpoint(folder / "model.pt")["step"]
        if stop is None or done == stop:
            return
        if done > stop:
            raise SystemExit(f"{folder} was trained to step {done}, past {stop}: delete it to measure again")
    overrides = overrides + ([f"+train.stop_at_step={stop}"] if stop else []) + [f"output={folder}"]
    resume = ["--resume"] if (folder / "last.pt").is_file() else ["--overwrite"]
    cmd = [sys.executable, "-m", "vidpose.cli", "train", config, *overrides, *resume, "--quiet"]
    subprocess.run(cmd, check=True, cwd=ROOT)


def read_metrics(folder: Path) -> list[dict]:
    """A run's ``metrics.jsonl`` records."""
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]


def run_lever(name: str, runs: Path, epochs: int) -> dict:
    from vidpose.bench import git_state
    from vidpose.engine.checkpoint import load_checkpoint

    folder, stop = runs / name, epochs * EPOCH
    config, lever = LEVERS[name]
    pretraining = {}
    if name in PRETRAIN:
        pre_config, pre_overrides = PRETRAIN[name]
        pre_folder = runs / f"{name}_pretrain"
        train_until(pre_config, pre_overrides, pre_folder, None)
        lever = lever + [f"train.init_from={pre_folder / 'model.pt'}"]
        losses = [r for r in read_metrics(pre_folder) if "reconstruction" in r]
        last_epoch = max(r["epoch"] for r in losses)
        final = [r["reconstruction"] for r in losses if r["epoch"] == last_epoch]
        done = load_checkpoint(pre_folder / "model.pt")
        pretraining = {"pretraining": {"config": pre_config, "overrides": pre_overrides, "steps": done["step"],
                                       "train_minutes": round(done["train_minutes"], 1),
                                       "reconstruction_loss_first": round(losses[0]["reconstruction"], 4),
                                       "reconstruction_loss_last_epoch": round(sum(final) / len(final), 4)}}
    train_until(config, lever, folder, stop)
    probe = folder / f"ankle_symmetry_step{stop}.json"  # of the checkpoint at this stop
    if not probe.is_file():
        subprocess.run([sys.executable, str(ROOT / "analysis" / "ankle_symmetry.py"), "--checkpoint",
                        str(folder / "model.pt"), "--out", str(probe)], check=True, cwd=ROOT)
    records = read_metrics(folder)
    curve = [{"epoch": r["epoch"], "step": r["step"], **r["val_AP"]} for r in records if "val_AP" in r]
    losses = [r for r in records if "heatmap_loss" in r]
    last = [r["heatmap_loss"] for r in losses if r["step"] > stop - EPOCH]
    commit, dirty = git_state()
    minutes = load_checkpoint(folder / "model.pt")["train_minutes"]
    return {"command": f"python analysis/stage1_levers.py --levers {name} --epochs {epochs}", "config": config,
            "overrides": lever, "steps": stop, "train_minutes": round(minutes, 1), **pretraining,
            "val_AP_curve": curve,
            "heatmap_loss_last_epoch": round(sum(last) / max(len(last), 1), 7),
            "ankle_symmetry": json.loads(probe.read_text())["pairs"], "commit": commit,
            "tracked_files_modified": dirty}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levers", nargs="+", choices=sorted(LEVERS), default=list(LEVERS))
    parser.add_argument("--epochs", type=int, default=8, help="train each lever for its schedule's first N epochs")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "levers")
    parser.add_argument("--out", type=Path, default=ROOT / "analysis" / "results" / "stage1_levers.json")
    args = parser.parse_args(argv)
    if not 1 <= args.epochs <= 24:
        parser.error("--epochs: the levers' schedules have 24 epochs; choose 1 to 24")
    results = json.loads(args.out.read_text()) if args.out.is_file() else {"levers": {}}
    first = {"command": results.pop("command", None), "config": results.pop("config", None),
             "steps": results.pop("stop_at_step", None)}
    for lever in results["levers"].values():  # the HRNet levers recorded these once for all
        for key, value in first.items():
            lever.setdefault(key, value)
    for name in args.levers:
        results["levers"][name] = run_lever(name, args.runs, args.epochs)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        curve = results["levers"][name]["val_AP_curve"]
        print(f"{name}: " + ", ".join(f"epoch {c['epoch']} Total {c['Total']} Ankle {c['Ankle']}" for c in curve))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
