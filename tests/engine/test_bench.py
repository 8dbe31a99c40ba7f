"""vidpose bench: stage order, the table files, and resuming without retraining."""

import json

import pytest

from vidpose.bench import METHODS, export_weights, method_config, order_methods, run_bench


def test_stage_one_runs_first_and_is_added_when_needed():
    assert order_methods(["tdmi", "sdtc"]) == ["single_frame", "single_frame_vit", "tdmi", "sdtc"]
    with pytest.raises(ValueError, match="unknown bench method"):
        order_methods(["nope"])


def test_every_registered_row_resolves_to_a_valid_config(tmp_path):
    from vidpose.models.registry import build_model

    for name in METHODS:
        cfg = method_config(name, "tiny", tmp_path, steps=10, budget_minutes=None)
        if METHODS[name].init:
            assert cfg["train"]["freeze_backbone"] and cfg["train"]["max_steps"] == 10
            assert cfg["train"]["init_from"].endswith(f"{METHODS[name].init}/model.pt")
        assert cfg["model"].get("offsets", cfg["data"]["offsets"]) == cfg["data"]["offsets"]
        build_model(cfg["model"], input_size=tuple(cfg["data"]["input_size"]))


def test_bench_writes_the_table_and_resumes_without_retraining(synth_tiny, tmp_path):
    kw = dict(preset="tiny", methods=["naive_temporal"], steps=2, out=tmp_path / "results", runs=tmp_path / "runs",
              date="test", data_root=synth_tiny)
    table = run_bench(**kw)
    rows = table["rows"]
    assert [(r["method"], r["split"]) for r in rows] == [
        ("single_frame", "val"), ("single_frame", "val_hard"), ("naive_temporal", "val"), ("naive_temporal", "val_hard")]
    for r in rows:
        assert set(r) >= {"Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total", "params_m", "gflops",
                          "train_minutes"}
    assert rows[2]["train_steps"] == 2
    folder = tmp_path / "results" / "test"
    assert json.loads((folder / "table.json").read_text())["preset"] == "tiny"
    assert "| naive_temporal |" in (folder / "table.md").read_text()
    assert (folder / "chart.png").stat().st_size > 1000
    model = tmp_path / "runs" / "naive_temporal" / "model.pt"
    before = model.stat().st_mtime_ns
    again = run_bench(**kw)
    assert model.stat().st_mtime_ns == before  # reused, not retrained
    assert again["rows"] == rows
    # the demo's checkpoints: weights, exact configs and a manifest the demo can read
    from vidpose.demo import load_manifest

    manifest = load_manifest(export_weights(tmp_path / "runs", "single_frame", "naive_temporal", tmp_path / "weights"))
    assert manifest["temporal"]["method"] == "naive_temporal"
    assert (tmp_path / "weights" / "naive_temporal.pt").stat().st_size > 10_000
