"""Elementwise arithmetic and reductions: the ops tensor expressions make (`x * 0.17 + y`,
`x / s`, `-x`, `sqrt(x)`) and their stage spellings (`x -> clamp(0, 6)`, `x -> sum(axes=1)`).

Binary ops (`sub`, `div`, `pow`) take two tensors that broadcast as numpy does, within one
rank and never along the batch axis (each axis equal, or 1 on one side), or one tensor and a
number (`scalar`; `reverse=true` puts the number on the left: `1 - x`). `mul_scalar` and `add_scalar` are
`x * c` and `x + c`. Reductions (`sum`, `max`, `norm`) act over `axes` (never the batch).
FLOPs: one per output element for each elementwise operation, one per input element for a
reduction (stated in docs/reports.md).
"""

from __future__ import annotations

from cnndsl.ops.common import fmt_shape, per_sample
from cnndsl.ops.constraints import length, positive
from cnndsl.ops.reduce import reduce_normalize, reduce_rf, reduce_shape
from cnndsl.ops.registry import NO_MACS, NO_PARAMS, RF_POINTWISE, AttrSpec, OpDef, RFRule, ShapeError


def broadcast(a: tuple, b: tuple, op: str) -> tuple:
    """numpy broadcasting of two shapes of one rank; the batch axis must agree."""
    if len(a) != len(b):
        raise ShapeError(f"{op}: ranks differ: {fmt_shape(a)} vs {fmt_shape(b)} (broadcasting keeps the rank)")
    out = []
    for i, (x, y) in enumerate(zip(a, b)):
        if x == y:
            out.append(x)
        elif i > 0 and (x == 1 or y == 1):
            out.append(y if x == 1 else x)
        else:
            raise ShapeError(f"{op}: shapes {fmt_shape(a)} and {fmt_shape(b)} do not broadcast (axis {i})")
    return tuple(out)


def _binary_normalize(attrs: dict, shapes: list) -> dict:
    if len(shapes) == 1 and attrs["scalar"] is None:
        raise ShapeError("one tensor needs a number operand: scalar=...")
    if len(shapes) == 2 and attrs["scalar"] is not None:
        raise ShapeError("two tensors and a scalar: give one or the other")
    if attrs["scalar"] is not None:
        return dict(attrs, scalar=float(attrs["scalar"]))
    return attrs


def _binary_shape(name: str):
    def shape(_attrs: dict, shapes: list):
        if len(shapes) == 1:
            return tuple(shapes[0])
        return broadcast(tuple(shapes[0]), tuple(shapes[1]), name)

    return shape


def _per_output(n: int):
    def flops(_attrs: dict, _shapes: list, out) -> int:
        return n * per_sample(out)

    return flops


def _binary(name: str, doc: str) -> OpDef:
    return OpDef(name=name, attrs=(AttrSpec("scalar", "float", None, doc="the number operand, with one tensor"),
                                   AttrSpec("reverse", "bool", False, doc="the number on the left: scalar OP x")),
                 shape=_binary_shape(name), category="elementwise", inputs=(1, 2), positional=1,
                 normalize=_binary_normalize, params=NO_PARAMS, macs=NO_MACS, flops=_per_output(1), rf=RF_POINTWISE,
                 doc=doc)


def _same(_attrs: dict, shapes: list):
    return tuple(shapes[0])


def _unary(name: str, doc: str, attrs: tuple = (), positional: int = 0, flops: int = 1) -> OpDef:
    return OpDef(name=name, attrs=attrs, shape=_same, category="elementwise", positional=positional,
                 params=NO_PARAMS, macs=NO_MACS, flops=_per_output(flops), rf=RF_POINTWISE, doc=doc)


def _clamp_normalize(attrs: dict, _shapes: list) -> dict:
    lo, hi = attrs["min"], attrs["max"]
    if lo is None and hi is None:
        raise ShapeError("clamp: give min, max or both")
    if lo is not None and hi is not None and lo > hi:
        raise ShapeError(f"clamp: min {lo} is above max {hi}")
    return dict(attrs, min=None if lo is None else float(lo), max=None if hi is None else float(hi))


def _reduce_flops(_attrs: dict, shapes: list, _out) -> int:
    return per_sample(shapes[0])


def _norm_flops(_attrs: dict, shapes: list, out) -> int:
    return 2 * per_sample(shapes[0]) + per_sample(out)  # |x|^p, the sum, the root


def _norm_normalize(attrs: dict, shapes: list) -> dict:
    if attrs["p"] <= 0:
        raise ShapeError(f"norm: p must be positive, got {attrs['p']}")
    return dict(reduce_normalize("norm")(attrs, shapes), p=float(attrs["p"]))


def _reduction(name: str, doc: str, flops=_reduce_flops, extra: tuple = (), normalize=None) -> OpDef:
    return OpDef(name=name, attrs=(AttrSpec("axes", "ints", (1,), doc="the reduced axes (not the batch)",
                                            constraints=(length(1),)),
                                   AttrSpec("keepdims", "bool", False)) + extra,
                 shape=reduce_shape(name), category="pool", positional=1,
                 normalize=normalize or reduce_normalize(name), params=NO_PARAMS, macs=NO_MACS, flops=flops,
                 rf=reduce_rf, doc=doc)


def _pointwise(_attrs: dict) -> RFRule:
    return RFRule("pointwise")


OPS = (
    _binary("sub", "a - b (broadcasting), or x - scalar / scalar - x (reverse=true)"),
    _binary("div", "a / b (broadcasting), or x / scalar / scalar / x (reverse=true)"),
    _binary("pow", "a ** b (broadcasting), or x ** scalar / scalar ** x (reverse=true)"),
    _unary("mul_scalar", "x * factor (`x * 0.17`)", (AttrSpec("factor", "float"),), positional=1),
    _unary("add_scalar", "x + offset (`x + 1`, `x - 1`)", (AttrSpec("offset", "float"),), positional=1),
    _unary("neg", "-x"),
    _unary("sqrt", "square root"),
    _unary("exp", "e ** x"),
    _unary("log", "natural logarithm"),
    _unary("abs", "|x|"),
    OpDef(name="clamp", attrs=(AttrSpec("min", "float", None), AttrSpec("max", "float", None)), shape=_same,
          category="elementwise", positional=2, normalize=_clamp_normalize, params=NO_PARAMS, macs=NO_MACS,
          flops=_per_output(1), rf=_pointwise,
          doc="min(max(x, min), max) (torch.clamp); either bound may be left out"),
    _reduction("sum", "sum over axes (channels by default)"),
    _reduction("max", "maximum over axes (channels by default)"),
    _reduction("norm", "p-norm over axes (channels by default): (sum |x|^p) ** (1/p), torch.linalg.vector_norm",
               flops=_norm_flops, extra=(AttrSpec("p", "float", 2.0, constraints=(positive(),)),), normalize=_norm_normalize),
)
