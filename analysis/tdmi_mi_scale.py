"""Does TDMI's MI objective change when the motion feature is only rescaled? (issue 17)

Mutual information is unchanged when a feature is multiplied by a constant, so an estimate of it
should be too. For each bench run given, on ``val_hard`` (16 clips), this scales the motion
feature M by k (M_u and M_n follow through the RDM gates), recomputes the fused heatmaps and the
information terms of Eq. 8-12 with the run's own probe, and records each term per k under both
readings of the probe's maps (``model.mi_read``: raw at tau 0.05, the lineage's; standardised at
tau 1, ours). A term that falls as k grows can be lowered by inflating M alone.

    python analysis/tdmi_mi_scale.py tdmi_mi_raw/seed1 [--runs runs/bench/standard]
        [--out analysis/results/tdmi_mi_scale.json]
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
from vidpose.models.layers import clip_features  # noqa: E402

SCALES = (1 / 1024, 1 / 64, 1 / 4, 1.0, 4.0)
READINGS = {"raw": 0.05, "standardised": 1.0}  # mi_read -> its mi_tau


def measure(run: Path, clips: int = 16, split: str = "val_hard") -> dict:
    ckpt = run / "model.pt"
    cfg = load_checkpoint(ckpt)["config"]
    cfg["data"] = {**cfg["data"], "workers": 0}
    model = load_trained(cfg, ckpt, torch.device("cpu")).eval()
    if model.probe is None:
        raise SystemExit(f"error: {run} was trained without the MI objective (no probe to read through)")
    dataset = make_dataset(cfg["data"], split, train=False)
    batch = collate([dataset[j] for j in range(0, len(dataset), max(1, len(dataset) // clips))][:clips])
    out: dict = {"split": split, "clips": clips, "trained_with": cfg["model"].get("mi_read", "raw"), "scales": list(SCALES)}
    with torch.no_grad():
        parts = model.fusion_inputs(clip_features(model, batch["images"]))
        for read, tau in READINGS.items():
            model.mi_read, model.mi_tau = read, tau
            per_term: dict[str, list[float]] = {}
            for k in SCALES:
                m = parts["motion"] * k
                gated = model.disentangle(m)
                heatmaps = model.head(model.fuse(torch.cat([gated["useful"], parts["visual"]], 1)), parts["key_visual"])
                terms = model.information_terms(m, gated["useful"], gated["noisy"], parts["key_visual"], heatmaps, batch)
                for name, value in terms.items():
                    if name != "fit_probe":
                        per_term.setdefault(name, []).append(float(f"{value.item():.4g}"))
            out[read] = per_term
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs_named", nargs="+", metavar="RUN", help="run folders under --runs, e.g. tdmi_mi_raw/seed1")
    parser.add_argument("--runs", default="runs/bench/standard")
    parser.add_argument("--out", default="analysis/results/tdmi_mi_scale.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    probe_runs(args.runs_named, args.runs, args.out, measure,
               "python analysis/tdmi_mi_scale.py --runs " + args.runs + " RUN ...", __doc__.split("\n\n")[1].replace("\n", " "))


if __name__ == "__main__":
    main()
