"""Drop ops that are the identity at inference: dropout, stochastic depth, identity.

Pattern: a node whose registry entry says `inference_identity` (or whose op is the
`identity` activation), with exactly one input. Rewrite: every use of its output,
graph outputs included, reads its input instead; the node is removed. Algebra: at
inference dropout(x) = x, stochastic_depth(x) = x, identity(x) = x, so outputs are
unchanged. Declines (with a reason) a node with several inputs or outputs.
"""

from __future__ import annotations

from cnndsl.ir.graph import Graph
from cnndsl.passes.common import opdef_of
from cnndsl.passes.manager import Pass, PassContext, PassResult


def is_inference_identity(opdef) -> bool:
    return opdef is not None and (opdef.inference_identity or opdef.extra.get("identity", False)
                                  or (opdef.name == "identity" and opdef.category == "activation"))


def remove_noops(graph: Graph, ctx: PassContext) -> PassResult:
    graph = graph.copy()
    modified = False
    for node in graph.topo():
        opdef = opdef_of(node)
        if not is_inference_identity(opdef):
            continue
        if len(node.inputs) != 1 or opdef.num_outputs(node.attrs) != 1:
            ctx.declined.append(f"remove_noops: {node.name} ({node.op}) not removed: it has "
                                f"{len(node.inputs)} inputs and {opdef.num_outputs(node.attrs)} outputs")
            continue
        graph.replace_uses((node.name, 0), node.inputs[0])
        graph.remove_node(node.name)
        modified = True
    return PassResult(graph, modified)


REMOVE_NOOPS = Pass("remove_noops", remove_noops, "transform",
                    "remove dropout, stochastic depth and identity (identities at inference)")
