"""Shipping trained real temporal heads: ``runs/real/NAME/model.pt`` to ``vidpose/weights/real`` without
the frozen backbone, with a manifest; and the ``vidpose realdata`` command."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from vidpose.realdata.build import build
from vidpose.realdata.segments import HARD, HARD_CLEAN, RealDataError, git_commit
from vidpose.resources import package_path, shipped_name


HEADS = package_path("weights/real")


#: relative to the working directory: a checkout's benchmarks/results (benchmarks/realvideo.py writes it)
REALVIDEO_RESULTS = Path("benchmarks/results/realvideo.json")


def export_heads(names: Sequence[str], runs: str | os.PathLike = "runs/real", dest: str | os.PathLike = HEADS,
                 results: str | os.PathLike = REALVIDEO_RESULTS) -> Path:
    """Ship trained temporal heads: ``runs/NAME/model.pt`` (``vidpose train
    configs/real/NAME.yaml``) becomes ``dest/NAME.pt`` without the frozen BlazePose tensors
    (``vidpose.engine.trainer.export_head``; the backbone comes from its asset when loaded), and
    ``dest/manifest.json`` names each head's config, command, commit, steps, minutes, checksum and
    its held-out scores in ``results`` (``benchmarks/realvideo.py``) where they exist."""
    import hashlib

    from vidpose.engine.checkpoint import export_head

    dest = Path(dest)
    manifest_path = dest / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    measured = json.loads(Path(results).read_text()).get("rows", {}) if Path(results).is_file() else {}
    for name in names:  # every run is checked before anything is written
        checkpoint = Path(runs) / name / "model.pt"
        if not checkpoint.is_file():
            raise RealDataError(f"{checkpoint}: no trained run; train it first: vidpose train configs/real/{name}.yaml")
    for name in names:
        checkpoint = Path(runs) / name / "model.pt"
        target = dest / f"{name}.pt"
        head = export_head(checkpoint, target)
        row = measured.get(name, {})
        scores = {split: row[split]["PCKh"]["Total"] for split in ("test", HARD, HARD_CLEAN) if split in row}
        manifest[name] = {
            "method": head["model_name"], "weights": shipped_name(target), "config": f"configs/real/{name}.yaml",
            "command": f"vidpose realdata build --out data/realdata && vidpose train configs/real/{name}.yaml "
                       f"&& vidpose realdata export {name}",
            "backbone": "from its asset (vidpose assets fetch)", "exported_at_commit": git_commit(),
            "steps": head.get("step"),
            "train_minutes": None if head.get("train_minutes") is None else round(float(head["train_minutes"]), 1),
            "precision": _precision(head),
            "sha256": hashlib.sha256(target.read_bytes()).hexdigest(), "bytes": target.stat().st_size,
            "PCKh_Total": scores}
    tmp = manifest_path.with_name(f".{manifest_path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, manifest_path)  # never a half-written manifest
    return manifest_path


def _precision(head: dict[str, Any]) -> str | None:
    """The precision a head trained in: recorded by the trainer since it records one; for an older
    checkpoint, "bf16" where its config asked for bf16 autocast (which runs on CPU and GPU alike),
    otherwise None (float32 on a CPU or fp16 autocast on a GPU: the checkpoint does not say)."""
    if head.get("precision"):
        return head["precision"]
    train = head["config"].get("train") or {}
    return "bf16" if train.get("amp", True) and train.get("amp_dtype") == "bf16" else None


def run_cli(args: Any) -> int:
    """``vidpose realdata build`` and ``export`` (the parser is in ``vidpose/cli.py``)."""
    if args.realdata_command == "export":
        dest = Path(args.dest or HEADS)
        path = export_heads(args.names, runs=args.runs, dest=dest)
        print(f"wrote {', '.join(str(dest / (n + '.pt')) for n in args.names)} and {path}")
        return 0
    stats = build(args.out, segments=args.segments, max_frames=args.max_frames, resume=args.resume,
                  progress=not args.quiet, detect_every=args.detect_every)
    for split, s in stats["splits"].items():
        print(f"{split:<16} {s['videos']:3d} videos  {s['frames']:5d} frames  {s['labeled_frames']:5d} labeled  "
              f"{s['people']:6d} people")
    print(f"wrote {args.out} ({stats['bytes'] / 1e6:.1f} MB, {stats['seconds']['this_run']:.0f} s); pseudo labels by "
          f"{stats['teacher']}, joints kept at heatmap peak >= {stats['keep_threshold']}")
    return 0
