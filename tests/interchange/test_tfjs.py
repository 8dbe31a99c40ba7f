"""The TF.js graph-model reader: a small synthetic model written here (float16 and quantised
weights, asymmetric SAME padding, slicing, TopK, GatherNd) with exact expected outputs; clear
errors; and, when the asset is present, MoveNet-MultiPose on a real Sports2D frame."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch

from vidpose.interchange.tfjs import TFJSError, load_tfjs, strided_slice


def _s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def _ilist(values) -> dict:
    return {"list": {"i": [str(v) for v in values]}}


def _node(name, op, inputs=(), **attr):
    return {"name": name, "op": op, "input": list(inputs), "attr": attr}


def _const(name, dtype="DT_FLOAT"):
    return _node(name, "Const", dtype={"type": dtype}, value={"tensor": {"dtype": dtype}})


def tf_conv_same(x, w, stride):
    """Reference NHWC conv with TensorFlow's SAME padding (extra pixel after), in numpy."""
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    oh, ow = -(-h // stride), -(-wd // stride)
    ph = max((oh - 1) * stride + kh - h, 0)
    pw = max((ow - 1) * stride + kw - wd, 0)
    xp = np.zeros((n, h + ph, wd + pw, c), x.dtype)
    xp[:, ph // 2:ph // 2 + h, pw // 2:pw // 2 + wd] = x
    out = np.zeros((n, oh, ow, o), np.float64)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, i, j] = np.einsum("nhwc,hwco->no", patch, w)
    return out


def tf_depthwise_same(x, w):
    n, h, wd, c = x.shape
    kh, kw, _, m = w.shape
    out = np.zeros((n, h, wd, c * m))
    for ch in range(c):
        for k in range(m):
            out[..., ch * m + k] = tf_conv_same(x[..., ch:ch + 1], w[:, :, ch:ch + 1, k:k + 1], 1)[..., 0]
    return out


@pytest.fixture
def tiny_model(tmp_path):
    """A graph: fused conv (fp16 filter, uint8 bias, stride 2, SAME, Relu6) -> depthwise conv
    (uint16 filter) -> MaxPool; and a branch Shape -> StridedSlice -> Cast -> Mul, plus TopK and
    GatherNd on the flattened features. Weights in two shard files."""
    rng = np.random.default_rng(0)
    w1 = rng.integers(-2, 3, (3, 3, 2, 3)) / 2.0  # exactly representable in float16
    b_q = np.array([0, 4, 8], np.uint8)  # bias = q * 0.5 - 2 -> -2, 0, 2
    w2_q = rng.integers(0, 5, (3, 3, 3, 2)).astype(np.uint16)  # q * 0.25 - 0.5, channel multiplier 2
    k = np.int32(3)
    two = np.float32(2.0)
    begin, end, strides = np.array([1], np.int32), np.array([2], np.int32), np.array([1], np.int32)
    flat_shape = np.array([1, -1], np.int32)
    gather_idx = np.array([[0, 1], [0, 0]], np.int32)
    weights = [
        ("w1", w1.astype(np.float16), "float32", {"dtype": "float16", "original_dtype": "float32"}),
        ("b1", b_q, "float32", {"dtype": "uint8", "min": -2.0, "scale": 0.5, "original_dtype": "float32"}),
        ("w2", w2_q, "float32", {"dtype": "uint16", "min": -0.5, "scale": 0.25, "original_dtype": "float32"}),
        ("k", k, "int32", None), ("two", two, "float32", None), ("begin", begin, "int32", None),
        ("end", end, "int32", None), ("strides", strides, "int32", None), ("flat_shape", flat_shape, "int32", None),
        ("gather_idx", gather_idx, "int32", None),
    ]
    specs, blobs = [], []
    for name, value, dtype, quant in weights:
        spec = {"name": name, "shape": list(np.shape(value)), "dtype": dtype}
        if quant:
            spec["quantization"] = quant
        specs.append(spec)
        blobs.append(np.ascontiguousarray(value).tobytes())
    data = b"".join(blobs)
    cut = len(data) // 2
    (tmp_path / "group1-shard1of2.bin").write_bytes(data[:cut])
    (tmp_path / "group1-shard2of2.bin").write_bytes(data[cut:])
    nodes = [
        _node("x", "Placeholder", dtype={"type": "DT_FLOAT"}),
        *[_const(n, "DT_INT32" if d == "int32" else "DT_FLOAT") for n, _, d, _ in weights],
        _node("conv", "_FusedConv2D", ["x", "w1", "b1"], strides=_ilist([1, 2, 2, 1]), padding=_s("SAME"),
              data_format=_s("NHWC"), dilations=_ilist([1, 1, 1, 1]),
              fused_ops={"list": {"s": [_s("BiasAdd")["s"], _s("Relu6")["s"]]}}, num_args={"i": "1"}),
        _node("dw", "DepthwiseConv2dNative", ["conv", "w2"], strides=_ilist([1, 1, 1, 1]), padding=_s("SAME")),
        _node("pool", "MaxPool", ["dw"], ksize=_ilist([1, 2, 2, 1]), strides=_ilist([1, 1, 1, 1]),
              padding=_s("SAME")),
        _node("shape", "Shape", ["pool"], out_type={"type": "DT_INT32"}),
        _node("height", "StridedSlice", ["shape", "begin", "end", "strides"], shrink_axis_mask={"i": "1"}),
        _node("height_f", "Cast", ["height"], DstT={"type": "DT_FLOAT"}, SrcT={"type": "DT_INT32"}),
        _node("scaled", "Mul", ["height_f", "two"]),
        _node("flat", "Reshape", ["pool", "flat_shape"]),
        _node("top", "TopKV2", ["flat", "k"], sorted={"b": True}),
        _node("picked", "GatherNd", ["flat", "gather_idx"]),
        _node("out", "Identity", ["top"]),
        _node("control", "NoOp", ["^out"]),
    ]
    model = {"format": "graph-model", "modelTopology": {"node": nodes, "library": {}, "versions": {}},
             "weightsManifest": [{"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"], "weights": specs}],
             "signature": {"outputs": {"out": {"name": "out:0"}}}}
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model))
    x = np.arange(32, dtype=np.float32).reshape(1, 4, 4, 2) / 4.0
    w2 = w2_q * 0.25 - 0.5
    conv = np.clip(tf_conv_same(x, w1, 2) + (b_q * 0.5 - 2), 0, 6)
    dw = tf_depthwise_same(conv, w2)
    padded = np.full((1, dw.shape[1] + 1, dw.shape[2] + 1, dw.shape[3]), -np.inf)  # SAME 2x2: pad after
    padded[:, :-1, :-1] = dw
    pool = np.max([padded[:, i:i + dw.shape[1], j:j + dw.shape[2]] for i in (0, 1) for j in (0, 1)], axis=0)
    return path, x, {"conv": conv, "dw": dw, "pool": pool}


def test_tiny_graph_exact(tiny_model):
    path, x, expected = tiny_model
    graph = load_tfjs(path)
    assert graph.input_names == ["x"] and graph.output_names == ["out"]
    assert graph.const("b1").tolist() == [-2.0, 0.0, 2.0]  # uint8 dequantised
    with torch.no_grad():
        conv, dw, pool, scaled, picked = graph(torch.from_numpy(x), outputs=["conv", "dw", "pool", "scaled", "picked"])
        values, indices = graph(torch.from_numpy(x), outputs=["top:0", "top:1"])
        out = graph(torch.from_numpy(x))
    np.testing.assert_array_equal(conv.numpy(), expected["conv"].astype(np.float32))
    np.testing.assert_array_equal(dw.numpy(), expected["dw"].astype(np.float32))
    np.testing.assert_array_equal(pool.numpy(), expected["pool"].astype(np.float32))
    assert scaled.item() == 2.0 * expected["pool"].shape[1]
    flat = expected["pool"].reshape(1, -1)
    order = np.argsort(-flat[0], kind="stable")[:3]  # ties: lower index first, as TensorFlow
    np.testing.assert_array_equal(indices.numpy()[0], order)
    np.testing.assert_array_equal(values.numpy()[0], flat[0, order].astype(np.float32))
    np.testing.assert_array_equal(out.numpy(), values.numpy())
    np.testing.assert_array_equal(picked.numpy(), flat[0, [1, 0]].astype(np.float32))
    assert indices.dtype == torch.int32


def test_strided_slice_matches_numpy():
    x = torch.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    a = x.numpy()
    # begin/end masks, a negative stride, a shrunk axis
    out = strided_slice(x, [0, 2, 1, 0], [0, 0, 3, 4], [1, -1, 1, 2], begin_mask=1, end_mask=1 | 2,
                        shrink_axis_mask=0)
    np.testing.assert_array_equal(out.numpy(), a[:, 2::-1, 1:3, 0:4:2])
    out = strided_slice(x, [1, 0], [2, 0], [1, 1], ellipsis_mask=2, shrink_axis_mask=1)  # x[1, ...]
    np.testing.assert_array_equal(out.numpy(), a[1, ...])
    out = strided_slice(x, [0, 0, -1], [0, 0, 0], [1, 1, 1], new_axis_mask=2, ellipsis_mask=1,
                        shrink_axis_mask=4)  # x[..., None, -1]
    np.testing.assert_array_equal(out.numpy(), a[..., None, -1])


def test_errors_name_file_and_problem(tiny_model, tmp_path):
    path, _, _ = tiny_model
    model = json.loads(path.read_text())
    model["modelTopology"]["node"].append(_node("weird", "NonMaxSuppressionV5", ["x"]))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(model))
    with pytest.raises(TFJSError, match=r"bad\.json.*NonMaxSuppressionV5.*'weird'"):
        load_tfjs(bad)
    (tmp_path / "group1-shard2of2.bin").write_bytes(b"\0" * 3)  # truncated shard
    with pytest.raises(TFJSError, match=r"model\.json.*hold only"):
        load_tfjs(path)
    (tmp_path / "group1-shard2of2.bin").unlink()
    with pytest.raises(TFJSError, match=r"group1-shard2of2\.bin.*missing"):
        load_tfjs(path)
    with pytest.raises(TFJSError, match="no such file"):
        load_tfjs(tmp_path / "absent.json")


# --- the real model (skips when the assets are not fetched) ----------------------------------

@pytest.mark.needs_assets("movenet_multipose", "movenet_multipose_weights", "sports2d_demo")
def test_movenet_finds_people_on_sports2d():
    from vidpose.data.frames import open_frames
    from vidpose.models.movenet import MoveNetMultiPose, decode_heads, letterbox

    from vidpose.assets import asset_path

    model_json = asset_path("movenet_multipose")  # its weight shard lies beside it
    video = asset_path("sports2d_demo")
    frame = open_frames(video).read(100)  # the jumping-jacks person on the box and the walker
    detector = MoveNetMultiPose(model_json, input_size=512)
    people = detector(frame)
    assert len(people) >= 1
    best = max(people, key=lambda d: d.score)
    h, w = frame.shape[:2]
    assert best.score > 0.3
    assert 0 <= best.box[0] < w and 0 <= best.box[1] < h and best.box[2] > 50 and best.box[3] > 100
    inside = ((best.keypoints >= best.box[:2] - 20) & (best.keypoints <= best.box[:2] + best.box[2:] + 20)).all(1)
    assert inside[best.keypoint_scores > 0.3].all()
    # the torch decoder equals the graph's own output (6 people)
    x, _ = letterbox(frame, 256)
    with torch.no_grad():
        reference = detector.graph(torch.from_numpy(x)[None])[0]
        names = list(detector._heads)
        heads = dict(zip(names, detector.graph(torch.from_numpy(x)[None], outputs=[detector._heads[n] for n in names])))
    torch.testing.assert_close(decode_heads(heads, x.shape[:2], 6), reference, atol=1e-4, rtol=0)
