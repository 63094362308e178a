"""Params and MACs of a library network, computed from the graph and the op registry.

Trainable params = sum of `OpDef.params` entries marked trainable; MACs = sum of
`OpDef.macs` (conv + linear multiply-adds per batch item), the quantity torchvision's
"GFLOPS" column reports.
"""

from __future__ import annotations

from cnndsl import ops  # noqa: F401  (fills the registry)
from cnndsl.ir.graph import Graph
from cnndsl.ops.common import numel
from cnndsl.ops.registry import REGISTRY, param_key


def stats(graph: Graph, first_output_macs: bool = False) -> tuple[int, int, dict[str, tuple]]:
    """(trainable params, MACs, {state_dict key: shape}) of a graph.

    With `first_output_macs`, MACs count only the nodes the first output depends on
    (Inception v3's torchvision figure is measured in eval mode, without the aux head).
    """
    params = macs = 0
    keys: dict[str, tuple] = {}
    needed = None
    if first_output_macs:
        needed = graph.ancestors(graph.outputs[0][1][0])
    for node in graph.topo():
        op = REGISTRY[node.op]
        ins = [graph.value_shape(r) for r in node.inputs]
        if op.params is not None and node.owns_params:  # shared modules: parameters once, at the first application
            for pname, (shape, trainable) in op.params(node.attrs, ins).items():
                keys[param_key(node.params_of, pname)] = tuple(shape)
                if trainable:
                    params += numel(shape)
        if op.macs is not None and (needed is None or node.name in needed):
            macs += op.macs(node.attrs, ins, node.meta.get("shape"))
    return params, macs, keys


if __name__ == "__main__":
    import sys

    from cnndsl.api import load

    for name in sys.argv[1:]:
        g = load(name)
        p, m, _ = stats(g)
        print(f"{name:24s} {p:>12,d} params {m / 1e9:8.3f} GMACs  out={g.value_shape(g.outputs[0][1])}")
