"""The stage-1 levers tried on the single-frame HRNet, measured the same way and kept as data.

    python analysis/stage1_levers.py [--levers baseline limb width] [--runs runs/levers]
        [--out analysis/results/stage1_levers.json]

Each lever is the committed stage-1 config (``configs/synthtrack/single_frame_hrnet_tiny.yaml``,
24-epoch cosine schedule) with the lever's overrides, trained for its first 8 epochs
(``train.stop_at_step`` 2,160: the same schedule, stopped, so the curves compare step for step
with the full run) and scored on `val` every 2 epochs. Then ``analysis/ankle_symmetry.py``
measures on the stopped checkpoint whether the model tells the left ankle from the right.

The levers (every one measured on the single-frame model alone, never on a temporal method):

- ``baseline``: HRNet tiny (16-channel high-resolution branch), as committed before;
- ``limb``: the same with the limb-map auxiliary (``data.limb_maps``, ``model.limb_weight`` 0.25,
  which puts the limb term on the joint term's scale at the start: the limb maps' all-zero loss
  is 3.9x the joints' on `standard`'s training split);
- ``width``: tiny's depth at W32's widths (``hrnet`` size ``tiny_w32``), no auxiliary.

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
CONFIG = "configs/synthtrack/single_frame_hrnet_tiny.yaml"
STOP = 2160  # 8 of the 24 epochs of `standard` (270 steps each at batch 32)
LEVERS = {
    "baseline": ["model.backbone.size=tiny"],
    "limb": ["model.backbone.size=tiny", "+data.limb_maps=true", "+model.limb_weight=0.25"],
    "width": ["model.backbone.size=tiny_w32"],
}


def run_lever(name: str, runs: Path) -> dict:
    from vidpose.bench import git_state

    folder = runs / name
    overrides = LEVERS[name] + [f"+train.stop_at_step={STOP}", f"output={folder}"]
    if not (folder / "model.pt").is_file():
        cmd = [sys.executable, "-m", "vidpose.cli", "train", CONFIG, *overrides, "--overwrite", "--quiet"]
        subprocess.run(cmd, check=True, cwd=ROOT)
    probe = folder / "ankle_symmetry.json"
    if not probe.is_file():
        subprocess.run([sys.executable, str(ROOT / "analysis" / "ankle_symmetry.py"), "--checkpoint",
                        str(folder / "model.pt"), "--out", str(probe)], check=True, cwd=ROOT)
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
    curve = [{"epoch": r["epoch"], "step": r["step"], **r["val_AP"]} for r in records if "val_AP" in r]
    losses = [r for r in records if "heatmap_loss" in r]
    last = [r["heatmap_loss"] for r in losses if r["step"] > STOP - 270]
    commit, dirty = git_state()
    return {"overrides": LEVERS[name], "steps": STOP, "val_AP_curve": curve,
            "heatmap_loss_last_epoch": round(sum(last) / max(len(last), 1), 7),
            "ankle_symmetry": json.loads(probe.read_text())["pairs"], "commit": commit,
            "tracked_files_modified": dirty}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levers", nargs="+", choices=sorted(LEVERS), default=list(LEVERS))
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "levers")
    parser.add_argument("--out", type=Path, default=ROOT / "analysis" / "results" / "stage1_levers.json")
    args = parser.parse_args(argv)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {"levers": {}}
    results.update({"command": "python analysis/stage1_levers.py --levers " + " ".join(args.levers),
                    "config": CONFIG, "stop_at_step": STOP})
    for name in args.levers:
        results["levers"][name] = run_lever(name, args.runs)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        curve = results["levers"][name]["val_AP_curve"]
        print(f"{name}: " + ", ".join(f"epoch {c['epoch']} Total {c['Total']} Ankle {c['Ankle']}" for c in curve))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
