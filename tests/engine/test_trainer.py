"""The trainer: loss, one step, exact resume, NaN handling, DDP with gloo, configs, testing."""

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from conftest import guide_commands, tiny_config
from vidpose.engine import trainer as trainer_module
from vidpose.engine.config import apply_overrides, load_config
from vidpose.errors import ConfigError
from vidpose.engine.tester import run_test
from vidpose.engine.trainer import TrainingDiverged, heatmap_loss, train
from vidpose.engine.checkpoint import load_checkpoint
from vidpose.models.registry import build_model


def test_heatmap_loss_ignores_joints_with_zero_weight():
    pred = torch.zeros(1, 2, 2, 2)
    target = torch.ones(1, 2, 2, 2)
    target[:, 1] = 5.0
    weight = torch.tensor([[1.0, 0.0]])
    # 0.5 * mean over 2 joints x 4 pixels of (1 - 0)^2 for joint 0 only = 0.5 * 4 / 8
    assert heatmap_loss(pred, target, weight).item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="heatmap_size"):
        heatmap_loss(pred, target[..., :1], weight)


def test_one_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = build_model({"name": "single_frame", "backbone": {"name": "resnet", "size": "tiny"}})
    frames = torch.randn(4, 1, 3, 128, 96)
    target = torch.rand(4, 17, 32, 24) * 0.1
    weight = torch.ones(4, 17)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    losses = []
    for _ in range(3):
        loss = heatmap_loss(model(frames)["heatmaps"], target, weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_param_groups_skip_decay_on_1d_and_decay_the_vits_lr_by_depth():
    model = build_model({"name": "single_frame", "backbone": {"name": "vit", "size": "tiny"}}, input_size=(96, 128))
    groups = trainer_module.param_groups(model, {"lr": 1.0, "weight_decay": 0.1})
    assert len(groups) == 1 and groups[0]["weight_decay"] == 0.1  # the default: one group, as before
    groups = trainer_module.param_groups(model, {"lr": 1.0, "weight_decay": 0.1, "decay_skip_1d": True,
                                                 "layer_decay": 0.5})
    of = {id(p): g for g in groups for p in g["params"]}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    vit = model.backbone
    # 4 blocks: the embedding at 0.5^5, block i at 0.5^(4 - i), the last norm and the head at 1
    assert of[id(vit.patch_embed.proj.weight)]["lr"] == pytest.approx(0.5 ** 5)
    assert of[id(vit.blocks[0].attn.qkv.weight)]["lr"] == pytest.approx(0.5 ** 4)
    assert of[id(vit.blocks[3].mlp.fc1.weight)]["lr"] == pytest.approx(0.5)
    assert of[id(vit.final_layer.weight)]["lr"] == 1.0
    assert of[id(vit.blocks[1].attn.qkv.weight)]["weight_decay"] == 0.1
    for param in (vit.pos_embed, vit.blocks[1].attn.qkv.bias, vit.blocks[2].norm1.weight):
        assert of[id(param)]["weight_decay"] == 0.0
    from vidpose.models.mae import MaskedAutoencoder
    from vidpose.models.vit import build_vit

    mae = MaskedAutoencoder(build_vit("tiny", input_size=(96, 128)))
    groups = trainer_module.param_groups(mae, {"lr": 1.0, "weight_decay": 0.1, "decay_skip_1d": True})
    of = {id(p): g for g in groups for p in g["params"]}
    assert of[id(mae.decoder_pos)]["weight_decay"] == of[id(mae.backbone.pos_embed)]["weight_decay"] == 0.0
    assert of[id(mae.decoder_embed.weight)]["weight_decay"] == 0.1
    assert id(mae.backbone.final_layer.weight) not in of  # the pose head is not pre-trained
    hrnet = build_model({"name": "single_frame", "backbone": {"name": "hrnet", "size": "tiny"}})
    with pytest.raises(ValueError, match="layer_decay"):
        trainer_module.param_groups(hrnet, {"layer_decay": 0.75})


def test_resume_reproduces_the_uninterrupted_run_bit_for_bit(synth_tiny, tmp_path):
    # 32 train people / batch 8 = 4 steps per epoch; stop inside the second epoch.
    full = train(tiny_config(synth_tiny, max_steps=6), tmp_path / "full", progress=False)
    assert full["steps"] == 6
    part = train(tiny_config(synth_tiny, max_steps=6, stop_at_step=3), tmp_path / "part", progress=False)
    assert part["steps"] == 3 and part["stopped_early"]
    resumed = train(tiny_config(synth_tiny, max_steps=6), tmp_path / "part", resume=True, progress=False)
    assert resumed["steps"] == 6
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "part" / "model.pt", weights_only=False)["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert (tmp_path / "full" / "config.yaml").is_file()
    assert (tmp_path / "full" / "metrics.jsonl").read_text().count("\n") >= 1


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(synth_tiny, tmp_path, monkeypatch):
    real = trainer_module.heatmap_loss
    calls = {"n": 0}

    def poisoned(pred, target, weight):
        calls["n"] += 1
        value = real(pred, target, weight)
        return value * float("nan") if calls["n"] == 4 else value

    monkeypatch.setattr(trainer_module, "heatmap_loss", poisoned)
    with pytest.raises(TrainingDiverged, match=r"step 3: loss is nan.*last good checkpoint is .*last\.pt"):
        train(tiny_config(synth_tiny, checkpoint_every=1), tmp_path / "run", progress=False)
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["step"] == 3
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_frozen_backbone_keeps_batchnorm_statistics(synth_tiny, tmp_path):
    cfg = tiny_config(synth_tiny, model="naive_temporal", max_steps=2, freeze_backbone=True)
    train(cfg, tmp_path / "run", progress=False)
    after = torch.load(tmp_path / "run" / "model.pt", weights_only=False)["model"]
    # Seeded construction makes the same initial weights; the frozen backbone must not change at all.
    torch.manual_seed(0)
    fresh = build_model({"name": "naive_temporal", "backbone": {"name": "hrnet", "size": "tiny"}}).state_dict()
    for k in fresh:
        if k.startswith("backbone.") and not k.startswith("backbone.final_layer"):
            assert torch.equal(fresh[k], after[k]), k
    assert not torch.equal(fresh["backbone.final_layer.weight"], after["backbone.final_layer.weight"])


def test_two_process_ddp_resumes_exactly_with_the_guides_torchrun_line(synth_tiny, tmp_path):
    """docs/posetrack.md's torchrun line (the single-frame HRNet-W48 config at 384x288, two
    processes; gloo on CPU) on SynthTrack tiny, with the smoke tests' narrower backbone and a short
    run: two steps straight, against one step, a stop, and --resume to two; the weights agree bit
    for bit (each process resumes its own share of the epoch's order from the checkpoint rank 0
    wrote). Three launches of two processes: about 30 s on 2 cores, mostly process start-up."""
    (line,) = [argv for argv in guide_commands() if argv[0] == "torchrun"]
    assert line[1:3] == ["--nproc_per_node", "2"]
    overrides = [f"data.root={synth_tiny}", "data.synth_preset=null", "data.workers=0", "model.backbone.size=tiny",
                 "model.pretrained=null", "train.batch_size=2", "train.max_steps=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def launch(out, *extra):
        argv = [sys.executable, "-m", "torch.distributed.run", "--master_port", "29517"] + line[1:]
        argv[argv.index("--out") + 1] = str(out)
        proc = subprocess.run(argv + overrides + list(extra) + ["--quiet"], capture_output=True, text=True,
                              timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    assert "trained 2 steps" in launch(tmp_path / "full")
    assert "trained 1 steps" in launch(tmp_path / "part", "+train.stop_at_step=1")
    assert "trained 2 steps" in launch(tmp_path / "part", "--resume")
    a, b = (load_checkpoint(tmp_path / run / "model.pt") for run in ("full", "part"))
    assert a["step"] == b["step"] == 2 and a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_tester_writes_poseval_files_and_scores_them(synth_tiny, tmp_path):
    cfg = tiny_config(synth_tiny, max_steps=4)
    summary = train(cfg, tmp_path / "run", progress=False)
    result = run_test(cfg, summary["checkpoint"], tmp_path / "run", split="val", progress=False)
    assert set(["Head", "Total", "per_joint"]) <= set(result)
    assert 0.0 <= result["Total"] <= 100.0
    files = list((tmp_path / "run" / "predictions" / "val").glob("*.json"))
    assert [f.name for f in files] == ["901000_mpii_val.json"]
    with_dets = run_test(cfg, summary["checkpoint"], tmp_path / "run", split="val",
                         boxes=str(synth_tiny / "detections" / "val.json"), progress=False)
    assert with_dets["boxes"].endswith("val.json")
    saved = json.loads((tmp_path / "run" / "results_val.json").read_text())
    assert saved["Total"] == with_dets["Total"]
    other = tiny_config(synth_tiny)
    other["model"]["name"] = "naive_temporal"
    with pytest.raises(ValueError, match="checkpoint of model 'single_frame', but the config builds 'naive_temporal'"):
        run_test(other, summary["checkpoint"], tmp_path / "run", split="val", progress=False)


def test_learning_curve_scores_val_every_n_epochs_like_the_tester(synth_tiny, tmp_path):
    """train.curve_every_epochs: one val record per N epochs in metrics.jsonl; the last one is
    the AP that testing the final checkpoint gives."""
    cfg = tiny_config(synth_tiny, epochs=2, curve_every_epochs=1)
    summary = train(cfg, tmp_path / "run", progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    curve = [r for r in records if "val_AP" in r]
    assert [(r["epoch"], r["split"]) for r in curve] == [(1, "val"), (2, "val")]
    assert curve[-1]["step"] == summary["steps"]
    tested = run_test(cfg, summary["checkpoint"], tmp_path / "test", split="val", progress=False)
    assert curve[-1]["val_AP"]["Total"] == pytest.approx(tested["Total"], abs=0.005)


def test_a_stop_on_an_epochs_last_step_still_scores_that_epoch_and_resume_goes_on(synth_tiny, tmp_path):
    one = train(tiny_config(synth_tiny, epochs=1), tmp_path / "one", progress=False)["steps"]  # steps per epoch
    cfg = tiny_config(synth_tiny, epochs=2, curve_every_epochs=1, stop_at_step=one)
    train(cfg, tmp_path / "run", progress=False)
    cfg["train"]["stop_at_step"] = None
    train(cfg, tmp_path / "run", resume=True, progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["step"]) for r in records if "val_AP" in r] == [(1, one), (2, 2 * one)]


def test_config_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"train": {"lr": 0.1, "epochs": 2}, "model": {"backbone": {"size": "tiny"}}}))
    cfg = load_config(path, ["train.lr=1e-4", "model.backbone.size=w32", "+train.note=[1, 2]"])
    assert cfg["train"]["lr"] == pytest.approx(1e-4) and cfg["model"]["backbone"]["size"] == "w32"
    assert cfg["train"]["note"] == [1, 2]
    with pytest.raises(ConfigError, match="has no key 'train.lrr'"):
        apply_overrides(cfg, ["train.lrr=1"])
    with pytest.raises(ConfigError, match="not key=value"):
        apply_overrides(cfg, ["train.lr"])
    (tmp_path / "bad.yaml").write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_shipped_configs_parse_and_build():
    from pathlib import Path

    paths = sorted(Path(__file__).resolve().parents[2].glob("vidpose/configs/**/*.yaml"))
    assert len(paths) >= 20, f"only {len(paths)} shipped configs found: the glob no longer matches the tree"
    for path in paths:
        cfg = load_config(path)
        if "w48" in path.name:
            continue  # paper size: built in the backbone tests
        build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"]))


def test_metrics_log_every_auxiliary_term_on_its_own(synth_tiny, tmp_path):
    cfg = tiny_config(synth_tiny, model="jmpose", max_steps=1)
    cfg["model"].update({"offsets": [-1, 1], "blocks": 1})
    train(cfg, tmp_path / "run", progress=False)
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    for key in ("heatmap_loss", "io_joint_motion", "io_motion_context", "io_conditional", "fit_io", "aux_objective"):
        assert key in record, key
    method_terms = record["io_joint_motion"] + record["io_motion_context"] + record["io_conditional"]
    assert record["aux_objective"] == pytest.approx(method_terms)


def test_an_estimators_gradient_does_not_clip_the_pose_networks_update(synth_tiny, tmp_path, monkeypatch):
    """With clip_grad on, a huge gradient in an estimator (a probe) must leave the method's own
    update as it would be without it: the two groups are clipped separately."""
    from vidpose.models.mutual_info import Probe

    real_fit = Probe.fit_loss

    def loud_fit(self, x, target, weight=None):
        return 1e6 * real_fit(self, x, target, weight)

    def run(folder, loud):
        if loud:
            monkeypatch.setattr(Probe, "fit_loss", loud_fit)
        else:
            monkeypatch.setattr(Probe, "fit_loss", real_fit)
        cfg = tiny_config(synth_tiny, model="jmpose", max_steps=1, clip_grad=1.0)
        cfg["model"].update({"offsets": [-1, 1], "blocks": 1})
        train(cfg, tmp_path / folder, progress=False)
        return load_checkpoint(tmp_path / folder / "model.pt")["model"]

    quiet, loud = run("quiet", False), run("loud", True)
    head = [k for k in quiet if k.startswith("head.")]
    assert head and all(torch.allclose(quiet[k], loud[k]) for k in head)
    probes = [k for k in quiet if ".probe_" in k]
    assert probes and any(not torch.allclose(quiet[k], loud[k]) for k in probes)


# --- never lose a run ----------------------------------------------------------------------------


def test_a_folder_with_a_finished_run_is_refused_without_resume_or_overwrite(synth_tiny, tmp_path):
    from vidpose.errors import ConfigError

    cfg = tiny_config(synth_tiny, max_steps=2)
    train(cfg, tmp_path / "run", progress=False)
    before = (tmp_path / "run" / "model.pt").read_bytes()
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    with pytest.raises(ConfigError, match=r"--resume.*--overwrite"):
        train(cfg, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "model.pt").read_bytes() == before
    train(cfg, tmp_path / "run", progress=False, overwrite=True)
    assert (tmp_path / "run" / "metrics.jsonl").read_text().splitlines() == lines  # replaced, not appended to


def test_resume_checks_the_config_before_writing_anything(synth_tiny, tmp_path):
    from vidpose.errors import ConfigError

    cfg = tiny_config(synth_tiny, max_steps=4, stop_at_step=2)
    train(cfg, tmp_path / "run", progress=False)
    saved = (tmp_path / "run" / "config.yaml").read_bytes()
    other_model = tiny_config(synth_tiny, backbone="resnet", max_steps=4)
    with pytest.raises(ConfigError, match=r"model\.backbone\.name"):
        train(other_model, tmp_path / "run", resume=True, progress=False)
    bigger_batch = tiny_config(synth_tiny, max_steps=4, batch_size=16)
    with pytest.raises(ConfigError, match=r"train\.batch_size \(8 -> 16\)"):
        train(bigger_batch, tmp_path / "run", resume=True, progress=False)
    assert (tmp_path / "run" / "config.yaml").read_bytes() == saved
    done = train(tiny_config(synth_tiny, max_steps=4), tmp_path / "run", resume=True, progress=False)
    assert done["steps"] == 4  # stop_at_step may change on resume


@pytest.mark.parametrize("key,value", [("max_steps", "abc"), ("batch_size", 0), ("epochs", -1), ("lr", 0),
                                       ("amp_dtype", "fp8"), ("compile", 3), ("betas", [0.9]),
                                       ("layer_decay", 1.5)])
def test_bad_training_numbers_fail_before_the_run_folder_exists(synth_tiny, tmp_path, key, value):
    from vidpose.errors import ConfigError

    with pytest.raises(ConfigError, match=f"train.{key}"):
        train(tiny_config(synth_tiny, **{key: value}), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_ctrl_c_writes_a_resumable_checkpoint_and_resume_matches_an_uninterrupted_run(synth_tiny, tmp_path,
                                                                                      monkeypatch):
    import signal

    from vidpose.errors import TrainingInterrupted

    full = train(tiny_config(synth_tiny, max_steps=5), tmp_path / "full", progress=False)
    real = trainer_module.heatmap_loss
    calls = {"n": 0}

    def interrupting(pred, target, weight):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real(pred, target, weight)

    monkeypatch.setattr(trainer_module, "heatmap_loss", interrupting)
    with pytest.raises(TrainingInterrupted, match=r"step 3.*--resume"):
        train(tiny_config(synth_tiny, max_steps=5), tmp_path / "part", progress=False)
    assert load_checkpoint(tmp_path / "part" / "last.pt")["step"] == 3
    monkeypatch.setattr(trainer_module, "heatmap_loss", real)
    train(tiny_config(synth_tiny, max_steps=5), tmp_path / "part", resume=True, progress=False)
    a = torch.load(tmp_path / "full" / "model.pt")["model"]
    b = torch.load(tmp_path / "part" / "model.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a) and full["steps"] == 5


# --- checkpoints that are not what they claim ----------------------------------------------------


def test_bad_checkpoints_are_clear_errors_and_never_run_code(synth_tiny, tmp_path):
    import pickle

    from vidpose.errors import CheckpointError

    cfg = tiny_config(synth_tiny, max_steps=1)
    train(cfg, tmp_path / "run", progress=False)
    good = tmp_path / "run" / "model.pt"
    (tmp_path / "text.pt").write_text("hello")
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[: good.stat().st_size // 2])

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"format": "vidpose-checkpoint-v1", "x": Payload()}))
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    for name, pattern in [("text.pt", "not a readable"), ("empty.pt", "empty"), ("cut.pt", "not a readable"),
                          ("evil.pt", "refusing"), ("other.pt", "not a vidpose checkpoint"), ("nope.pt", "no such")]:
        with pytest.raises(CheckpointError, match=pattern):
            load_checkpoint(tmp_path / name)
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(CheckpointError, match="checkpoint of model 'single_frame'"):
        load_checkpoint(good, "tdmi")
    with pytest.raises(CheckpointError, match="backbone"):
        load_checkpoint(good, "single_frame", {"name": "resnet", "size": "tiny"})


def test_a_checkpoint_older_than_a_setting_loads_with_the_behaviour_it_was_trained_under(tmp_path):
    """TDMI checkpoints written before ``mi_read`` existed were trained reading raw maps: their
    stored config gets mi_read 'raw' on load, not today's default; a stored value is kept."""
    from vidpose.engine.checkpoint import CHECKPOINT_FORMAT, upgrade_stored_config

    old = {"model": {"name": "tdmi", "mi_tau": 0.05}, "data": {"input_size": [64, 48]}}
    torch.save({"format": CHECKPOINT_FORMAT, "model_name": "tdmi", "config": old}, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt")["config"]["model"]["mi_read"] == "raw"
    assert "mi_read" not in old["model"]  # the caller's dict is not changed
    new = {"model": {"name": "tdmi", "mi_read": "standardised"}}
    assert upgrade_stored_config(new)["model"]["mi_read"] == "standardised"
    assert "mi_read" not in upgrade_stored_config({"model": {"name": "single_frame"}})["model"]


# --- GPU switches: mixed precision, channels-last, torch.compile -----------------------------------


def test_autocast_follows_amp_dtype_and_the_device():
    from vidpose.engine.trainer import autocast_settings

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert autocast_settings({"amp": True}, cpu) == (False, torch.float16, False)  # fp16 is ignored on CPU
    assert autocast_settings({"amp": True, "amp_dtype": "bf16"}, cpu) == (True, torch.bfloat16, False)
    assert autocast_settings({"amp": False, "amp_dtype": "bf16"}, cpu)[0] is False
    assert autocast_settings({"amp": True, "amp_dtype": "fp16"}, cuda) == (True, torch.float16, True)  # + GradScaler
    assert autocast_settings({"amp": False}, cuda) == (False, torch.float16, False)


def test_a_checkpoint_names_the_precision_it_trained_in():
    from vidpose.engine.trainer import autocast_settings, precision_name

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert precision_name(autocast_settings({"amp": True}, cpu)) == "fp32"
    assert precision_name(autocast_settings({"amp": True, "amp_dtype": "bf16"}, cpu)) == "bf16"
    assert precision_name(autocast_settings({"amp": True, "amp_dtype": "fp16"}, cuda)) == "fp16"


@pytest.mark.parametrize("model,switches,autocast", [
    ("tdmi", {"amp_dtype": "fp16"}, None), ("tdmi", {"amp_dtype": "bf16"}, torch.bfloat16),
    ("tdmi", {"channels_last": True}, None), ("single_frame", {"compile": "eager"}, None)],
    ids=["fp16-ignored-on-cpu", "bf16-autocast", "channels-last", "compile-eager"])
def test_the_gpu_switches_build_and_train_a_step_on_cpu(synth_tiny, tmp_path, monkeypatch, model, switches, autocast):
    """Each switch of the posetrack18 configs trains a step on CPU: TDMI (deformable convolutions,
    the MI estimator) for the precision and memory-format switches; fp16 is ignored on CPU, bf16
    autocasts. ``compile: eager`` runs torch.compile's graph capture without code generation, on
    the single-frame HRNet (capturing TDMI costs about 20 s here; inductor: the next test)."""
    seen = []
    real = trainer_module.heatmap_loss

    def spy(pred, target, weight):
        seen.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None)
        return real(pred, target, weight)

    monkeypatch.setattr(trainer_module, "heatmap_loss", spy)
    cfg = tiny_config(synth_tiny, model=model, max_steps=1, **switches)
    if model != "single_frame":
        cfg["model"]["offsets"] = [-1, 1]
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary["steps"] == 1 and torch.isfinite(torch.tensor(summary["loss"]))
    assert seen == [autocast]
    state = load_checkpoint(tmp_path / "run" / "model.pt")
    assert not any(k.startswith("_orig_mod.") for k in state["model"])  # compiled or not, the same keys
    conv = state["model"]["backbone.conv1.weight"]
    assert conv.is_contiguous(memory_format=torch.channels_last) == bool(switches.get("channels_last"))
    assert all(v.dtype != torch.bfloat16 for v in state["model"].values())  # weights stay float32 under autocast


@pytest.mark.skipif(os.environ.get("VIDPOSE_TEST_INDUCTOR") != "1",
                    reason="torch.compile's inductor generates and compiles C++ for every graph: minutes on 2 CPU "
                           "cores; set VIDPOSE_TEST_INDUCTOR=1 to run it (on a GPU machine it is the real check)")
def test_compile_with_inductor_trains_a_step(synth_tiny, tmp_path):
    summary = train(tiny_config(synth_tiny, max_steps=1, compile=True), tmp_path / "run", progress=False)
    assert summary["steps"] == 1
