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

import json
import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vidpose.data.schema import GROUP_NAMES
from vidpose.engine.complexity import count_gflops, count_params
from vidpose.engine.config import load_config
from vidpose.resources import package_path, shipped_name

log = logging.getLogger(__name__)

GROUPS = list(GROUP_NAMES)
SPLITS = ("val", "val_hard", "val_hard_clean")


@dataclass(frozen=True)
class BenchMethod:
    """A table row's recipe: a config, overrides, and (stage 2) the stage-1 run it starts from."""

    config: str
    overrides: tuple[str, ...] = ()
    init: str | None = None  # stage-1 method whose backbone it loads and freezes
    note: str = ""
    #: the row this one is also compared with, paired (besides its backbone): a published method's
    #: naive baseline on the same backbone, an ablation's full method
    reference: str | None = None
    #: a row of no paper's table, run to find out why a method or component behaves as it does: its
    #: comparison with ``reference`` is reported, but no paper claims its sign
    diagnosis: bool = False


C = "configs/synthtrack/"
METHODS: dict[str, BenchMethod] = {
    # stage 1: single-frame models from scratch
    "single_frame": BenchMethod(C + "single_frame_hrnet_tiny.yaml", note="HRNet (tiny)"),
    "single_frame_resnet": BenchMethod(C + "single_frame_resnet_tiny.yaml", note="SimpleBaseline ResNet (tiny)"),
    "single_frame_vit": BenchMethod(C + "single_frame_vit_tiny.yaml", note="ViTPose (tiny)"),
    # stage 2: temporal methods on a frozen stage-1 backbone
    "naive_temporal": BenchMethod(C + "naive_temporal_hrnet_tiny.yaml", init="single_frame",
                                  note="HRNet features averaged over 5 frames"),
    "naive_temporal_vit": BenchMethod(C + "naive_temporal_vit_tiny.yaml", init="single_frame_vit",
                                      note="ViT features averaged over 5 frames"),
    "tdmi": BenchMethod(C + "tdmi_tiny.yaml", init="single_frame", reference="naive_temporal"),
    "tdmi_st": BenchMethod(C + "tdmi_st_tiny.yaml", init="single_frame", reference="naive_temporal"),
    "tdmi_no_rdm": BenchMethod(C + "tdmi_tiny.yaml", ("model.rdm=none",), init="single_frame",
                               reference="tdmi", note="Table 7: no RDM"),
    "tdmi_no_mi": BenchMethod(C + "tdmi_tiny.yaml", ("model.mi_weight=0",), init="single_frame",
                              reference="tdmi", note="Table 7: RDM without the MI objective"),
    "tdmi_mi_no_cond": BenchMethod(C + "tdmi_tiny.yaml", ("+model.mi_terms=[mi_useful_noisy,mi_motion_useful]",),
                                   init="single_frame", reference="tdmi",
                                   note="MI objective without its conditional terms (Eq. 8-9 only; a diagnosis, not in the paper)",
                                   diagnosis=True),
    "tdmi_mi_cond_only": BenchMethod(C + "tdmi_tiny.yaml", ("+model.mi_terms=[mi_cond_motion,mi_cond_visual]",),
                                     init="single_frame", reference="tdmi",
                                     note="MI objective with its conditional terms only (Eq. 10-12; a diagnosis, not in the paper)",
                                     diagnosis=True),
    "tdmi_mi_no_dependence": BenchMethod(C + "tdmi_tiny.yaml",
                                         ("+model.mi_terms=[mi_motion_useful,mi_cond_motion,mi_cond_visual]",),
                                         init="single_frame", reference="tdmi",
                                         note="MI objective without Eq. 8 (a diagnosis, not in the paper)",
                                         diagnosis=True),
    "tdmi_mi_raw": BenchMethod(C + "tdmi_tiny.yaml", ("model.mi_read=raw", "model.mi_tau=0.05"), init="single_frame",
                               reference="tdmi", note="MI terms read raw at tau 0.05 (before the fix: a larger M games Eq. 8)",
                               diagnosis=True),
    "tdmi_st_mi_raw": BenchMethod(C + "tdmi_st_tiny.yaml", ("model.mi_read=raw", "model.mi_tau=0.05"),
                                  init="single_frame", reference="tdmi_st",
                                  note="TDMI-ST, MI terms read raw at tau 0.05 (before the fix)", diagnosis=True),
    # the readings the paper leaves open (docs/methods.md): what Eq. 8-9 may train, Eq. 9's teacher
    # and sign, and their scale; each row changes one choice of tdmi's
    "tdmi_mi_detached": BenchMethod(C + "tdmi_tiny.yaml", ("model.mi_route=detached",), init="single_frame",
                                    reference="tdmi", diagnosis=True,
                                    note="Eq. 8-9 read M detached, the gates live (a reading; the paper is silent)"),
    "tdmi_mi_gates": BenchMethod(C + "tdmi_tiny.yaml", ("model.mi_route=gates",), init="single_frame",
                                 reference="tdmi", diagnosis=True,
                                 note="Eq. 8-9 train the RDM gates only (a reading; the paper is silent)"),
    "tdmi_eq9_motion_probe": BenchMethod(C + "tdmi_tiny.yaml", ("model.mi_eq9=motion_probe",), init="single_frame",
                                         reference="tdmi", diagnosis=True,
                                         note="Eq. 9's teacher p(y|M) from a probe fitted on M (a reading)"),
    "tdmi_eq9_lineage": BenchMethod(C + "tdmi_tiny.yaml", ("model.mi_eq9=lineage",), init="single_frame",
                                    reference="tdmi", diagnosis=True,
                                    note="Eq. 9 with the lineage code's sign: the divergence maximised (a reading)"),
    "tdmi_mi_positions": BenchMethod(C + "tdmi_tiny.yaml", ("model.mi_scale=positions",), init="single_frame",
                                     reference="tdmi", diagnosis=True,
                                     note="Eq. 8-9 scaled by 1/(HW), the lineage's mean (a reading)"),
    "tdmi_st_no_mi": BenchMethod(C + "tdmi_st_tiny.yaml", ("model.mi_weight=0",), init="single_frame",
                                 reference="tdmi_st", note="TDMI-ST without the MI objective (Table 7's row, on TDMI-ST)"),
    "sdtc": BenchMethod(C + "sdtc_tiny.yaml", init="single_frame_vit", reference="naive_temporal_vit"),
    "sdtc_flow_add": BenchMethod(C + "sdtc_tiny.yaml", ("model.motion=flow", "model.fusion=add"),
                                 init="single_frame_vit", reference="sdtc", note="Table 4 (a): DIS flow, added"),
    "sdtc_flow_concat": BenchMethod(C + "sdtc_tiny.yaml", ("model.motion=flow", "model.fusion=concat"),
                                    init="single_frame_vit", reference="sdtc",
                                    note="Table 4 (b): DIS flow, concat + conv"),
    "sdtc_mlsme_add": BenchMethod(C + "sdtc_tiny.yaml", ("model.fusion=add",), init="single_frame_vit",
                                  reference="sdtc", note="Table 4 (c): MLSME, added"),
    "sdtc_mlsme_concat": BenchMethod(C + "sdtc_tiny.yaml", ("model.fusion=concat",), init="single_frame_vit",
                                     reference="sdtc", note="Table 4 (d): MLSME, concat + conv"),
    "sdtc_plain_motion": BenchMethod(C + "sdtc_tiny.yaml", ("model.patch_level=false", "model.frame_level=false"),
                                     init="single_frame_vit", reference="sdtc",
                                     note="Table 5 (a): no masked reconstruction"),
    "sdtc_patch_only": BenchMethod(C + "sdtc_tiny.yaml", ("model.frame_level=false",), init="single_frame_vit",
                                   reference="sdtc", note="Table 5 (b): patch level only"),
    "sdtc_mask25": BenchMethod(C + "sdtc_tiny.yaml", ("model.mask_ratio=0.25",), init="single_frame_vit",
                               reference="sdtc", note="Table 5 (c): masking ratio 25%"),
    "sdtc_mask75": BenchMethod(C + "sdtc_tiny.yaml", ("model.mask_ratio=0.75",), init="single_frame_vit",
                               reference="sdtc", note="Table 5 (d): masking ratio 75%"),
    # Table 5 (a) drops the masking and the reconstruction together; this row keeps the masks and
    # drops only Eq. 15's two reconstruction losses, so that sdtc_plain_motion minus it is what masking
    # the inputs costs and sdtc minus it is what the reconstruction buys back
    "sdtc_mask_no_rec": BenchMethod(C + "sdtc_tiny.yaml", ("model.rec_weight=0", "model.pose_rec_weight=0"),
                                    init="single_frame_vit", reference="sdtc",
                                    note="masked inputs without the reconstruction losses (a diagnosis, not in the paper)",
                                    diagnosis=True),
    "jmpose": BenchMethod(C + "jmpose_tiny.yaml", init="single_frame", reference="naive_temporal"),
    "jmpose_no_cjl": BenchMethod(C + "jmpose_tiny.yaml", ("model.joint_learner=false",), init="single_frame",
                                 reference="jmpose", note="no joint learner (motion only)"),
    "jmpose_no_jmml": BenchMethod(C + "jmpose_tiny.yaml", ("model.mutual_learning=false",), init="single_frame",
                                  reference="jmpose", note="no mutual learning (concatenate)"),
    "jmpose_no_io": BenchMethod(C + "jmpose_tiny.yaml", ("model.io_weight=0",), init="single_frame",
                                reference="jmpose", note="no orthogonality loss"),
    # what L_IO may train (the sources are silent; docs/methods.md): each row changes jmpose's io_route
    "jmpose_io_detached": BenchMethod(C + "jmpose_tiny.yaml", ("model.io_route=detached",), init="single_frame",
                                      reference="jmpose", diagnosis=True,
                                      note="L_IO reads M, J detached before the gates (a reading; the sources are silent)"),
    "jmpose_io_gates": BenchMethod(C + "jmpose_tiny.yaml", ("model.io_route=gates",), init="single_frame",
                                   reference="jmpose", diagnosis=True,
                                   note="L_IO trains the JMML gates only (a reading; the sources are silent)"),
    # the paper gives no lambda_IO (shared/specs/jmpose.md; we default to 1): its sensitivity, between
    # jmpose_no_io (0) and jmpose (1); analysis/io_weight.py pairs them
    "jmpose_io_0.1": BenchMethod(C + "jmpose_tiny.yaml", ("model.io_weight=0.1",), init="single_frame",
                                 note="lambda_IO = 0.1 (the paper gives none)"),
    "jmpose_io_0.5": BenchMethod(C + "jmpose_tiny.yaml", ("model.io_weight=0.5",), init="single_frame",
                                 note="lambda_IO = 0.5 (the paper gives none)"),
    "glpose": BenchMethod(C + "glpose_tiny.yaml", init="single_frame", reference="naive_temporal"),
    "glpose_local_only": BenchMethod(C + "glpose_tiny.yaml", ("model.use_global=false", "data.global_frames=0"),
                                     init="single_frame", reference="glpose", note="local context only"),
    "glpose_global_only": BenchMethod(C + "glpose_tiny.yaml", ("model.use_local=false",), init="single_frame",
                                      reference="glpose",
                                      note="global context only (the local frames are still read, unused)"),
    "glpose_no_enhancement": BenchMethod(C + "glpose_tiny.yaml", ("model.enhancement=false",), init="single_frame",
                                         reference="glpose", note="no feature enhancement module"),
}

#: how a stage-2 row trains: "frozen" (the backbone frozen, the method's modules trained for the
#: configs' 3 epochs from cached features) or "paper" (the backbone fine-tuned with the method, with
#: its paper's optimiser and step decays: ``PAPER_RECIPES``)
PROTOCOLS = ("frozen", "paper")


@dataclass(frozen=True)
class PaperRecipe:
    """A paper's training recipe: optimiser, learning rate, weight decay, the epochs at which the
    rate is multiplied by 0.1, and how many epochs it trains (on PoseTrack)."""

    optimizer: str
    lr: float
    weight_decay: float
    milestones: tuple[int, ...]
    epochs: int
    source: str

    def overrides(self, epochs: int) -> list[str]:
        """The trainer overrides of this recipe compressed to ``epochs`` SynthTrack epochs: the
        decays fall at the same fractions of training (TDMI's epochs 6, 12, 18 of 20 at 6 epochs:
        1.8, 3.6, 5.4)."""
        ms = [round(m * epochs / self.epochs, 3) for m in self.milestones]
        return [f"train.optimizer={self.optimizer}", f"train.lr={self.lr}", f"train.weight_decay={self.weight_decay}",
                "train.schedule=step", f"+train.milestones=[{','.join(map(str, ms))}]", "+train.gamma=0.1",
                "train.warmup_steps=0", f"train.epochs={epochs}", "train.freeze_backbone=false",
                "train.curve_every_epochs=1"]


#: each paper's recipe, by model name, or by bench row where a row needs another: the naive baseline
#: trains as the methods it is compared with on its backbone (TDMI's recipe, the HRNet lineage's, on
#: the HRNet; SDTC's on the ViT)
PAPER_RECIPES = {
    "tdmi": PaperRecipe("adam", 1e-3, 0.0, (6, 12, 18), 20, "TDMI Sec. 4.1 (Implementation details)"),
    "naive_temporal": PaperRecipe("adam", 1e-3, 0.0, (6, 12, 18), 20, "TDMI's recipe (the HRNet lineage's)"),
    "jmpose": PaperRecipe("adamw", 1e-3, 0.01, (6, 12, 18), 20,
                          "JM-Pose's released config (shared/specs/jmpose.md: AdamW at PyTorch's default decay)"),
    "glpose": PaperRecipe("adam", 1e-3, 0.0, (10, 15), 20, "GLPose (shared/specs/glpose.md)"),
    "sdtc": PaperRecipe("adamw", 5e-4, 0.01, (20, 40), 50,
                        "SDTC Sec. 4.1 (weight decay unstated: PyTorch's AdamW default)"),
}
PAPER_RECIPES["naive_temporal_vit"] = PAPER_RECIPES["sdtc"]
#: SynthTrack epochs of a ``paper`` row: the papers' 20 (SDTC 50) PoseTrack epochs do not fit two CPU
#: cores (one step of 32 clips with the backbone fine-tuned: analysis/results/step_cost.json), so
#: each recipe is compressed to this many epochs with its decays at the same fractions of training;
#: the learning curves (val AP every epoch) show whether it levels off. ``--paper-epochs`` changes it.
PAPER_EPOCHS = 6

#: the methods as published (at least 3 seeds each) and the naive baseline; ablations get 1 by default
MAIN_METHODS = ["naive_temporal", "tdmi", "tdmi_st", "sdtc", "jmpose", "glpose"]
#: what ``--methods`` means when not given: the stage-1 baselines and the main methods
DEFAULT_METHODS = ["single_frame", "single_frame_resnet", "single_frame_vit", "naive_temporal_vit", *MAIN_METHODS]
#: what ``make bench`` runs: every row of the table (bench.json's top-level ``command``; each row also
#: records the invocation that measured it)
FULL_COMMAND = "vidpose bench --all"
ROOT = package_path("").parent  # the checkout (git state, the docs the report updates)
BACKBONES = package_path("weights/backbones")
RESULTS = Path("benchmarks/results/bench.json")


def stage1_weights(name: str, folder: Path = BACKBONES) -> Path | None:
    """The committed stage-1 checkpoint of ``name`` (weights/backbones/manifest.json), if any."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return None
    entry = json.loads(manifest.read_text()).get(name)
    if not entry:
        return None
    path = folder / Path(entry["weights"]).name
    return path if path.is_file() else None


def method_config(name: str, preset: str, runs: Path, steps: int | None, budget_minutes: float | None,
                  data_root: str | Path | None = None, seed: int = 0, backbone: Path | None = None,
                  cache_copies: int | None = None, cache_dir: str | Path | None = None, protocol: str = "frozen",
                  paper_epochs: int = PAPER_EPOCHS) -> dict[str, Any]:
    """The resolved config of one bench row (``backbone``: the stage-1 checkpoint a stage-2 row
    loads; default the stage-1 run in ``runs``; ``cache_dir``: where its cached backbone features
    live, default the config's). ``protocol`` "frozen": the backbone frozen, ``steps`` the budget;
    "paper": fine-tuned with the paper's recipe over ``paper_epochs`` epochs, in ``runs/paper``."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"bench: unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    m = METHODS[name]
    paper = protocol == "paper" and m.init is not None
    base = runs / "paper" if paper else runs
    folder = runs / name if m.init is None else base / name / f"seed{seed}"
    overrides = list(m.overrides) + [f"data.root={data_root or f'data/synthtrack/{preset}'}",
                                     f"data.synth_preset={preset}", f"output={folder}"]
    if paper:
        init = backbone or runs / m.init / "model.pt"
        recipe = PAPER_RECIPES.get(name) or PAPER_RECIPES[load_config(m.config)["model"]["name"]]
        overrides += [f"train.init_from={init}", f"train.seed={seed}", *recipe.overrides(paper_epochs)]
    elif m.init is not None:
        init = backbone or runs / m.init / "model.pt"
        overrides += [f"train.init_from={init}", "train.freeze_backbone=true", f"train.seed={seed}"]
        if steps is not None:
            overrides.append(f"train.max_steps={steps}")
        if cache_copies:
            cfg = load_config(m.config, overrides)
            from vidpose.engine.feature_cache import needs_frames

            if not needs_frames(cfg["model"]):
                overrides.append(f"+train.feature_cache={cache_copies}")
                if cache_dir is not None:
                    overrides.append(f"+train.feature_cache_dir={cache_dir}")
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
        return json.loads(result_file.read_text())
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
                                 "benchmarks/*.py", "pyproject.toml", "Makefile"], capture_output=True,
                                text=True, cwd=root).stdout.strip())
    return commit, dirty


def probe_runs(names: list[str], runs: str | Path, out: str | Path, measure: Callable[[Path], dict[str, Any]],
               command: str, what: str) -> dict[str, Any]:
    """What the benchmark probes share: ``measure`` each named bench run (a folder under ``runs``
    holding ``model.pt``) and merge its result into the JSON file ``out`` under ``runs[name]``,
    with the commit it was measured at, writing after each run; ``command`` and ``what`` go at
    the top. A run that was never trained is an error naming its file."""
    from vidpose.data.annotations import write_json_atomic

    out = Path(out)
    results = json.loads(out.read_text()) if out.is_file() else {"runs": {}}
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


def load_results(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {"rows": [], "bootstrap": {}}


def row_protocol(row: dict[str, Any]) -> str:
    """A row's protocol; rows written before protocols existed were all ``frozen``."""
    return row.get("protocol", "frozen")


def protocol_view(results: dict[str, Any], protocol: str) -> dict[str, Any]:
    """The part of a results file one protocol owns, shaped as a whole file: its rows (stage 1
    belongs to both) and its intervals (``frozen``: the top-level ``bootstrap`` and ``comparisons``,
    where they always were; ``paper``: under ``protocols.paper``)."""
    rows = [r for r in results.get("rows", []) if r.get("stage") == 1 or row_protocol(r) == protocol]
    own = results if protocol == "frozen" else results.get("protocols", {}).get(protocol, {})
    return {**{k: v for k, v in results.items() if k not in ("rows", "bootstrap", "comparisons", "protocols")},
            "rows": rows, "bootstrap": dict(own.get("bootstrap", {})), "comparisons": dict(own.get("comparisons", {})),
            "protocol": protocol}


def merge_protocol(results: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
    """``results`` with ``view`` (from ``protocol_view``, then updated) put back in its place."""
    protocol = view["protocol"]
    others = [r for r in results.get("rows", []) if r.get("stage") != 1 and row_protocol(r) != protocol]
    if protocol == "frozen":  # the frozen rows first, in their own order (the file does not churn)
        rows = view["rows"] + others
    else:  # the other rows as they stand (stage 1 as the view has it), then this protocol's
        stage1 = {(r["method"], r["seed"], r["split"]): r for r in view["rows"] if r.get("stage") == 1}
        kept = [stage1.pop((r["method"], r["seed"], r["split"]), r) if r.get("stage") == 1 else r
                for r in results.get("rows", []) if r.get("stage") == 1 or row_protocol(r) != protocol]
        rows = kept + list(stage1.values()) + [r for r in view["rows"] if r.get("stage") != 1]
    merged = {**results, "rows": rows}
    intervals = {"bootstrap": view.get("bootstrap", {}), "comparisons": view.get("comparisons", {})}
    if protocol == "frozen":
        merged.update(intervals)
        merged.update({k: v for k, v in view.items() if k not in ("rows", "bootstrap", "comparisons", "protocol")})
    else:
        merged["protocols"] = {**results.get("protocols", {}), protocol: {
            **intervals, **{k: view[k] for k in ("commit", "epochs") if k in view}}}
    return merged


def save_results(results: dict[str, Any], path: Path) -> None:
    from vidpose.data.annotations import write_json_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(results, path)


def archive_path(results: Path, name: str, seed: int, split: str = "val_hard", protocol: str = "frozen") -> Path:
    """Where a row's predictions are kept beside the results file, so that its interval can be
    recomputed after ``runs/`` is gone: ``predictions/<method>-seed<k>-<split>.json.gz`` (a
    ``paper`` row's under ``predictions/paper/``)."""
    folder = Path(results).parent / "predictions"
    return (folder / "paper" if protocol == "paper" else folder) / f"{name}-seed{seed}-{split}.json.gz"


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    """A prediction file as the evaluator needs it: labeled frames' image entries without their
    degradation records, coordinates to 1/1000 pixel and scores to 1e-6."""
    images = [{k: v for k, v in im.items() if k != "degradations"} for im in data.get("images", [])]
    annotations = []
    for ann in data.get("annotations", []):
        ann = dict(ann)
        if "keypoints" in ann:
            ann["keypoints"] = [round(float(v), 3) for v in ann["keypoints"]]
        if "scores" in ann:
            ann["scores"] = [round(float(v), 6) for v in ann["scores"]]
        annotations.append(ann)
    return {**data, "images": images, "annotations": annotations}


def archive_predictions(folder: Path, path: Path) -> Path:
    """Gzip every prediction file of ``folder`` (compacted) into one archive at ``path``, atomically."""
    import gzip

    from vidpose.data.annotations import annotation_files, load_json

    files = {f.name: _compact(load_json(f)) for f in annotation_files(folder)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps({"source": Path(folder).as_posix(), "files": files}, separators=(",", ":"))
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as fh:
        fh.write(text.encode("utf-8"))  # no name or time in the header: the same predictions, the same bytes
    tmp.replace(path)
    return path


def load_archived_predictions(path: Path) -> list:
    """The videos of an archive written by ``archive_predictions``."""
    import gzip

    from vidpose.data.annotations import parse_posetrack

    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, EOFError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable predictions archive ({e})") from e
    # each video is parsed as ``<archive>/<file>``: its name is the file's stem, as when read from runs/
    return [v for name, content in sorted(data["files"].items())
            for v in parse_posetrack(content, Path(path) / name)]


class ArchivedRuns:
    """The rows of a results file, and what the benchmark scripts pair from its archived val_hard
    predictions (beside the file): ``detections(name)``, the per-video detections per seed whose
    predictions are archived (each read once), and ``interval(a, b)``, the paired bootstrap of
    a − b over those seeds (None where one side has none)."""

    def __init__(self, results_path: str | Path, data_root: str | Path, resamples: int = 1000,
                 protocol: str = "frozen"):
        from vidpose.data.annotations import load_posetrack

        self.results_path, self.resamples, self.protocol = Path(results_path), resamples, protocol
        self.rows: list[dict[str, Any]] = protocol_view(json.loads(self.results_path.read_text()), protocol)["rows"]
        self.gt, _ = load_posetrack(Path(data_root) / "annotations" / "val_hard")
        self._detections: dict[str, dict[int, list]] = {}

    def detections(self, name: str) -> dict[int, list]:
        from vidpose.evaluation.bootstrap import per_video_detections

        if name not in self._detections:
            seeds = sorted({r["seed"] for r in self.rows if r["method"] == name and r["split"] == "val_hard"})
            stage2 = METHODS[name].init is not None if name in METHODS else True
            found = {s: archive_path(self.results_path, name, s, protocol=self.protocol if stage2 else "frozen")
                     for s in seeds}
            self._detections[name] = {s: per_video_detections(self.gt, load_archived_predictions(p))
                                      for s, p in found.items() if p.is_file()}
        return self._detections[name]

    def interval(self, a: str, b: str) -> dict[str, Any] | None:
        from vidpose.evaluation.bootstrap import paired_bootstrap

        ra, rb = self.detections(a), self.detections(b)
        if not ra or not rb:
            return None
        return {"seeds": sorted(ra), "b_seeds": sorted(rb),
                **paired_bootstrap(list(ra.values()), list(rb.values()), self.resamples)}


def learning_curve(metrics: Path) -> list[dict[str, Any]]:
    """The val AP Total the trainer recorded every ``train.curve_every_epochs`` (``metrics.jsonl``):
    ``[{"epoch", "step", "AP"}]``, empty without a run folder."""
    if not metrics.is_file():
        return []
    points = [json.loads(line) for line in metrics.read_text().splitlines() if '"val_AP"' in line]
    return [{"epoch": p["epoch"], "step": p["step"], "AP": p["val_AP"]["Total"]} for p in points]


def put_row(results: dict[str, Any], row: dict[str, Any]) -> None:
    """Replace the row of the same (method, seed, split), or add it, in place. A row measured
    again with the same numbers (reused test results) keeps the commit it was measured at."""
    key = (row["method"], row["seed"], row["split"])
    for i, r in enumerate(results["rows"]):
        if (r["method"], r["seed"], r["split"]) == key:
            if r.get("AP") == row.get("AP") and r.get("steps") == row.get("steps"):
                row = {**{k: v for k, v in row.items() if k != "tracked_files_modified"},
                       "commit": r.get("commit", "unrecorded"),
                       **{k: r[k] for k in ("command", "wall_minutes", "tracked_files_modified") if k in r}}
            results["rows"][i] = row
            return
    results["rows"].append(row)


def run_bench(preset: str = "standard", methods: list[str] | None = None, steps: int | None = 1500,
              seeds: list[int] | None = None, ablation_seeds: list[int] | None = None, budget_minutes: float | None = None,
              runs: str | Path | None = None, data_root: str | Path | None = None, results: str | Path = RESULTS,
              retrain_backbones: bool = False, backbones: str | Path = BACKBONES, cache_copies: int | None = 2,
              resamples: int = 1000, command: str | None = None, cache_dir: str | Path | None = None,
              protocol: str = "frozen", paper_epochs: int = PAPER_EPOCHS) -> dict[str, Any]:
    """Train and test ``methods`` (default ``DEFAULT_METHODS``) under ``protocol`` and record every
    (method, seed, split) row in ``results`` as it is measured; returns that protocol's view of the
    results (``protocol_view``)."""
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
                                stage1.get(m.init) if m.init else None, cache_copies, cache_dir, protocol, paper_epochs)
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


# ----------------------------------------------------------------------------------------------
# The report: docs/results.md and its chart, generated from bench.json alone
# ----------------------------------------------------------------------------------------------


def _stats(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def cost_summary(results: dict[str, Any]) -> dict[str, Any]:
    """What the table cost, from its rows: per (method, seed) run, its training minutes and the
    wall-clock minutes from its start to its last tested split (feature caching and testing
    included; older rows did not record it). Summed over stage 1 and stage 2."""
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    for r in results["rows"]:
        run = runs.setdefault((r["method"], r["seed"]), {"stage": r.get("stage", 2), "train": 0.0, "wall": 0.0})
        run["train"] = max(run["train"], float(r.get("train_minutes") or 0.0))
        run["wall"] = max(run["wall"], float(r.get("wall_minutes") or 0.0))
    timed = [x for x in runs.values() if x["wall"] > 0]
    return {"runs": len(runs), "train_minutes": round(sum(x["train"] for x in runs.values()), 1),
            "stage1_train_minutes": round(sum(x["train"] for x in runs.values() if x["stage"] == 1), 1),
            "wall_timed_runs": len(timed), "wall_minutes": round(sum(x["wall"] for x in timed), 1),
            "train_minutes_of_timed_runs": round(sum(x["train"] for x in timed), 1)}


def summarise(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One line per method: mean and std over seeds per split, the oracle, recovery, interval."""
    rows = results["rows"]
    by = {}
    for r in rows:
        by.setdefault(r["method"], {}).setdefault(r["split"], []).append(r)
    lines = []
    for name in [n for n in METHODS if n in by]:
        m = METHODS[name]
        base = m.init or name
        splits = by[name]
        line: dict[str, Any] = {"method": name, "stage": 1 if m.init is None else 2, "note": m.note,
                                "baseline": m.init, "seeds": len(splits.get("val_hard", []))}
        for split, entries in splits.items():
            mean, std = _stats([e["AP"]["Total"] for e in entries])
            line[split] = (round(mean, 2), round(std, 2))
            line[f"{split}_groups"] = {g: round(float(np.mean([e["AP"][g] for e in entries])), 2) for g in GROUPS}
        first = splits["val_hard"][0] if "val_hard" in splits else next(iter(splits.values()))[0]
        line.update({k: first[k] for k in ("params_m", "gflops", "steps", "backbone")})
        line["train_minutes"] = round(float(np.mean([e["train_minutes"] for e in splits.get("val_hard", [first])])), 1)
        if "val_hard" in splits and splits["val_hard"][0].get("AP_by_kind"):
            kinds = splits["val_hard"][0]["AP_by_kind"]
            line["by_kind"] = {k: round(float(np.mean([e["AP_by_kind"][k] for e in splits["val_hard"]])), 2)
                               for k in kinds}
        single = by.get(base, {})
        if "val_hard" in single and "val_hard_clean" in single and "val_hard" in line:
            s_hard = single["val_hard"][0]["AP"]["Total"]
            oracle = single["val_hard_clean"][0]["AP"]["Total"]
            line["single_val_hard"], line["oracle"] = s_hard, oracle
            gap = oracle - s_hard
            line["recovery"] = round(100 * (line["val_hard"][0] - s_hard) / gap, 1) if gap > 0 else None
        line["bootstrap"] = results.get("bootstrap", {}).get(name)
        line["reference"] = m.reference
        line["comparison"] = results.get("comparisons", {}).get(name)
        lines.append(line)
    hard = {ln["method"]: ln["val_hard"][0] for ln in lines if "val_hard" in ln}
    n_seeds = {ln["method"]: ln["seeds"] for ln in lines}
    for ln in lines:  # the paper's claim as a difference of means over all seeds: method - naive, full - ablation
        ref = ln["reference"]
        if ref in hard and ln["method"] in hard:
            a, b = (ln["method"], ref) if ln["method"] in MAIN_METHODS else (ref, ln["method"])
            ln["claim"] = {"a": a, "b": b, "delta": round(hard[a] - hard[b], 2), "a_seeds": n_seeds[a],
                           "b_seeds": n_seeds[b]}
    return lines


def realvideo_markdown(report: dict[str, Any], path: Path) -> list[str]:
    """The real-video section of docs/results.md, from ``benchmarks/realvideo.py``'s results."""
    try:  # links are relative to the repository
        path = Path(path).resolve().relative_to(ROOT)
    except ValueError:
        pass
    rows = report["rows"]
    single = rows.get("blazepose", {})
    md = ["# Real video: the temporal heads on the frozen BlazePose backbone", "",
          f"Generated from [`{path.as_posix()}`](../{path.as_posix()}) (commit `{report['commit']}`"
          + (", tracked files modified" if report.get("tracked_files_modified") else "") + "). Command:", "",
          f"```bash\n{report['command']}\n```", "",
          f"RealData version {report['data_version']} (`vidpose realdata build`, vidpose/realdata.py): held-out real "
          f"video (Sports2D, vtest.avi, a Pose2Sim camera of each trial), pseudo labels by {report.get('teacher')} on the "
          "clean frames. PCKh@0.5 (Total over the 15 PoseTrack joints) against the pseudo labels; every model runs on "
          f"the tracker's boxes (`window_boxes: {report['window_boxes']}`). `test`: clean, every frame; `test_hard`: "
          "every third frame degraded, neighbours clean; the oracle is the single-frame model on the clean twins; "
          "recovery = (model − single frame) / (oracle − single frame) on `test_hard`. Fast joints: on `test`, joints "
          f"moving at least {report['fast_speed_head_sizes_per_frame']} head sizes per frame (very fast: "
          f"{report.get('very_fast_speed_head_sizes_per_frame', '-')}). Fixtures: the real "
          "PoseTrack18 frames of `../shared` with GT boxes (one frame per video: the window is the frame repeated).",
          "", "| model | test | test_hard | clean twins | gain | recovery | fast joints (test) | very fast | "
          "test_hard AP | fixtures | head params (M) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    val = lambda r, split, key="PCKh": r.get(split, {}).get(key, {}).get("Total", "-")  # noqa: E731
    for name, r in rows.items():
        fast = r.get("test", {}).get("PCKh_fast_joints", {}).get("Total", "-")
        very = r.get("test", {}).get("PCKh_very_fast_joints", {}).get("Total", "-")
        fix = (r.get("fixtures") or {}).get("PCKh", {}).get("Total", "-")
        gain = r.get("gain_over_single_PCKh")
        rec = r.get("recovery_PCKh")
        md.append(f"| {name} | {val(r, 'test')} | {val(r, 'test_hard')} | {val(r, 'test_hard_clean')} | "
                  f"{'-' if gain is None or name == 'blazepose' else f'{gain:+.1f}'} | "
                  f"{'-' if rec is None or name == 'blazepose' else f'{rec:.0f}%'} | {fast} | {very} | "
                  f"{val(r, 'test_hard', 'AP')} | {fix} | {r.get('trainable_params_m', '-')} |")
    kinds = sorted({k for r in rows.values() for k in r.get("test_hard", {}).get("PCKh_by_kind", {})})
    if kinds:
        md += ["", "## test_hard by degradation kind (PCKh Total)", "", "| model | " + " | ".join(kinds) + " |",
               "|---|" + "---:|" * len(kinds)]
        for name, r in rows.items():
            by = r.get("test_hard", {}).get("PCKh_by_kind", {})
            md.append(f"| {name} | " + " | ".join(str(by.get(k, {}).get("Total", "-")) for k in kinds) + " |")
    groups = [g for g in GROUPS if g != "Total"]
    if single:
        md += ["", "## test_hard per joint group (PCKh)", "", "| model | " + " | ".join(groups) + " | Total |",
               "|---|" + "---:|" * (len(groups) + 1)]
        for name, r in rows.items():
            pk = r.get("test_hard", {}).get("PCKh", {})
            md.append(f"| {name} | " + " | ".join(str(pk.get(g, "-")) for g in groups + ["Total"]) + " |")
        for split, key, title in (("test", "PCKh", "test (clean) per joint group (PCKh)"),
                                  ("test", "PCKh_fast_joints", "fast joints of test per joint group (PCKh)")):
            md += ["", f"## {title}", "", "| model | " + " | ".join(groups) + " | Total |",
                   "|---|" + "---:|" * (len(groups) + 1)]
            for name, r in rows.items():
                pk = r.get(split, {}).get(key, {})
                md.append(f"| {name} | " + " | ".join(str(pk.get(g, "-")) for g in groups + ["Total"]) + " |")
    md += ["", "The reading of these numbers is in [benchmarks/realvideo.md](../benchmarks/realvideo.md)."]
    return md


def _mean_std(ms: tuple[float, float]) -> str:
    """``mean ± std`` over seeds, or the mean alone for one seed."""
    return f"{ms[0]:.1f} ± {ms[1]:.1f}" if ms[1] else f"{ms[0]:.1f}"


def _recovery_text(line: dict[str, Any]) -> str:
    """A stage-2 row's recovery of the gap to the oracle, in percent."""
    return f"{line['recovery']:.0f}%" if line.get("recovery") is not None and line["stage"] == 2 else "-"


def _delta_text(line: dict[str, Any]) -> str:
    """Δ val_hard (mean over seeds) and its bootstrap interval, naming the seeds the interval used
    where they are not all of the row's (predictions of earlier sessions' runs may be gone)."""
    if line["stage"] != 2 or "single_val_hard" not in line or "val_hard" not in line:
        return "-"
    text = f"{line['val_hard'][0] - line['single_val_hard']:+.1f}"
    b = line.get("bootstrap")
    if not b:
        return text + " [not measured]"
    text += f" [{b['ci_low']:+.1f}, {b['ci_high']:+.1f}]"
    if len(b.get("seeds", [])) != line["seeds"]:
        text += " (interval: seed " + ", ".join(map(str, b["seeds"])) + f", Δ {b['delta']:+.1f})"
    return text


def _comparison_text(line: dict[str, Any]) -> str:
    """The paired comparison a paper claims is positive (method − naive baseline, full method −
    ablation) on val_hard: the difference of the means over all seeds, and its bootstrap interval
    over the seeds whose predictions survive (named where they are not all)."""
    ref = line.get("reference")
    if ref is None:
        return "-"
    claim = line.get("claim")
    if claim is None:
        return f"{ref} not measured"
    text = f"{claim['a']} − {claim['b']}: {claim['delta']:+.1f}"
    c = line.get("comparison")
    if not c:
        return text + " [interval not measured: predictions gone]"
    text += f" [{c['ci_low']:+.1f}, {c['ci_high']:+.1f}]"
    if (len(c["seeds"]), len(c["b_seeds"])) != (claim["a_seeds"], claim["b_seeds"]):  # fewer seeds than the means
        text += f" (interval over seeds {_seeds(c['seeds'])} vs {_seeds(c['b_seeds'])}: {c['delta']:+.1f})"
    return text


def _seeds(seeds: list[int]) -> str:
    return ",".join(map(str, seeds))


TABLE_BEGIN = "<!-- bench-table:"
TABLE_END = "<!-- /bench-table -->"
COST_BEGIN = "<!-- bench-cost:"
COST_END = "<!-- /bench-cost -->"
TABLE_DOCS = ("README.md", "benchmarks/baselines.md", "benchmarks/tdmi.md", "benchmarks/sdtc.md",
              "benchmarks/jmpose.md", "benchmarks/glpose.md")


def bench_table(lines: list[dict[str, Any]], methods: list[str], source: str) -> list[str]:
    """A short table of ``methods`` (in that order) from ``summarise``'s lines, for the docs that
    discuss them; a method not measured yet says so."""
    by = {ln["method"]: ln for ln in lines}
    md = [f"Generated by `vidpose bench --report` from `{source}`; AP Total, mean ± std over seeds.", "",
          "| row | seeds | val | val_hard | clean twins | Δ val_hard [95% CI] | recovery | "
          "paper's claim, paired [95% CI] |",
          "|---|---:|---:|---:|---:|---|---:|---|"]
    for name in methods:
        ln = by.get(name)
        if ln is None:
            md.append(f"| {name} | 0 | not measured yet | | | | | |")
            continue
        md.append(f"| {name}{' (stage 1)' if ln['stage'] == 1 else ''} | {ln['seeds']} | "
                  + " | ".join(_mean_std(ln[s]) if s in ln else "-" for s in SPLITS)
                  + f" | {_delta_text(ln)} | {_recovery_text(ln)} | {_comparison_text(ln)} |")
    return md


def _replace_blocks(text: str, begin: str, end: str, render, doc: Path) -> str:
    """Every ``begin spec -->`` ... ``end`` block of ``text`` regenerated as ``render(spec)``."""
    out, rest = [], text
    while begin in rest:
        head, _, tail = rest.partition(begin)
        spec, _, tail = tail.partition("-->")
        if end not in tail:
            raise ValueError(f"{doc}: '{begin}{spec}-->' has no closing '{end}'")
        _, _, rest = tail.partition(end)
        out.append(head + begin + spec + "-->\n" + render(spec) + "\n" + end)
    return "".join(out) + rest


def update_bench_tables(lines: list[dict[str, Any]], docs: list[str | Path], source: str,
                        cost: str | None = None) -> list[Path]:
    """Regenerate every block ``<!-- bench-table: m1 m2 ... -->`` ... ``<!-- /bench-table -->`` of
    ``docs`` with ``bench_table`` of the methods it names, so that no doc keeps an older table,
    and every ``<!-- bench-cost: -->`` ... ``<!-- /bench-cost -->`` block with ``cost``."""
    changed = []
    for doc in map(Path, docs):
        if not doc.is_file():
            continue
        text = doc.read_text()
        new = _replace_blocks(text, TABLE_BEGIN, TABLE_END,
                              lambda spec: "\n".join(bench_table(lines, spec.split(), source)), doc)
        if cost is not None:
            new = _replace_blocks(new, COST_BEGIN, COST_END, lambda spec: cost, doc)
        if new != text:
            doc.write_text(new)
            changed.append(doc)
    return changed


def yes(ok: bool) -> str:
    """A verdict cell of the report: yes, or a bold no."""
    return "yes" if ok else "**no**"


def claim_cells(method: str, claim: dict[str, Any], comparison: dict[str, Any] | None) -> tuple[str, str]:
    """The claims table's claim and verdict for a row's paired comparison: a paper's claim
    ``a − b > 0`` and whether its interval lies above 0, or, for a diagnostic row, the same
    difference marked as no paper's claim and where its interval lies."""
    c = comparison
    if method in METHODS and METHODS[method].diagnosis:
        where = "-" if c is None else "above 0" if c["ci_low"] > 0 else "below 0" if c["ci_high"] < 0 else "includes 0"
        return f"{claim['a']} − {claim['b']} (a diagnosis: no paper claims its sign)", where
    return f"{claim['a']} − {claim['b']} > 0", "-" if c is None else yes(c["ci_low"] > 0)


def cost_text(cost: dict[str, Any]) -> str:
    """``cost_summary`` as a paragraph (docs/results.md and the README's cost block)."""
    return (f"Training, summed over the {cost['runs']} (method, seed) runs of the table: {cost['train_minutes']:.0f} "
            f"minutes ({cost['train_minutes'] / 60:.1f} h), of which the stage-1 backbones "
            f"{cost['stage1_train_minutes']:.0f}. Wall clock, recorded for {cost['wall_timed_runs']} of the runs (from a "
            f"run's start to its last tested split, so with its feature caching and testing): "
            f"{cost['wall_minutes']:.0f} minutes ({cost['wall_minutes'] / 60:.1f} h), for "
            f"{cost['train_minutes_of_timed_runs']:.0f} minutes of their training. The rows were measured in pieces, "
            "over several sessions on the machine that ran them, at times beside other work; `make bench` has not "
            "been timed in one go.")


def write_report(results_path: str | Path = RESULTS, doc: str | Path = "docs/results.md",
                 chart: str | Path = "docs/images/bench_chart.png",
                 realvideo: str | Path = "benchmarks/results/realvideo.json",
                 table_docs: tuple[str | Path, ...] = TABLE_DOCS) -> Path:
    """``docs/results.md`` and its chart from ``bench.json`` (and the real-video section from
    ``benchmarks/results/realvideo.json`` where it exists), and the marked tables of
    ``table_docs`` (relative to the repository, or absolute): ``vidpose bench --report``."""
    from vidpose.synth.dataset import VERSION as SYNTH_VERSION

    everything = json.loads(Path(results_path).read_text())
    results = protocol_view(everything, "frozen")
    lines = summarise(results)
    steps2 = sorted({r["steps"] for r in results["rows"] if r.get("stage") == 2})
    stage2_steps = "/".join(map(str, steps2)) or "-"
    md = ["# Results: what temporal context buys on SynthTrack", "",
          "Generated by `vidpose bench --report` from "
          f"[`{Path(results_path).as_posix()}`](../{Path(results_path).as_posix()}) (commit `{results['commit']}`), "
          "which `make bench` writes. Command:", "", f"```bash\n{results['command']}\n```", "",
          f"SynthTrack `{results['preset']}` (version {SYNTH_VERSION}, [synthtrack.md](synthtrack.md)). Stage 1: the single-frame "
          "backbones, committed under `vidpose/weights/backbones/`. Stage 2: every temporal method and the naive baseline "
          f"load their stage-1 backbone, keep it frozen and train their own modules for the same "
          f"{stage2_steps} steps (their configs' 3 epochs over the cached passes; `--steps` "
          f"{results['steps']} is the cap) from cached backbone features ({results.get('feature_cache_copies')} "
          "augmentation passes); all are tested with the same GT boxes, flip test and DARK decoding. AP Total "
          "(PoseTrack18 semantics), mean ± std over seeds. `val_hard`: every labeled key frame degraded, its ±2 "
          "neighbours clean; `oracle`: the single-frame backbone on the clean twins of the same key frames; "
          "recovery = (method − single frame) / (oracle − single frame) on `val_hard`. Δ: method − its single-frame "
          "backbone on `val_hard`, with a paired bootstrap 95% interval resampling videos.", "",
          "| method | backbone | seeds | val | val_hard | clean twins | oracle | Δ val_hard [95% CI] | recovery | "
          "params (M) | GFLOPs | train min | steps |",
          "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for ln in lines:
        delta = _delta_text(ln)
        md.append(f"| {ln['method']} | {ln['backbone']} | {ln['seeds']} | {_mean_std(ln['val']) if 'val' in ln else '-'} | "
                  f"{_mean_std(ln['val_hard']) if 'val_hard' in ln else '-'} | "
                  f"{_mean_std(ln['val_hard_clean']) if 'val_hard_clean' in ln else '-'} | "
                  f"{ln.get('oracle', '-')} | {delta} | {_recovery_text(ln)} | {ln['params_m']:.2f} | {ln['gflops']:.3f} | "
                  f"{ln['train_minutes']} | {ln['steps']} |")
    kinds = sorted({k for ln in lines for k in ln.get("by_kind", {})})
    if kinds:
        md += ["", "## val_hard by degradation kind (AP Total, mean over seeds)", "",
               "| method | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
        for ln in lines:
            if "by_kind" in ln:
                md.append(f"| {ln['method']} | " + " | ".join(f"{ln['by_kind'].get(k, float('nan')):.1f}" for k in kinds)
                          + " |")
    md += ["", "## val_hard per joint group (mean over seeds)", "", "| method | " + " | ".join(GROUPS) + " |",
           "|---|" + "---:|" * len(GROUPS)]
    for ln in lines:
        if "val_hard_groups" in ln:
            md.append(f"| {ln['method']} | " + " | ".join(f"{ln['val_hard_groups'][g]:.1f}" for g in GROUPS) + " |")
    md += ["", "## The papers' expectations, checked", "",
           "Each method as published should gain at least 5 AP over its single-frame backbone on `val_hard` with "
           "an interval excluding 0, be at least 1 AP above the naive baseline, recover at least 40% of the gap to "
           "the oracle, and not fall below the single-frame model on `val` beyond the noise.", "",
           "| method | Δ ≥ 5 | CI excludes 0 | ≥ naive + 1 | recovery ≥ 40% | val ≥ single − 1 |",
           "|---|---|---|---|---|---|"]
    naive = {ln["method"]: ln for ln in lines}.get("naive_temporal")
    for ln in lines:
        if ln["method"] not in MAIN_METHODS or ln["method"] == "naive_temporal" or "val_hard" not in ln:
            continue
        b = ln.get("bootstrap") or {}
        base = {x["method"]: x for x in lines}.get(ln["baseline"], {})
        ci = yes(b["ci_low"] > 0) if b else "not measured"
        gain = ln["val_hard"][0] - ln["single_val_hard"] if "single_val_hard" in ln else -1e9
        md.append(f"| {ln['method']} | {yes(gain >= 5)} | {ci} | "
                  f"{yes(naive is not None and ln['val_hard'][0] >= naive['val_hard'][0] + 1)} | "
                  f"{yes((ln.get('recovery') or -1e9) >= 40)} | "
                  f"{yes('val' in base and ln['val'][0] >= base['val'][0] - 1)} |")
    claims = [ln for ln in lines if ln.get("reference")]
    if claims:
        md += ["", "## The papers' claims, paired", "",
               "Each published method should beat the naive baseline on its backbone, and each of its components "
               "should help (full method − ablation > 0); a diagnostic row, in no paper's table, shows its difference "
               "with no sign expected, and its last column says where the interval lies. Δ: the difference of the `val_hard` means over all seeds; "
               "the interval: a paired bootstrap over videos (`--resamples`, default 1000) of the seeds whose predictions "
               "are kept (in `runs/` or archived beside the results file), "
               "averaging each side's seeds per draw.", "",
               "| row | claim | Δ val_hard | 95% CI | seeds in the interval | interval above 0 |",
               "|---|---|---:|---|---|---|"]
        for ln in claims:
            claim, c = ln.get("claim"), ln.get("comparison")
            if claim is None:
                md.append(f"| {ln['method']} | - | {ln['reference']} not measured | | | |")
                continue
            ci = f"[{c['ci_low']:+.1f}, {c['ci_high']:+.1f}]" if c else "not measured (predictions gone)"
            used = f"{_seeds(c['seeds'])} vs {_seeds(c['b_seeds'])}" if c else "-"
            text, verdict = claim_cells(ln["method"], claim, c)
            md.append(f"| {ln['method']} | {text} | {claim['delta']:+.1f} | {ci} | {used} | {verdict} |")
    md += protocols_markdown(everything)
    cost = cost_text(cost_summary(results))
    md += ["", "## What it cost", "", cost]
    md += ["", "![val_hard AP per method](images/bench_chart.png)", "",
           "The reading of these numbers, per method, is in [benchmarks/](../benchmarks/)."]
    if Path(realvideo).is_file():
        md += ["", *realvideo_markdown(json.loads(Path(realvideo).read_text()), Path(realvideo))]
    Path(doc).write_text("\n".join(md) + "\n")
    draw_chart(lines, Path(chart))
    update_bench_tables(lines, [ROOT / d for d in table_docs], Path(results_path).as_posix(), cost)
    return Path(doc)


def protocols_markdown(results: dict[str, Any]) -> list[str]:
    """The two protocols side by side (every stage-2 row measured under ``paper``, beside its
    ``frozen`` numbers and the paired intervals of each), or nothing before any ``paper`` row."""
    paper = protocol_view(results, "paper")
    paper_lines = [ln for ln in summarise(paper) if ln["stage"] == 2]
    if not paper_lines:
        return []
    frozen = {ln["method"]: ln for ln in summarise(protocol_view(results, "frozen"))}
    epochs = paper.get("epochs", PAPER_EPOCHS)

    def cell(ln: dict[str, Any] | None, split: str) -> str:
        return _mean_std(ln[split]) if ln and split in ln else "-"

    def versus(ln: dict[str, Any] | None) -> str:
        return _comparison_text(ln) if ln and ln.get("comparison") else "-"

    md = ["", "## The two protocols", "",
          f"`frozen`: the table above. `paper`: the backbone starts from the same stage-1 weights and is fine-tuned "
          f"with the method, with its paper's optimiser and step decays (`PAPER_RECIPES` in `vidpose/bench.py`) "
          f"compressed to {epochs} SynthTrack epochs, the decays at the same fractions of training; no feature cache "
          "(the backbone changes). Rows of each protocol are paired only with rows of the same protocol.", "",
          "| row | seeds (frozen / paper) | val frozen | val paper | val_hard frozen | val_hard paper | "
          "vs reference, frozen | vs reference, paper |", "|---|---|---:|---:|---:|---:|---|---|"]
    for ln in paper_lines:
        f = frozen.get(ln["method"])
        md.append(f"| {ln['method']} | {f['seeds'] if f else 0} / {ln['seeds']} | {cell(f, 'val')} | {cell(ln, 'val')} | "
                  f"{cell(f, 'val_hard')} | {cell(ln, 'val_hard')} | {versus(f)} | {versus(ln)} |")
    return md


def draw_chart(lines: list[dict[str, Any]], path: Path) -> None:
    """val_hard AP per method (mean, a bar of +-1 std), with the single-frame and oracle levels
    of the HRNet backbone as lines (OpenCV, no plotting library)."""
    import cv2

    shown = [ln for ln in lines if "val_hard" in ln]
    bar, gap, left, top, height = 26, 16, 60, 50, 360
    width = left + len(shown) * (bar + gap) + 40
    img = np.full((top + height + 170, max(width, 520), 3), 255, np.uint8)
    cv2.putText(img, "val_hard AP Total (mean +- std over seeds)", (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2)
    base = top + height
    y_of = lambda v: base - int(height * v / 100)  # noqa: E731
    for tick in range(0, 101, 20):
        cv2.line(img, (left - 5, y_of(tick)), (img.shape[1] - 20, y_of(tick)), (225, 225, 225), 1)
        cv2.putText(img, str(tick), (left - 35, y_of(tick) + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    hr = {ln["method"]: ln for ln in lines}.get("single_frame")
    if hr and "oracle" in hr:
        for value, colour, label in ((hr["single_val_hard"], (60, 60, 220), "single frame"),
                                     (hr["oracle"], (40, 160, 40), "oracle (clean twins)")):
            cv2.line(img, (left, y_of(value)), (img.shape[1] - 20, y_of(value)), colour, 1)
            cv2.putText(img, label, (img.shape[1] - 190, y_of(value) - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1)
    for i, ln in enumerate(shown):
        x = left + i * (bar + gap)
        mean, std = ln["val_hard"]
        colour = (160, 160, 160) if ln["stage"] == 1 else (200, 130, 50)
        cv2.rectangle(img, (x, y_of(mean)), (x + bar, base), colour, -1)
        if std:
            cv2.line(img, (x + bar // 2, y_of(mean + std)), (x + bar // 2, y_of(mean - std)), (0, 0, 0), 1)
        label_img = np.full((20, 160, 3), 255, np.uint8)
        cv2.putText(label_img, ln["method"], (0, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1)
        rotated = cv2.rotate(label_img, cv2.ROTATE_90_COUNTERCLOCKWISE)
        y0 = base + 5
        img[y0:y0 + rotated.shape[0], x + bar // 2 - 10:x + bar // 2 + 10] = np.minimum(
            img[y0:y0 + rotated.shape[0], x + bar // 2 - 10:x + bar // 2 + 10], rotated)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


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
