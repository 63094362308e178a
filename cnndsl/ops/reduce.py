"""Ops along named axes: softmax and mean."""

from __future__ import annotations

from cnndsl.ops.common import fmt_shape, per_sample
from cnndsl.ops.constraints import length
from cnndsl.ops.registry import NO_MACS, NO_PARAMS, AttrSpec, OpDef, RFRule, ShapeError


def _axis(axis: int, rank: int, op: str) -> int:
    if not -rank <= axis < rank:
        raise ShapeError(f"{op}: axis {axis} is out of range for rank {rank}")
    axis %= rank
    if axis == 0:
        raise ShapeError(f"{op}: the batch axis cannot be reduced")
    return axis


def _softmax_normalize(attrs: dict, shapes: list) -> dict:
    return dict(attrs, axis=_axis(attrs["axis"], len(shapes[0]), "softmax"))


def _softmax_shape(_attrs: dict, shapes: list):
    return tuple(shapes[0])


def _softmax_flops(_attrs: dict, _shapes: list, out) -> int:
    return 4 * per_sample(out)  # subtract max, exp, sum, divide


def _softmax_rf(attrs: dict) -> RFRule:
    return RFRule("along", axes=(attrs["axis"],))  # every position along the axis, the others apart


def reduce_normalize(op: str):
    """Sorted, non-negative, non-batch `axes` (an int is one axis); shared by mean, sum, max, norm."""

    def normalize(attrs: dict, shapes: list) -> dict:
        rank = len(shapes[0])
        axes = attrs["axes"]
        axes = (axes,) if isinstance(axes, int) else tuple(axes)
        norm = tuple(sorted({_axis(a, rank, op) for a in axes}))
        if len(norm) != len(axes):
            raise ShapeError(f"{op}: repeated axis in {axes}")
        if not norm:
            raise ShapeError(f"{op}: no axes to reduce")
        return dict(attrs, axes=norm)

    return normalize


def reduce_shape(op: str):
    def shape(attrs: dict, shapes: list):
        (x,) = shapes
        if attrs["keepdims"]:
            return tuple(1 if i in attrs["axes"] else d for i, d in enumerate(x))
        out = tuple(d for i, d in enumerate(x) if i not in attrs["axes"])
        if len(out) < 1:
            raise ShapeError(f"{op}: nothing left of {fmt_shape(x)}")
        return out

    return shape


_mean_normalize = reduce_normalize("mean")
_mean_shape = reduce_shape("mean")


def _mean_flops(_attrs: dict, shapes: list, _out) -> int:
    return per_sample(shapes[0])


def reduce_rf(attrs: dict) -> RFRule:
    if any(a >= 2 for a in attrs["axes"]):
        return RFRule("global") if attrs["keepdims"] else RFRule("none")
    return RFRule("pointwise")


OPS = (
    # category "norm", not "activation": softmax is not elementwise, so it must not be fused
    # into a conv as an epilogue
    OpDef(name="softmax", attrs=(AttrSpec("axis", "int", 1),), shape=_softmax_shape, category="norm",
          normalize=_softmax_normalize, params=NO_PARAMS, macs=NO_MACS, flops=_softmax_flops, rf=_softmax_rf,
          doc="softmax along an axis (channels by default), computed stably"),
    OpDef(name="mean", attrs=(AttrSpec("axes", "ints", (2, 3), doc="the reduced axes (not the batch)",
                                       constraints=(length(1),)),
                              AttrSpec("keepdims", "bool", False)),
          shape=_mean_shape, category="pool", normalize=_mean_normalize, params=NO_PARAMS, macs=NO_MACS,
          flops=_mean_flops, rf=reduce_rf,
          doc="arithmetic mean over axes (default the spatial ones), optionally keeping them as size 1"),
)
