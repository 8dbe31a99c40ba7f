"""``vidpose bench``: the whole comparison on SynthTrack, end to end, resumable.

    vidpose bench [--preset standard] [--methods single_frame tdmi ...] [--steps 300]
                  [--budget-minutes N] [--out results]

1. The data is generated if missing (``data/synthtrack/<preset>``).
2. Stage 1 trains the single-frame models (their configs' epochs, from scratch).
3. Stage 2 trains every temporal method from its stage-1 backbone, as the papers do: the
   backbone weights are loaded (``train.init_from``) and frozen, and the method's own modules
   train for the same step budget (``--steps``, the LR schedule spans it). ``--budget-minutes``
   additionally caps each method's wall-clock time (results then depend on the machine).
4. Everything is tested on val and val_hard with the same (GT) boxes.
5. ``results/<date>/table.md``, ``table.json`` and ``chart.png`` are written.

Runs live in ``runs/bench/<preset>/<method>``. A method whose ``model.pt`` exists is reused (if
its stored config equals the one asked for; otherwise the command stops and says so); one with
only ``last.pt`` resumes exactly; test results are reused when newer than the checkpoint. So an
interrupted bench continues where it stopped when rerun with the same arguments.
"""

from __future__ import annotations

import datetime
import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidpose.engine.complexity import count_gflops, count_params
from vidpose.engine.config import load_config

log = logging.getLogger(__name__)

GROUPS = ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"]
SPLITS = ("val", "val_hard")


@dataclass(frozen=True)
class BenchMethod:
    """A table row's recipe: a config, overrides, and (stage 2) the stage-1 run it starts from."""

    config: str
    overrides: tuple[str, ...] = ()
    init: str | None = None  # stage-1 method whose backbone it loads and freezes
    note: str = ""


C = "configs/synthtrack/"
METHODS: dict[str, BenchMethod] = {
    # stage 1: single-frame models from scratch
    "single_frame": BenchMethod(C + "single_frame_hrnet_tiny.yaml", note="HRNet (tiny)"),
    "single_frame_resnet": BenchMethod(C + "single_frame_resnet_tiny.yaml", note="SimpleBaseline ResNet (tiny)"),
    "single_frame_vit": BenchMethod(C + "single_frame_vit_tiny.yaml", note="ViTPose (tiny)"),
    # stage 2: temporal methods on a frozen stage-1 backbone
    "naive_temporal": BenchMethod(C + "naive_temporal_hrnet_tiny.yaml", init="single_frame",
                                  note="HRNet features averaged over 5 frames"),
    "naive_temporal_vit": BenchMethod(C + "single_frame_vit_tiny.yaml",
                                      ("model.name=naive_temporal", "data.offsets=[-2,-1,1,2]"),
                                      init="single_frame_vit", note="ViT features averaged over 5 frames"),
    "tdmi": BenchMethod(C + "tdmi_tiny.yaml", init="single_frame"),
    "tdmi_st": BenchMethod(C + "tdmi_st_tiny.yaml", init="single_frame"),
    "tdmi_no_rdm": BenchMethod(C + "tdmi_tiny.yaml", ("model.rdm=none",), init="single_frame",
                               note="Table 7: no RDM"),
    "tdmi_no_mi": BenchMethod(C + "tdmi_tiny.yaml", ("model.mi_weight=0",), init="single_frame",
                              note="Table 7: RDM without the MI objective"),
    "sdtc": BenchMethod(C + "sdtc_tiny.yaml", init="single_frame_vit"),
    "sdtc_flow_add": BenchMethod(C + "sdtc_tiny.yaml", ("model.motion=flow", "model.fusion=add"),
                                 init="single_frame_vit", note="Table 4 (a): DIS flow, added"),
    "sdtc_flow_concat": BenchMethod(C + "sdtc_tiny.yaml", ("model.motion=flow", "model.fusion=concat"),
                                    init="single_frame_vit", note="Table 4 (b): DIS flow, concat + conv"),
    "sdtc_mlsme_add": BenchMethod(C + "sdtc_tiny.yaml", ("model.fusion=add",), init="single_frame_vit",
                                  note="Table 4 (c): MLSME, added"),
    "sdtc_mlsme_concat": BenchMethod(C + "sdtc_tiny.yaml", ("model.fusion=concat",), init="single_frame_vit",
                                     note="Table 4 (d): MLSME, concat + conv"),
    "sdtc_plain_motion": BenchMethod(C + "sdtc_tiny.yaml", ("model.patch_level=false", "model.frame_level=false"),
                                     init="single_frame_vit", note="Table 5 (a): no masked reconstruction"),
    "sdtc_patch_only": BenchMethod(C + "sdtc_tiny.yaml", ("model.frame_level=false",), init="single_frame_vit",
                                   note="Table 5 (b): patch level only"),
    "sdtc_mask25": BenchMethod(C + "sdtc_tiny.yaml", ("model.mask_ratio=0.25",), init="single_frame_vit",
                               note="Table 5 (c): masking ratio 25%"),
    "sdtc_mask75": BenchMethod(C + "sdtc_tiny.yaml", ("model.mask_ratio=0.75",), init="single_frame_vit",
                               note="Table 5 (d): masking ratio 75%"),
    "jmpose": BenchMethod(C + "jmpose_tiny.yaml", init="single_frame"),
    "jmpose_no_cjl": BenchMethod(C + "jmpose_tiny.yaml", ("model.joint_learner=false",), init="single_frame",
                                 note="no joint learner (motion only)"),
    "jmpose_no_jmml": BenchMethod(C + "jmpose_tiny.yaml", ("model.mutual_learning=false",), init="single_frame",
                                  note="no mutual learning (concatenate)"),
    "jmpose_no_io": BenchMethod(C + "jmpose_tiny.yaml", ("model.io_weight=0",), init="single_frame",
                                note="no orthogonality loss"),
    "jmpose_l1": BenchMethod(C + "jmpose_tiny.yaml", ("model.blocks=1",), init="single_frame", note="L = 1"),
    "jmpose_l2": BenchMethod(C + "jmpose_tiny.yaml", ("model.blocks=2",), init="single_frame", note="L = 2"),
    "jmpose_flow": BenchMethod(C + "jmpose_tiny.yaml", ("model.motion=flow",), init="single_frame",
                               note="DIS optical flow instead of learned motion"),
    "jmpose_flow_no_io": BenchMethod(C + "jmpose_tiny.yaml", ("model.motion=flow", "model.io_weight=0"),
                                     init="single_frame", note="DIS optical flow, no orthogonality loss"),
    "glpose": BenchMethod(C + "glpose_tiny.yaml", init="single_frame"),
    "glpose_local_only": BenchMethod(C + "glpose_tiny.yaml", ("model.use_global=false", "data.global_frames=0"),
                                     init="single_frame", note="local context only"),
    "glpose_global_only": BenchMethod(C + "glpose_tiny.yaml", ("model.use_local=false",), init="single_frame",
                                      note="global context only (the local frames are still read, unused)"),
    "glpose_no_enhancement": BenchMethod(C + "glpose_tiny.yaml", ("model.enhancement=false",), init="single_frame",
                                         note="no feature enhancement module"),
    "glpose_global8": BenchMethod(C + "glpose_tiny.yaml", ("data.global_frames=8", "model.top_k=4"),
                                  init="single_frame", note="8 global frames, top-4"),
    "glpose_top1": BenchMethod(C + "glpose_tiny.yaml", ("model.top_k=1",), init="single_frame", note="top-1"),
}

#: what ``--methods`` means when not given: every main method, no ablations
DEFAULT_METHODS = ["single_frame", "single_frame_resnet", "single_frame_vit", "naive_temporal", "naive_temporal_vit",
                   "tdmi", "tdmi_st", "sdtc", "jmpose", "glpose"]


def method_config(name: str, preset: str, runs: Path, steps: int | None, budget_minutes: float | None,
                  data_root: str | Path | None = None) -> dict[str, Any]:
    """The resolved config of one bench row."""
    m = METHODS[name]
    overrides = list(m.overrides) + [f"data.root={data_root or f'data/synthtrack/{preset}'}",
                                     f"data.synth_preset={preset}",
                                     f"output={runs / name}"]
    if m.init is not None:
        overrides += [f"train.init_from={runs / m.init / 'model.pt'}", "train.freeze_backbone=true"]
        if steps is not None:
            overrides.append(f"train.max_steps={steps}")
    if budget_minutes is not None:
        overrides.append(f"train.max_minutes={budget_minutes}")
    return load_config(m.config, overrides)


def order_methods(names: list[str]) -> list[str]:
    """Stage-1 methods first (adding those a stage-2 method needs), then stage 2, in order."""
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f"unknown bench method(s) {unknown}; known: {sorted(METHODS)}")
    needed = {METHODS[n].init for n in names if METHODS[n].init}
    stage1 = [n for n in METHODS if METHODS[n].init is None and (n in names or n in needed)]
    return stage1 + [n for n in names if METHODS[n].init is not None]


def _comparable(cfg: dict[str, Any]) -> dict[str, Any]:
    out = json.loads(json.dumps(cfg))
    out.get("train", {}).pop("max_minutes", None)  # a cap, not part of what is trained
    out["data"].pop("workers", None)
    out.pop("output", None)  # where the run lives, not what it is
    return out


def ensure_trained(name: str, cfg: dict[str, Any]) -> Path:
    from vidpose.engine.trainer import load_checkpoint, train

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
    train(cfg, run, resume=resume)
    return run / "model.pt"


def ensure_tested(name: str, cfg: dict[str, Any], ckpt: Path, split: str) -> dict[str, Any]:
    from vidpose.engine.tester import run_test

    run = Path(cfg["output"])
    result_file = run / f"results_{split}.json"
    if result_file.exists() and result_file.stat().st_mtime > ckpt.stat().st_mtime:
        return json.loads(result_file.read_text())
    log.info("%s: testing on %s", name, split)
    return run_test(cfg, ckpt, run, split=split)


def run_bench(preset: str = "standard", methods: list[str] | None = None, steps: int | None = 300,
              budget_minutes: float | None = None, out: str | Path = "results", runs: str | Path | None = None,
              date: str | None = None, data_root: str | Path | None = None) -> dict[str, Any]:
    """Train and test ``methods`` (default: ``DEFAULT_METHODS``); write the table; return it."""
    from vidpose.engine.data import ensure_dataset
    from vidpose.engine.trainer import load_checkpoint
    from vidpose.models.registry import build_model

    names = order_methods(list(methods or DEFAULT_METHODS))
    runs = Path(runs or f"runs/bench/{preset}")
    rows = []
    for i, name in enumerate(names, 1):
        cfg = method_config(name, preset, runs, steps, budget_minutes, data_root)
        ensure_dataset(cfg["data"])
        log.info("[%d/%d] %s (%s)", i, len(names), name, METHODS[name].config)
        ckpt = ensure_trained(name, cfg)
        state = load_checkpoint(ckpt)
        model = build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"]))
        frames = 1 + len(cfg["data"]["offsets"])
        params = round(count_params(model), 3)
        gflops = round(count_gflops(model, frames, tuple(cfg["data"]["input_size"])), 3)
        for split in SPLITS:
            result = ensure_tested(name, cfg, ckpt, split)
            rows.append({"method": name, "split": split, **{g: round(float(result[g]), 2) for g in GROUPS},
                         "params_m": params, "gflops": gflops,
                         "train_minutes": round(float(state.get("train_minutes", 0.0)), 2),
                         "train_steps": int(state["step"]), "backbone":
                         f"{cfg['model']['backbone']['name']}-{cfg['model']['backbone']['size']}"})
    table = {"preset": preset, "commit": _commit(), "rows": rows, "steps": steps, "budget_minutes": budget_minutes,
             "command": "vidpose bench --preset " + preset + " --methods " + " ".join(names)
                        + (f" --steps {steps}" if steps is not None else "")
                        + (f" --budget-minutes {budget_minutes}" if budget_minutes is not None else "")}
    folder = Path(out) / (date or datetime.date.today().isoformat())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "table.json").write_text(json.dumps(table, indent=2))
    (folder / "table.md").write_text(format_markdown(table))
    draw_chart(rows, folder / "chart.png")
    log.info("wrote %s", folder)
    return table


def export_weights(runs: str | Path, single: str, temporal: str, dest: str | Path = "weights") -> Path:
    """Copy two trained bench runs into ``dest`` for the demo: ``<method>.pt`` (the weights-only
    ``model.pt``), ``<method>.yaml`` (the exact config it was trained with) and ``manifest.json``."""
    import shutil

    import torch

    from vidpose.engine.config import save_config

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for role, name in (("single_frame", single), ("temporal", temporal)):
        run = Path(runs) / name
        if not (run / "model.pt").is_file():
            raise FileNotFoundError(f"{run / 'model.pt'}: train it first (vidpose bench --methods {name})")
        shutil.copyfile(run / "model.pt", dest / f"{name}.pt")
        cfg = torch.load(run / "model.pt", map_location="cpu", weights_only=False)["config"]
        cfg["train"]["init_from"] = None  # the weights are complete; nothing to initialise from
        save_config(cfg, dest / f"{name}.yaml")
        manifest[role] = {"method": name, "config": f"{dest.name}/{name}.yaml", "weights": f"{dest.name}/{name}.pt"}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return dest / "manifest.json"


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def format_markdown(table: dict[str, Any]) -> str:
    lines = [f"SynthTrack `{table['preset']}`, commit `{table['commit']}`. Command: `{table['command']}`", "",
             "AP per joint group (PoseTrack18 semantics, GT boxes). Stage-2 methods start from the stage-1 "
             "backbone and keep it frozen.", ""]
    for split in SPLITS:
        lines += [f"### {split}", "",
                  "| method | backbone | " + " | ".join(GROUPS) + " | params (M) | GFLOPs | train min | steps |",
                  "|---|---|" + "---:|" * (len(GROUPS) + 4)]
        for r in table["rows"]:
            if r["split"] == split:
                lines.append(f"| {r['method']} | {r['backbone']} | " + " | ".join(f"{r[g]:.1f}" for g in GROUPS)
                             + f" | {r['params_m']:.2f} | {r['gflops']:.3f} | {r['train_minutes']:.1f}"
                             f" | {r['train_steps']} |")
        lines.append("")
    return "\n".join(lines)


def draw_chart(rows: list[dict[str, Any]], path: Path) -> None:
    """Total AP per method, val and val_hard side by side (drawn with OpenCV, no plotting library)."""
    import cv2

    names = list(dict.fromkeys(r["method"] for r in rows))
    value = {(r["method"], r["split"]): r["Total"] for r in rows}
    bar, gap, left, top, height = 22, 18, 190, 40, 360
    width = left + len(names) * (2 * bar + gap) + 40
    img = np.full((top + height + 165, max(width, 480), 3), 255, np.uint8)
    colors = {"val": (200, 140, 60), "val_hard": (60, 90, 220)}
    cv2.putText(img, "Total AP (SynthTrack)", (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2)
    for k, split in enumerate(SPLITS):
        cv2.rectangle(img, (300 + 130 * k, 10), (316 + 130 * k, 26), colors[split], -1)
        cv2.putText(img, split, (322 + 130 * k, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
    base = top + height
    for tick in range(0, 101, 20):
        y = base - int(height * tick / 100)
        cv2.line(img, (left - 5, y), (img.shape[1] - 20, y), (225, 225, 225), 1)
        cv2.putText(img, str(tick), (left - 40, y + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    for i, name in enumerate(names):
        x = left + i * (2 * bar + gap)
        for k, split in enumerate(SPLITS):
            v = value.get((name, split))
            if v is None:
                continue
            x0 = x + k * bar
            cv2.rectangle(img, (x0, base - int(height * v / 100)), (x0 + bar - 2, base), colors[split], -1)
        label_img = np.full((20, 150, 3), 255, np.uint8)
        cv2.putText(label_img, name, (0, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
        rotated = cv2.rotate(label_img, cv2.ROTATE_90_COUNTERCLOCKWISE)
        y0 = base + 5
        img[y0:y0 + rotated.shape[0], x + bar - 10:x + bar + 10] = np.minimum(
            img[y0:y0 + rotated.shape[0], x + bar - 10:x + bar + 10], rotated)
    cv2.imwrite(str(path), img)
