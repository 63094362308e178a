"""Op families, registered in one visible place."""

from cnndsl.ops import (
    activation,
    arith,
    conv,
    fused,
    layout,
    matrix,
    norm,
    pool,
    reduce,
    sample_norm,
    slicing,
    tensor,
)
from cnndsl.ops.registry import REGISTRY, AttrSpec, OpDef, RFRule, ShapeError, all_ops, get, register

for _family in (tensor, conv, norm, activation, pool, reduce, layout, matrix, fused, arith, slicing, sample_norm):
    register(*_family.OPS)

__all__ = ["REGISTRY", "AttrSpec", "OpDef", "RFRule", "ShapeError", "all_ops", "get", "register"]
