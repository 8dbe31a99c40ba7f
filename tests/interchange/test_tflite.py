"""vidpose.interchange.tflite: op semantics on small hand-built graphs, clear errors, and the
BlazePose GHUM models (lite, full, heavy) against the reference runtime ``ai-edge-litert`` on
real person crops from the PoseTrack18 fixtures.

Tolerances of the real-model comparison (max abs difference over all crops and values; the
largest seen on the 14 fixture crops is in brackets): heatmap logits 5e-3 (1.0e-3), landmark
x, y 0.05 crop px (0.012), z 0.1 (0.03), visibility and presence logits 5e-3 (1.2e-3), pose
flag 1e-4 (1e-5), world landmarks 5e-4 (6e-5); the segmentation logits reach about 1,800 in
magnitude, so they are compared relative to their largest value: 3e-3 (8e-4). LiteRT's own
builtin kernels differ from its XNNPACK ones by as much (float32 summation order).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidpose.interchange.tflite import (Graph, Operator, PointwiseConv2d, Tensor, TFLiteError, _same_pads, build_module,
                                        cut, read_tflite, to_nchw)

# --- hand-built graphs ---------------------------------------------------------------------


def _graph(tensors: list[tuple], ops: list[tuple], inputs: list[int], outputs: list[int]) -> Graph:
    ts = [Tensor(i, name, shape, "FLOAT32" if data is None or data.dtype != np.int32 else "INT32", data)
          for i, (name, shape, data) in enumerate(tensors)]
    os_ = [Operator(i, op, ins, outs, opts) for i, (op, ins, outs, opts) in enumerate(ops)]
    return Graph("hand-built.tflite", ts, os_, inputs, outputs)


def _conv_graph(h: int, stride: int, padding: str, pad_first: tuple[int, int] | None = None) -> tuple[Graph, np.ndarray]:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3, 3, 2)).astype(np.float32)  # OHWI
    b = rng.normal(size=4).astype(np.float32)
    tensors = [("x", (1, h, h, 2), None), ("w", w.shape, w), ("b", (4,), b)]
    ops = []
    src = 0
    if pad_first is not None:
        p = np.array([[0, 0], list(pad_first), list(pad_first), [0, 0]], np.int32)
        hp = h + sum(pad_first)
        tensors += [("paddings", (4, 2), p), ("padded", (1, hp, hp, 2), None)]
        ops.append(("PAD", [0, 3], [4], {}))
        src = 4
    out = len(tensors)
    tensors.append(("y", (1, 0, 0, 4), None))
    ops.append(("CONV_2D", [src, 1, 2], [out], {"padding": padding, "stride": (stride, stride),
                                                 "dilation": (1, 1), "activation": "RELU6"}))
    return _graph(tensors, ops, [0], [out]), w


def _tf_conv(x: torch.Tensor, w: np.ndarray, b: np.ndarray, stride: int, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """TensorFlow's convolution written out: explicit (top, bottom, left, right) zero pads, VALID."""
    t, bo, l, r = pads
    y = F.conv2d(F.pad(x, (l, r, t, bo)), torch.from_numpy(w.transpose(0, 3, 1, 2)), torch.from_numpy(b), stride)
    return y.clamp(0, 6)


def test_same_padding_is_tensorflows():
    assert _same_pads(8, 3, 2, 1) == (0, 1)  # the extra pixel goes after
    assert _same_pads(9, 3, 2, 1) == (1, 1)
    assert _same_pads(64, 5, 1, 1) == (2, 2)
    assert _same_pads(8, 3, 1, 2) == (2, 2)


@pytest.mark.parametrize("h,stride", [(8, 2), (9, 2), (8, 1)])
def test_conv_same_matches_explicit_padding(h, stride):
    g, w = _conv_graph(h, stride, "SAME")
    m = build_module(g)
    x = torch.randn(2, 2, h, h)
    pads = (*_same_pads(h, 3, stride, 1), *_same_pads(h, 3, stride, 1))
    expected = _tf_conv(x, w, g.tensors[2].data, stride, pads)
    assert torch.allclose(m(x)["y"], expected, atol=1e-5)


def test_pad_before_a_valid_conv_is_folded_into_it():
    g, w = _conv_graph(8, 2, "VALID", pad_first=(1, 1))
    m = build_module(g)
    convs = [mod for mod in m.modules() if isinstance(mod, nn.Conv2d)]
    assert len(convs) == 1 and convs[0].padding == (1, 1)
    assert not any(isinstance(mod, (nn.ZeroPad2d, nn.ConstantPad2d)) for mod in m.modules())
    x = torch.randn(1, 2, 8, 8)
    assert torch.allclose(m(x)["y"], _tf_conv(x, w, g.tensors[2].data, 2, (1, 1, 1, 1)), atol=1e-5)


def test_pointwise_conv_equals_conv2d_in_both_memory_formats():
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 5, 1)
    pw = PointwiseConv2d(6, 5, 1)
    pw.load_state_dict(conv.state_dict())
    x = torch.randn(2, 6, 7, 9)
    xc = x.contiguous(memory_format=torch.channels_last)
    assert torch.allclose(pw(x), conv(x), atol=1e-5)
    y = pw(xc)
    assert torch.allclose(y, conv(x), atol=1e-5) and y.is_contiguous(memory_format=torch.channels_last)


def test_reshape_keeps_tflites_nhwc_element_order():
    shape = np.array([1, 12], np.int32)
    g = _graph([("x", (1, 2, 2, 3), None), ("shape", (2,), shape), ("y", (1, 12), None)],
               [("RESHAPE", [0, 1], [2], {})], [0], [2])
    nhwc = np.arange(24, dtype=np.float32).reshape(2, 2, 2, 3)
    y = build_module(g)(to_nchw(nhwc))["y"]
    assert y.shape == (2, 12) and np.array_equal(y.numpy(), nhwc.reshape(2, 12))


def test_add_resize_and_logistic():
    size = np.array([4, 4], np.int32)
    g = _graph([("a", (1, 2, 2, 1), None), ("b", (1, 2, 2, 1), None), ("s", (1, 2, 2, 1), None),
                ("size", (2,), size), ("r", (1, 4, 4, 1), None), ("y", (1, 4, 4, 1), None)],
               [("ADD", [0, 1], [2], {"activation": "RELU"}),
                ("RESIZE_BILINEAR", [2, 3], [4], {"align_corners": False, "half_pixel_centers": True}),
                ("LOGISTIC", [4], [5], {})], [0, 1], [5])
    a, b = torch.randn(1, 1, 2, 2), torch.randn(1, 1, 2, 2)
    expected = torch.sigmoid(F.interpolate((a + b).relu(), size=(4, 4), mode="bilinear", align_corners=False))
    assert torch.allclose(build_module(g)(a, b)["y"], expected, atol=1e-6)


def test_unsupported_op_is_named():
    g = _graph([("x", (1, 4), None), ("y", (1, 4), None)], [("SOFTMAX", [0], [1], {})], [0], [1])
    with pytest.raises(TFLiteError, match=r"hand-built\.tflite: operator 0 \(SOFTMAX\).*not supported"):
        build_module(g)


def test_legacy_resize_is_refused():
    g = _graph([("x", (1, 2, 2, 1), None), ("size", (2,), np.array([4, 4], np.int32)), ("y", (1, 4, 4, 1), None)],
               [("RESIZE_BILINEAR", [0, 1], [2], {"align_corners": False, "half_pixel_centers": False})], [0], [2])
    with pytest.raises(TFLiteError, match="RESIZE_BILINEAR.*legacy"):
        build_module(g)


def test_missing_inputs_and_names_are_clear():
    g, _ = _conv_graph(8, 1, "SAME")
    with pytest.raises(TFLiteError, match="no tensor named 'nope'"):
        build_module(g, outputs=["nope"])
    with pytest.raises(TFLiteError, match="'x'.*neither produced"):
        build_module(g, outputs=["y"], inputs=["w"])


def test_not_a_tflite_file(tmp_path):
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"{json: no}")
    with pytest.raises(TFLiteError, match=r"model\.tflite: not a TFLite flatbuffer"):
        read_tflite(bad)
    with pytest.raises(TFLiteError, match="cannot read"):
        read_tflite(tmp_path / "absent.tflite")


# --- the real models against LiteRT -----------------------------------------------------------

VARIANTS = ("blazepose_full", "blazepose_lite", "blazepose_heavy")


def _model_path(name: str):
    from conftest import require_assets
    from vidpose.assets import asset_path

    require_assets(name)
    return asset_path(name)


def _litert(path, crops01: np.ndarray) -> list[dict[str, np.ndarray]]:
    interpreter_mod = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert==2.3.0 (dev extra)")
    it = interpreter_mod.Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    index = it.get_input_details()[0]["index"]
    outs = []
    for x in crops01:
        it.set_tensor(index, x[None])
        it.invoke()
        outs.append({d["name"]: it.get_tensor(d["index"])[0].copy() for d in it.get_output_details()})
    return outs


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.needs_assets(*VARIANTS)
def test_blazepose_matches_litert_on_real_crops(name, person_crops):
    path = _model_path(name)
    crops01 = person_crops[0].astype(np.float32) / 255.0
    reference = _litert(path, crops01)
    graph = read_tflite(path)
    assert graph.op_counts().keys() <= {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "PAD", "RESIZE_BILINEAR",
                                        "RESHAPE", "MAX_POOL_2D", "LOGISTIC"}
    torch.set_num_threads(1)
    module = build_module(graph).eval()
    with torch.no_grad():
        ours = module(to_nchw(crops01))
    assert set(ours) == {"Identity", "Identity_1", "Identity_2", "Identity_3", "Identity_4"}

    def ours_nhwc(key: str, i: int) -> np.ndarray:
        v = ours[key][i].numpy()
        return v.transpose(1, 2, 0) if v.ndim == 3 else v

    for i, ref in enumerate(reference):
        heat = np.abs(ours_nhwc("Identity_3", i) - ref["Identity_3"]).max()
        assert heat < 5e-3, f"{name} crop {i}: heatmap logits differ by {heat}"
        lm = np.abs(ours_nhwc("Identity", i).reshape(39, 5) - ref["Identity"].reshape(39, 5)).max(0)
        assert lm[0] < 0.05 and lm[1] < 0.05 and lm[2] < 0.1, f"{name} crop {i}: landmark x, y, z differ by {lm[:3]}"
        assert lm[3] < 5e-3 and lm[4] < 5e-3, f"{name} crop {i}: visibility/presence logits differ by {lm[3:]}"
        assert np.abs(ours_nhwc("Identity_1", i) - ref["Identity_1"]).max() < 1e-4
        assert np.abs(ours_nhwc("Identity_4", i) - ref["Identity_4"]).max() < 5e-4
        seg = np.abs(ours_nhwc("Identity_2", i) - ref["Identity_2"]).max() / np.abs(ref["Identity_2"]).max()
        assert seg < 3e-3, f"{name} crop {i}: segmentation logits differ by {seg} of their range"


@pytest.mark.needs_assets("blazepose_full")
def test_pruned_module_and_cut_share_no_work():
    path = _model_path("blazepose_full")
    graph = read_tflite(path)
    assert sum(graph.op_counts().values()) == 332 - 192  # DEQUANTIZE ops folded into constants
    pose_only = build_module(graph, outputs=["Identity", "Identity_3"])
    full = build_module(graph)
    n_layers = lambda m: len(list(m.children()))  # noqa: E731
    assert n_layers(pose_only) < n_layers(full)  # the segmentation branch is left out
    heat = graph.tensor("Identity_3")
    feature = graph.producer(heat).inputs[0]
    shared = cut(graph, [feature], ["Identity"])
    first = build_module(graph, outputs=[feature, *shared])
    second = build_module(graph, outputs=["Identity"], inputs=shared)
    x = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        mid = first(x)
        split = second(*[mid[graph.tensors[t].name] for t in shared])["Identity"]
        whole = full(x)["Identity"]
    assert torch.allclose(split, whole, atol=1e-5)
