"""Normalizations computed from each sample's own statistics: groupnorm, instancenorm and
l2norm (SSD's L2Norm: F.normalize over the channels, optionally times a learned per-channel
scale keyed by the node's own name, as torchvision's `scale_weight`)."""

from __future__ import annotations

from cnndsl.ops.common import fmt_shape, per_sample
from cnndsl.ops.constraints import eps, positive
from cnndsl.ops.registry import NO_MACS, SELF_PARAM, AttrSpec, OpDef, RFRule, ShapeError


def _same_shape(_attrs: dict, shapes: list):
    (x,) = shapes
    if len(x) < 3:
        raise ShapeError(f"expects [N, C, spatial...], got {fmt_shape(x)}")
    return tuple(x)


def _affine_params(attrs: dict, shapes: list) -> dict:
    c = shapes[0][1]
    return {"weight": ((c,), True), "bias": ((c,), True)} if attrs["affine"] else {}


def _stat_flops(_attrs: dict, _shapes: list, out) -> int:
    # mean, variance (square and add), normalize (subtract, divide), scale and shift
    return 7 * per_sample(out)


def _gn_normalize(attrs: dict, shapes: list) -> dict:
    _same_shape(attrs, shapes)  # [N, C, spatial...] before the channels are read
    g, c = attrs["groups"], shapes[0][1]
    if g <= 0 or c % g:
        raise ShapeError(f"groupnorm: groups={g} must divide the channels ({c})")
    positions = [d for d in shapes[0][2:] if isinstance(d, int)]
    if len(positions) == len(shapes[0]) - 2 and c // g * per_sample((1, 1) + tuple(positions)) == 1:
        raise ShapeError(f"groupnorm: groups={g} over {fmt_shape(shapes[0])} leaves one value per group, so every "
                         "output would be 0 (PyTorch refuses it); use fewer groups")
    return attrs


def _global_rf(_attrs: dict) -> RFRule:
    return RFRule("global")  # statistics over the whole sample: every output sees every position


def _in_params(attrs: dict, shapes: list) -> dict:
    p = _affine_params(attrs, shapes)
    if attrs["track_running_stats"]:
        c = shapes[0][1]
        p.update(running_mean=((c,), False), running_var=((c,), False), num_batches_tracked=((), False))
    return p


def _l2_normalize(attrs: dict, shapes: list) -> dict:
    rank = len(shapes[0])
    axis = attrs["axis"]
    if not -rank <= axis < rank or axis % rank == 0:
        raise ShapeError(f"l2norm: axis {axis} must be a non-batch axis of {fmt_shape(shapes[0])}")
    if attrs["scale"] is not None and axis % rank != 1:
        raise ShapeError("l2norm: a learned scale is per channel: axis must be 1")
    return dict(attrs, axis=axis % rank, scale=None if attrs["scale"] is None else float(attrs["scale"]))


def _l2_params(attrs: dict, shapes: list) -> dict:
    return {} if attrs["scale"] is None else {SELF_PARAM: ((shapes[0][1],), True)}


def _l2_flops(attrs: dict, _shapes: list, out) -> int:
    return (4 if attrs["scale"] is None else 5) * per_sample(out)  # square, sum, root/max, divide (, scale)


def _l2_rf(attrs: dict) -> RFRule:
    return RFRule("along", axes=(attrs["axis"],))


def _instancenorm_shape(attrs: dict, shapes: list):
    """Instance statistics need more than one position per channel: over a single one every output is
    0 (x minus its own mean), and PyTorch refuses it (`nn.InstanceNorm` without running statistics)."""
    x = _same_shape(attrs, shapes)
    positions = [d for d in x[2:] if isinstance(d, int)]
    if not attrs["track_running_stats"] and len(positions) == len(x) - 2 and per_sample((1, 1) + tuple(positions)) == 1:
        raise ShapeError(f"one position per channel in {fmt_shape(x)}, so every output would be 0 "
                         "(PyTorch refuses it); normalize before the spatial size reaches 1, or use bn")
    return tuple(x)


OPS = (
    OpDef(name="groupnorm",
          attrs=(AttrSpec("groups", "int", constraints=(positive(),)), AttrSpec("eps", "float", 1e-5, constraints=(eps(),)),
                 AttrSpec("affine", "bool", True)),
          shape=_same_shape, category="norm", positional=1, normalize=_gn_normalize, params=_affine_params, macs=NO_MACS,
          flops=_stat_flops, rf=_global_rf,
          doc="group normalization (nn.GroupNorm): mean and biased variance over each group of channels and "
              "all positions of one sample; weight, bias [C]"),
    OpDef(name="instancenorm",
          attrs=(AttrSpec("eps", "float", 1e-5, constraints=(eps(),)), AttrSpec("affine", "bool", False),
                 AttrSpec("track_running_stats", "bool", False,
                          doc="keep running statistics as buffers; inference then uses them, as nn.InstanceNorm2d")),
          shape=_instancenorm_shape, category="norm", positional=0, params=_in_params, macs=NO_MACS,
          flops=_stat_flops, rf=_global_rf,
          doc="instance normalization (nn.InstanceNorm1d/2d/3d): per sample and channel over all positions"),
    OpDef(name="l2norm",
          attrs=(AttrSpec("axis", "int", 1), AttrSpec("eps", "float", 1e-12, constraints=(eps(allow_zero=False),)),
                 AttrSpec("scale", "float", None, doc="learned per-channel scale, initialized to this value")),
          shape=_same_shape, category="norm", positional=0, normalize=_l2_normalize, params=_l2_params, macs=NO_MACS,
          flops=_l2_flops, rf=_l2_rf,
          doc="x / max(||x||_2 over axis, eps) (F.normalize); with scale, times a learned [C] weight keyed by the "
              "node's own name (SSD's L2Norm: torchvision's scale_weight, initialized to 20)"),
)
