"""ONNX lowerings, one per registered op, in one table (`LOWERINGS`).

A lowering is `fn(ctx, node, xs, y)`: `xs` are the ONNX value names of the node's
inputs, `y` the value name its result must have. It emits ONNX nodes through
`ctx.emit(op_type, inputs, out=None, **attrs)` (the last one with `out=y`), reads
weights with `ctx.weight(node, param)` (initializers named as in the store) and makes
constants with `ctx.const(node, hint, array)`. `ctx.opset` picks between spellings that
changed across opsets. This module imports numpy only; ONNX itself is imported by
`export.py`.
"""

from __future__ import annotations

import math

import numpy as np

from cnndsl.ops.registry import SELF_PARAM
from cnndsl.ops.tensor import per_axis

from .lower_math import ROWS as LOWER_MATH

# ------------------------------------------------------------------ convolution, linear


def _conv(ctx, node, xs, y):
    a = node.attrs
    ins = [xs[0], ctx.weight(node, "weight")]
    if a["bias"]:
        ins.append(ctx.weight(node, "bias"))
    ctx.emit("Conv", ins, out=y, kernel_shape=list(a["kernel"]), strides=list(a["stride"]),
             dilations=list(a["dilation"]), pads=list(a["padding"]), group=a["groups"])


def _conv_t(ctx, node, xs, y):
    a = node.attrs
    ins = [xs[0], ctx.weight(node, "weight")]
    if any(op >= s for op, s in zip(a["output_padding"], a["stride"])):
        _conv_t_wide(ctx, node, ins, y)  # PyTorch allows output_padding < dilation too; ONNX Runtime does not
        return
    if a["bias"]:
        ins.append(ctx.weight(node, "bias"))
    ctx.emit("ConvTranspose", ins, out=y, kernel_shape=list(a["kernel"]), strides=list(a["stride"]),
             dilations=list(a["dilation"]), pads=list(a["padding"]) * 2, output_padding=list(a["output_padding"]),
             group=a["groups"])


def _conv_t_wide(ctx, node, ins, y):
    """A transposed conv whose output_padding is not below its stride (PyTorch's `output_padding < dilation`
    case), which ONNX Runtime refuses: the extra rows at each axis's end are taken from the end padding while
    it lasts, and past it added by a zero Pad (no input reaches them), then the bias is added to every row."""
    a = node.attrs
    extra = [op - p for op, p in zip(a["output_padding"], a["padding"])]
    pads = list(a["padding"]) + [p - op if op <= p else 0 for op, p in zip(a["output_padding"], a["padding"])]
    out = ctx.emit("ConvTranspose", ins, kernel_shape=list(a["kernel"]), strides=list(a["stride"]),
                   dilations=list(a["dilation"]), pads=pads, group=a["groups"])
    if any(e > 0 for e in extra):
        rank = len(a["kernel"]) + 2
        widths = np.array([0] * rank + [0, 0] + [max(e, 0) for e in extra], dtype=np.int64)
        out = ctx.emit("Pad", [out, ctx.const(node, "pads", widths)])
    if a["bias"]:
        bias = ctx.emit("Reshape", [ctx.weight(node, "bias"),
                                    ctx.const(node, "bias_shape", np.array([-1] + [1] * len(a["kernel"]), np.int64))])
        ctx.emit("Add", [out, bias], out=y)
    else:
        ctx.emit("Identity", [out], out=y)


def _linear(ctx, node, xs, y):
    """On the last axis: Gemm for [N, in], MatMul with the transposed weight (+ Add) for higher ranks."""
    x = xs[0]
    rank = len(ctx.shape(node.inputs[0]))
    w = ctx.weight(node, "weight")
    if rank == 2:
        ins = [x, w] + ([ctx.weight(node, "bias")] if node.attrs["bias"] else [])
        ctx.emit("Gemm", ins, out=y, transB=1)
        return
    wt = ctx.emit("Transpose", [w], perm=[1, 0])
    if not node.attrs["bias"]:
        ctx.emit("MatMul", [x, wt], out=y)
        return
    ctx.emit("Add", [ctx.emit("MatMul", [x, wt]), ctx.weight(node, "bias")], out=y)


def _fused_conv(ctx, node, xs, y):
    """conv into a helper value, then the activation's own lowering (made by -O1's fuse_conv_act)."""
    from cnndsl.ir.graph import Node

    a = node.attrs
    ins = [xs[0], ctx.weight(node, "weight")]
    if a["bias"]:
        ins.append(ctx.weight(node, "bias"))
    conv = ctx.emit("Conv", ins, kernel_shape=list(a["kernel"]), strides=list(a["stride"]),
                    dilations=list(a["dilation"]), pads=list(a["padding"]), group=a["groups"])
    act = Node(node.name, a["act"], dict(a["act_attrs"] or {}), [(node.name, 0)], node.meta)
    LOWERINGS[a["act"]](ctx, act, [conv], y)


# ------------------------------------------------------------------ normalization


def _bn(ctx, node, xs, y):
    a = node.attrs
    c = ctx.shape(node.inputs[0])[1]
    if a["affine"]:
        scale, bias = ctx.weight(node, "weight"), ctx.weight(node, "bias")
    else:
        scale = ctx.const(node, "scale", np.ones((c,), np.float32))
        bias = ctx.const(node, "bias", np.zeros((c,), np.float32))
    ins = [xs[0], scale, bias, ctx.weight(node, "running_mean"), ctx.weight(node, "running_var")]
    if ctx.opset < 14:
        # BatchNormalization-9 has no training_mode, and onnx's reference evaluator takes a
        # momentum there as a request for batch statistics: leave it out (inference only)
        ctx.emit("BatchNormalization", ins, out=y, epsilon=float(a["eps"]))
        return
    # ONNX's momentum weighs the running value, PyTorch's the new one (used only in training mode)
    ctx.emit("BatchNormalization", ins, out=y, epsilon=float(a["eps"]), momentum=1.0 - float(a["momentum"]))


# ------------------------------------------------------------------ activations


def _simple(op_type: str, **fixed):
    def lower(ctx, node, xs, y):
        ctx.emit(op_type, xs, out=y, **fixed)

    lower.__name__ = f"_lower_{op_type}"
    return lower


def _relu6(ctx, node, xs, y):
    lo = ctx.const(node, "min", np.array(0.0, np.float32))
    hi = ctx.const(node, "max", np.array(6.0, np.float32))
    ctx.emit("Clip", [xs[0], lo, hi], out=y)


def _leaky_relu(ctx, node, xs, y):
    ctx.emit("LeakyRelu", xs, out=y, alpha=float(node.attrs["slope"]))


def _elu(ctx, node, xs, y):
    ctx.emit("Elu", xs, out=y, alpha=float(node.attrs["alpha"]))


def _hsigmoid(ctx, node, xs, y):
    ctx.emit("HardSigmoid", xs, out=y, alpha=1.0 / 6.0, beta=0.5)


def _hswish(ctx, node, xs, y):
    if ctx.opset >= 14:
        ctx.emit("HardSwish", xs, out=y)
        return
    gate = ctx.emit("HardSigmoid", xs, alpha=1.0 / 6.0, beta=0.5)
    ctx.emit("Mul", [xs[0], gate], out=y)


def _silu(ctx, node, xs, y):
    ctx.emit("Mul", [xs[0], ctx.emit("Sigmoid", xs)], out=y)


def _gelu(ctx, node, xs, y):
    approx = node.attrs["approximate"]
    if ctx.opset >= 20:
        ctx.emit("Gelu", xs, out=y, approximate=approx)
        return
    x = xs[0]
    half = ctx.const(node, "half", np.array(0.5, np.float32))
    one = ctx.const(node, "one", np.array(1.0, np.float32))
    if approx == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        k = ctx.const(node, "k", np.array(math.sqrt(2.0 / math.pi), np.float32))
        c = ctx.const(node, "c", np.array(0.044715, np.float32))
        x3 = ctx.emit("Mul", [ctx.emit("Mul", [x, x]), x])
        inner = ctx.emit("Mul", [k, ctx.emit("Add", [x, ctx.emit("Mul", [c, x3])])])
        t = ctx.emit("Tanh", [inner])
    else:  # 0.5 x (1 + erf(x / sqrt 2))
        r = ctx.const(node, "sqrt2", np.array(math.sqrt(2.0), np.float32))
        t = ctx.emit("Erf", [ctx.emit("Div", [x, r])])
    ctx.emit("Mul", [ctx.emit("Mul", [half, x]), ctx.emit("Add", [one, t])], out=y)


# ------------------------------------------------------------------ pooling


def _maxpool(ctx, node, xs, y):
    a = node.attrs
    ctx.emit("MaxPool", xs, out=y, kernel_shape=list(a["kernel"]), strides=list(a["stride"]),
             pads=list(a["padding"]), dilations=list(a.get("dilation", (1, 1))), ceil_mode=int(a["ceil_mode"]))


def _avgpool(ctx, node, xs, y):
    a = node.attrs
    ctx.emit("AveragePool", xs, out=y, kernel_shape=list(a["kernel"]), strides=list(a["stride"]),
             pads=list(a["padding"]), ceil_mode=int(a["ceil_mode"]), count_include_pad=int(a["count_include_pad"]))


# ------------------------------------------------------------------ merges and shapes


def _add(ctx, node, xs, y):
    ctx.emit("Add" if len(xs) == 2 else "Sum", xs, out=y)


def _concat(ctx, node, xs, y):
    ctx.emit("Concat", xs, out=y, axis=int(node.attrs["axis"]))


def _flatten(ctx, node, xs, y):
    start = node.attrs["start"]
    if start == 1:
        ctx.emit("Flatten", xs, out=y, axis=1)
        return
    target = ctx.const(node, "shape", np.array([0] * start + [-1], np.int64))
    ctx.emit("Reshape", [xs[0], target], out=y)


def _dropout(ctx, node, xs, y):
    ratio = ctx.const(node, "ratio", np.array(node.attrs["p"], np.float32))
    ctx.emit("Dropout", [xs[0], ratio], out=y)


def _upsample(ctx, node, xs, y):
    """Resize with PyTorch's coordinate conventions (nearest: floor; bilinear: half-pixel)."""
    a = node.attrs
    if a["mode"] == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        ctm = "align_corners" if a["align_corners"] else "pytorch_half_pixel"
        attrs = {"mode": "linear", "coordinate_transformation_mode": ctm}
    x_shape, out_shape = ctx.shape(node.inputs[0]), node.meta["shape"]
    nd = len(out_shape) - 2
    spatial_axes = list(range(2, 2 + nd))
    hw = [int(d) for d in out_shape[2:]]  # the output's spatial sizes (1, 2 or 3 of them)
    # onnx's Resize shape inference drops a symbolic batch ("N" becomes "unk__0"); declaring
    # the result's type keeps it (static dims are still checked against the inferred ones)
    ctx.annotate(y, out_shape)
    if a["size"] is None:
        scale = [float(v) for v in per_axis(a["scale"], nd, "scale")]
        if ctx.opset >= 18:  # scales for the spatial axes only: the symbolic batch stays visible to shape inference
            scales = ctx.const(node, "scales", np.array(scale, np.float32))
            ctx.emit("Resize", [xs[0], "", scales], out=y, axes=spatial_axes, **attrs)
            return
        if any(hw[i] / x_shape[2 + i] != scale[i] for i in range(nd)):
            # a scale that is not out/in exactly: keep PyTorch's 1/scale step (batch left to runtime)
            scales = ctx.const(node, "scales", np.array([1.0, 1.0] + scale, np.float32))
            ctx.emit("Resize", [xs[0], "", scales], out=y, **attrs)
            return
        # out/in == scale: sizes are the same resize and keep the batch symbol
    if ctx.opset >= 18:
        sizes = ctx.const(node, "sizes", np.array(hw, np.int64))
        ctx.emit("Resize", [xs[0], "", "", sizes], out=y, axes=spatial_axes, **attrs)
        return
    if not isinstance(x_shape[0], str):
        sizes = ctx.const(node, "sizes", np.array([x_shape[0], x_shape[1]] + hw, np.int64))
    else:  # the batch is symbolic: sizes = shape(x)[0:2] ++ [H, W]
        if ctx.opset >= 15:
            shape = ctx.emit("Shape", [xs[0]], start=0, end=2)
        else:
            starts = ctx.const(node, "starts", np.array([0], np.int64))
            ends = ctx.const(node, "ends", np.array([2], np.int64))
            shape = ctx.emit("Slice", [ctx.emit("Shape", [xs[0]]), starts, ends])
        sizes = ctx.emit("Concat", [shape, ctx.const(node, "hw", np.array(hw, np.int64))], axis=0)
    ctx.emit("Resize", [xs[0], "", "", sizes], out=y, **attrs)


# ------------------------------------------------------------------ ops added with the front end


def _channel_param(ctx, node, param: str, rank: int, axis: int = 1) -> str:
    """A [C] parameter reshaped to [C, 1, ...] so it broadcasts over `axis` (the channels by default)."""
    w = ctx.weight(node, param)
    if axis == rank - 1:
        return w
    shape = ctx.const(node, f"{param}_shape", np.array([-1] + [1] * (rank - 1 - axis), np.int64))
    return ctx.emit("Reshape", [w, shape])


def _prelu(ctx, node, xs, y):
    rank = len(ctx.shape(node.inputs[0]))
    slope = ctx.weight(node, "weight") if node.attrs["num_parameters"] == 1 else _channel_param(
        ctx, node, "weight", rank)
    ctx.emit("PRelu", [xs[0], slope], out=y)


def _softmax(ctx, node, xs, y):
    ctx.emit("Softmax", xs, out=y, axis=int(node.attrs["axis"]))


def _reduce_mean(ctx, node, x: str, axes: list[int], keepdims: int, out: str | None = None) -> str:
    if ctx.opset >= 18:
        ax = ctx.const(node, "axes", np.array(axes, np.int64))
        return ctx.emit("ReduceMean", [x, ax], out=out, keepdims=keepdims)
    return ctx.emit("ReduceMean", [x], out=out, axes=axes, keepdims=keepdims)


def _mean(ctx, node, xs, y):
    _reduce_mean(ctx, node, xs[0], list(node.attrs["axes"]), int(node.attrs["keepdims"]), out=y)


def _layernorm(ctx, node, xs, y):
    """Over one axis (channels by default) at each position: (x - mean) / sqrt(var + eps) * w + b
    (biased variance). Spelled out rather than LayerNormalization, which needs opset 17 and
    normalizes trailing axes only."""
    x = xs[0]
    axis = int(node.attrs["axis"])
    rank = len(ctx.shape(node.inputs[0]))
    d = ctx.emit("Sub", [x, _reduce_mean(ctx, node, x, [axis], 1)])
    var = _reduce_mean(ctx, node, ctx.emit("Mul", [d, d]), [axis], 1)
    eps = ctx.const(node, "eps", np.array(node.attrs["eps"], np.float32))
    if not node.attrs["affine"]:
        ctx.emit("Div", [d, ctx.emit("Sqrt", [ctx.emit("Add", [var, eps])])], out=y)
        return
    normed = ctx.emit("Div", [d, ctx.emit("Sqrt", [ctx.emit("Add", [var, eps])])])
    scaled = ctx.emit("Mul", [normed, _channel_param(ctx, node, "weight", rank, axis)])
    ctx.emit("Add", [scaled, _channel_param(ctx, node, "bias", rank, axis)], out=y)


def _layer_scale(ctx, node, xs, y):
    ctx.emit("Mul", [xs[0], ctx.weight(node, SELF_PARAM)], out=y)  # initializer named like the node


def _reshape(ctx, node, xs, y):
    target = ctx.const(node, "shape", np.array([0] + [int(d) for d in node.attrs["shape"]], np.int64))
    ctx.emit("Reshape", [xs[0], target], out=y)


def _channel_shuffle(ctx, node, xs, y):
    _n, c, h, w = ctx.shape(node.inputs[0])
    g = node.attrs["groups"]
    split = ctx.const(node, "grouped", np.array([0, g, c // g, h, w], np.int64))
    back = ctx.const(node, "shape", np.array([0, c, h, w], np.int64))
    t = ctx.emit("Transpose", [ctx.emit("Reshape", [xs[0], split])], perm=[0, 2, 1, 3, 4])
    ctx.emit("Reshape", [t, back], out=y)


def _transpose(ctx, node, xs, y):
    ctx.emit("Transpose", xs, out=y, perm=[int(a) for a in node.attrs["axes"]])


def _chunk(ctx, node, xs, y):
    axis, n = node.attrs["axis"], node.attrs["chunks"]
    part = ctx.shape(node.inputs[0])[axis] // n
    split = ctx.const(node, "split", np.array([part] * n, np.int64))
    ctx.emit("Split", [xs[0], split], out=ctx.outputs(node), axis=int(axis))


def _pad(ctx, node, xs, y):
    p = list(node.attrs["padding"])
    nd = len(p) // 2
    pads = ctx.const(node, "pads", np.array([0, 0] + p[:nd] + [0, 0] + p[nd:], np.int64))
    mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}[node.attrs["mode"]]
    if mode == "constant":
        value = ctx.const(node, "value", np.array(node.attrs["value"], np.float32))
        ctx.emit("Pad", [xs[0], pads, value], out=y, mode=mode)
    else:
        ctx.emit("Pad", [xs[0], pads], out=y, mode=mode)


def _lppool(ctx, node, xs, y):
    """PyTorch's LPPool: (avg_pool(x^p) * prod(kernel))^(1/p); ONNX LpPool takes only integer p."""
    a = node.attrs
    kernel, p = list(a["kernel"]), float(a["p"])
    powed = ctx.emit("Pow", [xs[0], ctx.const(node, "p", np.array(p, np.float32))])
    avg = ctx.emit("AveragePool", [powed], kernel_shape=kernel, strides=list(a["stride"]), pads=[0] * (2 * len(kernel)),
                   ceil_mode=int(a["ceil_mode"]), count_include_pad=1)
    total = ctx.emit("Mul", [avg, ctx.const(node, "area", np.array(math.prod(kernel), np.float32))])
    ctx.emit("Pow", [total, ctx.const(node, "inv_p", np.array(1.0 / p, np.float32))], out=y)


def _adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def _adaptive_as_pool(ctx, node, xs, y, global_op: str, pool_op: str) -> bool:
    """Output 1x1 is a global pool; an output that divides the input is a plain pool. True if emitted."""
    sizes = ctx.shape(node.inputs[0])[2:]
    out = node.attrs["size"]
    if all(o == 1 for o in out):
        ctx.emit(global_op, xs, out=y)
        return True
    if all(n % o == 0 for n, o in zip(sizes, out)):
        k = [n // o for n, o in zip(sizes, out)]
        ctx.emit(pool_op, xs, out=y, kernel_shape=k, strides=k)
        return True
    return False


def _adaptive_along(ctx, node, xs, y, reduce_op: str):
    """Separable over any number of spatial axes: one Slice + Reduce per window of each axis,
    concatenated, axis after axis (a mean of means over a box of windows is the box's mean)."""
    sizes = ctx.shape(node.inputs[0])[2:]
    out_sizes = node.attrs["size"]

    def along(x: str, axis: int, size: int, out_size: int, out: str | None) -> str:
        ax = ctx.const(node, f"axis{axis}", np.array([axis], np.int64))
        parts = []
        for a, b in _adaptive_windows(size, out_size):
            starts = ctx.const(node, f"start{axis}_{a}", np.array([a], np.int64))
            ends = ctx.const(node, f"end{axis}_{b}", np.array([b], np.int64))
            sl = ctx.emit("Slice", [x, starts, ends, ax])
            if reduce_op == "ReduceMean":
                parts.append(_reduce_mean(ctx, node, sl, [axis], 1))
            elif ctx.opset >= 18:
                parts.append(ctx.emit(reduce_op, [sl, ax], keepdims=1))
            else:
                parts.append(ctx.emit(reduce_op, [sl], axes=[axis], keepdims=1))
        return ctx.emit("Concat", parts, out=out, axis=axis)

    x = xs[0]
    last = len(sizes) - 1
    for i, (size, out_size) in enumerate(zip(sizes, out_sizes)):
        x = along(x, 2 + i, size, out_size, y if i == last else None)


def _adaptive_avgpool(ctx, node, xs, y):
    """2-D: separable, mean over row windows then column windows, as two matmuls with averaging
    matrices; 1-D and 3-D: a Slice + ReduceMean per window, axis after axis."""
    if _adaptive_as_pool(ctx, node, xs, y, "GlobalAveragePool", "AveragePool"):
        return
    if len(node.attrs["size"]) != 2:
        _adaptive_along(ctx, node, xs, y, "ReduceMean")
        return
    _n, _c, h, w = ctx.shape(node.inputs[0])
    oh, ow = node.attrs["size"]
    ph = np.zeros((oh, h), np.float32)
    for i, (a, b) in enumerate(_adaptive_windows(h, oh)):
        ph[i, a:b] = 1.0 / (b - a)
    pw = np.zeros((w, ow), np.float32)
    for j, (a, b) in enumerate(_adaptive_windows(w, ow)):
        pw[a:b, j] = 1.0 / (b - a)
    rows = ctx.emit("MatMul", [ctx.const(node, "rows", ph), xs[0]])
    ctx.emit("MatMul", [rows, ctx.const(node, "cols", pw)], out=y)


def _adaptive_maxpool(ctx, node, xs, y):
    """Separable: max over each window of the first spatial axis (Slice + ReduceMax, Concat), then
    of the next."""
    if _adaptive_as_pool(ctx, node, xs, y, "GlobalMaxPool", "MaxPool"):
        return
    _adaptive_along(ctx, node, xs, y, "ReduceMax")


# ------------------------------------------------------------------ the table

LOWERINGS = {
    # convolution and linear
    "conv": _conv,
    "conv_t": _conv_t,
    "fused_conv": _fused_conv,
    "linear": _linear,
    # normalization
    "bn": _bn,
    # activations
    "relu": _simple("Relu"),
    "relu6": _relu6,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "sigmoid": _simple("Sigmoid"),
    "tanh": _simple("Tanh"),
    "hsigmoid": _hsigmoid,
    "hswish": _hswish,
    "silu": _silu,
    "gelu": _gelu,
    "identity": _simple("Identity"),
    "prelu": _prelu,
    "softmax": _softmax,
    # pooling
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "gap": _simple("GlobalAveragePool"),
    "gmp": _simple("GlobalMaxPool"),
    "lppool": _lppool,
    "adaptive_avgpool": _adaptive_avgpool,
    "adaptive_maxpool": _adaptive_maxpool,
    "mean": _mean,
    # normalization and scaling added with the front end
    "layernorm": _layernorm,
    "layer_scale": _layer_scale,
    # merges and shapes
    "add": _add,
    "mul": _simple("Mul"),
    "concat": _concat,
    "flatten": _flatten,
    "dropout": _dropout,
    "stochastic_depth": _simple("Identity"),  # inference semantics: the branch is always kept
    "upsample": _upsample,
    "reshape": _reshape,
    "channel_shuffle": _channel_shuffle,
    "chunk": _chunk,
    "pad": _pad,
    "matmul": _simple("MatMul"),
    "transpose": _transpose,
    # arithmetic, reductions, slicing and per-sample norms (issue 12): lower_math.py
    **LOWER_MATH,
}

__all__ = ["LOWERINGS"]
