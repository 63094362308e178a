"""Data movement without arithmetic: reshape, channel_shuffle, chunk, pad."""

from __future__ import annotations

from cnndsl.ops.common import fmt_shape, need_rank, pad_nd, per_sample, spatial_dims
from cnndsl.ops.constraints import at_least, length, non_negative, one_of, positive, product_at_most
from cnndsl.ops.registry import NO_FLOPS, NO_MACS, NO_PARAMS, RF_POINTWISE, AttrSpec, OpDef, RFRule, ShapeError


def _reshape_normalize(attrs: dict, _shapes: list) -> dict:
    shape = attrs["shape"]
    return dict(attrs, shape=(int(shape),) if isinstance(shape, int) else tuple(int(d) for d in shape))


def _reshape_shape(attrs: dict, shapes: list):
    (x,) = shapes
    target = attrs["shape"]
    if target.count(-1) > 1 or any(d == 0 or d < -1 for d in target):
        raise ShapeError(f"reshape: shape {fmt_shape(target)} may hold one -1 and otherwise positive sizes")
    total, known = per_sample(x), 1
    for d in target:
        known *= d if d != -1 else 1
    if -1 in target:
        if total % known:
            raise ShapeError(f"reshape: cannot infer -1 in {fmt_shape(target)} from {fmt_shape(x)}")
        target = tuple(total // known if d == -1 else d for d in target)
    elif known != total:
        raise ShapeError(f"reshape: {fmt_shape(x)} has {total} elements per item, "
                         f"{fmt_shape(target)} has {known}")
    return (x[0],) + target


def _none_rf(_attrs: dict) -> RFRule:
    return RFRule("none")


def _shuffle_shape(attrs: dict, shapes: list):
    (x,) = shapes
    need_rank(x, 4, "channel_shuffle")
    g = attrs["groups"]
    if g <= 0 or x[1] % g:
        raise ShapeError(f"channel_shuffle: groups={g} must divide the channels ({x[1]})")
    return tuple(x)


def _chunk_normalize(attrs: dict, shapes: list) -> dict:
    rank = len(shapes[0])
    axis = attrs["axis"]
    if not -rank <= axis < rank or axis % rank == 0:
        raise ShapeError(f"chunk: axis {axis} must be a non-batch axis of a rank-{rank} tensor")
    if attrs["chunks"] < 2:
        raise ShapeError(f"chunk: chunks must be at least 2, got {attrs['chunks']}")
    return dict(attrs, axis=axis % rank)


def _chunk_shape(attrs: dict, shapes: list) -> list:
    (x,) = shapes
    axis, n = attrs["axis"], attrs["chunks"]
    if x[axis] % n:
        raise ShapeError(f"chunk: {n} chunks do not divide axis {axis} of {fmt_shape(x)} evenly")
    part = tuple(x[:axis]) + (x[axis] // n,) + tuple(x[axis + 1:])
    return [part] * n


def _chunk_rf(attrs: dict) -> RFRule:
    # along channels each part keeps every position; along a spatial or flattened axis positions move
    return RFRule("pointwise") if attrs["axis"] == 1 else RFRule("none")


def _chunk_outputs(attrs: dict) -> int:
    return attrs["chunks"]


_PAD_MODES = ("constant", "reflect", "replicate")


def _pad_normalize(attrs: dict, shapes: list) -> dict:
    nd = spatial_dims(shapes, "pad")
    p = pad_nd(attrs["padding"], (1,) * nd, (1,) * nd, (1,) * nd)
    if min(p) < 0:
        raise ShapeError(f"pad: padding must not be negative, got {p}")
    return dict(attrs, padding=p)


def _pad_shape(attrs: dict, shapes: list):
    (x,) = shapes
    nd = spatial_dims(shapes, "pad")
    p = attrs["padding"]
    if attrs["mode"] == "reflect" and any(max(p[i], p[nd + i]) >= x[2 + i] for i in range(nd)):
        raise ShapeError(f"pad: reflect padding {attrs['padding']} must be smaller than the input {fmt_shape(x)}")
    return (x[0], x[1]) + tuple(x[2 + i] + p[i] + p[nd + i] for i in range(nd))


def _pad_rf(attrs: dict) -> RFRule:
    p = attrs["padding"]
    return RFRule("local", padding=tuple(p[: len(p) // 2]))


OPS = (
    OpDef(name="reshape", attrs=(AttrSpec("shape", "ints", doc="the per-item shape; one -1 is inferred",
                                          constraints=(length(1), at_least(-1), product_at_most(2**62))),),
          shape=_reshape_shape, category="shape", normalize=_reshape_normalize, params=NO_PARAMS, macs=NO_MACS,
          flops=NO_FLOPS, rf=_none_rf,
          doc="reshape each batch item (row-major); the batch axis is kept"),
    OpDef(name="channel_shuffle", attrs=(AttrSpec("groups", "int", constraints=(positive(),)),), shape=_shuffle_shape, category="shape",
          params=NO_PARAMS, macs=NO_MACS, flops=NO_FLOPS, rf=RF_POINTWISE,
          doc="ShuffleNet's shuffle: view [N, g, C/g, H, W], swap axes 1 and 2, flatten back"),
    OpDef(name="chunk", attrs=(AttrSpec("chunks", "int", doc="how many equal parts", constraints=(at_least(2),)),
                               AttrSpec("axis", "int", 1)), shape=_chunk_shape,
          category="shape", normalize=_chunk_normalize, outputs=_chunk_outputs, params=NO_PARAMS, macs=NO_MACS,
          flops=NO_FLOPS, rf=_chunk_rf,
          doc="splits into `chunks` equal parts along an axis (channels by default); one output each"),
    OpDef(name="pad",
          attrs=(AttrSpec("padding", "pad", doc="one int, one per spatial axis, or begins then ends "
                                                      "((top, left, bottom, right) in 2-D)",
                           constraints=(non_negative(),)),
                 AttrSpec("mode", "str", "constant", constraints=(one_of(*_PAD_MODES),)),
                 AttrSpec("value", "float", 0.0, doc="the fill of constant padding")),
          shape=_pad_shape, category="shape", normalize=_pad_normalize, params=NO_PARAMS, macs=NO_MACS,
          flops=NO_FLOPS, rf=_pad_rf,
          doc="spatial padding of NCL, NCHW or NCDHW: constant (value), reflect (mirror without the edge) or "
              "replicate (edge)"),
)
