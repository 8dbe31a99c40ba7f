"""Video inference: the sliding-window cache (same predictions as recomputing, one backbone crop
per box) and the files it writes."""

import json

import numpy as np
import pytest
import torch

from vidpose.data.annotations import load_posetrack
from vidpose.data.frames import open_frames
from vidpose.engine.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
from vidpose.engine.video import VideoPredictor
from vidpose.tracking.boxes import load_video_boxes
from vidpose.models.registry import build_model


def _video(synth_tiny, split="train"):
    """A SynthTrack video and its GT (the train split labels every frame)."""
    folder = sorted((synth_tiny / "images" / split).iterdir())[0]
    videos, _ = load_posetrack(synth_tiny / "annotations" / split / f"{folder.name}.json")
    return folder, videos[0]


def _boxes_file(tmp_path, video, frames):
    entries = []
    for frame in video.frames:
        for p in frame.people:
            entries.append({"image_name": frame.file_name, "bbox": p.bbox.tolist(), "score": 0.9,
                            "track_id": p.track_id})
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(entries))
    return path, len(entries)


@pytest.mark.parametrize("name", ["tdmi", "jmpose"])
def test_the_cache_gives_the_same_predictions_with_one_crop_per_box(synth_tiny, tmp_path, name):
    torch.manual_seed(0)
    folder, video = _video(synth_tiny)
    source = open_frames(folder)
    path, count = _boxes_file(tmp_path, video, len(source))
    boxes = load_video_boxes(path, source)
    cfg = {"data": {"input_size": [96, 128], "heatmap_size": [24, 32], "sigma": 1.5, "offsets": [-2, -1, 1, 2]},
           "test": {"flip": False}}
    model = build_model({"name": name, "backbone": {"name": "hrnet", "size": "tiny"}}).eval()
    cached = VideoPredictor(model, cfg, torch.device("cpu"), cache=True)
    fresh = VideoPredictor(model, cfg, torch.device("cpu"), cache=False)
    a = cached.predict(source, boxes, progress=False)
    b = fresh.predict(source, boxes, progress=False)
    for fa, fb in zip(a, b):
        for (xa, sa, ta), (xb, sb, tb) in zip(fa, fb):
            assert np.allclose(xa, xb, atol=1e-3) and np.allclose(sa, sb, atol=1e-5) and ta == tb
    boxes_total = sum(len(x) for x in boxes.boxes)
    assert cached.stats["crops_computed"] == boxes_total  # every (frame, box) once
    assert fresh.stats["crops_computed"] > 3 * boxes_total  # about 2*delta+1 per box


def test_glpose_global_cache_is_bounded_and_gives_the_same_predictions(synth_tiny, tmp_path):
    torch.manual_seed(0)
    folder, video = _video(synth_tiny)
    source = open_frames(folder)
    path, _ = _boxes_file(tmp_path, video, len(source))
    boxes = load_video_boxes(path, source)
    cfg = {"data": {"input_size": [96, 128], "heatmap_size": [24, 32], "sigma": 1.5, "offsets": [-1, 1],
                    "global_frames": 3, "global_per_frame": 1},
           "test": {"flip": False}}
    model = build_model({"name": "glpose", "offsets": [-1, 1], "backbone": {"name": "hrnet", "size": "tiny"}}).eval()
    bound = 2
    bounded = VideoPredictor(model, cfg, torch.device("cpu"), cache=True, global_cache_size=bound)
    fresh = VideoPredictor(model, cfg, torch.device("cpu"), cache=False)
    a = bounded.predict(source, boxes, progress=False)
    b = fresh.predict(source, boxes, progress=False)
    for fa, fb in zip(a, b):
        for (xa, sa, _), (xb, sb, _) in zip(fa, fb):
            assert np.allclose(xa, xb, atol=1e-3) and np.allclose(sa, sb, atol=1e-5)
    # at most: the bound, plus one key frame's window crops and global proposals
    people = max(len(x) for x in boxes.boxes)
    window = len(cfg["data"]["offsets"]) + 1
    proposals = cfg["data"]["global_frames"] * cfg["data"]["global_per_frame"]
    assert bounded.stats["cache_peak"] <= bound + people * window + proposals
    assert bounded.stats["crops_computed"] < fresh.stats["crops_computed"]
    unbounded = VideoPredictor(model, cfg, torch.device("cpu"), cache=True, global_cache_size=10_000)
    unbounded.predict(source, boxes, progress=False)
    assert unbounded.stats["crops_computed"] == sum(len(x) for x in boxes.boxes)  # every crop once
    assert bounded.stats["cache_peak"] < unbounded.stats["cache_peak"]


def test_predict_writes_posetrack_json_and_a_video(synth_tiny, tmp_path):
    folder, video = _video(synth_tiny)
    path, _ = _boxes_file(tmp_path, video, None)
    cfg = {"data": {"input_size": [96, 128], "heatmap_size": [24, 32], "sigma": 1.5, "offsets": []},
           "model": {"name": "single_frame", "backbone": {"name": "hrnet", "size": "tiny"}},
           "test": {"flip": True}}
    model = build_model(cfg["model"])
    save_checkpoint(tmp_path / "m.pt", {"format": CHECKPOINT_FORMAT, "model_name": "single_frame", "config": cfg,
                                        "model": model.state_dict(), "step": 0})
    from vidpose.pipeline import Pipeline

    summary = Pipeline(config=cfg, checkpoint=tmp_path / "m.pt").predict(folder, tmp_path / "preds.json",
                                                                          render=tmp_path / "out.mp4", boxes=path,
                                                                          progress=False)
    videos, _ = load_posetrack(tmp_path / "preds.json")
    assert len(videos[0].frames) == summary["frames"] == len(open_frames(folder))
    assert sum(len(f.people) for f in videos[0].frames) == summary["boxes"]
    assert (tmp_path / "out.mp4").stat().st_size > 1000


def test_render_is_at_the_source_frame_rate_and_streams_one_frame_at_a_time(tmp_path):
    """Issue 41: every render was at 25 frames/s, and every frame was held in memory (0.93 GB for
    30 Sports2D frames). A 5 fps source renders at 5 fps; a render of 60 frames peaks far below
    what its frames would take together."""
    import tracemalloc

    from conftest import tiny_video
    from vidpose.data.frames import FrameSource
    from vidpose.engine.video import predictions_video, render_video

    clip = tiny_video(tmp_path / "clip.mp4", frames=8, fps=5)
    source = open_frames(clip)
    render_video(tmp_path / "r.mp4", source, predictions_video("clip", [[]] * 8, 8))
    rendered = open_frames(tmp_path / "r.mp4")
    assert len(rendered) == 8 and rendered.fps == 5

    class Generated(FrameSource):
        """Frames made on demand, none kept: what a render of them holds is the renderer's."""
        path = tmp_path / "generated"

        def __init__(self, n):
            super().__init__(cache_size=0)
            self.n = n

        def __len__(self):
            return self.n

        def _read(self, index):
            return np.full((240, 320, 3), index % 256, np.uint8)

    frames, frame_bytes = 60, 240 * 320 * 3
    tracemalloc.start()
    render_video(tmp_path / "long.mp4", Generated(frames), predictions_video("g", [[]] * frames, frames))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 * frame_bytes, f"the render held {peak / frame_bytes:.1f} frames at once"
    assert len(open_frames(tmp_path / "long.mp4")) == frames and open_frames(tmp_path / "long.mp4").fps == 25


def test_predictions_keep_the_cropped_boxes_and_the_frame_names():
    """Issue 41: vidpose's PoseTrack18 output had no bbox (unusable as --boxes), and a folder
    numbered from 1 came out as 000000.jpg..."""
    from vidpose.data.annotations import to_posetrack18_dict
    from vidpose.engine.video import predictions_video
    from vidpose.tracking.boxes import VideoBoxes

    xy, scores = np.zeros((17, 2)), np.full(17, 0.5)
    boxes = VideoBoxes([np.array([[1.0, 2.0, 30.0, 40.0]]), np.zeros((0, 4))], [np.array([0.9]), np.zeros(0)])
    video = predictions_video("walk", [[(xy, scores, 3)], []], 2, boxes, ["img_1.png", "img_2.png"])
    doc = to_posetrack18_dict(video)
    assert [im["file_name"] for im in doc["images"]] == ["walk/img_1.png", "walk/img_2.png"]
    assert doc["annotations"][0]["bbox"] == [1.0, 2.0, 30.0, 40.0] and doc["annotations"][0]["track_id"] == 3
