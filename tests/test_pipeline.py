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


def test_a_shipped_head_whose_sha256_differs_from_its_manifest_is_refused(tmp_path, monkeypatch):
    """Issue 41: one flipped bit in weights/real moved a shoulder by 436 px with no warning."""
    import shutil

    import vidpose.pipeline
    import vidpose.resources
    from vidpose.engine.checkpoint import load_checkpoint
    from vidpose.errors import CheckpointError
    from vidpose.pipeline import load_model
    from vidpose.resources import package_path, verify_shipped

    root = tmp_path / "vidpose"
    shutil.copytree(package_path("weights/real"), root / "weights" / "real")
    shutil.copytree(package_path("configs/real"), root / "configs" / "real")
    monkeypatch.setattr(vidpose.resources, "package_path", lambda relative: root / relative)
    monkeypatch.setattr(vidpose.pipeline, "package_path", lambda relative: root / relative)
    head = root / "weights" / "real" / "naive_temporal_blazepose.pt"
    verify_shipped(head)  # as shipped
    data = bytearray(head.read_bytes())
    data[len(data) // 2] ^= 0x01
    head.write_bytes(bytes(data))
    for load in (lambda: verify_shipped(head), lambda: load_checkpoint(head),
                 lambda: load_model("naive_temporal_blazepose")):
        with pytest.raises(CheckpointError, match=r"naive_temporal_blazepose.pt: sha256 [0-9a-f]{64}, but .*"
                                                  r"manifest.json records fa184c5e.*damaged or was replaced"):
            load()
