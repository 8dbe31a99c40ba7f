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
    measured_file = json.loads(Path(results).read_text()) if Path(results).is_file() else {}
    for name in names:  # every run is checked before anything is written
        checkpoint = Path(runs) / name / "model.pt"
        if not checkpoint.is_file():
            raise RealDataError(f"{checkpoint}: no trained run; train it first: vidpose train configs/real/{name}.yaml")
    for name in names:
        checkpoint = Path(runs) / name / "model.pt"
        target = dest / f"{name}.pt"
        head = export_head(checkpoint, target)
        manifest[name] = {
            "method": head["model_name"], "weights": shipped_name(target), "config": f"configs/real/{name}.yaml",
            "command": f"vidpose realdata build --out data/realdata && vidpose train configs/real/{name}.yaml"
                       f"{''.join(' ' + o for o in _overrides(head['config'], name))} && vidpose realdata export {name}",
            "backbone": "from its asset (vidpose assets fetch)", "exported_at_commit": git_commit(),
            "steps": head.get("step"),
            "train_minutes": None if head.get("train_minutes") is None else round(float(head["train_minutes"]), 1),
            "precision": _precision(head),
            "sha256": hashlib.sha256(target.read_bytes()).hexdigest(), "bytes": target.stat().st_size,
            **_scores(measured_file, name)}
    _write_manifest(manifest, manifest_path)
    return manifest_path


def rescore_heads(names: Sequence[str], dest: str | os.PathLike = HEADS,
                  results: str | os.PathLike = REALVIDEO_RESULTS) -> Path:
    """Replace the held-out scores that ``dest/manifest.json`` records for shipped heads with those of
    ``results`` (after ``benchmarks/realvideo.py`` measured them again, e.g. on a rebuilt RealData);
    the weights and the rest of each entry stay as they are."""
    manifest_path = Path(dest) / "manifest.json"
    if not manifest_path.is_file():
        raise RealDataError(f"{manifest_path}: no manifest; ship heads first: vidpose realdata export NAME")
    if not Path(results).is_file():
        raise RealDataError(f"{results}: no results; measure the heads first: python benchmarks/realvideo.py")
    manifest, measured_file = json.loads(manifest_path.read_text()), json.loads(Path(results).read_text())
    for name in names:  # every name is checked before anything is written
        if name not in manifest:
            raise RealDataError(f"{manifest_path}: ships no head {name!r} (it has {', '.join(manifest)})")
        if name not in measured_file.get("rows", {}):
            raise RealDataError(f"{results}: has no row {name!r}; run benchmarks/realvideo.py with it")
    for name in names:
        manifest[name].update(_scores(measured_file, name))
    _write_manifest(manifest, manifest_path)
    return manifest_path


def _overrides(cfg: dict[str, Any], name: str) -> list[str]:
    """The ``key=value`` overrides that turn the shipped ``configs/real/NAME.yaml`` into the config a
    head trained with (e.g. ``+train.amp_dtype=bf16``), so that the manifest's command retrains it;
    none where no such config is shipped."""
    from vidpose.engine.config import config_diff, load_config

    shipped = package_path(f"configs/real/{name}.yaml")
    if not shipped.is_file():
        return []

    def text(value: Any) -> str:  # as a key=value override reads it back, without spaces
        return json.dumps(value, separators=(",", ":")) if isinstance(value, (list, dict)) or value is None else str(value)

    absent = object()  # a key the shipped config lacks is added with +key=value
    return [f"{'+' if given is absent else ''}{key}={text(value)}"
            for key, given, value in config_diff(load_config(shipped), cfg, skip=("output",), missing=absent)
            if value is not absent]


def _scores(measured_file: dict[str, Any], name: str) -> dict[str, Any]:
    """A head's PCKh Total per RealData split in a ``benchmarks/realvideo.py`` results file, with that
    file's commit; empty scores where the file has no row for it."""
    row = measured_file.get("rows", {}).get(name, {})
    scores = {split: row[split]["PCKh"]["Total"] for split in ("test", HARD, HARD_CLEAN) if split in row}
    return {"PCKh_Total": scores, "scores_measured_at_commit": measured_file.get("commit") if scores else None}


def _write_manifest(manifest: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, path)  # never a half-written manifest


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
        dest, results = Path(args.dest or HEADS), Path(args.results or REALVIDEO_RESULTS)
        if args.scores_only:
            path = rescore_heads(args.names, dest=dest, results=results)
            print(f"updated the held-out scores of {', '.join(args.names)} in {path} from {results}")
            return 0
        path = export_heads(args.names, runs=args.runs, dest=dest, results=results)
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
