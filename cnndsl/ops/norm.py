"""Normalization: bn (batch norm, inference uses running statistics)."""

from __future__ import annotations

from cnndsl.ops.common import per_sample
from cnndsl.ops.registry import AttrSpec, OpDef, ShapeError


def _same_shape(_attrs: dict, shapes: list):
    (x,) = shapes
    if len(x) < 2:
        raise ShapeError("bn expects a tensor with a channel axis")
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

OPS = (BN,)
