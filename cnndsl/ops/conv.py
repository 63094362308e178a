"""Convolutions: conv (grouped, depthwise, dilated) and conv_t (transposed), in 1-D, 2-D and
3-D (NCL, NCHW, NCDHW: the input's rank decides; kernel, stride, dilation hold one int per
spatial axis, an int meaning the same on every axis).

MACs follow torchvision's convention: per output element, (C_in / groups) * prod(kernel)
multiply-adds; bias adds are not MACs (they are FLOPs when bias counting is on).
"""

from __future__ import annotations

import math

from cnndsl.ops.common import fmt_shape, ntuple, numel, pad_nd, per_sample, spatial, spatial_dims, window_out
from cnndsl.ops.constraints import MAX_SIZE, at_most, non_negative, positive, size, window
from cnndsl.ops.registry import AttrSpec, OpDef, RFRule, ShapeError


def _conv_normalize(attrs: dict, shapes: list) -> dict:
    nd = spatial_dims(shapes, "conv")
    k, s, d = (ntuple(attrs[a], nd, a) for a in ("kernel", "stride", "dilation"))
    out = dict(attrs, kernel=k, stride=s, dilation=d)
    out["padding"] = pad_nd(attrs["padding"], k, d, s, spatial(shapes))
    return out


def _conv_shape(attrs: dict, shapes: list):
    (x,) = shapes
    nd = spatial_dims(shapes, "conv")
    c_in, groups, c_out = x[1], attrs["groups"], attrs["out"]
    if c_out <= 0:
        raise ShapeError(f"conv: output channels must be positive, got {c_out}")
    if groups <= 0 or c_in % groups or c_out % groups:
        raise ShapeError(f"conv: groups={groups} must divide input channels ({c_in}) and output channels ({c_out})")
    k, s, d, p = attrs["kernel"], attrs["stride"], attrs["dilation"], attrs["padding"]
    return (x[0], c_out) + tuple(window_out(x[2 + i], k[i], s[i], p[i], p[nd + i], d[i]) for i in range(nd))


def _conv_params(attrs: dict, shapes: list) -> dict:
    c_in = shapes[0][1]
    p = {"weight": ((attrs["out"], c_in // attrs["groups"]) + tuple(attrs["kernel"]), True)}
    if attrs["bias"]:
        p["bias"] = ((attrs["out"],), True)
    return p


def _conv_macs(attrs: dict, shapes: list, out) -> int:
    return per_sample(out) * (shapes[0][1] // attrs["groups"]) * math.prod(attrs["kernel"])


def _conv_bias_flops(attrs: dict, _shapes: list, out) -> int:
    return per_sample(out) if attrs["bias"] else 0


def _conv_rf(attrs: dict) -> RFRule:
    nd = len(attrs["kernel"])
    return RFRule("local", kernel=attrs["kernel"], stride=attrs["stride"], padding=tuple(attrs["padding"][:nd]),
                  dilation=attrs["dilation"])


CONV = OpDef(
    name="conv",
    attrs=(
        AttrSpec("out", "int", doc="output channels", constraints=size()),
        AttrSpec("kernel", "int2", 3, constraints=window()),
        AttrSpec("stride", "int2", 1, constraints=(positive(), at_most(MAX_SIZE))),
        AttrSpec("padding", "pad", None, doc="default dilation*(kernel-1)//2",
                 constraints=(non_negative(), at_most(MAX_SIZE))),
        AttrSpec("dilation", "int2", 1, constraints=(positive(), at_most(MAX_SIZE))),
        AttrSpec("groups", "int", 1, constraints=(positive(), at_most(MAX_SIZE))),
        AttrSpec("bias", "bool", True),
    ),
    shape=_conv_shape,
    category="conv",
    normalize=_conv_normalize,
    params=_conv_params,
    macs=_conv_macs,
    flops=_conv_bias_flops,
    rf=_conv_rf,
    doc="convolution over NCL, NCHW or NCDHW (1-, 2- or 3-D: the input's rank decides), weight OI + kernel "
        "(OIHW in 2-D); padding: one int, one per axis, or begins then ends",
)


def _convt_normalize(attrs: dict, shapes: list) -> dict:
    nd = spatial_dims(shapes, "conv_t")
    k, s, d, p, op = (ntuple(attrs[a], nd, a) for a in ("kernel", "stride", "dilation", "padding", "output_padding"))
    if any(o >= max(si, di) for o, si, di in zip(op, s, d)):
        raise ShapeError(f"conv_t: output_padding {op} must be smaller than stride or dilation")
    return dict(attrs, kernel=k, stride=s, dilation=d, padding=p, output_padding=op)


def _convt_shape(attrs: dict, shapes: list):
    (x,) = shapes
    nd = spatial_dims(shapes, "conv_t")
    c_in, groups, c_out = x[1], attrs["groups"], attrs["out"]
    if groups <= 0 or c_in % groups or c_out % groups:
        raise ShapeError(f"conv_t: groups={groups} must divide input channels ({c_in}) and output channels ({c_out})")

    def out(size, i):
        if isinstance(size, str):
            return size
        k, s, p, d, op = (attrs[a][i] for a in ("kernel", "stride", "padding", "dilation", "output_padding"))
        n = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
        if n <= 0:
            raise ShapeError(f"conv_t: output size {n} is not positive for input {fmt_shape(x)}")
        return n

    return (x[0], c_out) + tuple(out(x[2 + i], i) for i in range(nd))


def _convt_params(attrs: dict, shapes: list) -> dict:
    p = {"weight": ((shapes[0][1], attrs["out"] // attrs["groups"]) + tuple(attrs["kernel"]), True)}
    if attrs["bias"]:
        p["bias"] = ((attrs["out"],), True)
    return p


def _convt_macs(attrs: dict, shapes: list, out) -> int:
    # every input element is multiplied into (C_out/groups) * prod(kernel) outputs
    return per_sample(shapes[0]) * (attrs["out"] // attrs["groups"]) * math.prod(attrs["kernel"])


def _convt_rf(attrs: dict) -> RFRule:
    # an output position depends on ceil(k/s) inputs; modelled as a fractional stride
    k, s = attrs["kernel"], attrs["stride"]
    return RFRule("resample", kernel=tuple(-(-ki // si) for ki, si in zip(k, s)), scale=tuple(float(si) for si in s))


CONV_T = OpDef(
    name="conv_t",
    attrs=(
        AttrSpec("out", "int", doc="output channels", constraints=size()),
        AttrSpec("kernel", "int2", 2, constraints=window()),
        AttrSpec("stride", "int2", 1, constraints=(positive(), at_most(MAX_SIZE))),
        AttrSpec("padding", "int2", 0, constraints=(non_negative(), at_most(MAX_SIZE))),
        AttrSpec("output_padding", "int2", 0, doc="smaller than stride or dilation",
                 constraints=(non_negative(), at_most(MAX_SIZE))),
        AttrSpec("dilation", "int2", 1, constraints=(positive(), at_most(MAX_SIZE))),
        AttrSpec("groups", "int", 1, constraints=(positive(), at_most(MAX_SIZE))),
        AttrSpec("bias", "bool", True),
    ),
    shape=_convt_shape,
    category="conv",
    normalize=_convt_normalize,
    params=_convt_params,
    macs=_convt_macs,
    flops=_conv_bias_flops,
    rf=_convt_rf,
    doc="transposed convolution over NCL, NCHW or NCDHW, weight IO + kernel (IOHW in 2-D, PyTorch's layout)",
)

OPS = (CONV, CONV_T)

__all__ = ["OPS", "numel"]
