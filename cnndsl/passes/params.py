"""Parameter counting: trainable parameters and buffers per node, from `OpDef.params`.

`meta["params"]` is the number of trainable elements (PyTorch's `requires_grad`
parameters: conv/linear weight and bias, BN weight and bias, PReLU slopes, ...);
`meta["buffers"]` the non-trainable ones (BN running mean/var, num_batches_tracked).
A node whose op has no params rule gets `None` in both and is marked unsupported:
it is never counted as zero. The later applications of a shared instance (docs/internals.md)
count 0: their parameters are the first application's; `meta["shared_params"]` keeps how many
elements they use.
"""

from __future__ import annotations

from cnndsl.ir.graph import Graph
from cnndsl.ops.common import numel
from cnndsl.passes.common import clear_unsupported, in_shapes, mark_unsupported, opdef_of, rule_of
from cnndsl.passes.manager import Pass, PassContext, PassResult


def count_params(graph: Graph, _ctx: PassContext) -> PassResult:
    for node in graph.topo():
        rule = rule_of(opdef_of(node), "params")
        try:
            table = None if rule is None else rule(node.attrs, in_shapes(graph, node))
        except NotImplementedError:
            table = None
        if table is None:
            node.meta["params"] = node.meta["buffers"] = None
            mark_unsupported(node, "params")
            continue
        clear_unsupported(node, "params")
        params = sum(numel(shape) for shape, trainable in table.values() if trainable)
        buffers = sum(numel(shape) for shape, trainable in table.values() if not trainable)
        if not node.owns_params:  # a shared instance's later application: counted once, at its first
            node.meta["params"] = node.meta["buffers"] = 0
            node.meta["shared_params"] = params + buffers
            continue
        node.meta["params"], node.meta["buffers"] = params, buffers
    return PassResult(graph, False)


PARAMS = Pass("params", count_params, "analysis", "trainable parameters and buffers per node", in_place=True,
              requires=("shape",))
