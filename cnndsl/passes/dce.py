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
    gone = set()  # the weight keys of the dead nodes, as their ops declare them, unless a live node shares them
    for name in dead:
        node = graph.nodes[name]
        opdef = opdef_of(node)
        if opdef is not None:
            gone |= {param_key(node.params_of, p) for p in opdef.params(node.attrs, in_shapes(graph, node))}
    graph = graph.copy()
    holders = {n.params_of: n for n in graph.nodes.values() if n.name in live and n.owns_params and n.op != "input"}
    for node in graph.topo():  # shared parameters whose holder (the first application) is dead: a live one holds them
        if node.name in live and node.params_of not in holders:
            node.meta["holds_params"] = True
            holders[node.params_of] = node
    gone -= {param_key(p, k) for p, n in holders.items()
             for k in opdef_of(n).params(n.attrs, in_shapes(graph, n))} if holders else set()
    for name in reversed(dead):
        graph.remove_node(name)
    weights = None
    if ctx.weights is not None:
        weights = new_weights(ctx.weights, ((k, v) for k, v in ctx.weights.items() if k not in gone))
    return PassResult(graph, True, weights)


DCE = Pass("dce", eliminate_dead, "transform", "remove nodes that no graph output depends on")
