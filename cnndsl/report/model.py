"""The report's data: per-layer rows, block collapsing, totals and breakdowns.

Built from a graph the analysis passes have annotated (`cnndsl.passes.ANALYSES`).
Counts are per batch item. A node whose op lacks a rule keeps `None` in that column
and is listed under `unsupported`; sums over it are marked incomplete, never padded
with zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnndsl import __version__
from cnndsl.ir.graph import Graph, Node
from cnndsl.passes.manager import Convention

COUNTS = ("params", "buffers", "macs", "flops", "memory")


@dataclass
class Row:
    """One layer, or one block of layers when collapsed with `--depth`."""

    name: str
    op: str
    shape: tuple | None
    params: int | None = 0
    buffers: int | None = 0
    macs: int | None = 0
    flops: int | None = 0
    memory: int | None = 0
    rf: dict | None = None
    nodes: int = 1
    unsupported: list[str] = field(default_factory=list)  # "<node>: <rule>, <rule>"
    shares: str | None = None  # a shared instance's later application: whose parameters it uses (counted there)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "op": self.op, "nodes": self.nodes,
            "shape": None if self.shape is None else list(self.shape),
            "params": self.params, "buffers": self.buffers, "macs": self.macs, "flops": self.flops,
            "memory": self.memory,
            "rf": None if self.rf is None else {k: self.rf[k] for k in ("size", "stride", "padding")},
            "unsupported": list(self.unsupported),
            "shares": self.shares,
        }


@dataclass
class Report:
    network: str
    inputs: list[tuple[str, tuple, str]]  # (name, shape, dtype)
    convention: Convention
    stage: str
    passes: list[str]
    depth: int | None
    rows: list[Row]
    totals: dict[str, Any]
    by_op: list[Row]
    by_block: list[Row]
    warnings: list[str]
    version: str = __version__

    def to_json(self) -> dict[str, Any]:
        return {
            "cnndsl_version": self.version,
            "network": self.network,
            "inputs": [{"name": n, "shape": list(s), "dtype": d} for n, s, d in self.inputs],
            "convention": dict(self.convention.to_json(), description=self.convention.describe()),
            "stage": {"name": self.stage, "passes": list(self.passes)},
            "per": "batch item",
            "depth": self.depth,
            "totals": dict(self.totals),
            "layers": [r.to_json() for r in self.rows],
            "by_op": [r.to_json() for r in self.by_op],
            "by_block": [r.to_json() for r in self.by_block],
            "warnings": list(self.warnings),
        }


def _row(node: Node) -> Row:
    m = node.meta
    missing = m.get("unsupported") or []
    return Row(
        name=node.name, op=node.op, shape=m.get("shape"),
        params=m.get("params"), buffers=m.get("buffers"), macs=m.get("macs"), flops=m.get("flops"),
        memory=m.get("memory"), rf=m.get("rf"),
        unsupported=[f"{node.name} ({node.op}): {', '.join(missing)}"] if missing else [],
        shares=None if node.owns_params else node.params_of,
    )


def _merge(name: str, rows: list[Row], op: str | None = None) -> Row:
    """Sum the counts of `rows`; a count is None only when no member had a figure."""
    ops = list(dict.fromkeys(r.op for r in rows))
    out = Row(name=name, op=op or (ops[0] if len(ops) == 1 and len(rows) == 1 else "block"),
              shape=rows[-1].shape, rf=rows[-1].rf, nodes=sum(r.nodes for r in rows))
    for key in COUNTS:
        values = [getattr(r, key) for r in rows]
        known = [v for v in values if v is not None]
        setattr(out, key, sum(known) if known else None)
    out.unsupported = [u for r in rows for u in r.unsupported]
    owners = {block_of(r.shares, name.count(".") + 1) if r.shares else None for r in rows}
    out.shares = owners.pop() if len(owners) == 1 else None  # a whole later application of one shared block
    return out


def block_of(name: str, depth: int) -> str:
    """The block a node belongs to at `depth`: its first `depth` dot-separated components."""
    return ".".join(name.split(".")[:depth])


def collapse(rows: list[Row], depth: int) -> list[Row]:
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(block_of(r.name, depth), []).append(r)
    return [members[0] if len(members) == 1 and members[0].name == key else _merge(key, members)
            for key, members in groups.items()]


def build_report(graph: Graph, *, depth: int | None = None, convention: Convention | None = None,
                 stage: str = "as written", passes: list[str] | tuple[str, ...] = ()) -> Report:
    if convention is None:
        convention = Convention(**graph.meta.get("flop_convention", {}))
    layers = [n for n in graph.topo() if n.op != "input"]
    base = [_row(n) for n in layers]
    if depth is not None and depth < 1:
        raise ValueError("depth must be at least 1")
    rows = collapse(base, depth) if depth else base

    totals: dict[str, Any] = {}
    for key in COUNTS:
        known = [getattr(r, key) for r in base if getattr(r, key) is not None]
        totals[key] = int(sum(known))
    input_mem = sum(n.meta.get("memory") or 0 for n in graph.input_nodes())
    totals["memory"] += input_mem
    peak = graph.meta.get("peak_memory") or {}
    totals["peak_memory"] = peak.get("bytes")
    totals["peak_memory_at"] = peak.get("node")
    totals["schedule"] = peak.get("schedule")
    totals["layers"] = len(base)
    unsupported = [u for r in base for u in r.unsupported]
    totals["complete"] = not unsupported
    totals["unsupported"] = unsupported
    shared: dict[str, dict[str, int]] = {}  # instance -> applications, parameters (counted once)
    for n in layers:
        if "shared" in n.meta:
            inst, k = n.meta["shared"]
            entry = shared.setdefault(inst, {"applications": 0, "params": 0})
            entry["applications"] = max(entry["applications"], k + 1)
            entry["params"] += (n.meta.get("params") or 0) if n.owns_params else 0
    totals["shared"] = [{"instance": k, **v} for k, v in shared.items()]
    outs = [graph.nodes[ref[0]] for _n, ref in graph.outputs]
    totals["output_rf"] = {name: (n.meta.get("rf") or {}).get("size") for (name, _r), n in zip(graph.outputs, outs)}

    by_op: dict[str, list[Row]] = {}
    for r in base:
        by_op.setdefault(r.op, []).append(r)
    op_rows = sorted((_merge(op, rs, op=op) for op, rs in by_op.items()),
                     key=lambda r: (-(r.macs or 0), -(r.params or 0), r.name))
    block_rows = collapse(base, 1)

    return Report(
        network=graph.meta.get("network", graph.name),
        inputs=[(n.name, tuple(n.attrs["shape"]), n.attrs.get("dtype", "float32")) for n in graph.input_nodes()],
        convention=convention, stage=stage, passes=list(passes), depth=depth, rows=rows, totals=totals,
        by_op=op_rows, by_block=block_rows,
        warnings=list(graph.meta.get("rf_warnings", [])),
    )
