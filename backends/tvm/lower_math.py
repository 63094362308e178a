"""Relax lowerings of issue 12's arithmetic, reductions, slicing and per-sample norms (rows in
`lower.LOWERINGS`; same contract: `fn(ctx, node, xs) -> Expr | list[Expr]`). Norms are spelled
out as means and variances, so they fuse like the rest of the graph."""

from __future__ import annotations

import numpy as np

from cnndsl.ops.registry import SELF_PARAM

_BINARY = {"sub": "subtract", "div": "divide", "pow": "power"}


def binary(ctx, node, xs):
    fn = getattr(ctx.op, _BINARY[node.op])
    if len(xs) == 2:
        return ctx.emit(fn(xs[0], xs[1]))
    c = ctx.f32(node.attrs["scalar"])
    return ctx.emit(fn(c, xs[0]) if node.attrs["reverse"] else fn(xs[0], c))


def scale(ctx, node, xs):
    return ctx.emit(ctx.op.multiply(xs[0], ctx.f32(node.attrs["factor"])))


def shift(ctx, node, xs):
    return ctx.emit(ctx.op.add(xs[0], ctx.f32(node.attrs["offset"])))


def unary(name: str):
    def lower(ctx, node, xs):
        return ctx.emit(getattr(ctx.op, name)(xs[0]))

    lower.__name__ = f"_lower_{name}"
    return lower


def clamp(ctx, node, xs):
    y, lo, hi = xs[0], node.attrs["min"], node.attrs["max"]
    if lo is not None:
        y = ctx.op.maximum(y, ctx.f32(lo))
    if hi is not None:
        y = ctx.op.minimum(y, ctx.f32(hi))
    return ctx.emit(y)


def _reducer(name: str):
    def lower(ctx, node, xs):
        return ctx.emit(getattr(ctx.op, name)(xs[0], axis=list(node.attrs["axes"]), keepdims=node.attrs["keepdims"]))

    return lower


def norm(ctx, node, xs):
    axes, keep, p = list(node.attrs["axes"]), node.attrs["keepdims"], node.attrs["p"]
    x = xs[0]
    if p == 2.0:
        return ctx.emit(ctx.op.sqrt(ctx.op.sum(ctx.op.multiply(x, x), axis=axes, keepdims=keep)))
    total = ctx.op.sum(ctx.op.power(ctx.op.abs(x), ctx.f32(p)), axis=axes, keepdims=keep)
    return ctx.emit(ctx.op.power(total, ctx.f32(1.0 / p)))


def slice_(ctx, node, xs):
    a = node.attrs
    return ctx.emit(ctx.op.strided_slice(xs[0], axes=[a["axis"]], begin=[a["start"]], end=[a["stop"]],
                                         strides=[a["step"]]))


def split(ctx, node, xs):
    sizes = [int(s) for s in node.attrs["sizes"]]
    t = ctx.emit(ctx.op.split(xs[0], [int(i) for i in np.cumsum(sizes)[:-1]], axis=node.attrs["axis"]))
    return [ctx.emit(ctx.relax.TupleGetItem(t, i)) for i in range(len(sizes))]


def _standardize(ctx, x, axes: list[int], eps: float):
    mean = ctx.op.mean(x, axis=axes, keepdims=True)
    d = ctx.emit(ctx.op.subtract(x, mean))
    var = ctx.op.mean(ctx.op.multiply(d, d), axis=axes, keepdims=True)
    return ctx.emit(ctx.op.divide(d, ctx.op.sqrt(ctx.op.add(var, ctx.f32(eps)))))


def _affine(ctx, node, y, rank: int):
    c = int(node.meta["shape"][1])
    shape = (1, c) + (1,) * (rank - 2)
    return ctx.emit(ctx.op.add(ctx.op.multiply(y, ctx.param(node, "weight", shape)), ctx.param(node, "bias", shape)))


def groupnorm(ctx, node, xs):
    a = node.attrs
    dims = ctx.dims(node.meta["shape"])
    rank = len(dims)
    grouped = ctx.emit(ctx.op.reshape(xs[0], (dims[0], a["groups"], -1)))
    y = ctx.emit(ctx.op.reshape(_standardize(ctx, grouped, [2], a["eps"]), dims))
    return _affine(ctx, node, y, rank) if a["affine"] else y


def instancenorm(ctx, node, xs):
    a = node.attrs
    rank = len(node.meta["shape"])
    if a["track_running_stats"]:
        c = int(node.meta["shape"][1])
        shape = (1, c) + (1,) * (rank - 2)
        d = ctx.op.subtract(xs[0], ctx.param(node, "running_mean", shape))
        inv = ctx.op.sqrt(ctx.op.add(ctx.param(node, "running_var", shape), ctx.f32(a["eps"])))
        y = ctx.emit(ctx.op.divide(d, inv))
    else:
        y = _standardize(ctx, xs[0], list(range(2, rank)), a["eps"])
    return _affine(ctx, node, y, rank) if a["affine"] else y


def l2norm(ctx, node, xs):
    a = node.attrs
    x = xs[0]
    n = ctx.op.sqrt(ctx.op.sum(ctx.op.multiply(x, x), axis=[a["axis"]], keepdims=True))
    y = ctx.emit(ctx.op.divide(x, ctx.op.maximum(n, ctx.f32(a["eps"]))))
    if a["scale"] is None:
        return y
    rank = len(node.meta["shape"])
    c = int(node.meta["shape"][1])
    return ctx.emit(ctx.op.multiply(y, ctx.param(node, SELF_PARAM, (1, c) + (1,) * (rank - 2))))


ROWS = {
    "sub": binary,
    "div": binary,
    "pow": binary,
    "mul_scalar": scale,
    "add_scalar": shift,
    "neg": unary("negative"),
    "sqrt": unary("sqrt"),
    "exp": unary("exp"),
    "log": unary("log"),
    "abs": unary("abs"),
    "clamp": clamp,
    "sum": _reducer("sum"),
    "max": _reducer("max"),
    "norm": norm,
    "slice": slice_,
    "split": split,
    "groupnorm": groupnorm,
    "instancenorm": instancenorm,
    "l2norm": l2norm,
}
