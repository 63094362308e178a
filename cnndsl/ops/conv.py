"""Convolutions: conv (grouped, depthwise, dilated) and conv_t (transposed).

MACs follow torchvision's convention: per output element, (C_in / groups) * kh * kw
multiply-adds; bias adds are not MACs (they are FLOPs when bias counting is on).
"""

from __future__ import annotations

from cnndsl.ops.common import fmt_shape, need_rank, numel, pad4, pair, per_sample, spatial, window_out
from cnndsl.ops.registry import AttrSpec, OpDef, RFRule, ShapeError


def _conv_normalize(attrs: dict, shapes: list) -> dict:
    k, s, d = pair(attrs["kernel"]), pair(attrs["stride"]), pair(attrs["dilation"])
    out = dict(attrs, kernel=k, stride=s, dilation=d)
    out["padding"] = pad4(attrs["padding"], k, d, s, spatial(shapes))
    return out


def _conv_shape(attrs: dict, shapes: list):
    (x,) = shapes
    need_rank(x, 4, "conv")
    c_in, groups, c_out = x[1], attrs["groups"], attrs["out"]
    if c_out <= 0:
        raise ShapeError(f"conv: output channels must be positive, got {c_out}")
    if groups <= 0 or c_in % groups or c_out % groups:
        raise ShapeError(f"conv: groups={groups} must divide input channels ({c_in}) and output channels ({c_out})")
    (kh, kw), (sh, sw), (dh, dw) = attrs["kernel"], attrs["stride"], attrs["dilation"]
    pt, pl, pb, pr = attrs["padding"]
    return (x[0], c_out, window_out(x[2], kh, sh, pt, pb, dh), window_out(x[3], kw, sw, pl, pr, dw))


def _conv_params(attrs: dict, shapes: list) -> dict:
    c_in = shapes[0][1]
    kh, kw = attrs["kernel"]
    p = {"weight": ((attrs["out"], c_in // attrs["groups"], kh, kw), True)}
    if attrs["bias"]:
        p["bias"] = ((attrs["out"],), True)
    return p


def _conv_macs(attrs: dict, shapes: list, out) -> int:
    kh, kw = attrs["kernel"]
    return per_sample(out) * (shapes[0][1] // attrs["groups"]) * kh * kw


def _conv_bias_flops(attrs: dict, _shapes: list, out) -> int:
    return per_sample(out) if attrs["bias"] else 0


def _conv_rf(attrs: dict) -> RFRule:
    pt, pl, _pb, _pr = attrs["padding"]
    return RFRule("local", kernel=attrs["kernel"], stride=attrs["stride"], padding=(pt, pl), dilation=attrs["dilation"])


CONV = OpDef(
    name="conv",
    attrs=(
        AttrSpec("out", "int", doc="output channels", minimum=1),
        AttrSpec("kernel", "int2", 3, minimum=1),
        AttrSpec("stride", "int2", 1, minimum=1),
        AttrSpec("padding", "pad", None, doc="default dilation*(kernel-1)//2"),
        AttrSpec("dilation", "int2", 1, minimum=1),
        AttrSpec("groups", "int", 1, minimum=1),
        AttrSpec("bias", "bool", True),
    ),
    shape=_conv_shape,
    category="conv",
    normalize=_conv_normalize,
    params=_conv_params,
    macs=_conv_macs,
    flops=_conv_bias_flops,
    rf=_conv_rf,
    doc="2-D convolution, NCHW, weight OIHW",
)


def _convt_normalize(attrs: dict, _shapes: list) -> dict:
    k, s, d = pair(attrs["kernel"]), pair(attrs["stride"]), pair(attrs["dilation"])
    p = pair(attrs["padding"])
    op = pair(attrs["output_padding"])
    if op[0] >= max(s[0], d[0]) or op[1] >= max(s[1], d[1]):
        raise ShapeError(f"conv_t: output_padding {op} must be smaller than stride or dilation")
    return dict(attrs, kernel=k, stride=s, dilation=d, padding=p, output_padding=op)


def _convt_shape(attrs: dict, shapes: list):
    (x,) = shapes
    need_rank(x, 4, "conv_t")
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

    return (x[0], c_out, out(x[2], 0), out(x[3], 1))


def _convt_params(attrs: dict, shapes: list) -> dict:
    kh, kw = attrs["kernel"]
    p = {"weight": ((shapes[0][1], attrs["out"] // attrs["groups"], kh, kw), True)}
    if attrs["bias"]:
        p["bias"] = ((attrs["out"],), True)
    return p


def _convt_macs(attrs: dict, shapes: list, out) -> int:
    # every input element is multiplied into (C_out/groups) * kh * kw outputs
    kh, kw = attrs["kernel"]
    return per_sample(shapes[0]) * (attrs["out"] // attrs["groups"]) * kh * kw


def _convt_rf(attrs: dict) -> RFRule:
    # an output position depends on ceil(k/s) inputs; modelled as a fractional stride
    (kh, kw), (sh, sw) = attrs["kernel"], attrs["stride"]
    return RFRule("resample", kernel=(-(-kh // sh), -(-kw // sw)), scale=(float(sh), float(sw)))


CONV_T = OpDef(
    name="conv_t",
    attrs=(
        AttrSpec("out", "int", minimum=1),
        AttrSpec("kernel", "int2", 2, minimum=1),
        AttrSpec("stride", "int2", 1, minimum=1),
        AttrSpec("padding", "int2", 0),
        AttrSpec("output_padding", "int2", 0),
        AttrSpec("dilation", "int2", 1, minimum=1),
        AttrSpec("groups", "int", 1, minimum=1),
        AttrSpec("bias", "bool", True),
    ),
    shape=_convt_shape,
    category="conv",
    normalize=_convt_normalize,
    params=_convt_params,
    macs=_convt_macs,
    flops=_conv_bias_flops,
    rf=_convt_rf,
    doc="2-D transposed convolution, weight IOHW (PyTorch's layout)",
)

OPS = (CONV, CONV_T)

__all__ = ["OPS", "numel"]
