"""The vidpose command: help, data inspect/draw, eval, demo, and clear errors."""

import json
import subprocess
import sys

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


def test_demo_runs_end_to_end(tmp_path):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["dark"]["Total"] > 99 and results["dark"]["mean_error_px"] < 0.1
    assert results["argmax"]["mean_error_px"] > results["dark"]["mean_error_px"]
    assert len(open_frames(tmp_path / "demo_predictions.mp4")) == 24


def test_synth_and_preview(tmp_path, capsys):
    from vidpose.cli import main

    out = tmp_path / "st"
    assert main(["synth", "--out", str(out), "--preset", "tiny", "--splits", "val", "--workers", "1", "--quiet"]) == 0
    assert "val" in capsys.readouterr().out
    assert (out / "annotations" / "val" / "901000_mpii_val.json").is_file()
    assert main(["synth", "preview", str(out), "--out", str(tmp_path / "sheet.png"), "--rows", "1"]) == 0
    assert (tmp_path / "sheet.png").stat().st_size > 1000
    assert main(["eval", "--gt", str(out / "annotations" / "val"), "--pred", str(out / "annotations" / "val")]) == 0
