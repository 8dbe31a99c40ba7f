import numpy as np

from vidpose.data import schema


def test_slot_order_and_evaluated_joints():
    assert schema.KEYPOINT_NAMES[:3] == ("nose", "head_bottom", "head_top")
    assert len(schema.KEYPOINT_NAMES) == 17
    assert len(schema.EVALUATED_JOINTS) == 15 and 3 not in schema.EVALUATED_JOINTS and 4 not in schema.EVALUATED_JOINTS


def test_poseval_ids_match_the_official_table():
    # poseval id -> PoseTrack18 slot (posetrack-evaluation.md §2.3)
    assert schema.POSEVAL_TO_SLOT == (16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9, 1, 0, 2)
    assert schema.SLOT_TO_POSEVAL[3] is None and schema.SLOT_TO_POSEVAL[1] == 12
    for pid, slot in enumerate(schema.POSEVAL_TO_SLOT):
        assert schema.SLOT_TO_POSEVAL[slot] == pid


def test_flip_permutation_swaps_left_and_right_names():
    perm = schema.flip_permutation()
    for i, j in enumerate(perm):
        a, b = schema.KEYPOINT_NAMES[i], schema.KEYPOINT_NAMES[j]
        assert a.replace("left", "X").replace("right", "left").replace("X", "right") == b
    assert (perm[perm] == np.arange(17)).all()


def test_coco_mapping_keeps_shared_joints_and_approximates_head():
    coco = np.zeros((17, 3))
    coco[0] = (10, 10, 0.9)
    coco[5] = (20, 30, 0.8)
    coco[6] = (0, 30, 0.7)
    coco[1] = (99, 99, 1.0)  # an eye: no PoseTrack slot
    pt = schema.coco_to_posetrack(coco)
    np.testing.assert_allclose(pt[1], (10, 30, 0.7))  # shoulder midpoint
    np.testing.assert_allclose(pt[2], (10, -10, 0.7))  # nose reflected through it
    np.testing.assert_allclose(pt[5], coco[5])
    assert not pt[3:5].any()
    back = schema.posetrack_to_coco(pt)
    assert not back[1:5].any() and (back[5] == coco[5]).all()
    assert not schema.coco_to_posetrack(coco, approximate_head=False)[1:3].any()


def test_groups_cover_the_15_joints_once():
    slots = [s for g in schema.JOINT_GROUPS.values() for s in g]
    assert sorted(slots) == sorted(schema.EVALUATED_JOINTS)
