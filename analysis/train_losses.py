"""Total and heatmap training loss at the end of bench runs: the mean of the last 10 records of
each run's metrics.jsonl (one record per 10 steps, so the last 100 steps).

    python analysis/train_losses.py [--runs runs/bench/standard] [--methods single_frame tdmi ...]

Shows how much of a method's objective is its auxiliary terms and whether it fits the heatmaps
as well as the single-frame model does (docs/results.md, benchmarks/tdmi.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def end_losses(run: Path, last: int = 10) -> dict[str, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()][-last:]
    if not rows:
        raise ValueError(f"{run / 'metrics.jsonl'}: no records")
    return {"total": sum(r["loss"] for r in rows) / len(rows),
            "heatmap": sum(r["heatmap_loss"] for r in rows) / len(rows), "step": rows[-1]["step"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/bench/standard")
    parser.add_argument("--methods", nargs="+")
    args = parser.parse_args()
    runs = Path(args.runs)
    names = args.methods or sorted(p.name for p in runs.iterdir() if (p / "metrics.jsonl").is_file())
    print(f"{'method':<22} {'steps':>6} {'total':>9} {'heatmap':>9}")
    for name in names:
        r = end_losses(runs / name)
        print(f"{name:<22} {r['step']:>6} {r['total']:>9.5f} {r['heatmap']:>9.5f}")


if __name__ == "__main__":
    main()
