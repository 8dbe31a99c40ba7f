"""The rows of ``vidpose bench``: each method and ablation as a config, overrides and the stage-1
run it starts from (``METHODS``), the two training protocols and each paper's recipe
(``PAPER_RECIPES``), and the resolved config of one row (``method_config``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidpose.data.schema import GROUP_NAMES
from vidpose.engine.config import load_config
from vidpose.resources import package_path


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
    "tdmi_mi_no_cond": BenchMethod(C + "tdmi_tiny.yaml", ("+model.mi_terms=[mi_useful_noisy,mi_motion_useful]",
                                                          "model.mi_route=all"),
                                   init="single_frame", reference="tdmi_mi_all",
                                   note="MI objective without its conditional terms (Eq. 8-9 only; a diagnosis, not in the paper)",
                                   diagnosis=True),
    "tdmi_mi_cond_only": BenchMethod(C + "tdmi_tiny.yaml", ("+model.mi_terms=[mi_cond_motion,mi_cond_visual]",),
                                     init="single_frame", reference="tdmi",
                                     note="MI objective with its conditional terms only (Eq. 10-12; a diagnosis, not in the paper)",
                                     diagnosis=True),
    "tdmi_mi_no_dependence": BenchMethod(C + "tdmi_tiny.yaml",
                                         ("+model.mi_terms=[mi_motion_useful,mi_cond_motion,mi_cond_visual]",
                                          "model.mi_route=all"),
                                         init="single_frame", reference="tdmi_mi_all",
                                         note="MI objective without Eq. 8 (a diagnosis, not in the paper)",
                                         diagnosis=True),
    "tdmi_mi_raw": BenchMethod(C + "tdmi_tiny.yaml", ("model.mi_read=raw", "model.mi_tau=0.05", "model.mi_route=all"),
                               init="single_frame", reference="tdmi_mi_all", note="MI terms read raw at tau 0.05 (before the fix: a larger M games Eq. 8)",
                               diagnosis=True),
    "tdmi_st_mi_raw": BenchMethod(C + "tdmi_st_tiny.yaml", ("model.mi_read=raw", "model.mi_tau=0.05",
                                                            "model.mi_route=all"),
                                  init="single_frame", reference="tdmi_st_mi_all",
                                  note="TDMI-ST, MI terms read raw at tau 0.05 (before the fix)", diagnosis=True),
    # the readings the paper leaves open (docs/methods.md): what Eq. 8-9 may train, Eq. 9's teacher
    # and sign, and their scale; each row changes one choice of tdmi_mi_all, the first reading (the
    # lineage's route), and tdmi's default, mi_route: gates, was chosen on val among them
    "tdmi_mi_all": BenchMethod(C + "tdmi_tiny.yaml", ("model.mi_route=all",), init="single_frame",
                               reference="tdmi", diagnosis=True,
                               note="Eq. 8-9 train everything before them, as the lineage code (the first default)"),
    "tdmi_mi_detached": BenchMethod(C + "tdmi_tiny.yaml", ("model.mi_route=detached",), init="single_frame",
                                    reference="tdmi_mi_all", diagnosis=True,
                                    note="Eq. 8-9 read M detached, the gates live (a reading; the paper is silent)"),
    "tdmi_eq9_motion_probe": BenchMethod(C + "tdmi_tiny.yaml", ("model.mi_eq9=motion_probe", "model.mi_route=all"),
                                         init="single_frame", reference="tdmi_mi_all", diagnosis=True,
                                         note="Eq. 9's teacher p(y|M) from a probe fitted on M (a reading)"),
    "tdmi_eq9_lineage": BenchMethod(C + "tdmi_tiny.yaml", ("model.mi_eq9=lineage", "model.mi_route=all"),
                                    init="single_frame", reference="tdmi_mi_all", diagnosis=True,
                                    note="Eq. 9 with the lineage code's sign: the divergence maximised (a reading)"),
    "tdmi_mi_positions": BenchMethod(C + "tdmi_tiny.yaml", ("model.mi_scale=positions", "model.mi_route=all"),
                                     init="single_frame", reference="tdmi_mi_all", diagnosis=True,
                                     note="Eq. 8-9 scaled by 1/(HW), the lineage's mean (a reading)"),
    "tdmi_st_no_mi": BenchMethod(C + "tdmi_st_tiny.yaml", ("model.mi_weight=0",), init="single_frame",
                                 reference="tdmi_st", note="TDMI-ST without the MI objective (Table 7's row, on TDMI-ST)"),
    "tdmi_st_mi_all": BenchMethod(C + "tdmi_st_tiny.yaml", ("model.mi_route=all",), init="single_frame",
                                  reference="tdmi_st", diagnosis=True,
                                  note="TDMI-ST, Eq. 8-9 training everything before them (the first default)"),
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
    # what L_IO may train (the sources are silent; docs/methods.md): each row changes the io_route of
    # jmpose_io_all, the first reading (the lineage's); jmpose's default, gates, was chosen on val
    "jmpose_io_all": BenchMethod(C + "jmpose_tiny.yaml", ("model.io_route=all",), init="single_frame",
                                 reference="jmpose", diagnosis=True,
                                 note="L_IO trains everything before it, as the lineage code (the first default)"),
    "jmpose_io_detached": BenchMethod(C + "jmpose_tiny.yaml", ("model.io_route=detached",), init="single_frame",
                                      reference="jmpose_io_all", diagnosis=True,
                                      note="L_IO reads M, J detached before the gates (a reading; the sources are silent)"),
    # the paper gives no lambda_IO (shared/specs/jmpose.md; we default to 1): its sensitivity, between
    # jmpose_no_io (0) and jmpose (1); analysis/io_weight.py pairs them
    "jmpose_io_0.1": BenchMethod(C + "jmpose_tiny.yaml", ("model.io_weight=0.1", "model.io_route=all"),
                                 init="single_frame", note="lambda_IO = 0.1 (the paper gives none), io_route all"),
    "jmpose_io_0.5": BenchMethod(C + "jmpose_tiny.yaml", ("model.io_weight=0.5", "model.io_route=all"),
                                 init="single_frame", note="lambda_IO = 0.5 (the paper gives none), io_route all"),
    "glpose": BenchMethod(C + "glpose_tiny.yaml", init="single_frame", reference="naive_temporal"),
    "glpose_local_only": BenchMethod(C + "glpose_tiny.yaml", ("model.use_global=false", "data.global_frames=0"),
                                     init="single_frame", reference="glpose", note="local context only"),
    "glpose_global_only": BenchMethod(C + "glpose_tiny.yaml", ("model.use_local=false",), init="single_frame",
                                      reference="glpose",
                                      note="global context only (the local frames are still read, unused)"),
    "glpose_no_enhancement": BenchMethod(C + "glpose_tiny.yaml", ("model.enhancement=false",), init="single_frame",
                                         reference="glpose", note="no feature enhancement module"),
    # the predecessors every seed paper's table puts below itself (issue 40), on the same frozen backbone
    "posewarper": BenchMethod(C + "posewarper_tiny.yaml", init="single_frame", reference="naive_temporal"),
    "posewarper_1_dilation": BenchMethod(C + "posewarper_tiny.yaml", ("model.dilations=[3]",), init="single_frame",
                                         reference="posewarper", note="one dilation rate instead of five (its ablation)"),
    "dcpose": BenchMethod(C + "dcpose_tiny.yaml", init="single_frame", reference="naive_temporal"),
    "dcpose_no_pcn": BenchMethod(C + "dcpose_tiny.yaml", ("model.use_pcn=false",), init="single_frame",
                                 reference="dcpose", note="without the pose correction network (its ablation)"),
    "dcpose_from_backbone": BenchMethod(C + "dcpose_tiny.yaml", ("model.start_from_backbone=true",),
                                        init="single_frame", reference="dcpose", diagnosis=True,
                                        note="searching scope started from the backbone's heatmaps, as the real head"),
    "dcpose_no_pcn_from_backbone": BenchMethod(C + "dcpose_tiny.yaml", ("model.start_from_backbone=true", "model.use_pcn=false"),
                                               init="single_frame", reference="dcpose_from_backbone", diagnosis=True,
                                               note="without PCN, started from the backbone: PCN's ablation at the real head's start"),
    "fami_pose": BenchMethod(C + "fami_pose_tiny.yaml", init="single_frame", reference="naive_temporal"),
    "fami_pose_no_global_alignment": BenchMethod(C + "fami_pose_tiny.yaml", ("model.global_alignment=false",),
                                                 init="single_frame", reference="fami_pose",
                                                 note="without the global (affine) alignment (its ablation)"),
    "fami_pose_no_mi": BenchMethod(C + "fami_pose_tiny.yaml", ("model.mi_weight=0",), init="single_frame",
                                   reference="fami_pose", note="without the mutual-information objective"),
}


#: how a stage-2 row trains: "frozen" (the backbone frozen, the method's modules trained for the
#: configs' 3 epochs from cached features) or "paper" (the backbone fine-tuned with the method, with
#: its paper's optimiser and step decays: ``PAPER_RECIPES``)
PROTOCOLS = ("frozen", "paper")

#: the precision a stage-2 row trains in (``method_config``): "fp32", or "bf16" autocast (recorded in
#: each row as ``amp_dtype``; rows without it trained in float32 on CPU)
AMP_DTYPES = ("fp32", "bf16")


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
    # the predecessors' texts could not be read here: their recipes are their released code's
    # (shared/specs/methods-reference.md), the second-stage training each paper describes
    "posewarper": PaperRecipe("adam", 1e-4, 1e-4, (10, 15), 19,
                              "PoseWarper's released code, stage 2 (specs section 8: Adam 1e-4, wd 1e-4, steps 10/15)"),
    "dcpose": PaperRecipe("adam", 1e-3, 0.0, (4, 8, 12, 16), 20,
                          "DCPose's released PoseTrack17 config (specs section 2: Adam 1e-3, steps 4/8/12/16, 20 epochs)"),
    "fami_pose": PaperRecipe("adam", 1e-3, 0.0, (8, 12, 16), 21,
                             "FAMI-Pose's released V15 config (specs section 3: Adam 1e-3, LR_STEP 8/12/16, 21 epochs)"),
}


PAPER_RECIPES["naive_temporal_vit"] = PAPER_RECIPES["sdtc"]


#: SynthTrack epochs of a ``paper`` row: the papers' 20 (SDTC 50) PoseTrack epochs do not fit two CPU
#: cores (one step of 32 clips with the backbone fine-tuned: analysis/results/step_cost.json), so
#: each recipe is compressed to this many epochs with its decays at the same fractions of training;
#: the learning curves (val AP every epoch) show whether it levels off. ``--paper-epochs`` changes it.
PAPER_EPOCHS = 6


#: the methods as published (at least 3 seeds each) and the naive baseline; ablations get 1 by default
MAIN_METHODS = ["naive_temporal", "tdmi", "tdmi_st", "sdtc", "jmpose", "glpose", "posewarper", "dcpose", "fami_pose"]


#: the papers' own PoseTrack2017 val mAP (HRNet-W48 for all but SDTC's ViT), in the order their tables
#: rank them, with where the number is printed; GLPose's paper was not obtained (shared/specs/glpose.md:
#: cite no figure), so its place is not claimed
POSETRACK17_MAP: dict[str, tuple[float | None, str]] = {
    "posewarper": (81.2, "TDMI Table 1; SDTC Table 1"),
    "dcpose": (82.8, "TDMI Table 1; SDTC Table 1"),
    "fami_pose": (84.8, "TDMI Table 1; SDTC Table 1"),
    "glpose": (None, "not obtained"),
    "tdmi": (85.7, "TDMI Table 1"),
    "tdmi_st": (85.9, "TDMI Table 1"),
    "jmpose": (86.4, "shared/specs/jmpose.md Sec. 6 (reported in later work)"),
    "sdtc": (87.5, "SDTC Table 1"),
}


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
                  paper_epochs: int = PAPER_EPOCHS, amp_dtype: str = "fp32") -> dict[str, Any]:
    """The resolved config of one bench row (``backbone``: the stage-1 checkpoint a stage-2 row
    loads; default the stage-1 run in ``runs``; ``cache_dir``: where its cached backbone features
    live, default the config's). ``protocol`` "frozen": the backbone frozen, ``steps`` the budget;
    "paper": fine-tuned with the paper's recipe over ``paper_epochs`` epochs, in ``runs/paper``.
    ``amp_dtype`` "bf16" trains a stage-2 row under bfloat16 autocast, on CPU too (``train.amp_dtype``;
    about twice as fast on a CPU with bf16 instructions, ``analysis/results/step_cost_bf16.json``);
    "fp32" (the default) leaves the config's precision: float32 on CPU, fp16 autocast on CUDA."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"bench: unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    if amp_dtype not in AMP_DTYPES:
        raise ValueError(f"bench: unknown amp_dtype {amp_dtype!r}; expected one of {AMP_DTYPES}")
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
    if amp_dtype == "bf16" and m.init is not None:
        overrides += ["train.amp=true", "+train.amp_dtype=bf16"]
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
