"""ONNX op -> cnndsl op, one row per ONNX op type (`MAPPINGS`).

A row is `fn(ctx, node) -> Stage | None`: it reads constants (`ctx.const`), shapes
(`ctx.shape`), and returns the stage, or None when the node is an alias (Identity). A node
it cannot express raises `Unsupported` with the reason; the importer collects them all.
Multi-node idioms (SiLU, GELU, HardSwish, channel shuffle, MatMul + bias, spelled-out layer
and L2 norms) were fused into pseudo-nodes by `fuse.py` before this table runs. The rows
live in `map_layers.py` (layers with windows or weights, activations, norms) and
`map_tensor.py` (arithmetic, shapes, reductions, resizing); ONNX attribute helpers in
`onnx_attrs.py`.
"""

from __future__ import annotations

import math
import re

from .map_layers import (
    _bn,
    _clip,
    _conv,
    _conv_t,
    _elu,
    _gelu,
    _gemm,
    _hsigmoid,
    _l2norm,
    _layernorm,
    _leaky,
    _matmul,
    _pool,
    _prelu,
    _simple,
    _softmax,
)
from .map_tensor import (
    _binary,
    _concat,
    _dropout,
    _flatten,
    _pad,
    _reduce,
    _reshape,
    _resize,
    _slice,
    _split,
    _transpose,
)


def _identity(ctx, node):
    return None


def _channel_shuffle(ctx, node):
    return ctx.stage("channel_shuffle", {"groups": int(node.attrs["groups"])}, node, [node.inputs[0]])


RECORDED_OPS = ("adaptive_avgpool", "adaptive_maxpool", "stochastic_depth")  # backends/onnx/export.py LOST_IN_ONNX
_SAFE_STR = re.compile(r"^[A-Za-z0-9_]{1,32}$")


def _attr_value(v):
    """A recorded attribute value, if it is one a .cnn file can spell (else None)."""
    if isinstance(v, bool) or isinstance(v, int) and abs(v) < 2**31 or isinstance(v, float) and math.isfinite(v):
        return v
    if isinstance(v, str) and _SAFE_STR.match(v):
        return v
    if isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return tuple(v)
    return None


def recorded(ctx, node, record: dict):
    """A layer cnndsl's export recorded in the model's metadata (`cnndsl.layers`): its op and attributes."""
    from cnndsl.ops.registry import get

    op = record.get("op")
    if op not in RECORDED_OPS:
        return None
    attrs = {}
    for spec in get(op).attrs:
        if spec.name in record["attrs"]:
            v = _attr_value(record["attrs"][spec.name])
            if v is None:
                return None
            default = tuple(spec.default) if isinstance(spec.default, list) else spec.default
            if v != default:
                attrs[spec.name] = v
    return ctx.stage(op, attrs, node, [node.inputs[0]])


MAPPINGS = {
    "Conv": _conv,
    "ConvTranspose": _conv_t,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _bn,
    "Relu": _simple("relu"),
    "Sigmoid": _simple("sigmoid"),
    "Tanh": _simple("tanh"),
    "LeakyRelu": _leaky,
    "Elu": _elu,
    "PRelu": _prelu,
    "Clip": _clip,
    "HardSigmoid": _hsigmoid,
    "HardSwish": _simple("hswish"),
    "Gelu": _gelu,
    "Softmax": _softmax,
    "MaxPool": _pool("maxpool"),
    "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": _simple("gap"),
    "GlobalMaxPool": _simple("gmp"),
    "Add": _binary("add"),
    "Sum": lambda ctx, node: ctx.stage("add", {}, node, list(node.inputs)),
    "Mul": _binary("mul"),
    "Sub": _binary("sub"),
    "Div": _binary("div"),
    "Pow": _binary("pow"),
    "Neg": _simple("neg"),
    "Sqrt": _simple("sqrt"),
    "Exp": _simple("exp"),
    "Log": _simple("log"),
    "Abs": _simple("abs"),
    "Concat": _concat,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Split": _split,
    "Slice": _slice,
    "Pad": _pad,
    "ReduceMean": _reduce("mean", (2, 3)),
    "ReduceSum": _reduce("sum", (1,)),
    "ReduceMax": _reduce("max", (1,)),
    "ReduceL2": _reduce("norm", (1,)),
    "Resize": _resize,
    "Upsample": _resize,
    "LayerNormalization": _layernorm,
    "Dropout": _dropout,
    "Identity": _identity,
    # pseudo-ops made by fuse.py
    "cnndsl.SiLU": _simple("silu"),
    "cnndsl.HardSwish": _simple("hswish"),
    "cnndsl.Gelu": _gelu,
    "cnndsl.ChannelShuffle": _channel_shuffle,
    "cnndsl.LayerNorm": _layernorm,
    "cnndsl.L2Norm": _l2norm,
}

__all__ = ["MAPPINGS"]
