"""The vidpose command: help, data inspect/draw, eval, demo, and clear errors."""

import json
import subprocess
import sys

import pytest

from conftest import make_person, make_video
from vidpose.cli import main
from vidpose.data.annotations import save_videos
from vidpose.data.frames import open_frames


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "vidpose.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("demo", "data", "eval"):
        assert command in out


def test_data_inspect_and_draw(fixtures, tmp_path, capsys):
    assert main(["data", "inspect", str(fixtures / "annotations" / "val"), "--videos"]) == 0
    out = capsys.readouterr().out
    assert "labeled frames: 3" in out and "head_top        14" in out and "003418_mpii_test" in out
    png = tmp_path / "frame.png"
    assert main(["data", "draw", str(fixtures / "annotations" / "val" / "003418_mpii_test.json"),
                 "--images", str(fixtures), "--out", str(png)]) == 0
    import cv2
    assert cv2.imread(str(png)).shape == (1080, 1920, 3)


def test_eval_writes_json_and_fails_clearly(tmp_path, capsys):
    video = make_video([[make_person(0), make_person(1, center=(500, 200), track_id=1)], [make_person(2)]])
    save_videos([video], tmp_path / "gt")
    save_videos([video], tmp_path / "pred")
    out_json = tmp_path / "res.json"
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--mota",
                 "--json", str(out_json)]) == 0
    result = json.loads(out_json.read_text())
    for key in ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total", "per_joint", "precision",
                "recall", "MOTA"):
        assert key in result
    assert result["Total"] == 100.0 and "Total" in capsys.readouterr().out
    (tmp_path / "pred" / "000001_mpii_test.json").write_text("{\"images\": [")
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred")]) == 2
    assert "000001_mpii_test.json: $: not valid JSON" in capsys.readouterr().err


def test_demo_compares_two_checkpoints_end_to_end(synth_tiny, tmp_path, capsys):
    import yaml

    from conftest import tiny_config
    from vidpose.engine.trainer import train

    weights = tmp_path / "weights"
    entries = {}
    for role, model in (("single_frame", "single_frame"), ("temporal", "naive_temporal")):
        cfg = tiny_config(synth_tiny, model=model, max_steps=2)
        cfg["test"]["flip"] = False
        config = tmp_path / f"{role}.yaml"
        config.write_text(yaml.safe_dump(cfg))
        train(cfg, tmp_path / role, progress=False)
        entries[role] = {"config": str(config), "weights": str(tmp_path / role / "model.pt"), "method": model}
    weights.mkdir()
    (weights / "manifest.json").write_text(json.dumps(entries))
    out = tmp_path / "demo"
    assert main(["demo", "--synthtrack", "--out", str(out), "--preset", "tiny", "--data-root", str(synth_tiny),
                 "--manifest", str(weights / "manifest.json"), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "single_frame" in text and "naive_temporal" in text and "recovered by the temporal model" in text
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["results"]) == {"single_frame", "temporal"}
    assert len(open_frames(out / "compare.mp4")) > 0
    assert (out / "recovered.png").stat().st_size > 1000
    (weights / "manifest.json").unlink()
    assert main(["demo", "--synthtrack", "--out", str(out), "--manifest", str(weights / "manifest.json")]) == 2


def test_synth_and_preview(tmp_path, capsys):
    from vidpose.cli import main

    out = tmp_path / "st"
    assert main(["synth", "--out", str(out), "--preset", "tiny", "--splits", "val", "--workers", "1", "--quiet"]) == 0
    assert "val" in capsys.readouterr().out
    assert (out / "annotations" / "val" / "901000_mpii_val.json").is_file()
    assert main(["synth", "preview", str(out), "--out", str(tmp_path / "sheet.png"), "--rows", "1"]) == 0
    assert (tmp_path / "sheet.png").stat().st_size > 1000
    assert main(["eval", "--gt", str(out / "annotations" / "val"), "--pred", str(out / "annotations" / "val")]) == 0


def test_bad_options_are_one_line_errors_that_create_nothing(tmp_path, capsys, synth_tiny):
    """vidpose synth / eval / train with bad values: exit 2, a message naming the option, no folder."""
    from vidpose.cli import main

    for argv, pattern in [
        (["synth", "--out", str(tmp_path / "s1"), "--preset", "tiny", "--videos", "-2"], "--videos must lie in"),
        (["synth", "--out", str(tmp_path / "s2"), "--preset", "tiny", "--videos", "0"], "--videos must lie in"),
        (["synth", "--out", str(tmp_path / "s3"), "--preset", "tiny", "--degrade-rate", "5"], "--degrade-rate"),
        (["eval", "--gt", str(synth_tiny / "annotations" / "val"), "--pred", str(synth_tiny / "annotations" / "val"),
          "--json", str(tmp_path)], "is a folder"),
        (["train", "configs/synthtrack/single_frame_hrnet_tiny.yaml", "train.max_steps=abc",
          f"data.root={synth_tiny}", "--out", str(tmp_path / "run")], "train.max_steps"),
        (["train", "configs/synthtrack/single_frame_hrnet_tiny.yaml", "train.batch_size=0",
          f"data.root={synth_tiny}", "--out", str(tmp_path / "run")], "train.batch_size"),
        (["synth", "preview", str(synth_tiny), "--out", str(tmp_path / "sheet")], "extension"),
    ]:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error:") and pattern in err and "Traceback" not in err, (argv, err)
    assert not any((tmp_path / n).exists() for n in ("s1", "s2", "s3", "run"))


def test_overrides_and_verbose_are_accepted_anywhere_on_the_line():
    """`vidpose train CFG --out R key=value -v`: the override after an option and -v after the
    command reach the command (argparse alone rejects both)."""
    from vidpose.cli import build_parser, parse_args

    parser = build_parser()
    args = parse_args(parser, ["train", "c.yaml", "a.b=1", "--out", "r", "train.lr=2", "-v"])
    assert args.overrides == ["a.b=1", "train.lr=2"] and args.out == "r" and args.verbose
    args = parse_args(parser, ["-v", "predict", "v.mp4", "--out", "p.json", "test.flip=true"])
    assert args.overrides == ["test.flip=true"] and args.verbose
    with pytest.raises(SystemExit):  # a command without overrides still rejects them
        parse_args(parser, ["eval", "--gt", "g", "--pred", "p", "x=1"])
    with pytest.raises(SystemExit):
        parse_args(parser, ["train", "c.yaml", "--bogus"])


def test_synth_never_mixes_datasets_and_never_deletes_a_foreign_folder(tmp_path, capsys):
    from vidpose.cli import main

    out = tmp_path / "st"
    assert main(["synth", "--out", str(out), "--preset", "tiny", "--splits", "val", "--quiet"]) == 0
    assert main(["synth", "--out", str(out), "--preset", "tiny", "--splits", "val", "--quiet"]) == 2
    assert "--replace" in capsys.readouterr().err
    (out / "annotations" / "val" / "stale.json").write_text("{}")
    assert main(["synth", "--out", str(out), "--preset", "tiny", "--splits", "val", "--quiet", "--replace"]) == 0
    assert not (out / "annotations" / "val" / "stale.json").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"x")
    assert main(["synth", "--out", str(mine), "--preset", "tiny", "--replace", "--quiet"]) == 2
    assert (mine / "holiday.jpg").exists()


def test_a_typo_in_data_root_generates_nothing(tmp_path):
    from vidpose.engine.data import ensure_dataset

    with pytest.raises(FileNotFoundError, match="vidpose synth --out"):
        ensure_dataset({"root": str(tmp_path / "data" / "synthtrak"), "synth_preset": "tiny"})
    assert not (tmp_path / "data").exists()


def _one_line_error(capsys, *needles) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_bad_predict_numbers_and_files_are_one_line_errors(tmp_path, capsys, fixtures):
    """Issue 41: tracebacks for --detect-every 0 or -5, --global-cache -1, a JPEG as a config."""
    clip = next((fixtures / "videos").rglob("*.mp4"))
    out = str(tmp_path / "o.json")
    for option, value in (("--detect-every", "0"), ("--detect-every", "-5"), ("--global-cache", "-1")):
        assert main(["predict", str(clip), "--out", out, option, value, "--quiet"]) == 2
        _one_line_error(capsys, "must be a whole number", value)
    jpeg = next((fixtures / "videos").rglob("*.jpg"))
    assert main(["predict", str(clip), "--out", out, "--config", str(jpeg), "--quiet"]) == 2
    _one_line_error(capsys, str(jpeg), "not a text file")
    assert main(["train", str(jpeg), "--out", str(tmp_path / "run")]) == 2
    _one_line_error(capsys, "not a text file")


def test_train_refuses_a_file_as_out_and_resume_with_overwrite(synth_tiny, tmp_path, capsys):
    import yaml

    from conftest import tiny_config

    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config(synth_tiny, max_steps=1)))
    (tmp_path / "afile").write_text("x")
    assert main(["train", str(config), "--out", str(tmp_path / "afile"), "--quiet"]) == 2
    _one_line_error(capsys, "afile: is a file; --out needs a run folder")
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--resume", "--overwrite", "--quiet"]) == 2
    _one_line_error(capsys, "--resume and --overwrite contradict each other")
    assert not (tmp_path / "run").exists() and (tmp_path / "afile").read_text() == "x"


def test_a_closed_pipe_is_one_line_and_no_traceback():
    """Issue 41: `vidpose models --json | head -1` ended in a BrokenPipeError traceback. The
    reader here closes the pipe before the command writes, as head does after its line."""
    proc = subprocess.Popen([sys.executable, "-m", "vidpose.cli", "models", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait() == 2
    assert err.startswith("error: the output of `vidpose models` was closed") and err.count("\n") == 1, err


def test_ctrl_c_during_predict_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch, fixtures):
    import vidpose.pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(vidpose.pipeline.Pipeline, "__init__", interrupted)
    clip = next((fixtures / "videos").rglob("*.mp4"))
    assert main(["predict", str(clip), "--out", str(tmp_path / "o.json")]) == 130
    err = capsys.readouterr().err
    assert err.startswith("stopped: interrupted (Ctrl-C)") and err.count("\n") == 1
    assert not (tmp_path / "o.json").exists()
