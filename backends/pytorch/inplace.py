"""Which ReLUs the generated module computes in place (`nn.ReLU(inplace=True)`), as torchvision's models do.

In place is safe for a relu (or relu6) whose input tensor nothing else reads and whose
producer neither needs its own output for the backward pass nor returns a view of another
tensor: convolutions, batch norm and other normalizations, linear, the merges `add`, `mul`
and `concat`, and the pools (max pooling's backward keeps indices, not its output). Graph
inputs and outputs are never overwritten. Anything else (sigmoid, tanh, softmax, exp,
flatten/reshape views, ...) keeps a fresh output, so autograd and the caller's tensors are
never surprised. A fused conv + activation (-O1) is not a safe producer either: its output is
its activation's, which ReLU's own backward keeps. The decision is written to
`node.meta["inplace"]` of the graph being generated (a copy), and `lower.py` reads it.
"""

from __future__ import annotations

from collections import Counter

INPLACE_OPS = frozenset({"relu", "relu6"})
SAFE_PRODUCERS = frozenset({
    "conv", "conv_t", "linear", "bn", "layernorm", "groupnorm", "instancenorm",
    "add", "mul", "concat", "maxpool", "avgpool", "gap", "gmp", "adaptive_avgpool", "adaptive_maxpool",
})


def mark_inplace(graph) -> int:
    """Set `meta["inplace"]` on every relu that may overwrite its input; returns how many."""
    readers: Counter = Counter()
    for node in graph.nodes.values():
        for ref in node.inputs:
            readers[tuple(ref)] += 1
    outputs = {tuple(ref) for _name, ref in graph.outputs}
    marked = 0
    for node in graph.nodes.values():
        if node.op not in INPLACE_OPS or len(node.inputs) != 1:
            continue
        ref = tuple(node.inputs[0])
        producer = graph.nodes[ref[0]]
        ok = (producer.op in SAFE_PRODUCERS and readers[ref] == 1 and ref not in outputs
              and producer.op != "input")
        node.meta["inplace"] = ok
        marked += ok
    return marked


__all__ = ["INPLACE_OPS", "SAFE_PRODUCERS", "mark_inplace"]
