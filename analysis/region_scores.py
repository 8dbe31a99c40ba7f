"""How the pose model's heatmap peaks tell a person from background in the tracker's regions
(``tracking/pose_regions.py``, ``min_score``).

    python analysis/region_scores.py [--frames sports2d_demo=60 vtest=40] [--out analysis/results/region_scores.json]

On the first frames of each demo video the tracker runs with the pose model in its regions; every
4th frame, the region of each tracked person (its box squared and enlarged 1.5 times, as the tracker
makes it) and up to 4 random square regions that overlap no tracked person go through the pose
model with every threshold off. Per kind: the 5th, 50th and 95th percentiles of the mean of the 17
peaks, and of the number of peaks at or above 0.2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpose.assets import asset_path  # noqa: E402
from vidpose.bench import git_state  # noqa: E402
from vidpose.data.frames import open_frames  # noqa: E402
from vidpose.pipeline import Pipeline  # noqa: E402


def scores(pipeline: Pipeline, name: str, frames: int, seed: int = 0) -> dict[str, list[np.ndarray]]:
    source = open_frames(asset_path(name))
    tracker = pipeline.tracker()
    results = tracker.run([source.read(i) for i in range(frames)])
    regions = tracker.detector
    regions.min_score, regions.keypoint_threshold, regions.min_keypoints = 0.0, 0.0, 0
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {"person": [], "background": []}
    for i in range(0, frames, 4):
        frame = source.read(i)
        h, w = frame.shape[:2]
        boxes = [b for _, b, _ in results[i]]
        for b in boxes:
            side, cx, cy = max(b[2], b[3]) * 1.5, b[0] + b[2] / 2, b[1] + b[3] / 2
            found = regions.in_regions(frame, [(int(cx - side / 2), int(cy - side / 2), int(cx + side / 2),
                                                int(cy + side / 2))], 256)[0]
            out["person"] += [found[0].keypoint_scores] if found else []
        for _ in range(4):
            side = rng.uniform(100, min(h, w) * 0.8)
            x0, y0 = rng.uniform(0, w - side), rng.uniform(0, h - side)
            if any(x0 < b[0] + b[2] and b[0] < x0 + side and y0 < b[1] + b[3] and b[1] < y0 + side for b in boxes):
                continue
            found = regions.in_regions(frame, [(int(x0), int(y0), int(x0 + side), int(y0 + side))], 256)[0]
            out["background"] += [found[0].keypoint_scores] if found else []
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", nargs="+", default=["sports2d_demo=60", "vtest=40"])
    ap.add_argument("--out", default=str(ROOT / "analysis/results/region_scores.json"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    pipeline = Pipeline(region_model="pose")
    rows = {}
    for item in args.frames:
        name, _, count = item.partition("=")
        for kind, peaks in scores(pipeline, name, int(count)).items():
            p = np.array(peaks).reshape(-1, 17)
            rows[f"{name} {kind}"] = {
                "regions": len(p),
                "mean_peak_p5_p50_p95": np.percentile(p.mean(1), [5, 50, 95]).round(3).tolist() if len(p) else None,
                "peaks_at_least_0.2_p5_p50_p95": np.percentile((p >= 0.2).sum(1), [5, 50, 95]).tolist() if len(p) else None}
            print(name, kind, rows[f"{name} {kind}"])
    commit, dirty = git_state(ROOT)
    out = {"command": "python analysis/region_scores.py " + " ".join(sys.argv[1:]), "commit": commit,
           "tracked_files_modified": dirty, "model": pipeline.name, "rows": rows}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
