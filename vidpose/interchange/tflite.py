"""Read a TensorFlow Lite model (``.tflite`` flatbuffer) into a plain PyTorch module.

What it is for: using a pretrained network that is published only as a ``.tflite`` file (for
example BlazePose GHUM, ``vidpose.models.blazepose``) as ordinary torch layers, without the
TFLite runtime at run time and with weights that can be fine-tuned.

``read_tflite(path)`` parses the file with the ``tflite`` flatbuffer bindings into a ``Graph``
(tensors, constants, operators with their options). Constant ``DEQUANTIZE`` ops (fp16
weights) are folded at read time into float32 arrays. ``build_module(graph, outputs, inputs)``
turns the operators needed for ``outputs`` into real layers (``nn.Conv2d`` with the TFLite
padding folded in, ``nn.MaxPool2d``, ...) holding the weights as float32 parameters, and
generates straight-line ``forward`` code for them with ``torch.fx`` (a ``GraphModule``), so a
call runs no per-op interpretation. ``load_tflite(path)`` does both.

Conventions of the built module:

- 4-D tensors are NCHW (torch's layout) at the inputs, inside and at the outputs: the NHWC
  layout of TFLite is converted once, in the weights. Other tensors keep TFLite's layout.
  ``RESHAPE`` of a 4-D tensor reshapes its NHWC view, so the element order is TFLite's.
- The batch size is free (TFLite's leading 1 is not baked in); spatial sizes are the graph's,
  since SAME padding is resolved from them when the module is built.
- ``forward(*inputs)`` returns a dict: TFLite tensor name -> tensor.

Operators supported (those of BlazePose GHUM lite/full/heavy): CONV_2D, DEPTHWISE_CONV_2D
(SAME/VALID, strides, dilation, fused NONE/RELU/RELU6/RELU_N1_TO_1/TANH), ADD (with fused
activation), PAD (zeros on H, W and C; spatial pads read only by convolutions are folded into
them), MAX_POOL_2D, RESIZE_BILINEAR (``half_pixel_centers`` or ``align_corners``), RESHAPE,
LOGISTIC, and DEQUANTIZE of fp16 constants. Anything else raises ``TFLiteError`` naming the file, the operator and its index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from vidpose.errors import VidposeError

_tfl: Any = None  # the ``tflite`` flatbuffer bindings, imported on first read (a 0.25 s import)


class TFLiteError(VidposeError, ValueError):
    """A ``.tflite`` file that cannot be read or converted. The message names the file and what
    is wrong (the operator and its index, or the tensor)."""


# --- reading -------------------------------------------------------------------------------

_NUMPY_TYPES = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT32": np.int32, "INT64": np.int64,
                "UINT8": np.uint8, "INT8": np.int8, "INT16": np.int16, "BOOL": np.bool_, "FLOAT64": np.float64}
_PADDING = {0: "SAME", 1: "VALID"}
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # TFLite type name, e.g. "FLOAT32"
    data: np.ndarray | None = None  # constants only (DEQUANTIZE outputs folded to float32)


@dataclass
class Operator:
    index: int
    op: str  # builtin name, e.g. "CONV_2D" (custom ops: "CUSTOM:<code>")
    inputs: list[int]  # tensor indices, -1 for an omitted optional input
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """The first subgraph of a ``.tflite`` file. ``operators`` is in execution (topological)
    order and excludes the folded constant DEQUANTIZE ops."""

    path: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]

    def tensor(self, key: int | str) -> int:
        """Index of a tensor given by index or by name."""
        if isinstance(key, (int, np.integer)):
            if not 0 <= int(key) < len(self.tensors):
                raise TFLiteError(f"{self.path}: no tensor {key} (the graph has {len(self.tensors)})")
            return int(key)
        for t in self.tensors:
            if t.name == key:
                return t.index
        raise TFLiteError(f"{self.path}: no tensor named {key!r}; outputs are "
                          f"{[self.tensors[i].name for i in self.outputs]}")

    def producer(self, tensor: int) -> Operator | None:
        for op in self.operators:
            if tensor in op.outputs:
                return op
        return None

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.operators:
            counts[op.op] = counts.get(op.op, 0) + 1
        return counts


def _names(cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def _options(op: Any, name: str) -> dict[str, Any]:
    table = op.BuiltinOptions()
    if table is None:
        return {}
    T = _tfl
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        o = T.Conv2DOptions() if name == "CONV_2D" else T.DepthwiseConv2DOptions()
        o.Init(table.Bytes, table.Pos)
        d = {"padding": _PADDING.get(o.Padding(), o.Padding()), "stride": (o.StrideH(), o.StrideW()),
             "dilation": (o.DilationHFactor(), o.DilationWFactor()),
             "activation": _ACTIVATIONS.get(o.FusedActivationFunction(), o.FusedActivationFunction())}
        if name == "DEPTHWISE_CONV_2D":
            d["depth_multiplier"] = o.DepthMultiplier()
        return d
    if name in ("ADD", "SUB", "MUL"):
        o = {"ADD": T.AddOptions, "SUB": T.SubOptions, "MUL": T.MulOptions}[name]()
        o.Init(table.Bytes, table.Pos)
        return {"activation": _ACTIVATIONS.get(o.FusedActivationFunction(), o.FusedActivationFunction())}
    if name in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        o = T.Pool2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {"padding": _PADDING.get(o.Padding(), o.Padding()), "stride": (o.StrideH(), o.StrideW()),
                "kernel": (o.FilterHeight(), o.FilterWidth()),
                "activation": _ACTIVATIONS.get(o.FusedActivationFunction(), o.FusedActivationFunction())}
    if name == "RESIZE_BILINEAR":
        o = T.ResizeBilinearOptions()
        o.Init(table.Bytes, table.Pos)
        return {"align_corners": bool(o.AlignCorners()), "half_pixel_centers": bool(o.HalfPixelCenters())}
    if name == "RESHAPE":
        o = T.ReshapeOptions()
        o.Init(table.Bytes, table.Pos)
        return {"new_shape": tuple(int(v) for v in o.NewShapeAsNumpy())} if o.NewShapeLength() else {}
    return {}


def read_tflite(path: str | Path) -> Graph:
    """Parse ``path`` (a ``.tflite`` file) into a ``Graph`` with float32 constants."""
    global _tfl
    if _tfl is None:
        try:
            import tflite as _tfl
        except ImportError as e:
            raise TFLiteError(f"{path}: reading .tflite files needs the `tflite` package "
                              "(pip install tflite==2.18.0)") from e
    path = str(path)
    try:
        buf = Path(path).read_bytes()
    except OSError as e:
        raise TFLiteError(f"{path}: cannot read the file ({e})") from e
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TFLiteError(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier at byte 4)")
    model = _tfl.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() != 1:
        raise TFLiteError(f"{path}: {model.SubgraphsLength()} subgraphs; only single-graph models "
                          "(no control flow) are supported")
    g = model.Subgraphs(0)
    op_names, type_names = _names(_tfl.BuiltinOperator), _names(_tfl.TensorType)

    tensors = []
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        dtype = type_names.get(t.Type(), str(t.Type()))
        shape = tuple(int(v) for v in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        name = t.Name().decode("utf-8", "replace")
        data = None
        b = model.Buffers(t.Buffer())
        raw = b.DataAsNumpy() if b is not None and b.DataLength() else None
        if raw is None and b is not None and hasattr(b, "Offset") and b.Offset() > 1:
            raw = np.frombuffer(buf, np.uint8, count=b.Size(), offset=b.Offset())
        if raw is not None and not isinstance(raw, int):
            if t.Sparsity() is not None:
                raise TFLiteError(f"{path}: tensor {i} ({name!r}) is a sparse constant; densifying sparse "
                                  "tensors is not supported")
            if dtype not in _NUMPY_TYPES:
                raise TFLiteError(f"{path}: tensor {i} ({name!r}) has type {dtype}, not supported for constants")
            data = np.frombuffer(raw.tobytes(), dtype=np.dtype(_NUMPY_TYPES[dtype]).newbyteorder("<"))
            data = data.astype(_NUMPY_TYPES[dtype]).reshape(shape)
        tensors.append(Tensor(i, name, shape, dtype, data))

    operators = []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = op_names.get(builtin, str(builtin))
        if name == "CUSTOM":
            name = "CUSTOM:" + (code.CustomCode() or b"?").decode()
        ins = [int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(v) for v in op.OutputsAsNumpy()] if op.OutputsLength() else []
        if name == "DEQUANTIZE" and tensors[ins[0]].data is not None:
            src = tensors[ins[0]]
            if src.dtype not in ("FLOAT16", "FLOAT32"):
                raise TFLiteError(f"{path}: operator {i} (DEQUANTIZE) of {src.dtype} tensor {src.name!r}: only "
                                  "fp16 constants are supported (no integer quantisation)")
            tensors[outs[0]].data = src.data.astype(np.float32)
            continue
        operators.append(Operator(i, name, ins, outs, _options(op, name)))
    inputs = [int(v) for v in g.InputsAsNumpy()]
    outputs = [int(v) for v in g.OutputsAsNumpy()]
    return Graph(path, tensors, operators, inputs, outputs)


# --- layers ----------------------------------------------------------------------------------

def _activation(name: str, where: str) -> nn.Module | None:
    if name == "NONE":
        return None
    if name == "RELU":
        return nn.ReLU(inplace=True)
    if name == "RELU6":
        return nn.ReLU6(inplace=True)
    if name == "RELU_N1_TO_1":
        return nn.Hardtanh(-1.0, 1.0, inplace=True)
    if name == "TANH":
        return nn.Tanh()
    raise TFLiteError(f"{where}: fused activation {name} is not supported")


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) on one axis: the extra pixel goes after."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _seq(*layers: nn.Module | None) -> nn.Module:
    kept = [m for m in layers if m is not None]
    return kept[0] if len(kept) == 1 else nn.Sequential(*kept)


def _padded(pads: tuple[int, int, int, int], value: float = 0.0) -> tuple[nn.Module | None, tuple[int, int]]:
    """(explicit pad layer or None, symmetric padding for the layer itself) for pads
    (top, bottom, left, right)."""
    t, b, l, r = pads
    if t == b and l == r:
        return None, (t, l)
    return nn.ConstantPad2d((l, r, t, b), value), (0, 0)


class PointwiseConv2d(nn.Conv2d):
    """A 1x1 convolution that runs as one matrix product on channels-last input.

    On CPU, torch sends small-batch 1x1 convolutions on one thread to its im2col path, which
    copies channels-last tensors to NCHW and back; a channels-last (N, C, H, W) tensor is an
    (N, H, W, C) matrix in memory, so ``F.linear`` on that view needs no copy. Other inputs
    take ``nn.Conv2d``'s path. Same parameters, same results (up to summation order)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            y = F.linear(x.permute(0, 2, 3, 1), self.weight.flatten(1), self.bias)
            return y.permute(0, 3, 1, 2)
        return super().forward(x)


class Add(nn.Module):
    def __init__(self, activation: nn.Module | None = None):
        super().__init__()
        self.activation = activation

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        y = a + b
        return y if self.activation is None else self.activation(y)


class Pad(nn.Module):
    """Zero padding of an NCHW tensor; ``pads`` as ``F.pad`` takes them (W, then H, then C)."""

    def __init__(self, pads: tuple[int, ...]):
        super().__init__()
        self.pads = pads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.pads)

    def extra_repr(self) -> str:
        return f"pads={self.pads}"


class ResizeBilinear(nn.Module):
    def __init__(self, size: tuple[int, int], align_corners: bool):
        super().__init__()
        self.size, self.align_corners = size, align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=self.size, mode="bilinear", align_corners=self.align_corners)

    def extra_repr(self) -> str:
        return f"size={self.size}, align_corners={self.align_corners}"


class Reshape(nn.Module):
    """TFLite RESHAPE with a free batch: 4-D tensors are reshaped through their NHWC view."""

    def __init__(self, shape: tuple[int, ...], nchw_in: bool, nchw_out: bool):
        super().__init__()
        self.shape, self.nchw_in, self.nchw_out = tuple(shape[1:]), nchw_in, nchw_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.nchw_in:
            x = x.permute(0, 2, 3, 1)
        y = x.reshape(x.shape[0], *self.shape)
        return y.permute(0, 3, 1, 2) if self.nchw_out else y

    def extra_repr(self) -> str:
        return f"shape=(-1, {', '.join(map(str, self.shape))})"


def _const(graph: Graph, t: int, op: Operator, what: str) -> np.ndarray:
    data = graph.tensors[t].data if t >= 0 else None
    if data is None:
        raise TFLiteError(f"{graph.path}: operator {op.index} ({op.op}): its {what} must be a constant")
    return data


def _spatial(graph: Graph, t: int) -> tuple[int, int]:
    shape = graph.tensors[t].shape
    if len(shape) != 4:
        raise TFLiteError(f"{graph.path}: tensor {t} ({graph.tensors[t].name!r}) has shape {shape}; expected NHWC")
    return shape[1], shape[2]


def layer_for(graph: Graph, op: Operator, pad: tuple[int, int, int, int] = (0, 0, 0, 0)) -> nn.Module:
    """The torch layer of one operator (NCHW), its weights copied as float32. ``pad`` (top,
    bottom, left, right) is a preceding PAD folded into a convolution."""
    where = f"{graph.path}: operator {op.index} ({op.op})"
    o = op.options
    if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        w = _const(graph, op.inputs[1], op, "filter")
        bias = graph.tensors[op.inputs[2]].data if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        if len(op.inputs) > 2 and op.inputs[2] >= 0 and bias is None:
            raise TFLiteError(f"{where}: its bias must be a constant")
        cin = graph.tensors[op.inputs[0]].shape[3]
        kh, kw = w.shape[1], w.shape[2]
        if op.op == "CONV_2D":
            weight = w.transpose(0, 3, 1, 2)  # OHWI -> OIHW
            if cin % w.shape[3]:
                raise TFLiteError(f"{where}: {cin} input channels for a filter of depth {w.shape[3]}")
            groups = cin // w.shape[3]
        else:
            weight = w[0].transpose(2, 0, 1)[:, None]  # 1HW(C*m) -> (C*m)1HW
            groups = cin
        if o["padding"] == "SAME":
            h, wd = _spatial(graph, op.inputs[0])
            (t0, b0), (l0, r0) = (_same_pads(h + pad[0] + pad[1], kh, o["stride"][0], o["dilation"][0]),
                                  _same_pads(wd + pad[2] + pad[3], kw, o["stride"][1], o["dilation"][1]))
            pad = (pad[0] + t0, pad[1] + b0, pad[2] + l0, pad[3] + r0)
        elif o["padding"] != "VALID":
            raise TFLiteError(f"{where}: padding {o['padding']} is not supported")
        explicit, sym = _padded(pad)
        pointwise = (kh, kw) == (1, 1) and tuple(o["stride"]) == (1, 1) and groups == 1 and sym == (0, 0)
        conv = (PointwiseConv2d if pointwise else nn.Conv2d)(
            weight.shape[1] * groups, weight.shape[0], (kh, kw), o["stride"], sym, o["dilation"], groups,
            bias=bias is not None)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32)))
            if bias is not None:
                conv.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
        return _seq(explicit, conv, _activation(o["activation"], where))
    if op.op == "ADD":
        for t in op.inputs:
            if graph.tensors[t].data is not None:
                raise TFLiteError(f"{where}: adding a constant tensor is not supported")
        return Add(_activation(o["activation"], where))
    if op.op == "PAD":
        p = _const(graph, op.inputs[1], op, "paddings")
        if p.shape != (4, 2) or p[0].any():
            raise TFLiteError(f"{where}: only padding of the H, W and C axes of NHWC tensors is supported, "
                              f"got {p.tolist()}")
        if p[3].any():  # channels too (residuals that widen): F.pad on NCHW, last axis first
            return Pad(tuple(int(v) for v in (p[2, 0], p[2, 1], p[1, 0], p[1, 1], p[3, 0], p[3, 1])))
        return nn.ZeroPad2d((int(p[2, 0]), int(p[2, 1]), int(p[1, 0]), int(p[1, 1])))
    if op.op == "MAX_POOL_2D":
        (kh, kw), stride = o["kernel"], o["stride"]
        pads = (0, 0, 0, 0)
        if o["padding"] == "SAME":
            h, wd = _spatial(graph, op.inputs[0])
            pads = (*_same_pads(h, kh, stride[0], 1), *_same_pads(wd, kw, stride[1], 1))
        explicit, sym = _padded(pads, value=float("-inf"))
        if sym[0] > kh // 2 or sym[1] > kw // 2:
            explicit, sym = nn.ConstantPad2d((pads[2], pads[3], pads[0], pads[1]), float("-inf")), (0, 0)
        return _seq(explicit, nn.MaxPool2d((kh, kw), stride, sym), _activation(o["activation"], where))
    if op.op == "RESIZE_BILINEAR":
        size = tuple(int(v) for v in _const(graph, op.inputs[1], op, "size"))
        if o["align_corners"]:
            return ResizeBilinear(size, True)
        if o["half_pixel_centers"]:
            return ResizeBilinear(size, False)
        raise TFLiteError(f"{where}: legacy resize (neither align_corners nor half_pixel_centers) has no torch "
                          "equivalent")
    if op.op == "RESHAPE":
        if len(op.inputs) > 1 and op.inputs[1] >= 0 and graph.tensors[op.inputs[1]].data is not None:
            shape = tuple(int(v) for v in graph.tensors[op.inputs[1]].data)
        elif "new_shape" in o:
            shape = o["new_shape"]
        else:
            shape = graph.tensors[op.outputs[0]].shape
        return Reshape(shape, len(graph.tensors[op.inputs[0]].shape) == 4, len(shape) == 4)
    if op.op == "LOGISTIC":
        return nn.Sigmoid()
    raise TFLiteError(f"{where}: operator {op.op} is not supported by vidpose.interchange.tflite "
                      f"(supported: {', '.join(SUPPORTED)})")


SUPPORTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "PAD", "MAX_POOL_2D", "RESIZE_BILINEAR", "RESHAPE", "LOGISTIC",
             "DEQUANTIZE (fp16 constants)")


# --- building ----------------------------------------------------------------------------------

def _needed(graph: Graph, outputs: Sequence[int], inputs: Sequence[int]) -> list[Operator]:
    """Operators needed for ``outputs`` given ``inputs``, in execution order."""
    producers = {t: op for op in graph.operators for t in op.outputs}
    need: set[int] = set()
    stack = [t for t in outputs if t not in inputs]
    seen: set[int] = set()
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        if graph.tensors[t].data is not None:
            continue
        op = producers.get(t)
        if op is None:
            raise TFLiteError(f"{graph.path}: tensor {t} ({graph.tensors[t].name!r}) is needed but is neither "
                              f"produced by an operator nor among the given inputs "
                              f"{[graph.tensors[i].name for i in inputs]}")
        need.add(op.index)
        stack.extend(i for i in op.inputs if i >= 0 and i not in inputs)
    return [op for op in graph.operators if op.index in need]


def cut(graph: Graph, upstream: Sequence[int | str], downstream: Sequence[int | str]) -> list[int]:
    """Tensors computed for ``upstream`` that the rest of ``downstream``'s computation reads:
    build ``upstream + cut`` as one module and ``downstream`` from inputs ``cut`` as another,
    and the two share no operator."""
    up = [graph.tensor(t) for t in upstream]
    down = [graph.tensor(t) for t in downstream]
    up_ops = _needed(graph, up, graph.inputs)
    up_tensors = set(graph.inputs) | {t for op in up_ops for t in op.outputs}
    up_ids = {op.index for op in up_ops}
    rest = [op for op in _needed(graph, down, graph.inputs) if op.index not in up_ids]
    found = {t for op in rest for t in op.inputs if t in up_tensors}
    found |= {t for t in down if t in up_tensors}
    return sorted(found)


def _identifier(name: str, taken: set[str]) -> str:
    base = re.sub(r"\W+", "_", name.split(";")[0]).strip("_").lower() or "t"
    if base[0].isdigit():
        base = "t_" + base
    out, k = base, 1
    while out in taken:
        k += 1
        out = f"{base}_{k}"
    taken.add(out)
    return out


def build_module(graph: Graph, outputs: Sequence[int | str] | None = None,
                 inputs: Sequence[int | str] | None = None) -> fx.GraphModule:
    """A ``torch.fx.GraphModule`` computing ``outputs`` (tensor indices or names; default the
    graph's outputs) from ``inputs`` (default the graph's inputs), with only the operators
    they need. ``forward`` takes the inputs in order (4-D ones NCHW) and returns a dict
    name -> tensor. A PAD read only by VALID convolutions becomes their padding."""
    outs = [graph.tensor(t) for t in (graph.outputs if outputs is None else outputs)]
    ins = [graph.tensor(t) for t in (graph.inputs if inputs is None else inputs)]
    ops = _needed(graph, outs, ins)
    consumers: dict[int, list[Operator]] = {}
    for op in ops:
        for t in op.inputs:
            consumers.setdefault(t, []).append(op)

    folded: dict[int, tuple[int, tuple[int, int, int, int]]] = {}  # PAD output -> (its input, pads)
    for op in ops:
        if op.op != "PAD":
            continue
        readers = consumers.get(op.outputs[0], [])
        if op.outputs[0] not in outs and readers and all(
                r.op in ("CONV_2D", "DEPTHWISE_CONV_2D") and r.options.get("padding") == "VALID" and
                r.inputs[0] == op.outputs[0] for r in readers):
            p = _const(graph, op.inputs[1], op, "paddings")
            if p.shape == (4, 2) and not p[0].any() and not p[3].any():
                folded[op.outputs[0]] = (op.inputs[0], (int(p[1, 0]), int(p[1, 1]), int(p[2, 0]), int(p[2, 1])))

    root = nn.Module()
    g = fx.Graph()
    env: dict[int, fx.Node] = {}
    taken: set[str] = set()
    for t in ins:
        env[t] = g.placeholder(_identifier(graph.tensors[t].name, taken))
    for op in ops:
        if op.op == "PAD" and op.outputs[0] in folded:
            continue
        src, pad = op.inputs[0], (0, 0, 0, 0)
        if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D") and src in folded:
            src, pad = folded[src]
        layer = layer_for(graph, op, pad)
        name = f"{op.op.lower()}_{op.index}"
        root.add_module(name, layer)
        if op.op == "ADD":
            args = tuple(env[t] for t in op.inputs)
        else:
            args = (env[src],)
        env[op.outputs[0]] = g.call_module(name, args)
    g.output({graph.tensors[t].name: env[t] for t in outs})
    module = fx.GraphModule(root, g, class_name="TFLiteModule")
    module.source_path = graph.path
    module.input_names = [graph.tensors[t].name for t in ins]
    module.output_names = [graph.tensors[t].name for t in outs]
    return module


def load_tflite(path: str | Path, outputs: Sequence[int | str] | None = None) -> fx.GraphModule:
    """``build_module(read_tflite(path), outputs)``: the whole graph (or ``outputs``) as torch layers."""
    return build_module(read_tflite(path), outputs)


def to_nchw(x: np.ndarray) -> torch.Tensor:
    """An NHWC array (a TFLite input) as an NCHW float tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x, dtype=np.float32).transpose(0, 3, 1, 2)))

