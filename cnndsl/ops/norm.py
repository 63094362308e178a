"""Normalization and per-channel scaling: bn (inference uses running statistics), layernorm
over one axis (channels: ConvNeXt's LayerNorm2d; the last: nn.LayerNorm), layer_scale
(ConvNeXt's learnable per-channel gamma, keyed by the node's own name)."""

from __future__ import annotations

from cnndsl.ops.common import fmt_shape, need_rank, per_sample
from cnndsl.ops.constraints import eps, finite, in_range
from cnndsl.ops.registry import NO_MACS, RF_POINTWISE, SELF_PARAM, AttrSpec, OpDef, RFRule, ShapeError


def _same_shape(_attrs: dict, shapes: list):
    (x,) = shapes
    if len(x) < 2:
        raise ShapeError(f"expects a tensor with a channel axis, got {fmt_shape(x)}")
    return tuple(x)


def _bn_params(attrs: dict, shapes: list) -> dict:
    c = shapes[0][1]
    if attrs.get("frozen"):  # torchvision's FrozenBatchNorm2d: four buffers, nothing trainable, no counter
        return {"weight": ((c,), False), "bias": ((c,), False), "running_mean": ((c,), False),
                "running_var": ((c,), False)}
    p = {}
    if attrs["affine"]:
        p["weight"] = ((c,), True)
        p["bias"] = ((c,), True)
    p["running_mean"] = ((c,), False)
    p["running_var"] = ((c,), False)
    p["num_batches_tracked"] = ((), False)
    return p


def _bn_normalize(attrs: dict, _shapes: list) -> dict:
    if attrs["frozen"] and not attrs["affine"]:
        raise ShapeError("bn: a frozen batch norm always has its weight and bias (as buffers); drop affine=false")
    return attrs


def _bn_flops(_attrs: dict, _shapes: list, out) -> int:
    return 2 * per_sample(out)  # inference: one multiply and one add per element once folded


BN = OpDef(
    name="bn",
    attrs=(AttrSpec("eps", "float", 1e-5, doc="added to the variance (torchvision sets 0.0 for detection backbones)", constraints=(eps(),)),
           AttrSpec("momentum", "float", 0.1, constraints=(in_range(0, 1),)), AttrSpec("affine", "bool", True),
           AttrSpec("frozen", "bool", False, doc="scale and shift held as buffers (torchvision's FrozenBatchNorm2d, "
                                                 "eps 1e-5): never trained, no num_batches_tracked")),
    shape=_same_shape,
    category="norm",
    normalize=_bn_normalize,
    params=_bn_params,
    macs=NO_MACS,
    flops=_bn_flops,
    rf=RF_POINTWISE,
    positional=0,
    doc="batch normalization over channels (axis 1)",
)



def _ln_normalize(attrs: dict, shapes: list) -> dict:
    rank = len(shapes[0])
    axis = attrs["axis"]
    if not -rank <= axis < rank:
        raise ShapeError(f"layernorm: axis {axis} is out of range for {fmt_shape(shapes[0])}")
    axis %= rank
    if axis == 0:
        raise ShapeError("layernorm: the batch axis cannot be normalized")
    return dict(attrs, axis=axis)


def _ln_params(attrs: dict, shapes: list) -> dict:
    c = shapes[0][attrs["axis"]]
    return {"weight": ((c,), True), "bias": ((c,), True)} if attrs["affine"] else {}


def _ln_flops(_attrs: dict, _shapes: list, out) -> int:
    # mean, variance (square and add), normalize (subtract, divide), scale and shift
    return 7 * per_sample(out)


def _ln_rf(attrs: dict) -> RFRule:
    return RFRule("along", axes=(attrs["axis"],))


LAYERNORM = OpDef(
    name="layernorm",
    attrs=(AttrSpec("eps", "float", 1e-6, constraints=(eps(),)), AttrSpec("affine", "bool", True),
           AttrSpec("axis", "int", 1, doc="the normalized axis: 1 (channels, LayerNorm2d) or -1 (the last, nn.LayerNorm)")),
    shape=_same_shape,
    category="norm",
    normalize=_ln_normalize,
    params=_ln_params,
    macs=NO_MACS,
    flops=_ln_flops,
    rf=_ln_rf,
    positional=0,
    doc="layer normalization over one axis at each position: the channels by default (ConvNeXt's "
        "LayerNorm2d), axis=-1 the last (nn.LayerNorm); biased variance, weight and bias of shape [shape[axis]]",
)


def _ls_shape(_attrs: dict, shapes: list):
    (x,) = shapes
    need_rank(x, 4, "layer_scale")
    return tuple(x)


def _ls_params(_attrs: dict, shapes: list) -> dict:
    # keyed by the node name itself: a node `features.1.0.layer_scale` owns the weight
    # `features.1.0.layer_scale`, torchvision's CNBlock.layer_scale
    return {SELF_PARAM: ((shapes[0][1], 1, 1), True)}


def _ls_flops(_attrs: dict, _shapes: list, out) -> int:
    return per_sample(out)


LAYER_SCALE = OpDef(
    name="layer_scale",
    attrs=(AttrSpec("init", "float", 1e-6, doc="initial value of every gamma", constraints=(finite(),)),),
    shape=_ls_shape,
    category="norm",
    params=_ls_params,
    macs=NO_MACS,
    flops=_ls_flops,
    rf=RF_POINTWISE,
    positional=1,
    doc="x * gamma with a learnable gamma of shape [C, 1, 1], keyed by the node's own name "
        "(`features.1.0.layer_scale`, torchvision's CNBlock.layer_scale)",
)

OPS = (BN, LAYERNORM, LAYER_SCALE)
