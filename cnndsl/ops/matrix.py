"""Matrix ops for attention-style blocks: matmul (batched product) and transpose."""

from __future__ import annotations

from cnndsl.ops.common import fmt_shape
from cnndsl.ops.constraints import length, non_negative
from cnndsl.ops.registry import NO_FLOPS, NO_MACS, NO_PARAMS, AttrSpec, OpDef, RFRule, ShapeError


def _matmul_shape(_attrs: dict, shapes: list):
    a, b = shapes
    if len(a) != 3 or len(b) != 3 or a[2] != b[1] or a[0] != b[0]:
        raise ShapeError(f"matmul expects [N, a, b] x [N, b, c], got {fmt_shape(a)} x {fmt_shape(b)}")
    return (a[0], a[1], b[2])


def _matmul_macs(_attrs: dict, shapes: list, _out) -> int:
    a, b = shapes
    return a[1] * a[2] * b[2]


def _none_rf(_attrs: dict) -> RFRule:
    return RFRule("none")


def _transpose_normalize(attrs: dict, shapes: list) -> dict:
    axes = attrs["axes"]
    axes = (axes,) if isinstance(axes, int) else tuple(int(a) for a in axes)
    rank = len(shapes[0])
    if sorted(axes) != list(range(rank)) or axes[0] != 0:
        raise ShapeError(f"transpose: axes {axes} must be a permutation of 0..{rank - 1} "
                         f"that keeps the batch axis first, for {fmt_shape(shapes[0])}")
    return dict(attrs, axes=axes)


def _transpose_rf(attrs: dict) -> RFRule:
    return RFRule("permute", axes=attrs["axes"])


def _transpose_shape(attrs: dict, shapes: list):
    (x,) = shapes
    return tuple(x[a] for a in attrs["axes"])


OPS = (
    # rf "none": matmul works on rank-3 [N, a, b] values that have no spatial axes; the
    # mixing of all positions (it is global over them) is charged where they were
    # flattened (reshape, rf "none"), so the receptive field passes through unchanged.
    # MACs: a*b*c multiply-adds per batch item, counted in `macs` like conv and linear.
    # transpose has rf "permute": the receptive field is unchanged and the spatial axes
    # move with the permutation (ConvNeXt's NCHW -> NHWC -> NCHW blocks).
    OpDef(name="matmul", attrs=(), shape=_matmul_shape, category="linear", inputs=(2, 2),
          params=NO_PARAMS, macs=_matmul_macs, flops=NO_FLOPS, rf=_none_rf,
          doc="batched matrix product [N, a, b] x [N, b, c] -> [N, a, c] (a*b*c MACs per item)"),
    OpDef(name="transpose", attrs=(AttrSpec("axes", "ints", doc="a permutation of all axes, batch (0) first",
                                            constraints=(length(2), non_negative())),),
          shape=_transpose_shape, category="shape", normalize=_transpose_normalize, params=NO_PARAMS,
          macs=NO_MACS, flops=NO_FLOPS, rf=_transpose_rf,
          doc="permutes the non-batch axes (torchvision's Permute); axes[0] must be 0"),
)
