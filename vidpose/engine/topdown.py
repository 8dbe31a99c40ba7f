"""The top-down path from a person's box to keypoints, in one place (SimpleBaseline, Sec. 3; the
flip test and DARK decoding of the HRNet lineage), used by the tester, video inference
(``vidpose predict``) and RealData's teacher:

    box -> crop matrix (``ClipConfig.crop_matrix``: centre and size from the box, aspect and enlargement of the
    clip config) -> the model's heatmaps of the crop, and of its mirror with ``flip`` -> averaged
    (``flip_shift``) -> decoded (``decode``: "dark" or "argmax") -> mapped back to the image with the
    inverse of the crop matrix (``keypoints_from_heatmaps``).

``TopDownSettings`` holds the test-time choices with one set of defaults (a config's ``test:``
section overrides them), so the three users cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from vidpose.data.heatmaps import decode_heatmaps, flip_test_average, heatmap_to_image

DECODERS = ("dark", "argmax")


@dataclass(frozen=True)
class TopDownSettings:
    """How heatmaps become keypoints at test time: ``flip`` averages the crop's heatmaps with its
    mirror's (twice the time), ``flip_shift`` shifts the mirrored maps by one pixel first (the
    HRNet code's), ``decode`` is DARK or argmax with a quarter-pixel shift."""

    flip: bool = True
    flip_shift: bool = True
    decode: str = "dark"

    def __post_init__(self) -> None:
        if self.decode not in DECODERS:
            raise ValueError(f"test.decode must be one of {DECODERS}, got {self.decode!r}")

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "TopDownSettings":
        """From a config's ``test:`` section; what it leaves out keeps the defaults above."""
        test = cfg.get("test") or {}
        default = cls()
        return cls(flip=bool(test.get("flip", default.flip)), flip_shift=bool(test.get("flip_shift", default.flip_shift)),
                   decode=str(test.get("decode", default.decode)))


def keypoints_from_heatmaps(heatmaps_of: Callable[[bool], np.ndarray], crop_to_image: Sequence[np.ndarray],
                            stride: float, settings: TopDownSettings) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (N, J, 2) in image pixels and their heatmap peaks (N, J) of N crops.

    ``heatmaps_of(mirrored)`` returns the model's heatmaps (N, J, h, w) of the crops, or of their
    mirror images (called only with ``settings.flip``; the model's flip pairs are swapped back by
    ``flip_test_average``); ``crop_to_image`` holds each crop's crop -> image matrix, ``stride`` the
    heatmap's stride in crop pixels."""
    heatmaps = heatmaps_of(False)
    if settings.flip:
        heatmaps = flip_test_average(heatmaps, heatmaps_of(True), shift=settings.flip_shift)
    coords, peaks = decode_heatmaps(heatmaps, settings.decode)
    xy = np.stack([heatmap_to_image(coords[i], crop_to_image[i], stride) for i in range(len(heatmaps))]) \
        if len(heatmaps) else np.zeros((0, heatmaps.shape[1], 2))
    return xy, peaks
