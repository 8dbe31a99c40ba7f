"""People in a video: found, tracked, and given the boxes pose estimation crops.

``boxes.py`` holds ``VideoBoxes`` and the box-file reader; ``tracker.py`` the pose-guided
tracker and ``track_people``, which runs it with the MoveNet detector; ``pose_regions.py`` the
tracker's per-person pass run by the pose model instead of MoveNet. ``Detection``, box IoU
and NMS live in ``data/detections.py``, since test-time datasets read detection files too.
"""

from vidpose.tracking.boxes import CausalBoxes, VideoBoxes, boxes_in_time, decided_after, link_tracks, load_video_boxes
from vidpose.tracking.pose_regions import PoseModelRegions
from vidpose.tracking.tracker import PoseTracker, frame_boxes, people_tracker, track_people

__all__ = ["CausalBoxes", "VideoBoxes", "boxes_in_time", "decided_after", "frame_boxes", "people_tracker", "link_tracks", "load_video_boxes", "PoseModelRegions", "PoseTracker",
           "track_people"]
