"""How much the shipped real TDMI head's temporal path adds (issue 19, benchmarks/realvideo.md).

With ``model.start_from_backbone`` the heatmaps are BackboneHead(F_t + to_feature(F~)): this
probe measures, on degraded key frames of RealData's ``test_hard`` (every 9th clip, 48 clips),
the norm of the residual to_feature(F~) relative to the key feature F_t, the trained 1x1 weights,
and the heatmap loss of the head against the single-frame backbone's on the same clips.
Writes analysis/results/tdmi_residual.json.

    python analysis/tdmi_residual.py [--model tdmi_blazepose] [--data data/realdata]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpose.bench import git_state  # noqa: E402
from vidpose.engine.data import make_dataset  # noqa: E402
from vidpose.data.clips import collate  # noqa: E402
from vidpose.models.layers import clip_features, heatmap_loss  # noqa: E402
from vidpose.pipeline import load_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tdmi_blazepose")
    parser.add_argument("--data", default="data/realdata")
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--out", default=str(ROOT / "analysis/results/tdmi_residual.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    model, cfg = load_model(args.model)
    model.eval()
    if not hasattr(model.head, "to_feature"):
        raise SystemExit(f"{args.model}: not started from the backbone (model.start_from_backbone)")
    cfg["data"].update(root=args.data, key_degrade=0.0, workers=0)
    dataset = make_dataset(cfg["data"], "test_hard", train=False)
    step = max(1, len(dataset) // args.clips)
    index = list(range(0, len(dataset), step))[:args.clips]
    ratios, loss_head, loss_single = [], [], []
    with torch.no_grad():
        for i in range(0, len(index), 8):
            batch = collate([dataset[j] for j in index[i:i + 8]])
            parts = model.fusion_inputs(clip_features(model, batch["images"]))
            key = parts["key_visual"]
            fused = model.fuse(torch.cat([parts["useful"], parts["visual"]], 1))
            residual = model.head.to_feature(fused)
            ratios.append(residual.flatten(1).norm(dim=1) / key.flatten(1).norm(dim=1))
            loss_head.append(heatmap_loss(model.head(fused, key), batch["heatmaps"], batch["target_weight"]).item())
            loss_single.append(heatmap_loss(model.backbone.head(key), batch["heatmaps"], batch["target_weight"]).item())
    w = model.head.to_feature.weight.abs()
    commit, dirty = git_state(ROOT)
    report = {"command": "python analysis/tdmi_residual.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "commit": commit, "tracked_files_modified": dirty, "model": args.model, "split": "test_hard",
              "clips": len(index), "residual_over_key_feature_norm": round(torch.cat(ratios).mean().item(), 4),
              "to_feature_weight_abs_mean": round(w.mean().item(), 5), "to_feature_weight_abs_max": round(w.max().item(), 5),
              "heatmap_loss_head": sum(loss_head) / len(loss_head), "heatmap_loss_single_frame": sum(loss_single) / len(loss_single)}
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
