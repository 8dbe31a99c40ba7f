"""vidpose.Pipeline and `vidpose predict` on real video with the real models: the PoseTrack18 file
and the rendered video, a truncated video, missing assets, `vidpose models --json`, and a folder
of frame_N.png frames. Tests that need the fetched assets are marked ``needs_assets`` (they skip
with the reason without them, and fail under CI, which fetches them); those that need the fixture
clip skip when ``../shared/fixtures/posetrack18`` is absent."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidpose.assets import AssetError
from vidpose.data.annotations import load_posetrack
from vidpose.data.frames import open_frames, read_image
from vidpose.errors import VidposeError

@pytest.fixture
def clip(fixtures):
    """The 5-frame 1280x720 fixture clip (.mp4), and its folder of JPEG frames."""
    videos = sorted((fixtures / "videos").rglob("*.mp4"))
    if not videos:
        pytest.skip("the fixture clip (.mp4) is absent")
    return videos[0]


@pytest.fixture(scope="module")
def pipeline():
    """The default pipeline (its tests are marked ``needs_assets``, which checks the assets first)."""
    import vidpose

    return vidpose.Pipeline()


def _check_predictions(path, frames: int) -> dict:
    """A PoseTrack18 prediction file as poseval needs it; returns the raw document."""
    from vidpose.evaluation.posetrack import read_tables

    doc = json.loads(path.read_text())
    assert set(doc) >= {"images", "annotations", "categories"}
    assert len(doc["images"]) == frames
    ids = {im["id"] for im in doc["images"]}
    for ann in doc["annotations"]:
        assert ann["image_id"] in ids
        assert isinstance(ann["track_id"], int) and not isinstance(ann["track_id"], bool)
        assert len(ann["keypoints"]) == 17 * 3
        assert len(ann["scores"]) == 17 and all(0.0 <= s <= 1.0 for s in ann["scores"])
    per_image = {}
    for ann in doc["annotations"]:
        per_image.setdefault(ann["image_id"], []).append(ann["track_id"])
    assert all(len(t) == len(set(t)) for t in per_image.values()), "track ids repeat within a frame"
    (video,), summary = load_posetrack(path)
    assert len(video.frames) == frames and summary.people == len(doc["annotations"])
    read_tables(str(path), True)  # the evaluator's own checks of a prediction file
    return doc


@pytest.mark.needs_assets
def test_pipeline_on_the_fixture_clip_writes_posetrack18_and_a_video(pipeline, clip, tmp_path):
    out, render = tmp_path / "preds.json", tmp_path / "out.mp4"
    timings = pipeline.predict(clip, out=out, render=render, progress=False)
    assert timings["frames"] == 5 and timings["boxes"] >= 1 and timings["fps"] > 0
    doc = _check_predictions(out, 5)
    assert doc["annotations"], "no person found in the fixture clip"
    for ann in doc["annotations"]:
        kp = np.array(ann["keypoints"]).reshape(17, 3)
        assert np.isfinite(kp).all()
        assert (kp[:, 0] > -1280).all() and (kp[:, 0] < 2 * 1280).all()  # in (or near) the 1280x720 frame
    rendered = open_frames(render)
    assert len(rendered) == 5 and rendered.read(0).shape == (720, 1280, 3)


@pytest.mark.needs_assets
def test_a_truncated_video_is_a_vidpose_error_naming_the_file(pipeline, clip, tmp_path, capsys):
    """The first half of the clip's bytes: PyAV cannot open it (the index, ``moov``, is at the end
    of this file), and ``open_frames`` raises ``FrameError`` ("cannot open video") naming it."""
    from vidpose.cli import main
    from vidpose.data.frames import FrameError

    data = clip.read_bytes()
    bad = tmp_path / "truncated.mp4"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(VidposeError) as caught:
        pipeline(bad)
    assert isinstance(caught.value, FrameError)
    assert str(bad) in str(caught.value)
    assert main(["predict", str(bad), "--out", str(tmp_path / "p.json"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(bad) in err and "Traceback" not in err
    assert not (tmp_path / "p.json").exists()


def _faststart_copy(src, dst) -> None:
    """The same packets with the index (``moov``) at the front, as streaming files have it."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)


@pytest.mark.needs_assets
def test_a_truncated_faststart_video_fails_at_the_first_missing_frame(pipeline, clip, tmp_path):
    """With the index first, the first half opens (the header still says 5 frames) and the
    first frame past the cut raises ``FrameError`` naming the file and the frame: no partial
    output, no silent shorter video."""
    from vidpose.data.frames import FrameError

    whole = tmp_path / "faststart.mp4"
    _faststart_copy(clip, whole)
    data = whole.read_bytes()
    bad = tmp_path / "truncated_faststart.mp4"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(FrameError, match=r"frame \d+ could not be decoded.*truncated") as caught:
        pipeline(bad)
    assert str(bad) in str(caught.value)


def test_missing_assets_say_how_to_fetch_them(tmp_path, monkeypatch):
    import vidpose

    empty = tmp_path / "empty_home"
    empty.mkdir()
    monkeypatch.setenv("VIDPOSE_HOME", str(empty))
    with pytest.raises(AssetError, match="vidpose assets fetch"):
        vidpose.Pipeline()


def test_models_json_lists_the_shipped_models(capsys):
    from vidpose.cli import main
    from vidpose.pipeline import DEFAULT_MODEL, SHIPPED

    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(SHIPPED)
    for r in rows:
        spec = SHIPPED[r["name"]]
        assert (r["kind"], r["backbone"], r["keypoints"]) == (spec.kind, spec.backbone, spec.keypoints)
        assert r["kind"] in ("single-frame", "temporal") and r["backbone"] and r["keypoints"]
    assert [r["name"] for r in rows if r["default"]] == [DEFAULT_MODEL]


@pytest.mark.needs_assets
def test_every_shipped_temporal_head_is_committed_checksummed_and_loads():
    """weights/real holds each shipped head (without the backbone) as its manifest says, and it
    loads onto the BlazePose asset with every key fitting."""
    import hashlib

    import torch

    from vidpose.pipeline import SHIPPED, TEMPORAL_MODEL, load_model
    from vidpose.resources import package_path

    manifest = json.loads(package_path("weights/real/manifest.json").read_text())
    heads = [name for name, spec in SHIPPED.items() if spec.weights]
    assert heads and (TEMPORAL_MODEL is None or TEMPORAL_MODEL in heads)
    for name in heads:
        path = package_path(SHIPPED[name].weights)
        assert manifest[name]["weights"] == SHIPPED[name].weights
        assert hashlib.sha256(path.read_bytes()).hexdigest() == manifest[name]["sha256"], f"{path} changed"
        model, cfg = load_model(name, device=torch.device("cpu"))
        assert SHIPPED[name].kind == "temporal" and cfg["model"]["name"] == manifest[name]["method"]
        with torch.no_grad():
            out = model(torch.zeros(1, 1 + len(cfg["data"]["offsets"]), 3, 256, 256))
        assert out["heatmaps"].shape == (1, 17, 64, 64) and torch.isfinite(out["heatmaps"]).all()


@pytest.mark.needs_assets
def test_predict_on_a_folder_of_frame_n_png_needs_only_out(clip, tmp_path, capsys):
    import cv2

    from vidpose.cli import main

    jpegs = sorted(clip.parent.glob("*.jpg"))
    if len(jpegs) < 2:
        pytest.skip("the fixture clip's JPEG frames are absent")
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, jpg in enumerate(jpegs, start=1):  # frame_1.png, frame_2.png, ...: 1-based, not padded
        cv2.imwrite(str(folder / f"frame_{i}.png"), cv2.cvtColor(read_image(jpg), cv2.COLOR_RGB2BGR))
    out = tmp_path / "preds.json"
    assert main(["predict", str(folder), "--out", str(out)]) == 0
    assert f"{len(jpegs)} frames" in capsys.readouterr().out
    doc = _check_predictions(out, len(jpegs))
    assert doc["annotations"], "no person found in the fixture frames"


def test_a_folder_of_videos_is_told_from_a_folder_of_frames(tmp_path):
    from vidpose.pipeline import is_video_folder, videos_in

    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "000000.jpg").write_bytes(b"")
    many = tmp_path / "many"
    (many / "b_frames").mkdir(parents=True)
    (many / "a.mp4").write_bytes(b"")
    (many / "notes.txt").write_text("")
    (many / ".hidden").mkdir()
    assert not is_video_folder(frames) and is_video_folder(many) and not is_video_folder(many / "a.mp4")
    assert [p.name for p in videos_in(many)] == ["a.mp4", "b_frames"]
    (many / "a").mkdir()
    with pytest.raises(VidposeError, match="same output"):
        videos_in(many)


def _video_folder(clip, tmp_path, count: int = 3):
    """``count`` 2-frame videos (frame folders of the fixture clip's JPEGs) in one folder."""
    import shutil

    jpegs = sorted(clip.parent.glob("*.jpg"))[:2]
    if len(jpegs) < 2:
        pytest.skip("the fixture clip's JPEG frames are absent")
    folder = tmp_path / "videos"
    for k in range(count):
        (folder / f"video{k}").mkdir(parents=True)
        for i, jpg in enumerate(jpegs):
            shutil.copy(jpg, folder / f"video{k}" / f"{i:06d}.jpg")
    return folder


@pytest.mark.needs_assets
def test_predict_on_a_folder_of_videos_is_resumable(clip, tmp_path, capsys):
    from vidpose.cli import main

    folder = _video_folder(clip, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "video1.json").write_text("{}")  # done before: kept as it is
    assert main(["predict", str(folder), "--out", str(out), "--model", "blazepose", "--quiet"]) == 0
    assert "3 videos" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["video0.json", "video1.json", "video2.json"]
    assert (out / "video1.json").read_text() == "{}"
    _check_predictions(out / "video0.json", 2)
    assert main(["predict", str(folder), "--out", str(out), "--model", "blazepose", "--quiet"]) == 0
    assert "0 predicted, 3 already done" in capsys.readouterr().out


@pytest.mark.needs_assets
def test_torchrun_shares_a_folder_of_videos_between_two_processes(clip, tmp_path):
    import os
    import subprocess
    import sys

    folder = _video_folder(clip, tmp_path)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          "29531", "-m", "vidpose.cli", "predict", str(folder), "--out", str(out), "--model",
                          "blazepose", "--quiet"], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "2 in process 0 of 2" in run.stdout and "1 in process 1 of 2" in run.stdout
    assert sorted(p.name for p in out.iterdir()) == ["video0.json", "video1.json", "video2.json"]
    for k in range(3):
        _check_predictions(out / f"video{k}.json", 2)


@pytest.mark.needs_assets
def test_the_causal_mode_reads_no_future_frame_and_matches_the_offline_causal_run(clip, monkeypatch):
    import vidpose.pipeline as pipeline_module
    from vidpose.data import streams

    pulled = []

    class Counted(streams.Stream):
        def __iter__(self):
            for frame in super().__iter__():
                pulled.append(len(pulled))
                yield frame

    monkeypatch.setattr(pipeline_module, "open_stream", Counted)
    live = pipeline_module.Pipeline(causal=True)
    assert live.name == pipeline_module.CAUSAL_MODEL and not live.predictor.future_frames()
    outputs = []
    for t, frame, people in live.stream(clip):
        assert len(pulled) == t + 1, "the stream was read past the frame being predicted"
        outputs.append(people)
    offline = pipeline_module.Pipeline(model=pipeline_module.CAUSAL_MODEL, boxes_in_time="causal")
    boxes = offline.boxes(open_frames(clip))
    expected = offline.predictor.predict(open_frames(clip), boxes, progress=False)
    assert len(outputs) == len(expected) == len(open_frames(clip)) and any(outputs)
    for got, want in zip(outputs, expected):
        assert [p[2] for p in got] == [p[2] for p in want]
        for (xy, scores, _), (xy2, scores2, _) in zip(got, want):
            np.testing.assert_allclose(xy, xy2, atol=1e-3)


@pytest.mark.needs_assets
def test_predict_causal_reads_a_file_as_a_stream_and_refuses_a_model_that_looks_ahead(clip, tmp_path, capsys):
    from vidpose.cli import main

    out = tmp_path / "live.json"
    assert main(["predict", str(clip), "--causal", "--out", str(out), "--quiet"]) == 0
    assert "live (causal" in capsys.readouterr().out
    _check_predictions(out, len(open_frames(clip)))
    assert main(["predict", str(clip), "--causal", "--model", "jmpose_blazepose", "--out", str(out)]) == 2
    assert "t+1" in capsys.readouterr().err
