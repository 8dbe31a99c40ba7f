"""Heatmap loss of trained bench runs on the training videos and on held-out videos, both in eval
mode without augmentation: tells overfitting (a low train loss that does not carry to val) from an
objective that fits the heatmaps badly everywhere. Also how well the heatmaps *localise*: the
share of labeled joints whose decoded peak (DARK, no flip) lies within 1.5 heatmap pixels of the
target's, since two models can reach the same MSE with differently sharp peaks.

    python analysis/heatmap_gap.py [--runs runs/bench/standard] [--methods single_frame_vit sdtc ...]
                                     [--items 256] [--out analysis/results/heatmap_gap.json]

The same ``--items`` clips (evenly spaced over each split, GT boxes, no flip) are scored for every
method with the training loss (target-weighted heatmap MSE). In SynthTrack ``standard`` the
two splits degrade about the same share of labeled frames (``stats.json``: 30% and 32%), so the
val/train ratio mostly measures generalisation to new videos. Compare the ratios of methods.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from vidpose.data.heatmaps import decode_heatmaps
from vidpose.engine.data import make_dataset
from vidpose.engine.tester import load_trained
from vidpose.data.clips import collate
from vidpose.engine.checkpoint import load_checkpoint
from vidpose.models.layers import heatmap_loss


@torch.no_grad()
def split_scores(model: torch.nn.Module, cfg: dict, split: str, items: int, batch_size: int = 32
                 ) -> tuple[float, float]:
    """(mean heatmap loss, % of labeled joints decoded within 1.5 heatmap pixels)."""
    dataset = make_dataset(cfg["data"], split, train=False)
    step = max(1, len(dataset) // items)
    subset = Subset(dataset, list(range(0, len(dataset), step))[:items])
    total, count, hits, joints = 0.0, 0, 0, 0
    for batch in DataLoader(subset, batch_size=batch_size, collate_fn=collate):
        out = model(batch["images"], batch)["heatmaps"].float()
        total += heatmap_loss(out, batch["heatmaps"], batch["target_weight"]).item() * len(out)
        count += len(out)
        pred, _ = decode_heatmaps(out.numpy(), "dark")
        target, _ = decode_heatmaps(batch["heatmaps"].numpy(), "argmax")
        labeled = batch["target_weight"].numpy().reshape(len(out), -1) > 0
        hits += int((np.linalg.norm(pred - target, axis=-1)[labeled] <= 1.5).sum())
        joints += int(labeled.sum())
    return total / count, 100.0 * hits / max(joints, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/bench/standard")
    parser.add_argument("--methods", nargs="+", default=["single_frame_vit", "sdtc", "sdtc_plain_motion"])
    parser.add_argument("--items", type=int, default=256)
    parser.add_argument("--out", default="analysis/results/heatmap_gap.json")
    args = parser.parse_args()
    rows = []
    print(f"{'method':22s} {'train':>9s} {'val':>9s} {'val/train':>10s} {'train <=1.5px':>14s} {'val <=1.5px':>12s}")
    for name in args.methods:
        ckpt = Path(args.runs) / name / "model.pt"
        if not ckpt.exists():
            raise SystemExit(f"error: {ckpt} not found (run `vidpose bench --methods {name}` first)")
        cfg = load_checkpoint(ckpt)["config"]
        model = load_trained(cfg, ckpt, torch.device("cpu"))
        scores = {split: split_scores(model, cfg, split, args.items) for split in ("train", "val")}
        row = {"method": name, "train": scores["train"][0], "val": scores["val"][0],
               "ratio": scores["val"][0] / scores["train"][0],
               "train_within_1.5px": scores["train"][1], "val_within_1.5px": scores["val"][1]}
        rows.append(row)
        print(f"{name:22s} {row['train']:9.5f} {row['val']:9.5f} {row['ratio']:10.2f} "
              f"{row['train_within_1.5px']:14.1f} {row['val_within_1.5px']:12.1f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"runs": args.runs, "items": args.items, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
