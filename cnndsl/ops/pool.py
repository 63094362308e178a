"""Pooling: maxpool, avgpool (ceil_mode, count_include_pad), lppool, gap, gmp, adaptive_avgpool,
adaptive_maxpool, in 1-D, 2-D and 3-D (NCL, NCHW, NCDHW: the input's rank decides; window
attributes hold one int per spatial axis, an int meaning the same on every axis).

Window arithmetic follows PyTorch (`window_out`): with ceil_mode the last window may hang
over the padded input, but never starts inside the bottom/right padding.
"""

from __future__ import annotations

import math

from cnndsl.ops.common import ntuple, pad_nd, per_sample, spatial, spatial_dims, window_out
from cnndsl.ops.constraints import MAX_SIZE, at_most, non_negative, positive, size, window
from cnndsl.ops.registry import NO_MACS, NO_PARAMS, AttrSpec, OpDef, RFRule, ShapeError


def _pool_normalize(attrs: dict, shapes: list) -> dict:
    nd = spatial_dims(shapes, "pooling")
    k = ntuple(attrs["kernel"], nd, "kernel")
    s = k if attrs["stride"] is None else ntuple(attrs["stride"], nd, "stride")
    d = ntuple(attrs.get("dilation", 1), nd, "dilation")
    out = dict(attrs, kernel=k, stride=s)
    if "padding" in attrs:
        out["padding"] = p = pad_nd(attrs["padding"], k, d, s, spatial(shapes))
        if any(max(p[i], p[nd + i]) > k[i] // 2 for i in range(nd)):
            raise ShapeError(f"pooling padding {out['padding']} must be at most half the kernel {k}")
    if "dilation" in attrs:
        out["dilation"] = d
    return out


def _pool_shape(attrs: dict, shapes: list):
    (x,) = shapes
    nd = spatial_dims(shapes, "pooling")
    k, s = attrs["kernel"], attrs["stride"]
    d = attrs.get("dilation", (1,) * nd)
    p = attrs.get("padding", (0,) * (2 * nd))
    cm = attrs["ceil_mode"]
    return (x[0], x[1]) + tuple(window_out(x[2 + i], k[i], s[i], p[i], p[nd + i], d[i], cm) for i in range(nd))


def _pool_flops(attrs: dict, _shapes: list, out) -> int:
    return per_sample(out) * math.prod(attrs["kernel"])


def _pool_rf(attrs: dict) -> RFRule:
    nd = len(attrs["kernel"])
    return RFRule("local", kernel=attrs["kernel"], stride=attrs["stride"],
                  padding=tuple(attrs.get("padding", (0,) * (2 * nd))[:nd]), dilation=attrs.get("dilation", (1,) * nd))


_WINDOW = (
    AttrSpec("kernel", "int2", constraints=window()),
    AttrSpec("stride", "int2", None, doc="defaults to kernel", constraints=(positive(), at_most(MAX_SIZE))),
    AttrSpec("padding", "pad", 0, doc="at most half the kernel",
             constraints=(non_negative(), at_most(MAX_SIZE))),
)

MAXPOOL = OpDef(
    name="maxpool",
    attrs=_WINDOW + (AttrSpec("dilation", "int2", 1, constraints=(positive(), at_most(MAX_SIZE))),
                     AttrSpec("ceil_mode", "bool", False)),
    shape=_pool_shape,
    category="pool",
    normalize=_pool_normalize,
    params=NO_PARAMS,
    macs=NO_MACS,
    flops=_pool_flops,
    rf=_pool_rf,
    doc="max pooling",
)

AVGPOOL = OpDef(
    name="avgpool",
    attrs=_WINDOW + (AttrSpec("ceil_mode", "bool", False), AttrSpec("count_include_pad", "bool", True)),
    shape=_pool_shape,
    category="pool",
    normalize=_pool_normalize,
    params=NO_PARAMS,
    macs=NO_MACS,
    flops=_pool_flops,
    rf=_pool_rf,
    doc="average pooling; count_include_pad defaults to true as in PyTorch",
)


def _global_shape(_attrs: dict, shapes: list):
    (x,) = shapes
    nd = spatial_dims(shapes, "global pooling")
    return (x[0], x[1]) + (1,) * nd


def _global_flops(_attrs: dict, shapes: list, _out) -> int:
    return per_sample(shapes[0])


def _global_rf(_attrs: dict) -> RFRule:
    return RFRule("global")


GAP = OpDef(name="gap", attrs=(), shape=_global_shape, category="pool", params=NO_PARAMS, macs=NO_MACS,
            flops=_global_flops, rf=_global_rf,
            doc="global average pooling to [N, C, 1, 1] (1-D: [N, C, 1]; 3-D: [N, C, 1, 1, 1])")
GMP = OpDef(name="gmp", attrs=(), shape=_global_shape, category="pool", params=NO_PARAMS, macs=NO_MACS,
            flops=_global_flops, rf=_global_rf,
            doc="global max pooling to [N, C, 1, 1] (1-D: [N, C, 1]; 3-D: [N, C, 1, 1, 1])")


def _lppool_flops(attrs: dict, _shapes: list, out) -> int:
    return per_sample(out) * (2 * math.prod(attrs["kernel"]) + 1)  # a power and an add per tap, one root per output


LPPOOL = OpDef(
    name="lppool",
    attrs=(AttrSpec("p", "float", doc="the norm", constraints=(positive(),)),
           AttrSpec("kernel", "int2", constraints=window()),
           AttrSpec("stride", "int2", None, doc="defaults to kernel", constraints=(positive(), at_most(MAX_SIZE))),
           AttrSpec("ceil_mode", "bool", False)),
    shape=_pool_shape,
    category="pool",
    normalize=_pool_normalize,
    params=NO_PARAMS,
    macs=NO_MACS,
    flops=_lppool_flops,
    rf=_pool_rf,
    doc="power-average pooling (sum x^p)^(1/p) over each window, PyTorch's LPPool1d/2d/3d (no padding)",
)


def _adaptive_normalize(attrs: dict, shapes: list) -> dict:
    size = ntuple(attrs["size"], spatial_dims(shapes, "adaptive pooling"), "size")
    if min(size) <= 0:
        raise ShapeError(f"adaptive pooling output size must be positive, got {size}")
    return dict(attrs, size=size)


def _adaptive_shape(attrs: dict, shapes: list):
    (x,) = shapes
    spatial_dims(shapes, "adaptive pooling")
    return (x[0], x[1]) + tuple(attrs["size"])


def _adaptive_rf(_attrs: dict) -> RFRule:
    # windows follow the input size, which the rf pass sees: exact (a window of in/out at
    # stride in/out) where in divides by out, the identity where they are equal, "global" otherwise
    return RFRule("adaptive")


def _adaptive(name: str, what: str) -> OpDef:
    return OpDef(name=name, attrs=(AttrSpec("size", "int2", 1, doc="output size per spatial axis; an int for every axis",
                                            constraints=size()),),
                 shape=_adaptive_shape, category="pool", normalize=_adaptive_normalize, params=NO_PARAMS,
                 macs=NO_MACS, flops=_global_flops,
                 rf=_adaptive_rf,
                 doc=f"adaptive {what} pooling to a fixed output size; window i spans "
                     "floor(i*in/out) .. ceil((i+1)*in/out) as in PyTorch")


OPS = (MAXPOOL, AVGPOOL, LPPOOL, GAP, GMP, _adaptive("adaptive_avgpool", "average"),
       _adaptive("adaptive_maxpool", "max"))
