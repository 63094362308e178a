"""Dead-node elimination: remove nodes no graph output depends on.

A node is live when some graph output is reachable from it. Graph inputs are kept even
when unused (they are the network's interface). Removing a dead node cannot change an
output, since no output reads it; its weights are dropped from the store.
"""

from __future__ import annotations

import networkx as nx

from cnndsl.ir.graph import Graph
from cnndsl.ops.registry import param_key
from cnndsl.passes.common import in_shapes, new_weights, opdef_of
from cnndsl.passes.manager import Pass, PassContext, PassResult


def eliminate_dead(graph: Graph, ctx: PassContext) -> PassResult:
    live: set[str] = set()
    for _name, (src, _i) in graph.outputs:
        live.add(src)
        live |= nx.ancestors(graph.nx, src)
    dead = [n.name for n in graph.topo() if n.name not in live and n.op != "input"]
    if not dead:
        return PassResult(graph, False)
    gone = set()  # the weight keys of the dead nodes, as their ops declare them
    for name in dead:
        node = graph.nodes[name]
        opdef = opdef_of(node)
        if opdef is not None:
            gone |= {param_key(name, p) for p in opdef.params(node.attrs, in_shapes(graph, node))}
    graph = graph.copy()
    for name in reversed(dead):
        graph.remove_node(name)
    weights = None
    if ctx.weights is not None:
        weights = new_weights(ctx.weights, ((k, v) for k, v in ctx.weights.items() if k not in gone))
    return PassResult(graph, True, weights)


DCE = Pass("dce", eliminate_dead, "transform", "remove nodes that no graph output depends on")
