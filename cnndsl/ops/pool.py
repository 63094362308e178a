"""Pooling: maxpool, avgpool (ceil_mode, count_include_pad), gap, gmp."""

from __future__ import annotations

from cnndsl.ops.common import need_rank, pad4, pair, per_sample, window_out
from cnndsl.ops.registry import AttrSpec, OpDef, RFRule


def _pool_normalize(attrs: dict, _shapes: list) -> dict:
    k = pair(attrs["kernel"])
    s = k if attrs["stride"] is None else pair(attrs["stride"])
    d = pair(attrs.get("dilation", 1))
    out = dict(attrs, kernel=k, stride=s, padding=pad4(attrs["padding"], k, d, s))
    if "dilation" in attrs:
        out["dilation"] = d
    return out


def _pool_shape(attrs: dict, shapes: list):
    (x,) = shapes
    need_rank(x, 4, "pooling")
    (kh, kw), (sh, sw) = attrs["kernel"], attrs["stride"]
    dh, dw = attrs.get("dilation", (1, 1))
    pt, pl, pb, pr = attrs["padding"]
    cm = attrs["ceil_mode"]
    return (x[0], x[1], window_out(x[2], kh, sh, pt, pb, dh, cm), window_out(x[3], kw, sw, pl, pr, dw, cm))


def _pool_flops(attrs: dict, _shapes: list, out) -> int:
    kh, kw = attrs["kernel"]
    return per_sample(out) * kh * kw


def _pool_rf(attrs: dict) -> RFRule:
    pt, pl, _pb, _pr = attrs["padding"]
    return RFRule("local", kernel=attrs["kernel"], stride=attrs["stride"], padding=(pt, pl),
                  dilation=attrs.get("dilation", (1, 1)))


_WINDOW = (
    AttrSpec("kernel", "int2"),
    AttrSpec("stride", "int2", None, doc="defaults to kernel"),
    AttrSpec("padding", "pad", 0),
)

MAXPOOL = OpDef(
    name="maxpool",
    attrs=_WINDOW + (AttrSpec("dilation", "int2", 1), AttrSpec("ceil_mode", "bool", False)),
    shape=_pool_shape,
    category="pool",
    normalize=_pool_normalize,
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
    flops=_pool_flops,
    rf=_pool_rf,
    doc="average pooling; count_include_pad defaults to true as in PyTorch",
)


def _global_shape(_attrs: dict, shapes: list):
    (x,) = shapes
    need_rank(x, 4, "global pooling")
    return (x[0], x[1], 1, 1)


def _global_flops(_attrs: dict, shapes: list, _out) -> int:
    return per_sample(shapes[0])


def _global_rf(_attrs: dict) -> RFRule:
    return RFRule("global")


GAP = OpDef(name="gap", attrs=(), shape=_global_shape, category="pool", flops=_global_flops, rf=_global_rf,
            doc="global average pooling to [N, C, 1, 1]")
GMP = OpDef(name="gmp", attrs=(), shape=_global_shape, category="pool", flops=_global_flops, rf=_global_rf,
            doc="global max pooling to [N, C, 1, 1]")

OPS = (MAXPOOL, AVGPOOL, GAP, GMP)
