"""RealData: a real-video training and test set with pseudo ground truth (``vidpose realdata build``),
for the temporal heads on the frozen BlazePose backbone. The design (sources and split, the teacher,
test_hard, resuming) is in docs/realdata.md.

- ``segments``: the fixed segments of the registry videos, the split's names and ids;
- ``teacher``: BlazePose heavy's pseudo labels and segmentation on box crops;
- ``build``: the build, test_hard and its clean twins, the statistics;
- ``export``: shipping trained heads under ``vidpose/weights/real``, and the ``vidpose realdata`` command.
"""

from vidpose.realdata.build import BuildOptions, build
from vidpose.realdata.export import HEADS, export_heads, rescore_heads, run_cli
from vidpose.realdata.segments import (ALL_SPLITS, HARD, HARD_CLEAN, KIND, SEGMENTS, SPLITS, VERSION, RealDataError,
                                       Segment, video_name)
from vidpose.realdata.teacher import KEEP_THRESHOLD, MIN_JOINTS, TEACHER_NAME, Segmenter, Teacher, pseudo_person

__all__ = ["ALL_SPLITS", "BuildOptions", "HARD", "HARD_CLEAN", "HEADS", "KEEP_THRESHOLD", "KIND", "MIN_JOINTS",
           "RealDataError", "SEGMENTS", "SPLITS", "Segment", "Segmenter", "TEACHER_NAME", "Teacher", "VERSION", "build",
           "export_heads", "pseudo_person", "rescore_heads", "run_cli", "video_name"]
