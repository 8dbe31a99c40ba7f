"""Running ``vidpose bench``: train (or reuse, or resume) and test every row under a protocol, record
each (method, seed, split) row as it is measured, and compute the paired bootstrap intervals."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from vidpose.bench.archive import (archive_path, archive_predictions, load_archived_predictions, load_results,
                                   merge_protocol, protocol_view, put_row, read_results_file, save_results)
from vidpose.bench.methods import (BACKBONES, DEFAULT_METHODS, FULL_COMMAND, GROUPS, MAIN_METHODS, METHODS,
                                   PAPER_EPOCHS, RESULTS, ROOT, SPLITS, method_config, order_methods, stage1_weights)
from vidpose.engine.complexity import count_gflops, count_params
from vidpose.resources import shipped_name

log = logging.getLogger(__name__)


def _comparable(cfg: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(cfg))
    out.get("train", {}).pop("max_minutes", None)  # a cap, not part of what is trained
    out.get("train", {}).pop("feature_cache_dir", None)  # where the cache lives
    out["data"].pop("workers", None)
    out.pop("output", None)  # where the run lives, not what it is
    return out


def ensure_trained(name: str, cfg: dict[str, Any]) -> Path:
    from vidpose.engine.trainer import train
    from vidpose.engine.checkpoint import load_checkpoint

    run = Path(cfg["output"])
    for ckpt in (run / "model.pt", run / "last.pt"):
        if ckpt.exists():
            stored = load_checkpoint(ckpt).get("config", {})
            if _comparable(stored) != _comparable(cfg):
                raise SystemExit(f"error: {ckpt} was trained with another config than bench asks for now "
                                 f"(method {name}); delete {run} to retrain it")
    if (run / "model.pt").exists():
        log.info("%s: reusing %s", name, run / "model.pt")
        return run / "model.pt"
    resume = (run / "last.pt").exists()
    log.info("%s: %s training into %s", name, "resuming" if resume else "starting", run)
    train(cfg, run, resume=resume, overwrite=not resume)  # a start that never checkpointed leaves nothing to keep
    return run / "model.pt"


def ensure_tested(name: str, cfg: dict[str, Any], ckpt: Path, split: str, out_dir: Path) -> dict[str, Any]:
    from vidpose.engine.tester import run_test

    result_file = out_dir / f"results_{split}.json"
    if result_file.exists() and result_file.stat().st_mtime > ckpt.stat().st_mtime:
        return read_results_file(result_file)
    log.info("%s: testing on %s", name, split)
    return run_test(cfg, ckpt, out_dir, split=split)


def degradation_kind(frame) -> str:
    """The image degradation a frame carries (its first), or ``clean``."""
    from vidpose.synth.scene import DEGRADATIONS

    kinds = [d["type"] for d in (frame.raw or {}).get("degradations", []) if d.get("type") in DEGRADATIONS]
    return kinds[0] if kinds else "clean"


def ap_by_kind(root: Path, predictions: Path, split: str = "val_hard") -> dict[str, float]:
    """Total AP on the frames of each degradation kind."""
    from vidpose.data.annotations import load_posetrack
    from vidpose.evaluation import evaluate_posetrack
    from vidpose.evaluation.bootstrap import frames_where

    gt, _ = load_posetrack(root / "annotations" / split)
    kinds = sorted({degradation_kind(f) for v in gt for f in v.frames if f.is_labeled})
    pred, _ = load_posetrack(predictions)
    out = {}
    for kind in kinds:
        subset = frames_where(gt, lambda f, k=kind: degradation_kind(f) == k)
        out[kind] = round(float(evaluate_posetrack(subset, pred)["Total"]), 2)
    return out


def git_state(root: str | Path | None = None) -> tuple[str, bool]:
    """(short commit, whether tracked files are modified) of the repository at ``root`` (default:
    this checkout), as the benchmark scripts record them beside their results. Only what a
    result depends on counts (code, configs, scripts, weights, pins), not the results and docs
    that the benchmarks write themselves."""
    root = Path(root) if root is not None else ROOT
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=root).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "vidpose",
                                 "benchmarks/*.py", "analysis/*.py", "pyproject.toml", "Makefile"],
                                capture_output=True, text=True, cwd=root).stdout.strip())
    return commit, dirty


def probe_runs(names: list[str], runs: str | Path, out: str | Path, measure: Callable[[Path], dict[str, Any]],
               command: str, what: str) -> dict[str, Any]:
    """What the benchmark probes share: ``measure`` each named bench run (a folder under ``runs``
    holding ``model.pt``) and merge its result into the JSON file ``out`` under ``runs[name]``,
    with the commit it was measured at, writing after each run; ``command`` and ``what`` go at
    the top. A run that was never trained is an error naming its file."""
    from vidpose.data.annotations import write_json_atomic

    out = Path(out)
    results = read_results_file(out, {"runs": {}})
    results.setdefault("runs", {})
    commit, dirty = git_state()
    results.update({"command": command, "what": what})
    for name in names:
        run = Path(runs) / name
        if not (run / "model.pt").is_file():
            raise SystemExit(f"error: {run / 'model.pt'} does not exist (train it with vidpose bench first)")
        result = measure(run)
        results["runs"][name] = {**result, "commit": commit, "tracked_files_modified": dirty}
        print(name, json.dumps(result))
        write_json_atomic(results, out, indent=1)
    return results


def learning_curve(metrics: Path) -> list[dict[str, Any]]:
    """The val AP Total the trainer recorded every ``train.curve_every_epochs`` (``metrics.jsonl``):
    ``[{"epoch", "step", "AP"}]``, empty without a run folder."""
    if not metrics.is_file():
        return []
    points = [json.loads(line) for line in metrics.read_text().splitlines() if '"val_AP"' in line]
    return [{"epoch": p["epoch"], "step": p["step"], "AP": p["val_AP"]["Total"]} for p in points]


def run_bench(preset: str = "standard", methods: list[str] | None = None, steps: int | None = 1500,
              seeds: list[int] | None = None, ablation_seeds: list[int] | None = None, budget_minutes: float | None = None,
              runs: str | Path | None = None, data_root: str | Path | None = None, results: str | Path = RESULTS,
              retrain_backbones: bool = False, backbones: str | Path = BACKBONES, cache_copies: int | None = 2,
              resamples: int = 1000, command: str | None = None, cache_dir: str | Path | None = None,
              protocol: str = "frozen", paper_epochs: int = PAPER_EPOCHS, amp_dtype: str = "fp32") -> dict[str, Any]:
    """Train and test ``methods`` (default ``DEFAULT_METHODS``) under ``protocol`` and record every
    (method, seed, split) row in ``results`` as it is measured; returns that protocol's view of the
    results (``protocol_view``). ``amp_dtype`` "bf16": stage-2 rows train under bfloat16 autocast
    (``method_config``), and say so in their ``amp_dtype``."""
    from vidpose.engine.data import ensure_dataset
    from vidpose.engine.checkpoint import load_checkpoint
    from vidpose.models.registry import build_model

    names = order_methods(list(methods or DEFAULT_METHODS))
    seeds = list(seeds if seeds is not None else [0, 1, 2])
    ablation_seeds = list(ablation_seeds if ablation_seeds is not None else seeds[:1])
    runs = Path(runs or f"runs/bench/{preset}")
    results_path = Path(results)
    out = protocol_view(load_results(results_path), protocol)
    command = command or "vidpose bench --preset " + preset + " --methods " + " ".join(names)
    commit, modified = git_state()
    if protocol == "frozen":
        out.update({"commit": commit, "preset": preset, "steps": steps, "feature_cache_copies": cache_copies,
                    "command": FULL_COMMAND})
    else:
        out.update({"commit": commit, "epochs": paper_epochs})

    def save() -> None:
        save_results(merge_protocol(load_results(results_path), out), results_path)

    stage1: dict[str, Path] = {}
    for i, name in enumerate(names, 1):
        m = METHODS[name]
        if m.init is None:
            run_seeds = [0]
        else:
            run_seeds = seeds if name in MAIN_METHODS or name in DEFAULT_METHODS else ablation_seeds
        for seed in run_seeds:
            began = time.perf_counter()
            cfg = method_config(name, preset, runs, steps, budget_minutes, data_root, seed,
                                stage1.get(m.init) if m.init else None, cache_copies, cache_dir, protocol, paper_epochs,
                                amp_dtype)
            root = ensure_dataset(cfg["data"])
            log.info("[%d/%d] %s seed %d (%s)", i, len(names), name, seed, m.config)
            committed = stage1_weights(name, Path(backbones)) if m.init is None and not retrain_backbones else None
            ckpt = committed or ensure_trained(name, cfg)
            if m.init is None:
                stage1[name] = ckpt
            test_dir = Path(cfg["output"])
            test_dir.mkdir(parents=True, exist_ok=True)
            state = load_checkpoint(ckpt)
            if committed is not None:
                cfg = {**state["config"], "output": str(test_dir), "data": {**state["config"]["data"], **cfg["data"]}}
            model = build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"]))
            frames = 1 + len(cfg["data"]["offsets"])
            params = round(count_params(model), 3)
            gflops = round(count_gflops(model, frames, tuple(cfg["data"]["input_size"])), 3)
            for split in SPLITS:
                result = ensure_tested(name, cfg, ckpt, split, test_dir)
                row = {"method": name, "seed": seed, "split": split, "AP": {g: round(float(result[g]), 2) for g in GROUPS},
                       "steps": int(state["step"]), "train_minutes": round(float(state.get("train_minutes", 0.0)), 2),
                       "params_m": params, "gflops": gflops,
                       "backbone": f"{cfg['model']['backbone']['name']}-{cfg['model']['backbone']['size']}",
                       "stage": 1 if m.init is None else 2, "note": m.note, "commit": commit,
                       "command": command, "wall_minutes": round((time.perf_counter() - began) / 60, 2)}
                if m.init is not None:
                    row["protocol"] = protocol
                    if cfg["train"].get("amp_dtype") == "bf16":  # float32 on CPU is what a row without it means
                        row["amp_dtype"] = "bf16"
                    if protocol == "paper" and split == "val":  # the learning curve, to see it level off
                        row["val_curve"] = learning_curve(test_dir / "metrics.jsonl")
                if modified:
                    row["tracked_files_modified"] = True  # measured with uncommitted code or config changes
                if split == "val_hard":
                    row["AP_by_kind"] = ap_by_kind(root, test_dir / "predictions" / split)
                    archive_predictions(test_dir / "predictions" / split,
                                        archive_path(results_path, name, seed, protocol=row.get("protocol", "frozen")))
                put_row(out, row)
            save()
    bootstrap_all(out, runs, preset, data_root, resamples, results_path)
    save()
    return out


def bootstrap_all(results: dict[str, Any], runs: Path, preset: str, data_root: str | Path | None,
                  resamples: int, results_path: Path = RESULTS) -> None:
    """Paired bootstrap intervals on val_hard (Total AP, resampling videos), over the seeds whose
    predictions exist (in ``runs`` or archived beside ``results_path``); ``seeds`` records which:

    - ``bootstrap[m]``: every stage-2 method minus its single-frame backbone;
    - ``comparisons[m]``: what the paper claims is positive, for a method with a ``reference``:
      a published method minus its naive baseline, a full method minus its ablation ``m``
      (so a positive difference says the ablated component helps).

    A stored interval is kept where more of its seeds were measured than survive now."""
    from vidpose.data.annotations import load_posetrack
    from vidpose.evaluation.bootstrap import paired_bootstrap, per_video_detections

    root = Path(data_root or f"data/synthtrack/{preset}")
    gt, _ = load_posetrack(root / "annotations" / "val_hard")
    cache: dict[tuple[str, int], list | None] = {}
    protocol = results.get("protocol", "frozen")

    def detections(name: str, seed: int) -> list | None:
        if (name, seed) not in cache:
            stage2 = METHODS[name].init is not None
            base = runs / "paper" if protocol == "paper" and stage2 else runs
            folder = (base / name / f"seed{seed}" if stage2 else runs / name) / "predictions" / "val_hard"
            archive = archive_path(results_path, name, seed, protocol=protocol if stage2 else "frozen")
            pred = None
            if folder.is_dir():
                pred, _ = load_posetrack(folder)
            elif archive.is_file():
                pred = load_archived_predictions(archive)
            cache[name, seed] = None if pred is None else per_video_detections(gt, pred)
        return cache[name, seed]

    def surviving(name: str) -> list[int]:
        seeds = sorted({r["seed"] for r in results["rows"] if r["method"] == name and r["split"] == "val_hard"})
        return [s for s in seeds if detections(name, s) is not None]

    def interval(key: str, name: str, a: str, b: str) -> None:
        a_seeds, b_seeds = surviving(a), surviving(b)
        if not a_seeds or not b_seeds:
            return  # no predictions left of one side: keep the stored interval
        stored = results.get(key, {}).get(name)
        if stored:
            had = (len(stored.get("seeds", [])), len(stored.get("b_seeds", [0])))  # old entries: one baseline run
            if had[0] >= len(a_seeds) and had[1] >= len(b_seeds) and had != (len(a_seeds), len(b_seeds)):
                return  # an earlier interval used more seeds than survive now
        entry: dict[str, Any] = {"a": a, "b": b, "seeds": a_seeds, "b_seeds": b_seeds}
        if key == "bootstrap":  # the backbone interval's established keys
            entry = {"baseline": b, "seeds": a_seeds, "b_seeds": b_seeds}
        results.setdefault(key, {})[name] = {
            **entry, **paired_bootstrap([detections(a, s) for s in a_seeds], [detections(b, s) for s in b_seeds],
                                        resamples)}

    for name in sorted({r["method"] for r in results["rows"] if r["stage"] == 2}):
        m = METHODS[name]
        interval("bootstrap", name, name, m.init)
        if m.reference is not None:
            a, b = (name, m.reference) if name in MAIN_METHODS else (m.reference, name)
            interval("comparisons", name, a, b)


def merge_results(source: str | Path, names: list[str], protocol: str = "frozen", results: str | Path = RESULTS,
                  runs: str | Path | None = None, preset: str = "standard", data_root: str | Path | None = None,
                  resamples: int = 1000) -> dict[str, Any]:
    """The rows of ``names`` under ``protocol`` from another results file ``source`` (a bench run's
    in a pinned worktree, whose code cannot change under it) into ``results``, with their archived
    predictions; their intervals are computed here, over the rows they pair with (``runs``: where
    stage 1's predictions are, for the interval against the backbone). Returns the merged view."""
    import shutil

    source, results_path = Path(source), Path(results)
    theirs = protocol_view(load_results(source), protocol)
    absent = [n for n in names if not any(r["method"] == n and r.get("stage") != 1 for r in theirs["rows"])]
    if absent:
        raise ValueError(f"{source}: no {protocol} rows of {', '.join(absent)}")
    out = protocol_view(load_results(results_path), protocol)
    for row in theirs["rows"]:
        if row["method"] in names and row.get("stage") != 1:
            put_row(out, row)
            if row["split"] == "val_hard":
                kept = archive_path(source, row["method"], row["seed"], protocol=protocol)
                if kept.is_file():
                    dest = archive_path(results_path, row["method"], row["seed"], protocol=protocol)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(kept, dest)
    paired = set(names) | {METHODS[n].reference for n in names if METHODS[n].reference} | {
        r for n in names for r in METHODS if METHODS[r].reference == n} | {METHODS[n].init for n in names}
    part = {**out, "rows": [r for r in out["rows"] if r["method"] in paired], "bootstrap": {}, "comparisons": {}}
    bootstrap_all(part, Path(runs or f"runs/bench/{preset}"), preset, data_root, resamples, results_path)
    changed = set(names) | {n for n in METHODS if METHODS[n].reference in names}  # intervals that read new rows
    for key in ("bootstrap", "comparisons"):
        out.setdefault(key, {}).update({n: v for n, v in part[key].items() if n in changed})
    save_results(merge_protocol(load_results(results_path), out), results_path)
    return out


def export_backbones(runs: str | Path, names: list[str], dest: str | Path = BACKBONES,
                     results: str | Path = RESULTS, command: str = "") -> Path:
    """Copy trained stage-1 runs into ``dest`` (weights only, a few MB each) with a manifest that
    names the command, commit and metrics of each."""
    import shutil

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    manifest_path = dest / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    measured = load_results(Path(results))
    for name in names:
        run = Path(runs) / name
        if not (run / "model.pt").is_file():
            raise FileNotFoundError(f"{run / 'model.pt'}: train it first (vidpose bench --methods {name} "
                                    "--retrain-backbones)")
        shutil.copyfile(run / "model.pt", dest / f"{name}.pt")
        rows = [r for r in measured["rows"] if r["method"] == name]
        metrics = {r["split"]: r["AP"]["Total"] for r in rows}
        trained = rows[0] if rows else {}  # the run's own commit, command and cost, not this export's
        manifest[name] = {"weights": shipped_name(dest / f"{name}.pt"), "config": METHODS[name].config,
                          "command": trained.get("command") or command or
                          f"vidpose bench --methods {name} --retrain-backbones",
                          "commit": trained.get("commit") or git_state()[0], "AP_Total": metrics,
                          **{k: trained[k] for k in ("steps", "train_minutes") if k in trained}}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest_path
