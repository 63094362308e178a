"""Weights keyed by the `.cnn` the importer wrote: the emitted text is elaborated and each
node with parameters takes the arrays of the stage it came from.

A stage whose path is a name (`layer1.0.conv1`) is matched to the node of that name; the
others (positional names the elaborator chose) by their order, which the emitter keeps.
Shapes are checked against the op's declared parameter shapes, so a wrong match is an
error, never silently misplaced weights.
"""

from __future__ import annotations

import numpy as np

from cnndsl.diagnostics import CnnError


class KeyingError(CnnError):
    """The imported text does not elaborate to nodes that take the model's weights (an importer bug)."""


def keyed_weights(text: str, stages, source_name: str = "<import>"):
    """Elaborate `text`; return (graph, weights keyed `<node>.<param>`)."""
    from cnndsl.api import load_text
    from cnndsl.ops.registry import get, param_key

    graph = load_text(text, source_name)
    nodes = [n for n in graph.topo() if n.op != "input"]

    def spec_of(node):
        return get(node.op).params(node.attrs, [graph.value_shape(tuple(r)) for r in node.inputs])

    param_nodes = [n for n in nodes if n.params_of == n.name and spec_of(n)]
    # a later application of a shared instance (`head@1.conv`) reads the first application's parameters
    param_stages = [st for st in stages if st.params and not any("@" in part for part in st.path)]
    if len(param_nodes) != len(param_stages):
        raise KeyingError(f"{source_name}: {len(param_stages)} imported layers with weights became "
                          f"{len(param_nodes)} nodes with parameters")
    named = {".".join(st.path): st for st in param_stages if st.named}
    by_order = [st for st in param_stages]
    weights: dict[str, np.ndarray] = {}
    taken: set[int] = set()
    for node, st in zip(param_nodes, by_order):
        st = named.get(node.name, st)
        if id(st) in taken:
            raise KeyingError(f"{source_name}: two nodes take the weights of ONNX node '{st.onnx_name}'")
        taken.add(id(st))
        for p, (shape, _train) in spec_of(node).items():
            key = param_key(node.params_of, p)
            if p in st.params:
                arr = np.asarray(st.params[p])
                if arr.size != int(np.prod(shape)):
                    raise KeyingError(f"{source_name}: ONNX node '{st.onnx_name}' has a {p} of shape "
                                      f"{list(arr.shape)}; node '{node.name}' takes {list(shape)}")
                weights[key] = arr.reshape(shape).astype(np.float32)
            elif p == "num_batches_tracked":
                weights[key] = np.zeros(shape, np.int64)
            else:
                raise KeyingError(f"{source_name}: ONNX node '{st.onnx_name}' gives no {p} for node '{node.name}'")
    return graph, weights


__all__ = ["KeyingError", "keyed_weights"]
