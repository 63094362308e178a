"""MACs and FLOPs per node, under a stated `Convention`.

`meta["macs"]`: conv and linear multiply-adds per batch item, from `OpDef.macs`
(torchvision's "GFLOPS" column counts exactly these; ResNet-50 at 224 has
4,089,184,256). Nothing else is a MAC: not bias adds, not BN, not pooling.

`meta["flops"]`: 2 * MACs (a multiply-add is two FLOPs) plus the op's non-MAC FLOPs
(`OpDef.flops`) when the convention counts that kind of work. The kind comes from the
op's category: conv/linear -> `bias` (one add per output element when the layer has a
bias), norm -> `bn`, activation -> `activations`, pool -> `pooling`, elementwise and
shape ops (add, mul, upsample) -> `elementwise`. An op may split its non-MAC FLOPs
across kinds with `OpDef.extra["flops_parts"](attrs, in_shapes, out) -> {kind: n}`
(fused_conv: bias + activation).

A node whose op lacks a rule gets `None` and is marked unsupported, never 0.
"""

from __future__ import annotations

from cnndsl.ir.graph import Graph
from cnndsl.passes.common import clear_unsupported, in_shapes, mark_unsupported, opdef_of, rule_of
from cnndsl.passes.manager import Convention, Pass, PassContext, PassResult

CATEGORY_KIND = {
    "conv": "bias",
    "linear": "bias",
    "norm": "bn",
    "activation": "activations",
    "pool": "pooling",
    "elementwise": "elementwise",
    "shape": "elementwise",
}


def _call(rule, *args):
    if rule is None:
        return None
    try:
        value = rule(*args)
    except NotImplementedError:
        return None
    return None if value is None else int(value)


def non_mac_flops(opdef, attrs: dict, shapes: list, out, convention: Convention) -> int | None:
    parts_rule = opdef.extra.get("flops_parts") if opdef is not None else None
    if parts_rule is not None:
        parts = parts_rule(attrs, shapes, out)
        return sum(int(n) for kind, n in parts.items() if convention.flag(kind))
    flops = _call(rule_of(opdef, "flops"), attrs, shapes, out)
    if flops is None:
        return None
    kind = CATEGORY_KIND.get(opdef.category)
    return flops if kind is None or convention.flag(kind) else 0


def count_macs(graph: Graph, ctx: PassContext) -> PassResult:
    for node in graph.topo():
        opdef = opdef_of(node)
        shapes, out = in_shapes(graph, node), node.meta.get("shape")
        macs = _call(rule_of(opdef, "macs"), node.attrs, shapes, out)
        extra = None
        if opdef is not None and rule_of(opdef, "flops") is not None:
            try:
                extra = non_mac_flops(opdef, node.attrs, shapes, out, ctx.convention)
            except NotImplementedError:
                extra = None
        node.meta["macs"] = macs
        node.meta["flops"] = None if macs is None or extra is None else 2 * macs + extra
        for what, value in (("macs", macs), ("flops", extra)):
            if value is None:
                mark_unsupported(node, what)
            else:
                clear_unsupported(node, what)
    graph.meta["flop_convention"] = ctx.convention.to_json()["flops"]  # plain data: graph.meta may be serialized
    return PassResult(graph, False)


MACS = Pass("macs", count_macs, "analysis", "MACs (conv + linear multiply-adds) and FLOPs per node", in_place=True,
            requires=("shape",))
