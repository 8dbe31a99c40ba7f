"""Fuzzing the readers of users' files: random mutations of valid PoseTrack18 annotation and
prediction files, detection files and checkpoints. Every outcome must be a valid result or the
project's own error (``VidposeError``, which names the file); any other exception is a bug."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidpose.data.annotations import load_posetrack
from vidpose.data.detections import load_detections
from vidpose.engine.checkpoint import CHECKPOINT_FORMAT, load_checkpoint
from vidpose.errors import VidposeError
from vidpose.evaluation import evaluate_posetrack

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

#: values a mutation puts somewhere in a document
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5), st.lists(st.integers(-3, 3), max_size=4), st.dictionaries(st.text(max_size=3), st.none(),
                                                                                     max_size=2),
)


def _paths(node, prefix=()):
    """Every (path, value) in a JSON tree, containers included."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated(draw, doc):
    """``doc`` with 1-3 random edits: a value replaced, a key or list item deleted, or a list
    emptied or duplicated; or (rarely) the serialised text cut short."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p, _ in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        kind = draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if kind == "replace":
            parent[path[-1]] = draw(JUNK)
        elif kind == "delete":
            del parent[path[-1]]
        elif isinstance(parent, list):
            parent.append(json.loads(json.dumps(parent[path[-1]])))
        else:
            parent[path[-1]] = [parent[path[-1]], parent[path[-1]]]
    text = json.dumps(doc, allow_nan=True)  # NaN / Infinity tokens are not JSON: the reader must say so
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text


def _small_posetrack(root: Path) -> dict:
    """The first file of SynthTrack tiny's val split, cut to 4 frames."""
    doc = json.loads(sorted((root / "annotations" / "val").glob("*.json"))[0].read_text())
    ids = {im["id"] for im in doc["images"][:4]}
    doc["images"] = doc["images"][:4]
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] in ids][:6]
    for a in doc["annotations"]:
        a["scores"] = [0.5] * (len(a["keypoints"]) // 3)
    return doc


@pytest.fixture(scope="module")
def posetrack_doc(synth_tiny):
    return _small_posetrack(synth_tiny)


@FUZZ
@given(data=st.data())
def test_posetrack_reader_and_evaluator_on_mutated_files(posetrack_doc, tmp_path, data):
    text = data.draw(mutated(posetrack_doc))
    gt = tmp_path / "gt"
    gt.mkdir(exist_ok=True)
    (gt / "000001_mpii_test.json").write_text(json.dumps(posetrack_doc))
    pred = tmp_path / "pred"
    shutil.rmtree(pred, ignore_errors=True)
    pred.mkdir()
    (pred / "000001_mpii_test.json").write_text(text)
    try:
        videos, _ = load_posetrack(pred / "000001_mpii_test.json")
        assert all(len(v.frames) >= 0 for v in videos)
    except VidposeError as e:
        assert "000001_mpii_test.json" in str(e)
    for gt_dir, pred_dir in ((gt, pred), (pred, gt)):  # as predictions, and as ground truth
        try:
            result = evaluate_posetrack(gt_dir, pred_dir)
            assert math.isnan(result["Total"]) or 0.0 <= result["Total"] <= 100.0
        except VidposeError:
            pass


@FUZZ
@given(data=st.data())
def test_detection_reader_on_mutated_files(synth_tiny, tmp_path, data):
    doc = json.loads((synth_tiny / "detections" / "val.json").read_text())[:8]
    path = tmp_path / "dets.json"
    path.write_text(data.draw(mutated(doc)))
    try:
        load_detections(path)
    except VidposeError as e:
        assert "dets.json" in str(e)


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "model_name": "single_frame", "config": {"model": {"name": "single_frame"}},
                "model": {"w": torch.ones(3)}, "step": 3}, path)
    return path.read_bytes()


@pytest.mark.parametrize("data", [b"M", b"\x80\x02M", b"\x80\x02X\xff\xff", b"\x80\x02K"])
def test_checkpoint_reader_on_files_the_legacy_unpickler_chokes_on(tmp_path, data):
    """Found by the fuzz test below: a 1-byte file 'M' (a pickle opcode wanting 2 more bytes)
    made torch's legacy reader raise struct.error instead of vidpose's error."""
    path = tmp_path / "cut.pt"
    path.write_bytes(data)
    with pytest.raises(VidposeError, match="cut.pt"):
        load_checkpoint(path)


@FUZZ
@given(cut=st.integers(0, 10**6), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=4))
def test_checkpoint_reader_on_cut_and_corrupted_files(checkpoint_bytes, tmp_path, cut, flips):
    data = bytearray(checkpoint_bytes[: cut % (len(checkpoint_bytes) + 1)])
    for where, value in flips:
        if data:
            data[where % len(data)] = value
    path = tmp_path / "bad.pt"
    path.write_bytes(bytes(data))
    if bytes(data) == checkpoint_bytes:  # the intact file loads
        assert load_checkpoint(path)["step"] == 3
    try:
        state = load_checkpoint(path)
        assert isinstance(state, dict) and "model" in state
    except VidposeError as e:
        assert "bad.pt" in str(e)
