"""The numpy reference interpreter: the oracle that passes and backends are checked against.

Correctness over speed: every kernel computes in float64 and each node's result is
rounded to the run's dtype (float32 by default, like a real float32 network), so
differences against a backend come from the backend, not from accumulated error here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cnndsl.interp.kernels import KERNELS
from cnndsl.ir.graph import Graph
from cnndsl.ops.registry import get, param_key
from cnndsl.weights import OPTIONAL_PARAMS


class InterpError(Exception):
    """The graph cannot be run: missing kernel, weight or input, or a wrong input shape."""


def _bind_inputs(graph: Graph, inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    names = graph.input_names
    if isinstance(inputs, Mapping):
        missing = [n for n in names if n not in inputs]
        if missing:
            raise InterpError(f"missing graph inputs: {', '.join(missing)}")
        return {n: np.asarray(inputs[n]) for n in names}
    if len(inputs) != len(names):
        raise InterpError(f"graph takes {len(names)} inputs ({', '.join(names)}), got {len(inputs)}")
    return {n: np.asarray(v) for n, v in zip(names, inputs)}


def _check_shape(name: str, declared: tuple, got: tuple) -> None:
    ok = len(declared) == len(got) and all(isinstance(d, str) or d == g for d, g in zip(declared, got))
    if not ok:
        raise InterpError(f"input {name!r}: expected shape {list(declared)}, got {list(got)}")


def _node_params(node_name: str, op: str, attrs: dict, in_shapes: list,
                 weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for pname, (shape, _trainable) in get(op).params(attrs, in_shapes).items():
        key = param_key(node_name, pname)
        if key not in weights:
            if pname in OPTIONAL_PARAMS:  # bookkeeping buffers no kernel reads
                continue
            raise InterpError(f"missing weight {key!r}")
        arr = np.asarray(weights[key])
        if tuple(arr.shape) != tuple(shape):
            raise InterpError(f"weight {key!r}: expected shape {list(shape)}, got {list(arr.shape)}")
        out[pname] = arr.astype(np.float64)
    return out


def run(graph: Graph, weights: Mapping[str, np.ndarray],
        inputs: Mapping[str, np.ndarray] | Sequence[np.ndarray], dtype=np.float32) -> list[np.ndarray]:
    """Run `graph` at inference; returns the outputs in `graph.outputs` order.

    `weights` maps `"<node name>.<param>"` to arrays (see `cnndsl.weights_init`);
    `inputs` is a dict by input name or a list in `graph.input_names` order.
    """
    missing = sorted({n.op for n in graph.nodes.values() if n.op != "input" and n.op not in KERNELS})
    if missing:
        raise InterpError(f"no reference kernel for: {', '.join(missing)}")
    fed = _bind_inputs(graph, inputs)
    values: dict[str, list[np.ndarray]] = {}
    remaining = {name: len(graph.users(name)) for name in graph.nodes}
    keep = {ref[0] for _n, ref in graph.outputs}
    for node in graph.topo():
        if node.op == "input":
            x = fed[node.name]
            _check_shape(node.name, tuple(node.attrs["shape"]), x.shape)
            values[node.name] = [x.astype(dtype)]
            continue
        xs = [values[src][idx] for src, idx in node.inputs]
        params = _node_params(node.params_of, node.op, node.attrs, [x.shape for x in xs], weights)
        result = KERNELS[node.op](node.attrs, [x.astype(np.float64) for x in xs], params)
        outs = result if isinstance(result, list) else [result]
        values[node.name] = [np.ascontiguousarray(o, dtype=dtype) for o in outs]
        for src in {s for s, _i in node.inputs}:  # free what no later node reads
            remaining[src] -= 1
            if remaining[src] == 0 and src not in keep:
                del values[src]
    return [values[src][idx] for _n, (src, idx) in graph.outputs]
