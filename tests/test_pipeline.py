"""vidpose.Pipeline and `vidpose predict` on real video with the real models: the PoseTrack18 file
and the rendered video, a truncated video, missing assets, `vidpose models --json`, and a folder
of frame_N.png frames. Tests that need the fetched assets are marked ``needs_assets`` (they skip
with the reason without them, and fail under CI, which fetches them); those that need the fixture
clip skip when ``../shared/fixtures/posetrack18`` is absent."""

from __future__ import annotations

import json
import os

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
    offline = pipeline_module.Pipeline(model=pipeline_module.CAUSAL_MODEL, boxes_in_time="causal",
                                       region_model=live.region_model)
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

    out, render = tmp_path / "live.json", tmp_path / "live.mp4"
    assert main(["predict", str(clip), "--causal", "--out", str(out), "--render", str(render), "--quiet"]) == 0
    assert "live (causal" in capsys.readouterr().out
    doc = _check_predictions(out, len(open_frames(clip)))
    assert doc["annotations"] and all(len(a["bbox"]) == 4 for a in doc["annotations"])  # chains as --boxes
    rendered = open_frames(render)
    assert len(rendered) == len(open_frames(clip)) and rendered.fps == open_frames(clip).fps
    assert main(["predict", str(clip), "--causal", "--model", "jmpose_blazepose", "--out", str(tmp_path / "b.json")]) == 2
    assert "t+1" in capsys.readouterr().err


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


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small video named like a PoseTrack one, a box file for it, and a tiny checkpoint."""
    from conftest import tiny_checkpoint, tiny_video

    folder = tmp_path_factory.mktemp("tiny")
    video = tiny_video(folder / "000007_tiny.mp4")
    boxes = folder / "boxes.json"
    boxes.write_text(json.dumps([{"frame_index": f, "bbox": [8 + 4 * f, 16, 36, 68], "score": 0.9, "track_id": 1}
                                 for f in range(12)]))
    return {"video": video, "boxes": boxes, "checkpoint": tiny_checkpoint(folder)}


def _predict(tiny, *extra):
    from vidpose.cli import main

    return main(["predict", str(tiny["video"]), "--checkpoint", str(tiny["checkpoint"]), "--quiet", *map(str, extra)])


def test_an_output_that_is_an_input_is_refused_and_nothing_is_touched(tiny, tmp_path, capsys):
    """Issue 41: `--render v.mp4` replaced the input video, `--out B.json --boxes B.json` the box file."""
    video_bytes, boxes_bytes = tiny["video"].read_bytes(), tiny["boxes"].read_bytes()
    for extra, named in ((["--out", tmp_path / "o.json", "--render", tiny["video"]], "--render"),
                         (["--out", tiny["boxes"], "--boxes", tiny["boxes"]], "--out"),
                         (["--out", tiny["checkpoint"]], "--out")):
        assert _predict(tiny, *extra, "--overwrite") == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {named} ") and "is an input" in err and err.count("\n") == 1
    assert tiny["video"].read_bytes() == video_bytes and tiny["boxes"].read_bytes() == boxes_bytes
    assert not (tmp_path / "o.json").exists()


def test_an_existing_output_needs_overwrite(tiny, tmp_path, capsys):
    """Issue 41: --out and --render silently replaced existing files."""
    out, render = tmp_path / "o.json", tmp_path / "r.mp4"
    out.write_text("mine")
    assert _predict(tiny, "--out", out, "--boxes", tiny["boxes"]) == 2
    assert "--out" in capsys.readouterr().err and out.read_text() == "mine"
    render.write_text("mine too")
    assert _predict(tiny, "--out", tmp_path / "new.json", "--render", render, "--boxes", tiny["boxes"]) == 2
    err = capsys.readouterr().err
    assert f"--render {render}: already exists; pass --overwrite" in err and render.read_text() == "mine too"
    assert not (tmp_path / "new.json").exists()
    assert _predict(tiny, "--out", out, "--render", render, "--boxes", tiny["boxes"], "--overwrite") == 0
    assert json.loads(out.read_text())["annotations"] and len(open_frames(render)) == 12


def test_output_problems_are_found_before_any_work(tiny, tmp_path, capsys, monkeypatch):
    """Issue 41: a .gif or extension-less --render, --render equal to --out, a folder that cannot
    be written surfaced after all inference, as tracebacks."""
    import vidpose.pipeline

    def no_work(*args, **kwargs):
        raise AssertionError("the model was loaded before the outputs were checked")

    monkeypatch.setattr(vidpose.pipeline, "load_model", no_work)
    (tmp_path / "afile").write_text("x")
    for extra, message in ((["--render", tmp_path / "r.gif"], "cannot write a video of type '.gif'"),
                           (["--render", tmp_path / "r"], "cannot write a video of type '(none)'"),
                           (["--render", tmp_path / "o.json"], "is also --out"),
                           (["--out", tmp_path / "afile" / "o.json"], "is a file, not a folder"),
                           (["--out", tmp_path], "is a folder")):
        extra = (["--out", tmp_path / "o.json"] if extra[0] != "--out" else []) + extra
        assert _predict(tiny, *extra) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert _predict(tiny, "--out", locked / "o.json") == 2
        assert "permission denied" in capsys.readouterr().err


def test_a_config_without_a_checkpoint_must_be_defined_by_its_assets(tmp_path):
    """Issue 41: --config without --checkpoint ran an untrained network (scores about 1e-4)."""
    from vidpose.errors import ConfigError
    from vidpose.pipeline import load_model

    with pytest.raises(ConfigError, match=r"tdmi_blazepose.yaml: model 'tdmi' has \d+ weights that no asset gives "
                                          r".*would run untrained; give the checkpoint"):
        load_model(config="configs/real/tdmi_blazepose.yaml")
    tiny_cfg = {"data": {"input_size": [48, 64], "heatmap_size": [12, 16], "offsets": []},
                "model": {"name": "single_frame", "backbone": {"name": "hrnet", "size": "tiny"}}}
    with pytest.raises(ConfigError, match="the config: model 'single_frame' has"):
        load_model(config=tiny_cfg)


def test_a_shipped_name_and_a_custom_model_together_are_refused(tmp_path, capsys):
    """predict and export choose their model in one place (pipeline.choose_model): a shipped
    default, the causal default for live use, a custom model, or an error for both at once."""
    from vidpose.cli import main
    from vidpose.errors import ConfigError
    from vidpose.pipeline import CAUSAL_MODEL, DEFAULT_MODEL, choose_model

    assert choose_model(None) == DEFAULT_MODEL and choose_model(None, causal=True) == CAUSAL_MODEL
    assert choose_model("blazepose") == "blazepose" and choose_model(None, checkpoint="m.pt") is None
    with pytest.raises(ConfigError, match="--model blazepose.*not both"):
        choose_model("blazepose", config="c.yaml")
    both = ["--model", "blazepose", "--checkpoint", str(tmp_path / "m.pt")]
    video = tmp_path / "v.mp4"
    video.touch()
    for argv in (["predict", str(video), "--out", str(tmp_path / "o.json")], ["export", "--out", str(tmp_path / "o.onnx")]):
        assert main(argv + both) == 2
        assert "not both" in capsys.readouterr().err


@pytest.mark.needs_assets("blazepose_full")
def test_a_config_whose_weights_all_come_from_its_asset_needs_no_checkpoint():
    from vidpose.pipeline import load_model

    model, cfg = load_model(config="configs/real/blazepose_full.yaml")
    assert cfg["model"]["backbone"]["name"] == "blazepose"


def test_vidpose_output_can_be_the_boxes_of_a_later_run(tiny, tmp_path):
    """Issue 41: vidpose's PoseTrack18 output had no bbox, so as --boxes it gave 0 people."""
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    assert _predict(tiny, "--out", first, "--boxes", tiny["boxes"]) == 0
    assert _predict(tiny, "--out", second, "--boxes", first) == 0
    a, b = (json.loads(p.read_text())["annotations"] for p in (first, second))
    assert len(a) == len(b) == 12
    assert [x["bbox"] for x in a] == [x["bbox"] for x in b]
    assert [x["keypoints"] for x in a] == [x["keypoints"] for x in b]


def test_a_range_of_frames_keeps_the_frame_names_and_chains(tiny, tmp_path):
    """--frames: box-file frames are the whole video's; the output names the frames it ran on."""
    out = tmp_path / "part.json"
    assert _predict(tiny, "--out", out, "--boxes", tiny["boxes"], "--frames", "4:8") == 0
    doc = json.loads(out.read_text())
    assert [im["file_name"] for im in doc["images"]] == [f"000007_tiny/{f:06d}.jpg" for f in range(4, 8)]
    assert [a["bbox"][0] for a in doc["annotations"]] == [8 + 4 * f for f in range(4, 8)]
    assert _predict(tiny, "--out", tmp_path / "again.json", "--boxes", out, "--frames", "4:8") == 0
    assert _predict(tiny, "--out", tmp_path / "no.json", "--boxes", out, "--frames", "0:3") == 2


def test_a_frame_folder_numbered_from_1_keeps_its_names(tiny, tmp_path):
    import cv2

    from vidpose.cli import main

    folder = tmp_path / "walk"
    folder.mkdir()
    source = open_frames(tiny["video"])
    for i in range(3):
        cv2.imwrite(str(folder / f"img_{i + 1}.png"), source.read(i)[:, :, ::-1])
    boxes = tmp_path / "b.json"
    boxes.write_text(json.dumps([{"image_name": f"img_{i + 1}.png", "bbox": [10, 10, 30, 60]} for i in range(3)]))
    out = tmp_path / "o.json"
    assert main(["predict", str(folder), "--checkpoint", str(tiny["checkpoint"]), "--boxes", str(boxes),
                 "--out", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert [im["file_name"] for im in doc["images"]] == ["walk/img_1.png", "walk/img_2.png", "walk/img_3.png"]
    assert len(doc["annotations"]) == 3


def test_a_box_file_without_boxes_reports_a_true_rate(tiny, tmp_path, capsys):
    """Issue 41: 0 boxes reported 5000000000.00 frames/s (a rounded 0 s divided)."""
    from vidpose.pipeline import Pipeline

    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    t = Pipeline(checkpoint=tiny["checkpoint"]).predict(tiny["video"], tmp_path / "o.json", boxes=empty,
                                                         progress=False)
    assert t["boxes"] == 0 and 0 < t["fps"] < 1e6


def test_the_api_takes_arrays_and_frame_lists_and_says_what_it_takes(tiny, tmp_path):
    """Issue 41: an ndarray, a list of frames or bytes failed with a bare TypeError; a float
    `frames` and detect_every=0 failed late."""
    from vidpose.pipeline import Pipeline

    pipeline = Pipeline(checkpoint=tiny["checkpoint"])
    source = open_frames(tiny["video"])
    array = np.stack([source.read(i) for i in range(len(source))])
    boxes = tmp_path / "b.json"
    boxes.write_text(json.dumps([{"frame_index": f, "bbox": [10, 16, 36, 68]} for f in range(12)]))
    from_array = pipeline(array, boxes=boxes)
    from_list = pipeline(list(array), boxes=boxes)
    assert len(from_array.frames) == len(from_list.frames) == 12
    assert sum(len(f.people) for f in from_array.frames) == 12
    assert np.allclose(from_array.frames[3].people[0].keypoints, from_list.frames[3].people[0].keypoints)
    for bad in (tiny["video"].read_bytes(), 3.5, None):
        with pytest.raises(VidposeError, match=r"cannot read a video from \w+; give a path .*uint8 RGB array"):
            pipeline(bad)
    with pytest.raises(VidposeError, match=r"expected \(T, H, W, 3\) uint8 RGB frames"):
        pipeline(array.astype(np.float32))
    for frames in ((0.5, 3), (0, 2.0), "0:3", (3, 1), (-1, 4)):
        with pytest.raises(VidposeError, match="frames"):
            pipeline(tiny["video"], frames=frames)
    for options in ({"detect_every": 0}, {"detect_every": -5}, {"detect_every": 2.5}, {"global_cache_size": -1}):
        with pytest.raises(VidposeError, match="must be a whole number"):
            Pipeline(checkpoint=tiny["checkpoint"], **options)


def _random_value(rng, kind: str):
    """A value a careless or hostile box file might hold in a field of ``kind``."""
    choices = {
        "bbox": [lambda: [float(v) for v in rng.uniform(-50, 150, 2)] + [float(v) for v in rng.uniform(1, 80, 2)],
                 lambda: [5000, 5000, 100, 200], lambda: [0, 0, 1e9, 1e9], lambda: [-1e12, 3, 4, 5],
                 lambda: [float("nan"), 1, 2, 3], lambda: [1, 2, float("inf"), 3], lambda: [1, 2, -30, 40],
                 lambda: [1, 2, 0, 40], lambda: [1, 2, 3], lambda: "1,2,3,4", lambda: None, lambda: [True, 1, 2, 3],
                 lambda: [10 ** 400, 1, 2, 3], lambda: {"x": 1}, lambda: [-120, -90, 100, 80],
                 lambda: [127.5, 95.5, 40, 40]],
        "frame": [lambda: int(rng.integers(0, 12)), lambda: int(rng.integers(-5, 0)), lambda: 12,
                  lambda: 10 ** 30, lambda: 2.5, lambda: 3.0, lambda: "3", lambda: None, lambda: float("nan"),
                  lambda: True],
        "score": [lambda: float(rng.uniform(0, 1)), lambda: -1.0, lambda: 7.0, lambda: "high",
                  lambda: float("nan"), lambda: None],
        "track": [lambda: int(rng.integers(0, 4)), lambda: "a", lambda: 1.5, lambda: None, lambda: [1]],
    }[kind]
    return choices[int(rng.integers(len(choices)))]()


def _check_outcome(rc: int, err: str, out) -> None:
    """Either a clean one-line error (exit 2) or a file whose keypoints lie in a sane range."""
    if rc == 2:
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
        return
    assert rc == 0, err
    doc = json.loads(out.read_text())
    for ann in doc["annotations"]:
        kp = np.array(ann["keypoints"], dtype=float).reshape(17, 3)
        assert np.isfinite(kp).all() and np.isfinite(ann["scores"]).all()
        assert (-128 <= kp[:, 0]).all() and (kp[:, 0] <= 2 * 128).all(), kp[:, 0]  # the frame is 128x96
        assert (-96 <= kp[:, 1]).all() and (kp[:, 1] <= 2 * 96).all(), kp[:, 1]
        x, y, w, h = ann["bbox"]
        assert 0 <= x and 0 <= y and x + w <= 128 + 1e-6 and y + h <= 96 + 1e-6 and w > 0 and h > 0


def test_fuzz_predict_box_files(tiny, tmp_path, capsys):
    """Random box files (wrong types, NaN, out of the frame, negative, huge): every run is a
    one-line error or a file with no keypoint outside a sane range."""
    rng = np.random.default_rng(41)
    outcomes = set()
    for trial in range(30):
        entries = []
        for _ in range(int(rng.integers(0, 6))):
            entry = {"bbox": _random_value(rng, "bbox"), "frame_index": _random_value(rng, "frame")}
            for key, kind in (("score", "score"), ("track_id", "track")):
                if rng.random() < 0.6:
                    entry[key] = _random_value(rng, kind)
            if rng.random() < 0.1:
                del entry[str(rng.choice(["bbox", "frame_index"]))]
            entries.append(entry)
        boxes, out = tmp_path / f"boxes{trial}.json", tmp_path / f"out{trial}.json"
        boxes.write_text(json.dumps(entries) if rng.random() > 0.05 else json.dumps(entries)[:-3])
        rc = _predict(tiny, "--out", out, "--boxes", boxes)
        _check_outcome(rc, capsys.readouterr().err, out)
        outcomes.add(rc)
    assert outcomes == {0, 2}  # both kinds of outcome were exercised


def test_fuzz_predict_frame_ranges(tiny, tmp_path, capsys):
    """Random --frames (reversed, negative, past the end, not numbers) with a box file."""
    rng = np.random.default_rng(7)
    texts = ["0:12", "11:", ":3", "5:5", "8:3", "-2:4", "3:400", "40:50", "a:b", "1:2:3", "", ":", "1.5:4", " 2:4"]
    texts += [f"{int(rng.integers(-3, 15))}:{int(rng.integers(-3, 15))}" for _ in range(6)]
    outcomes = set()
    for k, text in enumerate(texts):
        out = tmp_path / f"out{k}.json"
        rc = _predict(tiny, "--out", out, "--boxes", tiny["boxes"], f"--frames={text}")
        _check_outcome(rc, capsys.readouterr().err, out)
        outcomes.add(rc)
        if rc == 0:
            doc = json.loads(out.read_text())
            assert len(doc["annotations"]) == len(doc["images"])  # one box per frame in the file
    assert outcomes == {0, 2}


def _assert_same_people(video, reference, pixels: float) -> None:
    """The same people under the same track ids, frame by frame, their keypoints within ``pixels``
    and their scores within 1e-3; and at least one person."""
    people = [(p.track_id, p.keypoints) for f in video.frames for p in f.people]
    expected = [(p.track_id, p.keypoints) for f in reference.frames for p in f.people]
    assert [i for i, _ in people] == [i for i, _ in expected] and people
    for (_, got), (_, want) in zip(people, expected):
        np.testing.assert_allclose(got[:, :2], want[:, :2], atol=pixels)
        np.testing.assert_allclose(got[:, 2], want[:, 2], atol=1e-3)


@pytest.mark.needs_assets
def test_one_backbone_pass_per_person_and_frame_gives_the_two_pass_poses(clip):
    """--crop-boxes region: the tracker's pose pass and the temporal head read the same crop, so the
    head reuses its features; run interleaved or in two passes, the poses agree."""
    import vidpose

    shared = vidpose.Pipeline(crop_boxes="region")
    video = shared(clip)
    assert shared.interleaves() and shared.timings["region_cropped"] > 0
    two_pass = vidpose.Pipeline(crop_boxes="region")
    two_pass.interleaves = lambda: False
    reference = two_pass(clip)
    # every box the region pass cropped is a backbone pass the head does not repeat
    assert shared.timings["crops_computed"] == two_pass.timings["crops_computed"] - shared.timings["region_cropped"]
    _assert_same_people(video, reference, pixels=1.0)


@pytest.mark.needs_assets
def test_the_onnx_runtime_gives_the_torch_poses(clip, tmp_path, monkeypatch):
    """--runtime onnx: the backbone's per-crop pass in ONNX Runtime (the tracker's regions and the
    head's crops alike) gives the same people and poses as PyTorch; the graph is exported once."""
    pytest.importorskip("onnxruntime")
    import vidpose
    from vidpose.errors import VidposeError

    monkeypatch.setattr("vidpose.engine.export.home", lambda: tmp_path)  # not the user's asset cache
    reference = vidpose.Pipeline()(clip)
    onnx = vidpose.Pipeline(runtime="onnx")
    video = onnx(clip)
    assert onnx.frame_features.path.is_file() and onnx.timings["region_cropped"] > 0
    stamp = onnx.frame_features.path.stat().st_mtime_ns
    again = vidpose.Pipeline(runtime="onnx").frame_features.path
    assert again == onnx.frame_features.path and again.stat().st_mtime_ns == stamp  # exported once
    _assert_same_people(video, reference, pixels=0.5)
    assert onnx.frame_features.path.parent == tmp_path / "onnx"
    with pytest.raises(VidposeError, match="runtime"):
        vidpose.Pipeline(runtime="tensorrt")
