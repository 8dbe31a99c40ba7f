"""FAMI-Pose's information terms against the heatmap loss (issue 40): the gradient balance of
``mi_support`` and ``mi_complement`` at initialisation, over the method's own parameters and on each
of its ``shared_parts``, measured as ``analysis/aux_balance.py`` measures TDMI's and JM-Pose's.

    python analysis/fami_balance.py [--backbone weights/single_frame.pt] [--batch 4] [--out analysis/results/fami_balance.json]

A trained single-frame backbone loaded and frozen as in ``vidpose bench``, one batch of SynthTrack
tiny clips at each of ``engine.balance.SIZES`` (32x24 and 96x72 heatmaps at stride 4), the probes
fitted to the batch first (``fit_estimators``), under each variant (the default, the ablation without
global alignment, the code's translation-only global transformation).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidpose.engine.balance import SIZES, aux_gradient_ratios, clip_batch, fit_estimators, method_on_backbone  # noqa: E402
from vidpose.engine.checkpoint import load_checkpoint  # noqa: E402

VARIANTS = {
    "fami_pose": {"name": "fami_pose"},
    "fami_pose global_alignment=false": {"name": "fami_pose", "global_alignment": False},
    "fami_pose global_transform=translation": {"name": "fami_pose", "global_transform": "translation"},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="vidpose/weights/single_frame.pt")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=None, help="a SynthTrack folder (default: tiny, generated)")
    ap.add_argument("--out", default="analysis/results/fami_balance.json")
    args = ap.parse_args()
    if args.data:
        root = Path(args.data)
    else:
        from vidpose.synth.dataset import SynthConfig, generate

        root = Path(tempfile.mkdtemp()) / "synth"
        generate(root, SynthConfig(preset="tiny", seed=0, workers=1), progress=False)
    state = load_checkpoint(args.backbone)
    backbone_cfg = state["config"]["model"]["backbone"]
    rows = []
    for size in SIZES:
        batch = None
        for name, spec in VARIANTS.items():
            torch.manual_seed(args.seed)
            model = method_on_backbone(spec, backbone_cfg, state["model"])
            if batch is None:
                batch = clip_batch(root, size, args.batch, args.seed, int(model.heatmap_stride))
            fit_estimators(model, batch["images"], batch)
            terms = aux_gradient_ratios(model, batch["images"], batch)
            rows.append({"method": name, "spec": spec, "heatmap_size": size, "terms": terms})
            print(size, name, {k: (round(v["value"], 6), v["ratio"] and round(v["ratio"], 3),
                                   {p: q["ratio"] and round(q["ratio"], 3) for p, q in v["parts"].items()})
                               for k, v in terms.items() if not k.startswith("fit_")}, flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    out = {"command": "python analysis/fami_balance.py " + " ".join(sys.argv[1:]), "commit": commit,
           "backbone": args.backbone, "batch": args.batch, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
