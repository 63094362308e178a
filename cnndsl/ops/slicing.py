"""Slicing along one axis: `slice` (start/stop/step, as Python and `x[:, a:b]`) and `split`
(uneven parts with the given sizes; `chunk` is the even case)."""

from __future__ import annotations

from cnndsl.ops.common import fmt_shape
from cnndsl.ops.constraints import length, positive
from cnndsl.ops.registry import NO_FLOPS, NO_MACS, NO_PARAMS, AttrSpec, OpDef, RFRule, ShapeError


def _axis(axis: int, shape: tuple, op: str) -> int:
    rank = len(shape)
    if not -rank <= axis < rank or axis % rank == 0:
        raise ShapeError(f"{op}: axis {axis} must be a non-batch axis of {fmt_shape(shape)}")
    return axis % rank


def _slice_normalize(attrs: dict, shapes: list) -> dict:
    """Python's slice rules on the axis' size: negative bounds count from the end, bounds clip;
    the result holds the resolved start, stop (exclusive) and step, stop None never."""
    x = tuple(shapes[0])
    axis = _axis(attrs["axis"], x, "slice")
    n = x[axis]
    if isinstance(n, str):
        raise ShapeError(f"slice: axis {axis} of {fmt_shape(x)} is symbolic")
    if attrs["step"] <= 0:
        raise ShapeError(f"slice: step must be positive, got {attrs['step']}")
    start, stop, _step = slice(attrs["start"], attrs["stop"], attrs["step"]).indices(n)
    if stop <= start:
        raise ShapeError(f"slice: {attrs['start']}:{attrs['stop']} selects nothing of axis {axis} "
                         f"(size {n}) of {fmt_shape(x)}")
    return dict(attrs, axis=axis, start=start, stop=stop)


def _slice_shape(attrs: dict, shapes: list):
    x = tuple(shapes[0])
    axis, start, stop, step = attrs["axis"], attrs["start"], attrs["stop"], attrs["step"]
    return x[:axis] + (len(range(start, stop, step)),) + x[axis + 1:]


def _slice_rf(attrs: dict) -> RFRule:
    axis, start, step = attrs["axis"], attrs["start"], attrs["step"]
    if 2 <= axis <= 4:  # a spatial axis (NCL, NCHW, NCDHW): a strided window of one, shifted by start
        i = axis - 2
        stride = tuple(step if j == i else 1 for j in range(3))
        padding = tuple(-start if j == i else 0 for j in range(3))
        return RFRule("local", stride=stride, padding=padding)
    return RFRule("pointwise")


def _split_normalize(attrs: dict, shapes: list) -> dict:
    x = tuple(shapes[0])
    axis = _axis(attrs["axis"], x, "split")
    sizes = attrs["sizes"]
    sizes = (sizes,) if isinstance(sizes, int) else tuple(int(s) for s in sizes)
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
        raise ShapeError(f"split: sizes must be two or more positive sizes, got {sizes}")
    if x[axis] != sum(sizes):
        raise ShapeError(f"split: sizes {sizes} add up to {sum(sizes)}, axis {axis} of {fmt_shape(x)} "
                         f"has {x[axis]}")
    return dict(attrs, axis=axis, sizes=sizes)


def _split_shape(attrs: dict, shapes: list) -> list:
    x = tuple(shapes[0])
    axis = attrs["axis"]
    return [x[:axis] + (s,) + x[axis + 1:] for s in attrs["sizes"]]


def _split_outputs(attrs: dict) -> int:
    sizes = attrs["sizes"]
    return 1 if isinstance(sizes, int) else len(sizes)


def _split_rf(attrs: dict) -> RFRule:
    return RFRule("pointwise") if attrs["axis"] == 1 else RFRule("none")


OPS = (
    OpDef(name="slice",
          attrs=(AttrSpec("axis", "int", 1), AttrSpec("start", "int", 0),
                 AttrSpec("stop", "int", None, doc="exclusive; none: to the end"),
                 AttrSpec("step", "int", 1, constraints=(positive(),))),
          shape=_slice_shape, category="shape", positional=3, normalize=_slice_normalize, params=NO_PARAMS,
          macs=NO_MACS, flops=NO_FLOPS, rf=_slice_rf,
          doc="x[..., start:stop:step, ...] along one non-batch axis (Python's rules: negative bounds "
              "count from the end); `x[:, :a]` in an expression makes one"),
    OpDef(name="split", attrs=(AttrSpec("sizes", "ints", doc="the size of each part (two or more)",
                                        constraints=(length(2), positive())),
                               AttrSpec("axis", "int", 1)), shape=_split_shape,
          category="shape", positional=2, normalize=_split_normalize, outputs=_split_outputs, params=NO_PARAMS,
          macs=NO_MACS, flops=NO_FLOPS, rf=_split_rf,
          doc="splits into parts of the given sizes along an axis (torch.split with a list); one output each"),
)
