"""Why the stage-1 single-frame model's ankles stall: measured on a checkpoint.

    python analysis/ankle_symmetry.py [--checkpoint weights/backbones/single_frame.pt]
        [--out analysis/results/ankle_symmetry.json]

For each left/right pair (knees, ankles, and wrists as a control) on SynthTrack `standard`:

- ``collapsed``: of the `val` people whose two GT joints lie apart (> 4 heatmap pixels), how many
  get both predictions (argmax of the raw heatmaps, no flip test) within 2 heatmap pixels of
  each other;
- ``own_over_other``: the model's heatmap of joint L at the GT position of L over its value at the
  GT position of R (median; about 1 means L and R are not told apart);
- ``probe_own_over_other``: the same ratio for a ridge regression fitted, per joint, from the
  backbone's last features (the output layer's input) to the targets on 400 training crops and
  read on 100 others: can the features separate the two at all;
- ``output_row_difference``: the largest absolute difference of the output layer's two rows;
- ``labels``: how often the annotated L joint lies nearer its L parent than the R one (ankle to
  knee, knee to hip) on the training split, with and without the training augmentation.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import numpy as np
import torch

from vidpose.engine.data import make_dataset
from vidpose.engine.checkpoint import load_checkpoint
from vidpose.models.registry import build_model

ROOT = Path(__file__).resolve().parents[1]
PAIRS = {"knee": (13, 14), "ankle": (15, 16), "wrist": (9, 10)}


def peak(t: np.ndarray) -> np.ndarray:
    return np.array(np.unravel_index(int(t.argmax()), t.shape))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(ROOT / "vidpose" / "weights" / "backbones" / "single_frame.pt"))
    parser.add_argument("--data-root", default="data/synthtrack/standard")
    parser.add_argument("--out", type=Path, default=ROOT / "analysis" / "results" / "ankle_symmetry.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    state = load_checkpoint(args.checkpoint)
    cfg = state["config"]
    cfg["data"].update(root=args.data_root, workers=0)
    model = build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"]))
    model.load_state_dict(state["model"])
    model.eval()
    out: dict = {"checkpoint": args.checkpoint, "pairs": {}}

    val = make_dataset(cfg["data"], "val", train=False)
    stats = {k: {"apart": 0, "collapsed": 0, "ratios": []} for k in PAIRS}
    with torch.no_grad():
        for i in range(len(val)):
            item = val[i]
            w, t = item["target_weight"].numpy(), item["heatmaps"].numpy()
            h = model(item["images"][None])["heatmaps"][0].numpy()
            for name, (a, b) in PAIRS.items():
                if w[a] == 0 or w[b] == 0 or np.linalg.norm(peak(t[a]) - peak(t[b])) <= 4:
                    continue
                s = stats[name]
                s["apart"] += 1
                s["collapsed"] += int(np.linalg.norm(peak(h[a]) - peak(h[b])) <= 2)
                s["ratios"].append(h[a][tuple(peak(t[a]))] / max(h[a][tuple(peak(t[b]))], 1e-4))

    # ridge probe on the features the output layer reads
    backbone = model.backbone
    train_plain = make_dataset(cfg["data"], "train", train=False)
    idx = list(range(0, len(train_plain), max(1, len(train_plain) // 500)))[:500]
    feats, targets = [], []
    with torch.no_grad():
        for start in range(0, len(idx), 50):
            items = [train_plain[i] for i in idx[start:start + 50]]
            x = torch.stack([it["images"] for it in items])[:, 0]
            feats.append(backbone.head_upsample(backbone.forward_features(x)["feature"]))
            targets.append(torch.stack([it["heatmaps"] for it in items]))
    X, Y = torch.cat(feats).double(), torch.cat(targets).double()
    n_fit, C = 400, X.shape[1]
    A = torch.cat([X[:n_fit].permute(0, 2, 3, 1).reshape(-1, C), torch.ones(n_fit * X.shape[2] * X.shape[3], 1,
                                                                             dtype=X.dtype)], 1)
    gram = A.T @ A + 0.1 * torch.eye(C + 1, dtype=X.dtype)
    weight = model.backbone.final_layer.weight.detach()[:, :, 0, 0]
    for name, (a, b) in PAIRS.items():
        coef = torch.linalg.solve(gram, A.T @ Y[:n_fit, a].reshape(-1))
        ratios = []
        for k in range(n_fit, len(X)):
            f = torch.cat([X[k].permute(1, 2, 0).reshape(-1, C), torch.ones(X.shape[2] * X.shape[3], 1, dtype=X.dtype)], 1)
            h = (f @ coef).reshape(X.shape[2], X.shape[3]).numpy()
            ta, tb = Y[k, a].numpy(), Y[k, b].numpy()
            if ta.max() < 0.5 or tb.max() < 0.5 or np.linalg.norm(peak(ta) - peak(tb)) <= 4:
                continue
            ratios.append(h[tuple(peak(ta))] / max(h[tuple(peak(tb))], 1e-4))
        s = stats[name]
        out["pairs"][name] = {
            "val_people_apart": s["apart"], "collapsed": s["collapsed"],
            "own_over_other_median": round(float(np.median(s["ratios"])), 3),
            "probe_own_over_other_median": round(float(np.median(ratios)), 3), "probe_people": len(ratios),
            "output_row_difference": round(float((weight[a] - weight[b]).abs().max()), 4),
        }

    labels = {}
    for aug in (False, True):
        ds = make_dataset(cfg["data"], "train", train=aug)
        near = {"ankle_to_knee": [0, 0], "knee_to_hip": [0, 0]}
        for i in range(0, len(ds), 37):
            item = ds[i]
            t, w = item["heatmaps"].numpy(), item["target_weight"].numpy()
            if not (w[[11, 12, 13, 14, 15, 16]] > 0).all():
                continue
            p = {j: peak(t[j]) for j in (11, 12, 13, 14, 15, 16)}
            if np.linalg.norm(p[15] - p[16]) < 3:
                continue
            for key, (j, pl, pr) in {"ankle_to_knee": (15, 13, 14), "knee_to_hip": (13, 11, 12)}.items():
                near[key][0] += int(np.linalg.norm(p[j] - p[pl]) < np.linalg.norm(p[j] - p[pr]))
                near[key][1] += 1
        labels["augmented" if aug else "plain"] = {k: round(v[0] / max(v[1], 1), 3) for k, v in near.items()}
    out["labels_left_nearer_left_parent"] = labels
    out["command"] = "python analysis/ankle_symmetry.py"
    out["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                   cwd=ROOT).stdout.strip()
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
