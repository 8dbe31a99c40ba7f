"""Learning curves of the benchmark's runs, kept as data: the training heatmap loss (mean per 100 steps)
and, where the run scored it (``train.curve_every_epochs``), the val AP per epoch.

    python analysis/learning_curves.py [--runs runs/bench/standard] [--out analysis/results/learning_curves.json]
        [--plot docs/images/learning_curves.png]

Reads every ``metrics.jsonl`` under ``--runs`` (``<method>/`` for stage 1, ``<method>/seed<k>/``
for stage 2). The JSON is merged into the existing file, so curves of runs that are gone are
kept. The plot (OpenCV, no plotting library) has one panel for the loss (log scale) and one for val AP.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def read_curve(metrics: Path, window: int = 100) -> dict:
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    # the heatmap loss: comparable across methods (their auxiliary terms differ in kind and scale)
    losses = [(r["step"], r.get("heatmap_loss", r.get("loss"))) for r in records if "loss" in r]
    curve = [r for r in records if "val_AP" in r]
    steps = np.array([s for s, _ in losses])
    values = np.array([v for _, v in losses])
    loss = []
    if len(steps):
        for start in range(0, int(steps.max()) + 1, window):
            sel = (steps > start) & (steps <= start + window)
            if sel.any():
                loss.append([start + window, round(float(values[sel].mean()), 7)])
    return {"loss_per_100_steps": loss,
            "val_AP": [{"epoch": r["epoch"], "step": r["step"], "split": r["split"], **r["val_AP"]} for r in curve]}


COLOURS = [(200, 120, 40), (40, 140, 40), (40, 40, 200), (160, 60, 160), (30, 160, 200), (100, 100, 100),
           (0, 90, 180), (150, 150, 0)]


def draw(runs: dict, path: Path) -> None:
    """Two panels: training loss against step (log scale) and val AP against epoch, per run."""
    import cv2

    w, h, m = 460, 300, 50
    img = np.full((h + 2 * m + 20 * ((len(runs) + 1) // 2), 2 * (w + m) + m, 3), 255, np.uint8)
    panels = [(m, "training heatmap loss (mean per 100 steps, log)"), (2 * m + w, "val AP Total against epoch")]
    for x0, title in panels:
        cv2.rectangle(img, (x0, m), (x0 + w, m + h), (0, 0, 0), 1)
        cv2.putText(img, title, (x0, m - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    losses = [v for c in runs.values() for _, v in c["loss_per_100_steps"] if v > 0]
    steps = [s for c in runs.values() for s, _ in c["loss_per_100_steps"]]
    epochs = [p["epoch"] for c in runs.values() for p in c["val_AP"]]
    lo, hi = (np.log10(min(losses)), np.log10(max(losses))) if losses else (0, 1)
    ap = [p["Total"] for c in runs.values() for p in c["val_AP"]]
    ap_lo, ap_hi = (min(ap) - 5, max(ap) + 5) if ap else (0, 100)
    for tick in range(int(ap_lo // 10 * 10), int(ap_hi) + 1, 10):
        if ap_lo <= tick <= ap_hi:
            y = int(m + h - h * (tick - ap_lo) / (ap_hi - ap_lo))
            cv2.line(img, (2 * m + w, y), (2 * m + 2 * w, y), (225, 225, 225), 1)
            cv2.putText(img, str(tick), (2 * m + w - 28, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
    for k, (name, c) in enumerate(sorted(runs.items())):
        colour = COLOURS[k % len(COLOURS)]
        pts = [(int(m + w * s / max(steps)), int(m + h - h * (np.log10(v) - lo) / max(hi - lo, 1e-9)))
               for s, v in c["loss_per_100_steps"] if v > 0]
        for a, b in zip(pts, pts[1:]):
            cv2.line(img, a, b, colour, 1)
        pts = [(int(2 * m + w + w * p["epoch"] / max(epochs)), int(m + h - h * (p["Total"] - ap_lo) / (ap_hi - ap_lo)))
               for p in c["val_AP"]]
        for a, b in zip(pts, pts[1:]):
            cv2.line(img, a, b, colour, 2)
        for pt in pts:
            cv2.circle(img, pt, 3, colour, -1)
        y = 2 * m + h + 20 * (k // 2)
        cv2.putText(img, name, (m + (k % 2) * (w + m), y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1)
    if steps:
        cv2.putText(img, f"step {max(steps)}", (m + w - 70, m + h + 15), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
    if epochs:
        cv2.putText(img, f"epoch {max(epochs)}", (2 * m + 2 * w - 70, m + h + 15), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    (0, 0, 0), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench" / "standard")
    parser.add_argument("--out", type=Path, default=ROOT / "analysis" / "results" / "learning_curves.json")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "images" / "learning_curves.png")
    args = parser.parse_args()
    stored = json.loads(args.out.read_text()) if args.out.is_file() else {"runs": {}}
    for metrics in sorted(args.runs.rglob("metrics.jsonl")):
        name = metrics.parent.relative_to(args.runs).as_posix()
        stored["runs"][name] = read_curve(metrics)
    stored["command"] = "python analysis/learning_curves.py"
    stored["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                      cwd=ROOT).stdout.strip()
    args.out.write_text(json.dumps(stored, indent=1) + "\n")
    draw(stored["runs"], args.plot)
    print(f"wrote {args.out} ({len(stored['runs'])} runs) and {args.plot}")


if __name__ == "__main__":
    main()
