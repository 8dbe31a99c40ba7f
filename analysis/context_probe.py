"""How much of a temporal model's accuracy comes from the neighbouring frames (issue 17).

For each bench run given, the model is tested on ``val_hard`` twice with the same boxes, flip test
and decoding as the bench: as trained, and with every neighbouring frame of each clip replaced by a
copy of the (degraded) key frame, so that the clip carries no evidence beyond the key frame. GLPose's
global crops are left as they are (they come from elsewhere in the video). The drop from the first
to the second is what the model takes from its neighbours; a model that ignores them drops nothing
and scores what a single-frame model on the same features would.

    python analysis/context_probe.py --runs runs/bench/standard naive_temporal/seed0 tdmi/seed1 ...
        [--out analysis/results/context_probe.json]

Results are merged into ``--out`` by run, with the commit of this checkout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpose.bench import GROUPS, probe_runs  # noqa: E402
from vidpose.engine.tester import load_trained, test_model  # noqa: E402
from vidpose.engine.checkpoint import load_checkpoint  # noqa: E402


class KeyFrameOnly(nn.Module):
    """Feeds ``model`` clips whose neighbours (every frame after the first, the key frame) are
    copies of the key frame."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor, batch: dict | None = None) -> dict:
        return self.model(frames[:, :1].expand_as(frames).contiguous(), batch)


def probe(run: Path, split: str = "val_hard") -> dict:
    ckpt = run / "model.pt"
    cfg = load_checkpoint(ckpt)["config"]
    cfg["data"] = {**cfg["data"], "workers": 0}
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = load_trained(cfg, ckpt, device)
    stored = run / f"results_{split}.json"
    with tempfile.TemporaryDirectory() as tmp:
        as_trained = (json.loads(stored.read_text()) if stored.is_file()
                      else test_model(cfg, model, device, tmp, split=split))
        key_only = test_model(cfg, KeyFrameOnly(model).eval(), device, tmp, split=split)
    return {"split": split, "AP_Total": round(float(as_trained["Total"]), 2),
            "AP_Total_neighbours_replaced_by_key_frame": round(float(key_only["Total"]), 2),
            "from_neighbours": round(float(as_trained["Total"]) - float(key_only["Total"]), 2),
            "AP_neighbours_replaced_by_key_frame": {g: round(float(key_only[g]), 2) for g in GROUPS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs_named", nargs="+", metavar="RUN", help="run folders under --runs, e.g. tdmi/seed1")
    parser.add_argument("--runs", default="runs/bench/standard")
    parser.add_argument("--split", default="val_hard")
    parser.add_argument("--out", default="analysis/results/context_probe.json")
    args = parser.parse_args()
    probe_runs(args.runs_named, args.runs, args.out, lambda run: probe(run, args.split),
               "python analysis/context_probe.py --runs " + args.runs + " RUN ...", __doc__.split("\n\n")[1].replace("\n", " "))


if __name__ == "__main__":
    main()
