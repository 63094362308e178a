"""Normalization and per-channel scaling: bn (inference uses running statistics), layernorm
over channels (ConvNeXt's LayerNorm2d), layer_scale (ConvNeXt's learnable per-channel gamma)."""

from __future__ import annotations

from cnndsl.ops.common import fmt_shape, need_rank, per_sample
from cnndsl.ops.registry import AttrSpec, OpDef, ShapeError


def _same_shape(_attrs: dict, shapes: list):
    (x,) = shapes
    if len(x) < 2:
        raise ShapeError(f"expects a tensor with a channel axis, got {fmt_shape(x)}")
    return tuple(x)


def _bn_params(attrs: dict, shapes: list) -> dict:
    c = shapes[0][1]
    p = {}
    if attrs["affine"]:
        p["weight"] = ((c,), True)
        p["bias"] = ((c,), True)
    p["running_mean"] = ((c,), False)
    p["running_var"] = ((c,), False)
    p["num_batches_tracked"] = ((), False)
    return p


def _bn_flops(_attrs: dict, _shapes: list, out) -> int:
    return 2 * per_sample(out)  # inference: one multiply and one add per element once folded


BN = OpDef(
    name="bn",
    attrs=(AttrSpec("eps", "float", 1e-5), AttrSpec("momentum", "float", 0.1), AttrSpec("affine", "bool", True)),
    shape=_same_shape,
    category="norm",
    params=_bn_params,
    flops=_bn_flops,
    positional=0,
    doc="batch normalization over channels (axis 1)",
)



def _ln_params(attrs: dict, shapes: list) -> dict:
    c = shapes[0][1]
    return {"weight": ((c,), True), "bias": ((c,), True)} if attrs["affine"] else {}


def _ln_flops(_attrs: dict, _shapes: list, out) -> int:
    # mean, variance (square and add), normalize (subtract, divide), scale and shift
    return 7 * per_sample(out)


LAYERNORM = OpDef(
    name="layernorm",
    attrs=(AttrSpec("eps", "float", 1e-6), AttrSpec("affine", "bool", True)),
    shape=_same_shape,
    category="norm",
    params=_ln_params,
    flops=_ln_flops,
    positional=0,
    doc="layer normalization over the channel axis at each position (ConvNeXt's LayerNorm2d); "
        "biased variance, weight and bias of shape [C]",
)


def _ls_shape(_attrs: dict, shapes: list):
    (x,) = shapes
    need_rank(x, 4, "layer_scale")
    return tuple(x)


def _ls_params(_attrs: dict, shapes: list) -> dict:
    return {"layer_scale": ((shapes[0][1], 1, 1), True)}


def _ls_flops(_attrs: dict, _shapes: list, out) -> int:
    return per_sample(out)


LAYER_SCALE = OpDef(
    name="layer_scale",
    attrs=(AttrSpec("init", "float", 1e-6, doc="initial value of every gamma"),),
    shape=_ls_shape,
    category="norm",
    params=_ls_params,
    flops=_ls_flops,
    positional=1,
    doc="x * gamma with a learnable gamma of shape [C, 1, 1], named `layer_scale` as in "
        "torchvision's ConvNeXt CNBlock",
)

OPS = (BN, LAYERNORM, LAYER_SCALE)
