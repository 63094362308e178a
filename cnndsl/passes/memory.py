"""Activation memory per node and peak activation memory by liveness.

`meta["memory"]`: bytes of the node's output tensor(s) per batch item (elements times
the dtype's size; float32 = 4 bytes). Graph inputs count: they are resident too.

Peak memory is computed over one stated schedule, `Graph.topo()`: the deterministic
topological order in which ties are broken by node insertion order (= `.cnn` source
order). Step i executes node v_i. A tensor is live from the step that produces it
through the last step that reads it; graph outputs stay live to the end. While v_i
runs, its inputs and its output are live together (no in-place reuse, no aliasing of
views such as flatten). The peak is the largest sum of live bytes over all steps:

    live(i) = { t : produce(t) <= i <= last_use(t) }     peak = max_i sum_{t in live(i)} bytes(t)

`graph.meta["peak_memory"]` = {"bytes", "node" (the step where the peak occurs),
"live" (tensors live then), "schedule"}; `meta["live_bytes"]` on each node is live(i).
"""

from __future__ import annotations

from cnndsl.ir.graph import Graph
from cnndsl.ops.common import numel
from cnndsl.passes.common import out_shapes
from cnndsl.passes.manager import Pass, PassContext, PassResult

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1, "uint8": 1, "int32": 4,
               "int64": 8}
SCHEDULE = "topological order, ties broken by source order (Graph.topo())"


def tensor_bytes(shape, dtype: str = "float32") -> int | None:
    if shape is None:
        return None
    return numel(tuple(shape)[1:]) * DTYPE_BYTES.get(dtype, 4) if len(shape) else DTYPE_BYTES.get(dtype, 4)


def measure_memory(graph: Graph, _ctx: PassContext) -> PassResult:
    order = graph.topo()
    step = {node.name: i for i, node in enumerate(order)}
    size: dict[tuple[str, int], int] = {}
    produced: dict[str, list[tuple[str, int]]] = {}
    for node in order:
        dtype = node.meta.get("dtype", "float32")
        sizes = [tensor_bytes(s, dtype) for s in out_shapes(node)]
        known = [s for s in sizes if s is not None]
        node.meta["memory"] = sum(known) if len(known) == len(sizes) else None
        produced[node.name] = [(node.name, idx) for idx in range(len(sizes))]
        for idx, s in enumerate(sizes):
            size[(node.name, idx)] = s or 0

    last_use: dict[tuple[str, int], int] = {ref: step[ref[0]] for ref in size}
    for node in order:
        for ref in node.inputs:
            last_use[ref] = max(last_use[ref], step[node.name])
    end = len(order) - 1
    for _name, ref in graph.outputs:
        last_use[ref] = end

    # sweep: add each tensor at its producer's step, drop it after its last use
    frees: dict[int, list[tuple[str, int]]] = {}
    for ref, last in last_use.items():
        frees.setdefault(last, []).append(ref)
    live: set[tuple[str, int]] = set()
    live_bytes = 0
    peak = {"bytes": 0, "node": None, "live": [], "schedule": SCHEDULE}
    for i, node in enumerate(order):
        for ref in produced[node.name]:
            live.add(ref)
            live_bytes += size[ref]
        node.meta["live_bytes"] = live_bytes
        if live_bytes > peak["bytes"]:
            peak = {"bytes": live_bytes, "node": node.name, "schedule": SCHEDULE,
                    "live": sorted(f"{r[0]}" if r[1] == 0 else f"{r[0]}#{r[1]}" for r in live)}
        for ref in frees.get(i, ()):
            live.discard(ref)
            live_bytes -= size[ref]
    graph.meta["peak_memory"] = peak
    return PassResult(graph, False)


MEMORY = Pass("memory", measure_memory, "analysis",
              "activation bytes per node and peak live activation bytes over the topological schedule",
              in_place=True, requires=("shape",))
