"""Pose-guided tracking on scripted people: ids survive a crossing with occlusion, a lost
track is re-detected, invalid boxes are dropped with a counting warning; plus the real
Sports2D clip when the assets are present."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from vidpose.tracking.tracker import BoxWarning, PoseTracker, id_switches, to_detection_entries, write_boxes
from vidpose.data.detections import Detection

H, W = 400, 700
# a standing person's 17 COCO keypoints around the box centre, in a 40 x 100 box
TEMPLATE = np.array([[0, -45], [-3, -48], [3, -48], [-6, -46], [6, -46], [-12, -30], [12, -30], [-16, -10],
                     [16, -10], [-17, 8], [17, 8], [-8, 5], [8, 5], [-9, 25], [9, 25], [-9, 45], [9, 45]], float)


def frame_of(t: int) -> np.ndarray:
    f = np.zeros((H, W, 3), np.uint8)
    f[0, 0, 0], f[0, 0, 1] = t % 256, t // 256
    return f


def person(cx: float, cy: float, rng: np.random.Generator, score: float = 0.9) -> Detection:
    kp = TEMPLATE + (cx, cy) + rng.normal(0, 0.7, TEMPLATE.shape)
    return Detection(np.array([cx - 20, cy - 50, 40, 100.0]), score, kp, np.full(17, 0.8))


class ScriptedDetector:
    """Sees the people of ``script(t)`` -> {gt id: (cx, cy)}; ``hidden_in_regions`` lists frames
    where the pose model finds nobody in its regions (the whole-frame detector still does)."""

    def __init__(self, script, hidden_in_regions=(), extra=None):
        self.script, self.hidden = script, set(hidden_in_regions)
        self.extra = extra or (lambda t: [])
        self.calls: list[int] = []
        self.region_calls: list[int] = []

    @staticmethod
    def t(frame: np.ndarray) -> int:
        return int(frame[0, 0, 0]) + 256 * int(frame[0, 0, 1])

    def people(self, t: int) -> list[Detection]:
        rng = np.random.default_rng(t)
        return [person(cx, cy, rng) for _, (cx, cy) in sorted(self.script(t).items())]

    def __call__(self, frame):
        t = self.t(frame)
        self.calls.append(t)
        return self.people(t) + self.extra(t)

    def in_regions(self, frame, regions, input_size):
        t = self.t(frame)
        self.region_calls.append(t)
        out = []
        for x0, y0, x1, y1 in regions:
            found = [] if t in self.hidden else [
                d for d in self.people(t) if x0 <= d.box[0] + 20 < x1 and y0 <= d.box[1] + 50 < y1]
            out.append(found)
        return out


def truth(script, n):
    return [{g: np.array([cx - 20, cy - 50, 40, 100.0]) for g, (cx, cy) in script(t).items()} for t in range(n)]


def crossing(t: int) -> dict[int, tuple[float, float]]:
    """Two people walk towards each other along one line and swap sides; while they overlap
    the one behind (1) is hidden."""
    a, b = 100.0 + 10 * t, 500.0 - 10 * t
    people = {0: (a, 200.0)}
    if abs(a - b) >= 30:
        people[1] = (b, 200.0)
    return people


def test_ids_survive_a_crossing():
    n = 41
    det = ScriptedDetector(crossing)
    tracker = PoseTracker(det, detect_every=10)
    results = tracker.run([frame_of(t) for t in range(n)])
    assert tracker.next_id == 2  # no extra tracks
    assert id_switches(results, truth(crossing, n)) == 0
    start = {tid: b[0] for tid, b, _ in results[0]}
    end = {tid: b[0] for tid, b, _ in results[-1]}
    assert start.keys() == end.keys() == {0, 1}
    for tid in start:  # each id went from one side to the other
        assert np.sign(end[tid] - 300) == -np.sign(start[tid] - 300)
    hidden = [t for t in range(n) if 1 not in crossing(t)]
    assert hidden and all(len(results[t]) == 1 for t in hidden)
    assert len(det.calls) < n / 2  # the detector does not run on every frame


def walker(t: int) -> dict[int, tuple[float, float]]:
    """One person walking right; gone from the video (e.g. occluded) at frames 20-24."""
    return {} if 20 <= t <= 24 else {0: (100.0 + 6 * t, 220.0)}


def test_lost_track_is_redetected():
    n = 35
    det = ScriptedDetector(walker, hidden_in_regions=range(13, 16))
    tracker = PoseTracker(det, detect_every=10)
    results = tracker.run([frame_of(t) for t in range(n)])
    # the pose model fails in the region at 13-15: the detector runs there and keeps the id
    assert {13, 14, 15} <= set(det.calls)
    for t in range(n):
        ids = [tid for tid, _, _ in results[t]]
        assert ids == ([] if 20 <= t <= 24 else [0]), (t, ids)
    # the loss at 20 starts the detector, which runs while the track is kept and finds the
    # person again at 25 (same id); then it is back to every 10 frames
    assert {20, 21, 22, 23, 24, 25} <= set(det.calls)
    assert not set(range(26, 35)) & set(det.calls)
    assert {21, 22, 23, 24} <= set(det.region_calls)  # and the region is searched too
    assert tracker.stats["lost"] == 4  # at 13, 14, 15 and 20


def test_track_ends_after_max_missed():
    det = ScriptedDetector(walker)
    tracker = PoseTracker(det, detect_every=10, max_missed=3)
    results = tracker.run([frame_of(t) for t in range(35)])
    assert [tid for tid, _, _ in results[19]] == [0]
    assert [tid for tid, _, _ in results[25]] == [1]  # gone 5 frames > 3: a new track


def bad_boxes(t: int) -> list[Detection]:
    rng = np.random.default_rng(100 + t)
    zero, negative, nan, inf = (person(400, 200, rng) for _ in range(4))
    zero.box[2] = 0.0
    negative.box[3] = -5.0
    nan.box[0] = np.nan
    inf.keypoints[3, 1] = np.inf
    return [zero, negative, nan, inf, person(600, 100, rng, score=0.05)]  # the last is below min_score


def test_invalid_boxes_dropped_with_a_counting_warning():
    det = ScriptedDetector(lambda t: {0: (150.0, 220.0)}, extra=bad_boxes)
    tracker = PoseTracker(det, detect_every=1)
    with pytest.warns(BoxWarning, match=r"frame 0: dropped 4 boxes \(2 with NaN or Inf, 2 with zero or negative size\)"):
        out = tracker.update(frame_of(0))
    assert [tid for tid, _, _ in out] == [0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = tracker.run([frame_of(t) for t in range(3)])
    messages = [str(w.message) for w in caught if issubclass(w.category, BoxWarning)]
    assert messages == ["3 frames: dropped 12 boxes (6 with NaN or Inf, 6 with zero or negative size)"]
    for people in results:
        assert len(people) == 1
        for _, box, score in people:
            assert np.isfinite(box).all() and box[2] > 0 and box[3] > 0


def test_output_is_a_detection_file_for_predict(tmp_path):
    from vidpose.tracking.boxes import load_video_boxes

    det = ScriptedDetector(crossing)
    results = PoseTracker(det).run([frame_of(t) for t in range(12)])
    path = tmp_path / "boxes.json"
    write_boxes(path, results)
    entries = json.loads(path.read_text())
    assert entries == to_detection_entries(results)

    class Source:
        path = tmp_path / "video.mp4"

        def __len__(self):
            return 12

        def size(self):  # the reader skips boxes off the frame
            return frame_of(0).shape[:2]

    boxes = load_video_boxes(path, Source())
    assert [len(b) for b in boxes.boxes] == [len(r) for r in results]
    assert [sorted(t.tolist()) for t in boxes.tracks] == [sorted(tid for tid, _, _ in r) for r in results]


@pytest.mark.needs_assets("sports2d_demo", "movenet_multipose", "movenet_multipose_weights")
def test_sports2d_clip_keeps_one_id_on_the_jumping_jacks_person():
    """The first 20 real frames of the Sports2D video (the walker enters only at about frame 40): the
    person doing jumping jacks is found in nearly every frame, keeps one id, and that id's box
    stays on them (a person jumping in place: its centre moves little from frame to frame)."""
    from vidpose.assets import asset_path
    from vidpose.data.frames import open_frames
    from vidpose.models.movenet import MoveNetMultiPose

    source = open_frames(asset_path("sports2d_demo"))
    detector = MoveNetMultiPose(asset_path("movenet_multipose"), input_size=512)
    frames = [source.read(i) for i in range(20)]
    results = PoseTracker(detector, detect_every=10).run(frames)
    ids = [tid for people in results for tid, _, _ in people]
    assert sum(1 for people in results if people) >= 18
    assert len(set(ids)) == 1
    centres = np.array([box[:2] + box[2:4] / 2 for people in results for _, box, _ in people])
    width = frames[0].shape[1]
    assert np.abs(np.diff(centres, axis=0)).max() < 0.05 * width, "the track's box jumped to someone else"
