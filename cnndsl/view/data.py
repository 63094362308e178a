"""The data behind `cnndsl view`: an annotated Graph as plain JSON for the page's script.

Nodes carry what the details panel shows (op, attributes, output shape, params, MACs,
FLOPs, memory, receptive field, the `.cnn` line); clusters are the block instances, from
the elaborator's contract that `scope[i]` labels the block at the first i+1 dotted
components of a node's name (the same rule `report --depth` uses).
"""

from __future__ import annotations

from typing import Any

from cnndsl.ir.dot import category
from cnndsl.ir.graph import Graph
from cnndsl.ir.printer import _fmt_attr, _fmt_shape

SCHEMA = "cnndsl.view/1"
SOURCE_CONTEXT = 3  # lines shown around a node's source line


def _rf(meta: dict) -> tuple[str | None, dict | None]:
    rf = meta.get("rf")
    if not rf or not rf.get("size"):
        return None, None
    return "x".join(str(v) for v in rf["size"]), {k: rf[k] for k in ("size", "stride", "padding") if k in rf}


def _kind(label: str) -> str:
    return label.split("(", 1)[0].strip()


def view_data(graph: Graph, report: dict[str, Any]) -> dict[str, Any]:
    """`graph` must be annotated (params, MACs, memory, RF in node meta); `report` is its `Model.report()`."""
    from cnndsl import __version__
    from cnndsl.diagnostics import SOURCES

    nodes = graph.topo()
    index = {n.name: i for i, n in enumerate(nodes)}
    clusters: list[dict] = []
    cluster_ids: dict[str, int] = {}
    files: dict[str, None] = {}
    out_nodes = []
    for i, n in enumerate(nodes):
        parts = n.name.split(".")
        scope = list(n.meta.get("scope", ()))
        parent = None
        for depth, label in enumerate(scope[: len(parts) - 1]):
            path = ".".join(parts[: depth + 1])
            cid = cluster_ids.get(path)
            if cid is None:
                cid = len(clusters)
                cluster_ids[path] = cid
                clusters.append({"id": cid, "path": path, "kind": _kind(label), "label": label, "parent": parent,
                                 "depth": depth, "nodes": 0, "params": 0, "macs": 0, "flops": 0, "memory": 0,
                                 "first": i, "last": i, "ops": {}})
            c = clusters[cid]
            c["nodes"] += 1
            c["last"] = i
            for key in ("params", "macs", "flops", "memory"):
                c[key] += int(n.meta.get(key) or 0)
            c["ops"][n.op] = c["ops"].get(n.op, 0) + 1
            parent = cid
        span = n.meta.get("span")
        if span is not None:
            files[span.file] = None
        rf, rf_detail = _rf(n.meta)
        entry = {
            "id": i,
            "name": n.name,
            "op": n.op,
            "category": category(n.op),
            "attrs": {k: _fmt_attr(v) for k, v in n.attrs.items()},
            "shape": _fmt_shape(n.meta.get("shape")),
            "dtype": n.meta.get("dtype", "float32"),
            "inputs": [index[src] for src, _port in n.inputs if src in index],
            "input_shapes": [_fmt_shape(graph.value_shape(ref)) for ref in n.inputs],
            "params": int(n.meta.get("params") or 0),
            "macs": int(n.meta.get("macs") or 0),
            "flops": int(n.meta.get("flops") or 0),
            "memory": int(n.meta.get("memory") or 0),
            "rf": rf,
            "rf_detail": rf_detail,
            "span": None if span is None else {"file": span.file, "line": span.line, "col": span.col},
            "cluster": parent,
            "block": scope[-1] if scope else None,
        }
        if "shared" in n.meta:
            inst, k = n.meta["shared"]
            entry["shared"] = {"instance": inst, "application": k}
        if not n.owns_params:
            entry["params_of"] = n.params_of
        out_nodes.append(entry)
    for c in clusters:  # the shape a block hands on: its last node's output
        c["shape"] = out_nodes[c["last"]]["shape"]
        c["ops"] = dict(sorted(c["ops"].items(), key=lambda kv: -kv[1]))
    sources = {}
    for f in files:
        text = SOURCES.texts.get(f)
        if text is not None:
            sources[f] = text.splitlines()
    totals = report.get("totals", {})
    keep = ("params", "buffers", "macs", "flops", "memory", "peak_memory", "peak_memory_at", "layers", "output_rf",
            "shared", "params_bytes", "complete", "unsupported")
    return {
        "schema": SCHEMA,
        "cnndsl_version": __version__,
        "network": graph.name,
        "display": str(graph.meta.get("display") or graph.name),
        "inputs": report.get("inputs", []),
        "outputs": [{"name": name, "node": index[ref[0]]} for name, ref in graph.outputs if ref[0] in index],
        "nodes": out_nodes,
        "clusters": clusters,
        "sources": sources,
        "totals": {k: totals[k] for k in keep if k in totals},
        "convention": (report.get("convention") or {}).get("description", ""),
        "by_op": [{"op": r["op"], "nodes": r["nodes"], "params": r["params"], "macs": r["macs"]}
                  for r in report.get("by_op", [])],
        "warnings": [str(w) for w in report.get("warnings", [])],
        "context": SOURCE_CONTEXT,
    }
