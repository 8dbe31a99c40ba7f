"""Video inference: box linking, detection files, and the sliding-window cache (same
predictions as recomputing, one backbone crop per box)."""

import json

import numpy as np
import pytest
import torch

from vidpose.data.annotations import AnnotationError, load_posetrack
from vidpose.data.frames import open_frames
from vidpose.engine.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
from vidpose.engine.video import VideoPredictor, link_tracks, load_video_boxes
from vidpose.models.registry import build_model


def test_link_tracks_follows_overlapping_boxes():
    a = np.array([[0, 0, 10, 10], [50, 50, 10, 10]], float)
    b = np.array([[52, 51, 10, 10], [1, 1, 10, 10], [200, 200, 5, 5]], float)
    t0, t1 = link_tracks([a, b])
    assert t1[0] == t0[1] and t1[1] == t0[0] and t1[2] not in t0


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


def test_detection_files_are_checked_against_the_video(synth_tiny, tmp_path):
    folder, _ = _video(synth_tiny)
    source = open_frames(folder)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"frame_index": len(source) + 3, "bbox": [0, 0, 5, 5]}]))
    with pytest.raises(AnnotationError, match="outside the video"):
        load_video_boxes(bad, source)
    bad.write_text(json.dumps([{"bbox": [0, 0, 5, 5]}]))
    with pytest.raises(AnnotationError, match="frame_index"):
        load_video_boxes(bad, source)


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


def test_unusable_boxes_are_skipped_counted_and_named_and_bad_frames_are_errors(synth_tiny, tmp_path, caplog):
    import logging

    from vidpose.data.annotations import AnnotationError

    folder, _ = _video(synth_tiny)
    source = open_frames(folder)
    entries = [{"frame_index": 0, "bbox": [10, 10, 40, 80], "score": 0.9},
               {"frame_index": 0, "bbox": [10, 10, 0, 80], "score": 0.9},
               {"frame_index": 1, "bbox": [10, 10, -4, 80]},
               {"frame_index": 1, "bbox": [10, 10, 40]},
               {"frame_index": 1, "bbox": None},
               {"frame_index": 2, "bbox": [float("nan"), 10, 40, 80]},
               {"frame_index": 2, "bbox": [10, 10, float("inf"), 80]},
               {"frame_index": 2, "bbox": [10, 10, 40, 80], "score": float("nan")},
               {"frame_index": 3, "bbox": [10, 10, 40, 80], "score": 0.05}]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(entries).replace("NaN", "NaN").replace("Infinity", "Infinity"))
    caplog.set_level(logging.WARNING)
    boxes = load_video_boxes(path, source, min_score=0.2)
    assert sum(len(b) for b in boxes.boxes) == 1
    assert boxes.skipped == {"of zero or negative size": 2, "not 4 numbers": 2, "with NaN or Inf": 2,
                             "with a score that is not a finite number": 1, "scored below --min-box-score 0.2": 1}
    message = caplog.records[-1].getMessage()
    assert "skipped 8 of 9 boxes" in message and "first at $[1].bbox" in message
    for bad, pattern in [({"frame_index": 1.5, "bbox": [1, 1, 5, 5]}, "integer frame position"),
                         ({"frame_index": "3", "bbox": [1, 1, 5, 5]}, "integer frame position"),
                         ({"frame_index": 999, "bbox": [1, 1, 5, 5]}, "outside the video")]:
        path.write_text(json.dumps([bad]))
        with pytest.raises(AnnotationError, match=pattern):
            load_video_boxes(path, source)


def test_boxes_from_a_posetrack18_file_and_from_mmpose_image_ids(fixtures, tmp_path):
    from vidpose.data.frames import open_frames as frames_of

    video = frames_of(next((fixtures / "videos").rglob("*.mp4")))
    ann = next((fixtures / "annotations" / "val").glob("*.json"))
    doc = json.loads(ann.read_text())
    doc["images"] = doc["images"][: len(video)]
    ids = {im["id"] for im in doc["images"]}
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] in ids]
    (tmp_path / "pt.json").write_text(json.dumps(doc))
    boxes = load_video_boxes(tmp_path / "pt.json", video)
    assert sum(len(b) for b in boxes.boxes) == sum(1 for a in doc["annotations"] if "bbox" in a) > 0
    mm = [{"image_id": 10000 * 7 + f, "bbox": [5, 5, 50, 90], "score": 0.8} for f in range(len(video))]
    (tmp_path / "mm.json").write_text(json.dumps(mm))
    assert [len(b) for b in load_video_boxes(tmp_path / "mm.json", video).boxes] == [1] * len(video)


def test_a_detection_file_of_several_videos_gives_each_video_its_own_boxes(fixtures, tmp_path):
    """mmpose's PoseTrack18 detection file (image_id layout) holds every val video: `predict --boxes`
    keeps the boxes of the video it runs on, found by the number in the folder or file name."""
    from vidpose.data.frames import open_frames as frames_of

    path = fixtures / "annotations" / "test_posetrack18_human_detections.json"
    entries = json.loads(path.read_text())
    for folder in sorted((fixtures / "images" / "val").iterdir()):
        number = int(folder.name[:6])
        expected = sum(1 for e in entries if e["image_id"] // 10000 % 10 ** 6 == number and e["score"] >= 0.5)
        boxes = load_video_boxes(path, frames_of(folder), min_score=0.5)
        assert [len(b) for b in boxes.boxes] == [expected] and expected > 0
    with pytest.raises(AnnotationError, match=r"holds boxes of 3 videos \(003418, 009473, 012834\) but none of "
                                              r"video 000001"):
        load_video_boxes(path, frames_of(next((fixtures / "videos").rglob("*.mp4"))))
    (tmp_path / "clip").symlink_to(fixtures / "images" / "val" / "003418_mpii_test")
    with pytest.raises(AnnotationError, match="has no PoseTrack video number in its name"):
        load_video_boxes(path, frames_of(tmp_path / "clip"))
