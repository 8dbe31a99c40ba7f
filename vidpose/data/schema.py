"""The PoseTrack keypoint schema: joint order, flip pairs, skeleton and id mappings.

PoseTrack18/21 files store 17 keypoint slots in a COCO-like order in which slots 1 and 2 hold
head_bottom and head_top (COCO's eyes) and slots 3 and 4 (ears) are never annotated. The
official evaluator (poseval) works on 15 joints with its own ids (PoseTrack17 ``annolist``).
Facts: shared/specs/posetrack-data.md §3 and posetrack-evaluation.md §2.3.
"""

from __future__ import annotations

import numpy as np

NUM_KEYPOINTS = 17

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose",
    "head_bottom",
    "head_top",
    "left_ear",  # placeholder slot, never annotated in PoseTrack
    "right_ear",  # placeholder slot, never annotated in PoseTrack
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
KEYPOINT_INDEX = {name: i for i, name in enumerate(KEYPOINT_NAMES)}

UNUSED_SLOTS: tuple[int, ...] = (3, 4)
#: The 15 joints that PoseTrack annotates and evaluates, as indices into the 17 slots.
EVALUATED_JOINTS: tuple[int, ...] = tuple(i for i in range(NUM_KEYPOINTS) if i not in UNUSED_SLOTS)

#: Left/right pairs swapped by a horizontal flip (slot indices).
FLIP_PAIRS: tuple[tuple[int, int], ...] = ((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))


def flip_permutation() -> np.ndarray:
    """Index array p such that ``keypoints[p]`` swaps every left/right pair."""
    perm = np.arange(NUM_KEYPOINTS)
    for a, b in FLIP_PAIRS:
        perm[a], perm[b] = b, a
    return perm


#: Links drawn between joints (0-based slots): head chain, arms, torso, legs.
SKELETON: tuple[tuple[int, int], ...] = (
    (2, 0), (0, 1), (1, 5), (1, 6),
    (5, 7), (7, 9), (6, 8), (8, 10),
    (5, 11), (6, 12), (11, 12),
    (11, 13), (13, 15), (12, 14), (14, 16),
)

#: The 19-link skeleton stored in PoseTrack18 GT ``categories`` (1-based, COCO style).
CATEGORY_SKELETON: tuple[tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8),
    (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)

#: poseval's 15 joint names by poseval id (PoseTrack17 ``annolist`` ids). Id 12 is called
#: "neck" by poseval and is PoseTrack18's head_bottom (poseval#40).
POSEVAL_NAMES: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "head_bottom", "nose", "head_top",
)
#: poseval id -> PoseTrack18 slot.
POSEVAL_TO_SLOT: tuple[int, ...] = tuple(KEYPOINT_INDEX[n] for n in POSEVAL_NAMES)
#: PoseTrack18 slot -> poseval id (None for the unused ear slots).
SLOT_TO_POSEVAL: tuple[int | None, ...] = tuple(
    POSEVAL_TO_SLOT.index(s) if s in POSEVAL_TO_SLOT else None for s in range(NUM_KEYPOINTS)
)

#: The reporting groups of the PoseTrack papers' tables (slot indices). "Total" is the mean of
#: the 15 joints, not of the groups (poseval ``getCum``).
JOINT_GROUPS: dict[str, tuple[int, ...]] = {
    "Head": (2, 1, 0),
    "Shoulder": (6, 5),
    "Elbow": (8, 7),
    "Wrist": (10, 9),
    "Hip": (12, 11),
    "Knee": (14, 13),
    "Ankle": (16, 15),
}
GROUP_NAMES: tuple[str, ...] = tuple(JOINT_GROUPS) + ("Total",)

# --- COCO-17 -------------------------------------------------------------------------------
COCO_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
#: Slots that mean the same body point in PoseTrack and COCO (same index in both).
SHARED_WITH_COCO: tuple[int, ...] = (0,) + tuple(range(5, 17))


def posetrack_to_coco(keypoints: np.ndarray) -> np.ndarray:
    """Map (..., 17, C) PoseTrack keypoints to COCO-17. Eyes and ears, which PoseTrack does not
    annotate, are zero."""
    keypoints = np.asarray(keypoints)
    out = np.zeros_like(keypoints)
    out[..., SHARED_WITH_COCO, :] = keypoints[..., SHARED_WITH_COCO, :]
    return out


def coco_to_posetrack(keypoints: np.ndarray, approximate_head: bool = True) -> np.ndarray:
    """Map (..., 17, 3) COCO-17 keypoints (x, y, score/visibility) to PoseTrack slots.

    COCO has no head_bottom or head_top. With ``approximate_head`` they are filled the way the
    DCPose/PoseWarper code does: head_bottom = the shoulders' midpoint, head_top = nose reflected
    through that midpoint (nose - (mid_shoulder - nose)); their third value is the minimum of the
    values used. Otherwise they stay zero (not predicted). Ears are always zero.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.shape[-2:] != (NUM_KEYPOINTS, 3):
        raise ValueError(f"expected COCO keypoints of shape (..., 17, 3), got {keypoints.shape}")
    out = np.zeros_like(keypoints)
    out[..., SHARED_WITH_COCO, :] = keypoints[..., SHARED_WITH_COCO, :]
    if approximate_head:
        ls, rs, nose = keypoints[..., 5, :], keypoints[..., 6, :], keypoints[..., 0, :]
        mid = (ls[..., :2] + rs[..., :2]) / 2
        out[..., 1, :2] = mid
        out[..., 1, 2] = np.minimum(ls[..., 2], rs[..., 2])
        out[..., 2, :2] = 2 * nose[..., :2] - mid
        out[..., 2, 2] = np.minimum(out[..., 1, 2], nose[..., 2])
    return out
