"""Single-frame and naive temporal baselines on SynthTrack: train, test on val and val_hard with
GT boxes, and record mAP per joint group, training minutes, parameters and GFLOPs.

    python benchmarks/baselines.py [--configs configs/synthtrack/single_frame_hrnet_tiny.yaml ...]
                                   [--out benchmarks/results/baselines.json] [key=value ...]

Each config runs exactly as `vidpose train CONFIG` followed by `vidpose test CONFIG --checkpoint
RUN/model.pt --split val val_hard`; the data is generated first if missing. Finished runs are
reused (delete the run folder to retrain). Writes a JSON file and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
from pathlib import Path

from vidpose.engine.complexity import count_gflops, count_params
from vidpose.engine.config import load_config
from vidpose.engine.tester import run_test
from vidpose.engine.trainer import load_checkpoint, train
from vidpose.models.registry import build_model

DEFAULT = ["configs/synthtrack/single_frame_resnet_tiny.yaml", "configs/synthtrack/single_frame_hrnet_tiny.yaml",
           "configs/synthtrack/single_frame_vit_tiny.yaml", "configs/synthtrack/naive_temporal_hrnet_tiny.yaml"]
GROUPS = ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=DEFAULT)
    parser.add_argument("--out", default="benchmarks/results/baselines.json")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    rows = []
    for path in args.configs:
        cfg = load_config(path, args.overrides)
        run = Path(cfg["output"])
        if not (run / "model.pt").exists():
            train(cfg, run)
        state = load_checkpoint(run / "model.pt")
        model = build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"]))
        frames = 1 + len(cfg["data"]["offsets"])
        for split in ("val", "val_hard"):
            result = run_test(cfg, run / "model.pt", run, split=split)
            rows.append({"config": path, "method": cfg["model"]["name"],
                         "backbone": f"{cfg['model']['backbone']['name']}-{cfg['model']['backbone']['size']}",
                         "split": split, **{g: round(result[g], 2) for g in GROUPS},
                         "params_m": round(count_params(model), 3),
                         "gflops": round(count_gflops(model, frames, tuple(cfg["data"]["input_size"])), 3),
                         "train_minutes": round(state["train_minutes"], 1), "train_steps": state["step"]})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = {"commit": commit, "machine": f"{platform.machine()} {platform.python_version()}", "rows": rows,
           "command": "python benchmarks/baselines.py " + " ".join(args.overrides)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print("| method | backbone | split | " + " | ".join(GROUPS) + " | params (M) | GFLOPs | train min |")
    print("|" + "---|" * (len(GROUPS) + 6))
    for r in rows:
        print(f"| {r['method']} | {r['backbone']} | {r['split']} | " + " | ".join(f"{r[g]:.1f}" for g in GROUPS)
              + f" | {r['params_m']:.2f} | {r['gflops']:.3f} | {r['train_minutes']:.1f} |")


if __name__ == "__main__":
    main()
