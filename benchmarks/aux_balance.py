"""Gradient balance of every auxiliary loss against the heatmap loss, at two heatmap sizes.

    python benchmarks/aux_balance.py [--backbone weights/single_frame.pt] [--out benchmarks/results/aux_balance.json]

For TDMI, JM-Pose and SDTC (the methods with auxiliary terms), on a trained single-frame backbone
loaded and frozen as in ``vidpose bench``, one batch of SynthTrack clips at 128x96 input (32x24
heatmaps, sigma 1.5, the CPU configs) and at 384x288 (96x72 heatmaps, sigma 3, the papers'
size): the L2 norm of each term's gradient on the method's own parameters, divided by the heatmap
loss's (``vidpose/engine/balance.py``), after the estimators (probes) are fitted to the batch. SDTC needs a ViT backbone; without a trained one
(``--vit``) it runs on a randomly initialised ViT and its row says so. The sizes are named at
heatmap stride 4; a backbone whose heads upsample to stride 2 (the bench's ViT) gets heatmaps
twice as large at the same input, and its rows record ``heatmap_stride`` and ``sigma``: at 128x96
the bench configs' sigma 2 (``configs/synthtrack/*_tiny.yaml``), at 384x288 sigma 6 (3 scaled
with the map; no config uses that size at stride 2).
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

from vidpose.data.clips import ClipConfig, TopDownClipDataset  # noqa: E402
from vidpose.data.annotations import load_posetrack  # noqa: E402
from vidpose.engine.balance import aux_gradient_ratios, fit_estimators  # noqa: E402
from vidpose.engine.trainer import _collate, load_checkpoint, set_frozen  # noqa: E402
from vidpose.models.registry import build_model  # noqa: E402

SIZES = {"32x24": ((96, 128), (24, 32), 1.5), "96x72": ((288, 384), (72, 96), 3.0)}
#: target sigma at heatmap stride 2, per size: the bench configs' at 128x96, scaled with the map at 384x288
SIGMA_STRIDE_2 = {"32x24": 2.0, "96x72": 6.0}
OFFSETS = (-2, -1, 1, 2)
METHODS = {
    "tdmi": {"name": "tdmi"},
    "tdmi_st": {"name": "tdmi", "spatiotemporal": True},
    "jmpose": {"name": "jmpose"},
    "sdtc": {"name": "sdtc", "layers": ["divided", "divided"], "decoder_layers": ["divided", "divided"]},
}


def target_sigma(size: str, stride: int) -> float:
    """The heatmap targets' sigma at ``size``'s input and heatmap ``stride`` (2 or 4)."""
    if stride not in (2, 4):
        raise ValueError(f"heatmap stride {stride}: aux_balance knows strides 2 and 4")
    return SIZES[size][2] if stride == 4 else SIGMA_STRIDE_2[size]


def clip_batch(root: Path, size: str, count: int, seed: int = 0, stride: int = 4) -> dict:
    """``count`` training clips at ``size``'s input; heatmaps at the backbone's output ``stride``
    (``SIZES`` names them at stride 4; at stride 2 they are twice as large, sigma from ``SIGMA_STRIDE_2``)."""
    inp = SIZES[size][0]
    hm, sigma = (inp[0] // stride, inp[1] // stride), target_sigma(size, stride)
    videos, _ = load_posetrack(root / "annotations" / "train")
    ds = TopDownClipDataset(videos, root, ClipConfig(input_size=inp, heatmap_size=hm, sigma=sigma, offsets=OFFSETS),
                            train=True, seed=seed)
    step = max(1, len(ds) // count)
    return _collate([ds[i * step] for i in range(count)])


def method_on_backbone(spec: dict, backbone_cfg: dict, state: dict | None) -> torch.nn.Module:
    model = build_model({**spec, "backbone": backbone_cfg, "offsets": list(OFFSETS)})
    if state is not None:
        own = model.state_dict()
        model.load_state_dict({k: v for k, v in state.items() if k in own and own[k].shape == v.shape}, strict=False)
    model.backbone.requires_grad_(False)
    model.train()
    set_frozen(model, True)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default=str(ROOT / "weights/single_frame.pt"), help="trained HRNet single-frame checkpoint")
    ap.add_argument("--vit", default=None, help="trained ViT single-frame checkpoint (SDTC); default: random init")
    ap.add_argument("--data", default=None, help="a SynthTrack folder (default: generate tiny in a temp folder)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/aux_balance.json"))
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    if args.data:
        root = Path(args.data)
    else:
        from vidpose.synth.dataset import SynthConfig, generate

        root = Path(tempfile.mkdtemp()) / "synth"
        generate(root, SynthConfig(preset="tiny", seed=0, workers=1), progress=False)
    hrnet = load_checkpoint(args.backbone)
    vit = load_checkpoint(args.vit) if args.vit else None
    rows = []
    for size in SIZES:
        batches: dict[int, dict] = {}
        for method, spec in METHODS.items():
            is_vit = spec["name"] == "sdtc"
            source = vit if is_vit else hrnet
            backbone_cfg = (source["config"]["model"]["backbone"] if source else {"name": "vit", "size": "tiny"})
            torch.manual_seed(args.seed)
            model = method_on_backbone(spec, backbone_cfg, source["model"] if source else None)
            stride = int(model.heatmap_stride)
            if stride not in batches:
                batches[stride] = clip_batch(root, size, args.batch, args.seed, stride)
            batch = batches[stride]
            fit_estimators(model, batch["images"], batch)
            terms = aux_gradient_ratios(model, batch["images"], batch)
            rows.append({"method": method, "heatmap_size": size, "backbone_trained": source is not None,
                         "heatmap_stride": stride, "sigma": target_sigma(size, stride),
                         "terms": terms})
            print(size, method, {k: (None if v["ratio"] is None else round(v["ratio"], 3)) for k, v in terms.items()})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    result = {"command": "python benchmarks/aux_balance.py " + " ".join(sys.argv[1:]), "commit": commit,
              "batch": args.batch, "seed": args.seed, "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
