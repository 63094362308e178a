"""Fused ops made by the inference passes, for backends to lower as one kernel.

`fused_conv` = conv (with its bias) followed by an elementwise activation:
`act(conv(x))`. Its attributes are conv's plus `act` (the activation op's registry
name) and `act_attrs` (that activation's attributes, defaults filled). Shape, params,
MACs and receptive field are conv's; its non-MAC FLOPs are conv's bias adds plus the
activation's per-element FLOPs, split by kind so a counting convention can pick them.
"""

from __future__ import annotations

from cnndsl.ops.conv import CONV
from cnndsl.ops.registry import AttrSpec, OpDef, ShapeError, get


def _normalize(attrs: dict, shapes: list) -> dict:
    act = get(attrs["act"]) if attrs["act"] in _known_acts() else None
    if act is None:
        raise ShapeError(f"fused_conv: act must name an activation op, not {attrs['act']!r}")
    act_attrs = dict(attrs.get("act_attrs") or {})
    for spec in act.attrs:
        if spec.name not in act_attrs and not spec.required:
            act_attrs[spec.name] = spec.default
    return dict(CONV.normalize(attrs, shapes), act_attrs=act_attrs)


def _known_acts() -> set[str]:
    from cnndsl.ops.registry import REGISTRY

    return {name for name, d in REGISTRY.items() if d.category == "activation"}


def _flops_parts(attrs: dict, shapes: list, out) -> dict[str, int]:
    act = get(attrs["act"])
    return {"bias": CONV.flops(attrs, shapes, out), "activations": act.flops(attrs["act_attrs"], [out], out)}


def _flops(attrs: dict, shapes: list, out) -> int:
    return sum(_flops_parts(attrs, shapes, out).values())


FUSED_CONV = OpDef(
    name="fused_conv",
    attrs=CONV.attrs + (AttrSpec("act", "str", "relu", doc="activation op applied to the conv output"),
                        AttrSpec("act_attrs", "any", None, doc="the activation's attributes (a dict)")),
    shape=CONV.shape,
    category="conv",
    normalize=_normalize,
    params=CONV.params,
    macs=CONV.macs,
    flops=_flops,
    rf=CONV.rf,
    positional=CONV.positional,
    doc="act(conv(x)): a conv with its bias and a fused elementwise activation (made by fuse_conv_act)",
    extra={"flops_parts": _flops_parts, "unfused": ("conv", "act")},
)

OPS = (FUSED_CONV,)
