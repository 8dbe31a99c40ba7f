"""Gradient balance of every auxiliary loss against the heatmap loss: over all of a method's own
parameters and on the parts its pose path shares with the terms, at initialisation and along training.

    python analysis/aux_balance.py [--backbone weights/single_frame.pt] [--vit weights/backbones/single_frame_vit.pt]
                                     [--train-backbone weights/backbones/single_frame.pt] [--steps 120]
                                     [--out analysis/results/aux_balance.json]
    python analysis/aux_balance.py --methods fami_pose --steps 0 --out analysis/results/fami_balance.json

At initialisation (``rows``): for TDMI, TDMI-ST, JM-Pose and SDTC, on a trained single-frame backbone
loaded and frozen as in ``vidpose bench``, one batch of SynthTrack clips at 128x96 input (32x24
heatmaps, sigma 1.5, the CPU configs) and at 384x288 (96x72 heatmaps, sigma 3, the papers' size),
after the estimators (probes) are fitted to the batch: each term's gradient norm as a multiple of
the heatmap loss's, over the method's own parameters and on each of its ``shared_parts`` (TDMI: the
temporal difference encoder and the RDM; JM-Pose: the motion module, CJL and the JMML blocks;
SDTC: the embedding and the two motion encoders), with the cosine between the two gradients there
(``vidpose/engine/balance.py``). TDMI and JM-Pose are measured under each reading of their
information terms (``VARIANTS``: what the terms may train, Eq. 9's teacher and sign, the scale).
``--methods fami_pose`` measures FAMI-Pose instead (``FAMI_POSE``: its ablation without the global
alignment and the released code's translation-only global step).

Along training (``training``): the TDMI and JM-Pose variants on the bench's stride-2 HRNet
(``--train-backbone``), trained ``--steps`` steps with the bench configs' optimiser (AdamW 2e-3,
weight decay 1e-4, the trainer's loss: heatmap + every auxiliary term) on batches of 8 clips, the
shared-path ratios measured on a fixed batch every ``--every`` steps.

SDTC needs a ViT backbone; without a trained one (``--vit``) it runs on a randomly initialised ViT
and its row says so. The sizes are named at heatmap stride 4; a backbone whose heads upsample to
stride 2 gets heatmaps twice as large at the same input, and its rows record ``heatmap_stride`` and
``sigma`` (``vidpose.engine.balance.target_sigma``).
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

from vidpose.engine.balance import (SIZES, aux_gradient_ratios, clip_batch, estimator_parameters,  # noqa: E402
                                    fit_estimators, method_on_backbone, target_sigma)
from vidpose.engine.checkpoint import load_checkpoint  # noqa: E402
from vidpose.models.layers import clip_features, heatmap_loss  # noqa: E402

TDMI_ST = {"name": "tdmi", "spatiotemporal": True}
#: each method under each reading of its information terms (the TDMI / JM-Pose defaults first)
VARIANTS = {
    "tdmi": {"name": "tdmi"},
    "tdmi route=detached": {"name": "tdmi", "mi_route": "detached"},
    "tdmi route=gates": {"name": "tdmi", "mi_route": "gates"},
    "tdmi eq9=motion_probe": {"name": "tdmi", "mi_eq9": "motion_probe"},
    "tdmi eq9=lineage": {"name": "tdmi", "mi_eq9": "lineage"},
    "tdmi scale=positions": {"name": "tdmi", "mi_scale": "positions"},
    "tdmi_st": TDMI_ST,
    "tdmi_st route=detached": {**TDMI_ST, "mi_route": "detached"},
    "jmpose": {"name": "jmpose"},
    "jmpose route=detached": {"name": "jmpose", "io_route": "detached"},
    "jmpose route=gates": {"name": "jmpose", "io_route": "gates"},
}
SDTC = {"name": "sdtc", "layers": ["divided", "divided"], "decoder_layers": ["divided", "divided"]}
#: FAMI-Pose (issue 40) under its ablation and the released code's translation-only global step
FAMI_POSE = {
    "fami_pose": {"name": "fami_pose"},
    "fami_pose global_alignment=false": {"name": "fami_pose", "global_alignment": False},
    "fami_pose global_transform=translation": {"name": "fami_pose", "global_transform": "translation"},
}
#: --methods: which variants are measured (at initialisation; along training: the seed methods only)
GROUPS = {"seed": {**VARIANTS, "sdtc": SDTC}, "fami_pose": FAMI_POSE}


def summary(terms: dict) -> dict:
    """term -> (ratio over own parameters, {part: ratio}) rounded, for the console."""
    def r(x):
        return None if x is None else round(x, 3)
    return {k: (r(v["ratio"]), {p: r(q["ratio"]) for p, q in v.get("parts", {}).items()})
            for k, v in terms.items() if k != "heatmap" and not k.startswith("fit_")}


def at_initialisation(root: Path, variants: dict[str, dict], hrnet: dict, vit: dict | None, batch_size: int,
                      seed: int) -> list[dict]:
    rows = []
    for size in SIZES:
        batches: dict[int, dict] = {}
        for method, spec in variants.items():
            source = vit if spec["name"] == "sdtc" else hrnet
            backbone_cfg = source["config"]["model"]["backbone"] if source else {"name": "vit", "size": "tiny"}
            torch.manual_seed(seed)
            model = method_on_backbone(spec, backbone_cfg, source["model"] if source else None)
            stride = int(model.heatmap_stride)
            if stride not in batches:
                batches[stride] = clip_batch(root, size, batch_size, seed, stride)
            batch = batches[stride]
            fit_estimators(model, batch["images"], batch)
            terms = aux_gradient_ratios(model, batch["images"], batch)
            rows.append({"method": method, "spec": spec, "heatmap_size": size, "backbone_trained": source is not None,
                         "heatmap_stride": stride, "sigma": target_sigma(size, stride), "terms": terms})
            print("init", size, method, summary(terms), flush=True)
    return rows


def along_training(root: Path, backbone: dict, steps: int, every: int, seed: int) -> list[dict]:
    """The shared-path ratios of every TDMI / JM-Pose variant at steps 0, ``every``, 2 ``every`` ...
    of a short training run from the frozen ``backbone``."""
    stride = int(backbone["config"]["model"]["backbone"].get("head_stride", 4))
    probe = clip_batch(root, "32x24", 8, seed, stride)
    train_batches = [clip_batch(root, "32x24", 8, seed, stride, start=1 + k) for k in range(6)]
    out = []
    for method, spec in VARIANTS.items():
        torch.manual_seed(seed)
        model = method_on_backbone(spec, backbone["config"]["model"]["backbone"], backbone["model"])
        own = [p for p in model.parameters() if p.requires_grad]
        estimators = {id(p) for p in estimator_parameters(model)}
        optimizer = torch.optim.AdamW(own, lr=2e-3, weight_decay=1e-4)
        with torch.no_grad():
            clips = [clip_features(model, b["images"]) for b in train_batches]
        trace = []
        for step in range(steps + 1):
            if step % every == 0:
                terms = aux_gradient_ratios(model, probe["images"], probe)
                model.zero_grad(set_to_none=True)
                trace.append({"step": step, "terms": terms})
                print("train", method, step, summary(terms), flush=True)
            if step == steps:
                break
            k = step % len(train_batches)
            res = model.forward_features(clips[k], train_batches[k]["images"], train_batches[k])
            loss = heatmap_loss(res["heatmaps"], train_batches[k]["heatmaps"], train_batches[k]["target_weight"])
            loss = loss + sum(res["aux_losses"].values()) if res["aux_losses"] else loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in own if id(p) not in estimators], 5.0)
            optimizer.step()
        out.append({"method": method, "spec": spec, "heatmap_stride": stride, "trace": trace})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default=str(ROOT / "vidpose/weights/single_frame.pt"), help="trained HRNet single-frame checkpoint")
    ap.add_argument("--vit", default=None, help="trained ViT single-frame checkpoint (SDTC); default: random init")
    ap.add_argument("--train-backbone", default=str(ROOT / "vidpose/weights/backbones/single_frame.pt"),
                    help="the bench's stage-1 HRNet, for the measurement along training")
    ap.add_argument("--methods", choices=sorted(GROUPS), default="seed",
                    help="seed: TDMI, TDMI-ST, JM-Pose (each reading) and SDTC; fami_pose: FAMI-Pose and its variants")
    ap.add_argument("--steps", type=int, default=120,
                    help="training steps of the along-training measurement (0: skip; seed methods only)")
    ap.add_argument("--every", type=int, default=40)
    ap.add_argument("--data", default=None, help="a SynthTrack folder (default: generate tiny in a temp folder)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "analysis/results/aux_balance.json"))
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
    rows = at_initialisation(root, GROUPS[args.methods], hrnet, vit, args.batch, args.seed)
    training = along_training(root, load_checkpoint(args.train_backbone), args.steps, args.every, args.seed) \
        if args.steps > 0 and args.methods == "seed" else []
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    result = {"command": "python analysis/aux_balance.py " + " ".join(sys.argv[1:]), "commit": commit,
              "batch": args.batch, "seed": args.seed, "rows": rows, "training": training}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
