"""What TDMI's motion path carries into its fusion, with and without the MI objective (issue 17).

TDMI (Sec. 3.2, Eq. 6) splits the motion feature M into a useful part M_u = M * g_u and a noisy
part M_n = M * g_n with two channel gates; only M_u reaches the fusion, beside the key frame's
visual feature F_t. For each bench run given, on ``val_hard`` (every k-th clip), this reports the
mean useful and noisy gates, the norm of M_u relative to M and to F_t, and the fused heatmaps'
loss against that of the same network with M_u zeroed (what the head takes from the motion path).

    python analysis/tdmi_gates.py tdmi/seed1 tdmi_no_mi/seed0 [--runs runs/bench/standard]
        [--clips 96] [--out analysis/results/tdmi_gates.json]

Results are merged into ``--out`` by run, with the commit of this checkout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpose.bench import probe_runs  # noqa: E402
from vidpose.engine.data import make_dataset  # noqa: E402
from vidpose.engine.tester import load_trained  # noqa: E402
from vidpose.data.clips import collate  # noqa: E402
from vidpose.engine.checkpoint import load_checkpoint  # noqa: E402
from vidpose.models.layers import clip_features, heatmap_loss  # noqa: E402


def measure(run: Path, clips: int, split: str = "val_hard") -> dict:
    ckpt = run / "model.pt"
    cfg = load_checkpoint(ckpt)["config"]
    cfg["data"] = {**cfg["data"], "workers": 0}
    model = load_trained(cfg, ckpt, torch.device("cpu")).eval()
    dataset = make_dataset(cfg["data"], split, train=False)
    index = list(range(0, len(dataset), max(1, len(dataset) // clips)))[:clips]
    stats: dict[str, list[float]] = {k: [] for k in ("gate_useful", "gate_noisy", "useful_over_motion",
                                                     "useful_over_visual", "loss", "loss_without_motion")}
    with torch.no_grad():
        for i in range(0, len(index), 8):
            batch = collate([dataset[j] for j in index[i:i + 8]])
            parts = model.fusion_inputs(clip_features(model, batch["images"]))
            useful, visual = parts["useful"], parts["visual"]
            norm = lambda t: t.flatten(1).norm(dim=1)  # noqa: E731
            stats["gate_useful"] += parts["gate_useful"].mean(1).tolist()
            stats["gate_noisy"] += ([] if parts["gate_noisy"] is None else parts["gate_noisy"].mean(1).tolist())
            stats["useful_over_motion"] += (norm(useful) / norm(parts["motion"])).tolist()
            stats["useful_over_visual"] += (norm(useful) / norm(visual)).tolist()
            for name, u in (("loss", useful), ("loss_without_motion", torch.zeros_like(useful))):
                heatmaps = model.head(model.fuse(torch.cat([u, visual], 1)), parts["key_visual"])
                stats[name].append(heatmap_loss(heatmaps, batch["heatmaps"], batch["target_weight"]).item())
    return {"split": split, "clips": len(index), "rdm": cfg["model"].get("rdm"),
            "mi_weight": cfg["model"].get("mi_weight"),
            **{k: float(f"{sum(v) / len(v):.4g}") if v else None for k, v in stats.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs_named", nargs="+", metavar="RUN", help="run folders under --runs, e.g. tdmi/seed1")
    parser.add_argument("--runs", default="runs/bench/standard")
    parser.add_argument("--clips", type=int, default=96)
    parser.add_argument("--out", default="analysis/results/tdmi_gates.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    probe_runs(args.runs_named, args.runs, args.out, lambda run: measure(run, args.clips),
               "python analysis/tdmi_gates.py --runs " + args.runs + " RUN ...", __doc__.split("\n\n")[1].replace("\n", " "))


if __name__ == "__main__":
    main()
