"""Fuse conv (+ bias) + elementwise activation into one `fused_conv` node.

Pattern: act(x) where act is a registry op of category "activation" without
parameters (relu, relu6, silu, gelu, ...; not prelu, whose slopes are weights, and not
identity, which remove_noops drops) and x = conv(...) is read by nothing else and is not
a graph output.

Rewrite: the conv node becomes `fused_conv` with attrs = conv's + act=<op> +
act_attrs=<the activation's attrs>, keeps its name (so its weights `<conv>.weight`,
`<conv>.bias` are unchanged), and every reader of the activation reads it instead.
Algebra: fused_conv(x) = act(conv(x) + b) by definition, so outputs are identical.
Run after fold_bn, which turns conv+bn into conv-with-bias first.
"""

from __future__ import annotations

from cnndsl.ir.graph import Graph, Node
from cnndsl.passes.common import in_shapes, opdef_of
from cnndsl.passes.manager import Pass, PassContext, PassResult

FUSABLE_PRODUCERS = ("conv",)
FUSED_OP = "fused_conv"


def match(graph: Graph, act: Node) -> tuple[Node | None, str]:
    """The conv to fuse `act` into, or None and the reason the rule declines."""
    opdef = opdef_of(act)
    if opdef is None or opdef.category != "activation" or act.op == "identity":
        return None, "not a fusable activation"
    if opdef.params(act.attrs, in_shapes(graph, act)):
        return None, f"{act.op} has weights"
    if len(act.inputs) != 1:
        return None, "activation has several inputs"
    src, idx = act.inputs[0]
    producer = graph.nodes[src]
    if producer.op not in FUSABLE_PRODUCERS:
        return None, f"its input comes from '{producer.name}' ({producer.op}), not a conv"
    if idx != 0 or graph.users(producer.name) != [act.name]:
        return None, f"'{producer.name}' has other readers, which need the output before {act.op}"
    if any(ref[0] == producer.name for _n, ref in graph.outputs):
        return None, f"'{producer.name}' is a graph output"
    return producer, ""


def fuse_conv_act(graph: Graph, ctx: PassContext) -> PassResult:
    graph = graph.copy()
    modified = False
    for act in graph.topo():
        opdef = opdef_of(act)
        if opdef is None or opdef.category != "activation" or act.op == "identity":
            continue
        producer, reason = match(graph, act)
        if producer is None:
            ctx.declined.append(f"fuse_conv_act: {act.name} ({act.op}) not fused: {reason}")
            continue
        producer.op = FUSED_OP
        producer.attrs = dict(producer.attrs, act=act.op, act_attrs=dict(act.attrs))
        producer.meta = dict(producer.meta, fused=list(producer.meta.get("fused", ())) + [act.name])
        graph.replace_uses((act.name, 0), (producer.name, 0))
        graph.remove_node(act.name)
        modified = True
    return PassResult(graph, modified)


FUSE_CONV_ACT = Pass("fuse_conv_act", fuse_conv_act, "transform",
                     "fuse conv (+ bias) + activation into fused_conv")
