"""The tracker's per-person pass run by the pose model (tracking/pose_regions.py): keypoints back in
frame pixels, nobody where the heatmaps find nothing, and on real frames the same people as MoveNet."""

import numpy as np
import pytest
import torch
from torch import nn

from vidpose.data.clips import ClipConfig
from vidpose.tracking.pose_regions import PoseModelRegions

CLIP = ClipConfig(input_size=(64, 64), heatmap_size=(16, 16), aspect_ratio=1.0, enlarge=1.25)


#: joint j's peak in the 16 x 16 heatmap: a 5-wide grid from (4, 4) to (12, 10)
PEAKS = [(4 + 2 * (j % 5), 4 + 2 * (j // 5)) for j in range(17)]


class PeakAt(nn.Module):
    """A stand-in pose model: joint j's heatmap peaks at ``PEAKS[j]``, at ``peak``."""

    def __init__(self, peak: float):
        super().__init__()
        self.peak = peak
        self.scale = nn.Parameter(torch.ones(()))
        self.backbone = self
        self.head = self._head

    def forward_features(self, crops: torch.Tensor) -> dict:
        return {"feature": torch.zeros(len(crops), 1, 16, 16)}

    def _head(self, feature: torch.Tensor) -> torch.Tensor:
        maps = torch.zeros(len(feature), 17, 16, 16)
        for j, (x, y) in enumerate(PEAKS):
            maps[:, j, y, x] = self.peak * self.scale
        return maps


class NoDetector:
    def __call__(self, frame):
        return []

    def input_pixels(self, shape):
        return 512 * 512


def test_keypoints_come_back_in_frame_pixels_and_weak_heatmaps_find_nobody():
    frame = np.zeros((300, 400, 3), np.uint8)
    region = (100, 50, 250, 200)  # a 150-pixel square: the keypoint box was 100 pixels (roi_scale 1.5)
    found = PoseModelRegions(NoDetector(), PeakAt(0.9), CLIP).in_regions(frame, [region], 256)
    assert len(found) == 1 and len(found[0]) == 1
    person = found[0][0]
    # the crop: the 100-pixel keypoint box about (175, 125), enlarged 1.25 onto 64 pixels; a heatmap
    # pixel is 4 crop pixels, so heatmap (x, y) lands at (175, 125) + ((4x - 32), (4y - 32)) * 125 / 64
    expected = np.array([(175 + (4 * x - 32) * 125 / 64, 125 + (4 * y - 32) * 125 / 64) for x, y in PEAKS])
    assert np.allclose(person.keypoints, expected, atol=1.0)
    assert person.score == pytest.approx(0.9) and person.keypoint_scores == pytest.approx(np.full(17, 0.9))
    # the box: around the keypoints, enlarged by box_pad (1.25 x 1.08) about their centre
    lo, hi = expected.min(0), expected.max(0)
    centre, size = (lo + hi) / 2, (hi - lo) * (1.25, 1.08)
    assert np.allclose(person.box, [*(centre - size / 2), *size], atol=1.0)
    weak = PoseModelRegions(NoDetector(), PeakAt(0.1), CLIP).in_regions(frame, [region], 256)
    assert weak == [[]]
    assert PoseModelRegions(NoDetector(), PeakAt(0.9), CLIP).in_regions(frame, [], 256) == []


def test_a_model_without_a_heatmap_head_is_refused():
    with pytest.raises(ValueError, match="backbone with a heatmap head"):
        PoseModelRegions(NoDetector(), nn.Linear(1, 1), CLIP)


@pytest.mark.needs_assets("sports2d_demo", "blazepose_full", "movenet_multipose", "movenet_multipose_weights")
def test_on_real_frames_the_pose_model_follows_the_people_movenet_follows():
    """The first 30 frames of the Sports2D video: with the pose model in the regions, the tracker
    keeps the same people under the same ids as with MoveNet there, with boxes on the same people,
    and MoveNet runs only on detector frames."""
    from vidpose.assets import asset_path
    from vidpose.data.detections import box_iou
    from vidpose.data.frames import open_frames
    from vidpose.pipeline import Pipeline

    source = open_frames(asset_path("sports2d_demo"))
    frames = [source.read(i) for i in range(30)]
    runs = {}
    for region_model in ("movenet", "pose"):
        tracker = Pipeline(region_model=region_model).tracker()
        runs[region_model] = (tracker.run(frames), tracker)
    (reference, _), (posed, tracker) = runs["movenet"], runs["pose"]
    assert tracker.detector.crops > 0 and tracker.stats["detector_runs"] <= 6
    assert [sorted(t for t, _, _ in r) for r in posed] == [sorted(t for t, _, _ in r) for r in reference]
    overlaps = [box_iou(b[None], {t: c for t, c, _ in ref}[t][None])[0, 0]
                for ref, people in zip(reference, posed) for t, b, _ in people]
    assert np.median(overlaps) > 0.6 and min(overlaps) > 0.3


def test_each_person_carries_the_crop_it_was_found_in_and_its_features_wait_for_the_head():
    frame = np.zeros((300, 400, 3), np.uint8)
    model = PeakAt(0.9)
    model.frame_features = lambda x: {"feature": model.forward_features(x)["feature"], "extra": torch.ones(len(x), 2)}
    regions = PoseModelRegions(NoDetector(), model, CLIP, keep_features=True)
    ((person,),) = regions.in_regions(frame, [(100, 50, 250, 200)], 256)
    np.testing.assert_allclose(person.crop, [125, 75, 100, 100])  # the keypoint box the 150-pixel region came from
    kept = regions.take_features()
    assert len(kept) == 1 and np.array_equal(kept[0][0], person.crop) and set(kept[0][1]) == {"feature", "extra"}
    assert kept[0][2].shape == (3, 64, 64) and regions.take_features() == []
