"""Dead-node elimination: remove nodes no graph output depends on.

A node is live when some graph output is reachable from it. Graph inputs are kept even
when unused (they are the network's interface). Removing a dead node cannot change an
output, since no output reads it; its weights are dropped from the store.
"""

from __future__ import annotations

import networkx as nx

from cnndsl.ir.graph import Graph
from cnndsl.passes.common import new_weights, owner
from cnndsl.passes.manager import Pass, PassContext, PassResult


def eliminate_dead(graph: Graph, ctx: PassContext) -> PassResult:
    live: set[str] = set()
    for _name, (src, _i) in graph.outputs:
        live.add(src)
        live |= nx.ancestors(graph.nx, src)
    dead = [n.name for n in graph.topo() if n.name not in live and n.op != "input"]
    if not dead:
        return PassResult(graph, False)
    graph = graph.copy()
    for name in reversed(dead):
        graph.remove_node(name)
    weights = None
    if ctx.weights is not None:
        gone = set(dead)
        weights = new_weights(ctx.weights, ((k, v) for k, v in ctx.weights.items() if owner(k) not in gone))
    return PassResult(graph, True, weights)


DCE = Pass("dce", eliminate_dead, "transform", "remove nodes that no graph output depends on")
