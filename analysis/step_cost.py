"""What one training step costs under each protocol, to plan the runs before starting them.

    python analysis/step_cost.py [--methods naive_temporal tdmi jmpose glpose sdtc] [--steps 3]
                                 [--amp-dtype fp32|bf16] [--compile] [--protocols paper frozen]
                                 [--out analysis/results/step_cost.json]

For each bench row named, one batch of its config's size (32 clips of 5 frames at 128x96) from
SynthTrack ``standard`` train is prepared first (data loading is not timed), then ``--steps``
optimiser steps are timed under ``paper`` (the backbone fine-tuned with the method: forward and
backward through the backbone) and under ``frozen`` (the backbone frozen, its features computed once
beforehand, as the feature cache hands them over: the cache's own cost is left out). The median step
is kept. ``--amp-dtype bf16`` times the steps under CPU bfloat16 autocast (``train.amp_dtype: bf16``,
as the trainer runs it; ``fp32``, the default, as the bench's rows have run on CPU). Run it with
nothing else on the machine: beside a training job every number doubles. ``--compile`` wraps the
model in ``torch.compile`` (inductor, as ``train.compile: true``); the first step, which generates
and builds the code, is then reported apart as ``*_compile_s``. ``--protocols`` times only those
named.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpose.bench import PAPER_EPOCHS, METHODS, git_state, method_config  # noqa: E402
from vidpose.data.clips import collate  # noqa: E402
from vidpose.engine.data import make_dataset  # noqa: E402
from vidpose.models.layers import clip_features, heatmap_loss  # noqa: E402
from vidpose.models.registry import build_model  # noqa: E402


def step_seconds(model: torch.nn.Module, batch: dict, frozen: bool, steps: int, bf16: bool = False,
                 compile_: bool = False) -> tuple[float, float]:
    """(the median step after the first, the first step) in seconds."""
    model.train()
    model.backbone.requires_grad_(not frozen)
    if frozen:  # as the trainer freezes it: the baselines' head lives in the backbone and still trains
        model.backbone.eval()
        for name in getattr(model, "trainable_in_backbone", ()):
            getattr(model.backbone, name).requires_grad_(True)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    if frozen:  # the features computed once: the feature cache hands them over
        with torch.no_grad():
            clip = clip_features(model, batch["images"])
        forward = torch.compile(model.forward_features) if compile_ else model.forward_features
        inputs = (clip, batch["images"], batch)
    else:
        forward = torch.compile(model) if compile_ else model
        inputs = (batch["images"], batch)
    times = []
    for _ in range(steps + 1):  # the first step warms up (and compiles) and is not in the median
        began = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = forward(*inputs)
        loss = heatmap_loss(out["heatmaps"].float(), batch["heatmaps"], batch["target_weight"])
        loss = loss + sum(v.float() for v in out.get("aux_losses", {}).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - began)
    return statistics.median(times[1:]), times[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["naive_temporal", "tdmi", "tdmi_st", "jmpose", "glpose", "sdtc"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--data", default="data/synthtrack/standard")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--amp-dtype", choices=("fp32", "bf16"), default="fp32",
                    help="time the steps in float32 (default) or under CPU bfloat16 autocast")
    ap.add_argument("--compile", action="store_true", help="time the model under torch.compile (inductor)")
    ap.add_argument("--protocols", nargs="+", choices=("paper", "frozen"), default=["paper", "frozen"])
    ap.add_argument("--out", default=str(ROOT / "analysis" / "results" / "step_cost.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = {}
    for name in args.methods:
        cfg = method_config(name, "standard", Path("runs/bench/standard"), None, None, data_root=args.data,
                            protocol="paper")
        torch.manual_seed(0)
        model = build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"]))
        dataset = make_dataset({**cfg["data"], "workers": 0}, "train", train=True)
        size = int(cfg["train"]["batch_size"])
        batch = collate([dataset[i] for i in range(size)])
        steps_per_epoch = -(-len(dataset) // size)
        bf16 = args.amp_dtype == "bf16"
        rows[name] = {"config": METHODS[name].config, "batch": size, "steps_per_epoch": steps_per_epoch}
        for protocol in args.protocols:
            step, first = step_seconds(model, batch, protocol == "frozen", args.steps, bf16, args.compile)
            rows[name][f"{protocol}_step_s"] = round(step, 3)
            if args.compile:
                rows[name][f"{protocol}_compile_s"] = round(first - step, 1)
        if "paper_step_s" in rows[name]:
            rows[name]["paper_hours_per_run"] = round(rows[name]["paper_step_s"] * steps_per_epoch * PAPER_EPOCHS / 3600, 2)
        print(name, rows[name], flush=True)
    commit, dirty = git_state()
    out = {"command": "python analysis/step_cost.py " + " ".join(sys.argv[1:]), "commit": commit,
           "tracked_files_modified": dirty, "threads": args.threads, "amp_dtype": args.amp_dtype,
           "compile": args.compile, "paper_epochs": PAPER_EPOCHS,
           "note": "median optimiser step, data loading excluded; paper_hours_per_run = step x steps/epoch x epochs",
           "rows": rows}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
