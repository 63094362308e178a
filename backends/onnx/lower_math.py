"""ONNX lowerings of issue 12's arithmetic, reductions, slicing and per-sample norms (rows in
`lower.LOWERINGS`; same contract: `fn(ctx, node, xs, y)`)."""

from __future__ import annotations

import numpy as np

from cnndsl.ops.registry import SELF_PARAM

_BINARY = {"sub": "Sub", "div": "Div", "pow": "Pow"}


def _f32(ctx, node, hint: str, value: float) -> str:
    return ctx.const(node, hint, np.array(value, np.float32))


def binary(ctx, node, xs, y):
    """Two tensors (ONNX broadcasts as numpy does), or one and the `scalar` (left with `reverse`)."""
    op = _BINARY[node.op]
    if len(xs) == 2:
        ctx.emit(op, xs, out=y)
        return
    c = _f32(ctx, node, "scalar", node.attrs["scalar"])
    ctx.emit(op, [c, xs[0]] if node.attrs["reverse"] else [xs[0], c], out=y)


def scale(ctx, node, xs, y):
    ctx.emit("Mul", [xs[0], _f32(ctx, node, "factor", node.attrs["factor"])], out=y)


def shift(ctx, node, xs, y):
    ctx.emit("Add", [xs[0], _f32(ctx, node, "offset", node.attrs["offset"])], out=y)


def clamp(ctx, node, xs, y):
    lo, hi = node.attrs["min"], node.attrs["max"]
    ins = [xs[0], "" if lo is None else _f32(ctx, node, "min", lo)]
    if hi is not None:
        ins.append(_f32(ctx, node, "max", hi))
    ctx.emit("Clip", ins, out=y)


def reduce(ctx, node, op_type: str, x: str, axes: list[int], keepdims: int, out: str | None = None) -> str:
    """ReduceX over `axes`: axes are an input from opset 13 (ReduceSum) or 18 (the others)."""
    if ctx.opset >= (13 if op_type == "ReduceSum" else 18):
        ax = ctx.const(node, "axes", np.array(axes, np.int64))
        return ctx.emit(op_type, [x, ax], out=out, keepdims=keepdims)
    return ctx.emit(op_type, [x], out=out, axes=axes, keepdims=keepdims)


def _reducer(op_type: str):
    def lower(ctx, node, xs, y):
        reduce(ctx, node, op_type, xs[0], list(node.attrs["axes"]), int(node.attrs["keepdims"]), out=y)

    return lower


def norm(ctx, node, xs, y):
    axes, keep, p = list(node.attrs["axes"]), int(node.attrs["keepdims"]), node.attrs["p"]
    if p == 2.0:
        reduce(ctx, node, "ReduceL2", xs[0], axes, keep, out=y)
        return
    powed = ctx.emit("Pow", [ctx.emit("Abs", xs), _f32(ctx, node, "p", p)])
    total = reduce(ctx, node, "ReduceSum", powed, axes, keep)
    ctx.emit("Pow", [total, _f32(ctx, node, "inv_p", 1.0 / p)], out=y)


def slice_(ctx, node, xs, y):
    a = node.attrs
    ins = [xs[0]] + [ctx.const(node, hint, np.array([v], np.int64))
                     for hint, v in (("starts", a["start"]), ("ends", a["stop"]), ("axes", a["axis"]),
                                     ("steps", a["step"]))]
    ctx.emit("Slice", ins, out=y)


def split(ctx, node, xs, y):
    sizes = ctx.const(node, "split", np.array(node.attrs["sizes"], np.int64))
    ctx.emit("Split", [xs[0], sizes], out=ctx.outputs(node), axis=int(node.attrs["axis"]))


def _channel(ctx, node, param: str, rank: int) -> str:
    shape = ctx.const(node, f"{param}_shape", np.array([-1] + [1] * (rank - 2), np.int64))
    return ctx.emit("Reshape", [ctx.weight(node, param), shape])


def _affine(ctx, node, x: str, rank: int, y: str) -> None:
    scaled = ctx.emit("Mul", [x, _channel(ctx, node, "weight", rank)])
    ctx.emit("Add", [scaled, _channel(ctx, node, "bias", rank)], out=y)


def groupnorm(ctx, node, xs, y):
    """[N, C, ...] -> [N, G, C/G * positions]: mean and biased variance per group, back, then weight and bias."""
    a = node.attrs
    shape = ctx.shape(node.inputs[0])
    rank = len(shape)
    grouped = ctx.emit("Reshape", [xs[0], ctx.const(node, "grouped", np.array([0, a["groups"], -1], np.int64))])
    mean = reduce(ctx, node, "ReduceMean", grouped, [2], 1)
    d = ctx.emit("Sub", [grouped, mean])
    sq = ctx.emit("Mul", [d, d])
    var = reduce(ctx, node, "ReduceMean", sq, [2], 1)
    normed = ctx.emit("Div", [d, ctx.emit("Sqrt", [ctx.emit("Add", [var, _f32(ctx, node, "eps", a["eps"])])])])
    back = ctx.const(node, "shape", np.array([0] + [int(d) for d in shape[1:]], np.int64))
    if not a["affine"]:
        ctx.emit("Reshape", [normed, back], out=y)
        return
    _affine(ctx, node, ctx.emit("Reshape", [normed, back]), rank, y)


def instancenorm(ctx, node, xs, y):
    a = node.attrs
    c = ctx.shape(node.inputs[0])[1]
    if a["affine"]:
        scale_, bias = ctx.weight(node, "weight"), ctx.weight(node, "bias")
    else:
        scale_ = ctx.const(node, "scale", np.ones((c,), np.float32))
        bias = ctx.const(node, "bias", np.zeros((c,), np.float32))
    if a["track_running_stats"]:  # inference with the running statistics: a batch norm
        ctx.emit("BatchNormalization", [xs[0], scale_, bias, ctx.weight(node, "running_mean"),
                                        ctx.weight(node, "running_var")], out=y, epsilon=float(a["eps"]))
        return
    ctx.emit("InstanceNormalization", [xs[0], scale_, bias], out=y, epsilon=float(a["eps"]))


def l2norm(ctx, node, xs, y):
    """x / max(||x||_2, eps) (F.normalize), times the per-channel scale when it has one."""
    a = node.attrs
    n = reduce(ctx, node, "ReduceL2", xs[0], [int(a["axis"])], 1)
    denom = ctx.emit("Max", [n, _f32(ctx, node, "eps", a["eps"])])
    if a["scale"] is None:
        ctx.emit("Div", [xs[0], denom], out=y)
        return
    rank = len(ctx.shape(node.inputs[0]))
    shape = ctx.const(node, "scale_shape", np.array([-1] + [1] * (rank - 2), np.int64))
    w = ctx.emit("Reshape", [ctx.weight(node, SELF_PARAM), shape])
    ctx.emit("Mul", [ctx.emit("Div", [xs[0], denom]), w], out=y)


def log(ctx, node, xs, y):
    """ln x; of a sigmoid, -softplus(-z) (log-sigmoid, the same value). ONNX Runtime's Sigmoid is
    accurate to about 6e-8 absolute, not relative: it gives 0 for z <= -18 (and 50-100 % off from
    z = -15 on), so Log(Sigmoid(z)) was -inf where the value is about z (found by the fuzzer,
    program:212760)."""
    src = ctx.graph.nodes[node.inputs[0][0]]
    if src.op == "sigmoid":
        z = ctx.values[tuple(src.inputs[0])]
        ctx.emit("Neg", [ctx.emit("Softplus", [ctx.emit("Neg", [z])])], out=y)
        return
    ctx.emit("Log", xs, out=y)


def unary(op_type: str):
    def lower(ctx, node, xs, y):
        ctx.emit(op_type, xs, out=y)

    lower.__name__ = f"_lower_{op_type}"
    return lower


ROWS = {
    "sub": binary,
    "div": binary,
    "pow": binary,
    "mul_scalar": scale,
    "add_scalar": shift,
    "neg": unary("Neg"),
    "sqrt": unary("Sqrt"),
    "exp": unary("Exp"),
    "log": log,
    "abs": unary("Abs"),
    "clamp": clamp,
    "sum": _reducer("ReduceSum"),
    "max": _reducer("ReduceMax"),
    "norm": norm,
    "slice": slice_,
    "split": split,
    "groupnorm": groupnorm,
    "instancenorm": instancenorm,
    "l2norm": l2norm,
}
