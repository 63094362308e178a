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
SCHEMA = "cnndsl.report/1"


@dataclass
class Row:
    """One layer, or one block of layers when collapsed with `--depth`, or one op type (`by_op`)."""

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
    inputs: list[tuple | None] = field(default_factory=list)  # shapes entering the layer / block
    kernel: tuple | None = None
    stride: tuple | None = None
    block: dict | None = None  # a collapsed block: {"type", "label", "children": {type: count}}
    tool: int | None = None  # the compared tool's count (`--compare`), per batch item

    @property
    def title(self) -> str:
        """The name as tables print it: `layer1: Bottleneck ×3`, `layer1.0: Bottleneck`, or the node name."""
        if not self.block or not self.block.get("type"):
            return self.name
        kids = self.block.get("children") or {}
        if len(kids) == 1 and self.block.get("only_blocks"):
            (kind, count), = kids.items()
            return f"{self.name}: {kind} \u00d7{count}"
        return f"{self.name}: {self.block['type']}"

    def to_json(self, totals: dict[str, Any] | None = None) -> dict[str, Any]:
        out = {
            "name": self.name, "op": self.op, "nodes": self.nodes,
            "input_shapes": [None if s is None else list(s) for s in self.inputs],
            "shape": None if self.shape is None else list(self.shape),
            "kernel": None if self.kernel is None else list(self.kernel),
            "stride": None if self.stride is None else list(self.stride),
            "params": self.params, "buffers": self.buffers, "macs": self.macs, "flops": self.flops,
            "memory": self.memory,
            "rf": None if self.rf is None else {k: self.rf[k] for k in ("size", "stride", "padding")},
            "unsupported": list(self.unsupported),
            "shares": self.shares,
        }
        if totals is not None:
            out["params_percent"] = percent(self.params, totals.get("params"))
            out["macs_percent"] = percent(self.macs, totals.get("macs"))
        if self.block is not None:
            out["block"] = {k: v for k, v in self.block.items() if k != "only_blocks"}
            out["title"] = self.title
        if self.tool is not None or totals is not None and totals.get("compare"):
            out["compare"] = self.tool
        return out


def percent(part: int | None, whole: int | None) -> float | None:
    """`part` as a percentage of `whole`, rounded to 2 decimals; None when either is unknown or whole is 0."""
    if part is None or not whole:
        return None
    return round(100.0 * part / whole, 2)


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
            "schema": SCHEMA,
            "cnndsl_version": self.version,
            "network": self.network,
            "inputs": [{"name": n, "shape": list(s), "dtype": d} for n, s, d in self.inputs],
            "convention": dict(self.convention.to_json(), description=self.convention.describe()),
            "stage": {"name": self.stage, "passes": list(self.passes)},
            "per": "batch item",
            "depth": self.depth,
            "totals": dict(self.totals),
            "layers": [r.to_json(self.totals) for r in self.rows],
            "by_op": [r.to_json(self.totals) for r in self.by_op],
            "by_block": [r.to_json(self.totals) for r in self.by_block],
            "warnings": list(self.warnings),
        }


def _pair(v: Any) -> tuple | None:
    return None if v is None else tuple(v) if isinstance(v, (list, tuple)) else (v,)


def _row(graph: Graph, node: Node, tool: int | None = None) -> Row:
    m = node.meta
    missing = m.get("unsupported") or []
    return Row(
        name=node.name, op=node.op, shape=m.get("shape"),
        params=m.get("params"), buffers=m.get("buffers"), macs=m.get("macs"), flops=m.get("flops"),
        memory=m.get("memory"), rf=m.get("rf"),
        unsupported=[f"{node.name} ({node.op}): {', '.join(missing)}"] if missing else [],
        shares=None if node.owns_params else node.params_of,
        inputs=[graph.value_shape(r) for r in node.inputs],
        kernel=_pair(node.attrs.get("kernel")), stride=_pair(node.attrs.get("stride")), tool=tool,
    )


def _merge(name: str, rows: list[Row], op: str | None = None, keep_shape: bool = True) -> Row:
    """Sum the counts of `rows`; a count is None only when no member had a figure."""
    ops = list(dict.fromkeys(r.op for r in rows))
    out = Row(name=name, op=op or (ops[0] if len(ops) == 1 and len(rows) == 1 else "block"),
              shape=rows[-1].shape if keep_shape else None, rf=rows[-1].rf if keep_shape else None,
              nodes=sum(r.nodes for r in rows))
    for key in COUNTS + ("tool",):
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


def _kind(label: str) -> str:
    """`Bottleneck(c=64, stride=1)` -> `Bottleneck`."""
    return label.split("(", 1)[0].strip()


def _block_info(key: str, nodes: list[Node]) -> dict | None:
    """The block instance at path `key` (its type from the nodes' scope labels) and its direct child blocks."""
    k = key.count(".") + 1  # scope[i] labels the block at the first i+1 name components (the elaborator's contract)
    labels = [n.scope[k - 1] for n in nodes if len(n.scope) >= k]
    if not labels:
        return None
    children: dict[str, dict[str, None]] = {}
    direct_ops = False
    for n in nodes:
        if len(n.scope) > k:
            children.setdefault(_kind(n.scope[k]), {})[block_of(n.name, k + 1)] = None
        else:
            direct_ops = True
    return {"type": _kind(labels[0]), "label": labels[0],
            "children": {kind: len(insts) for kind, insts in children.items()},
            "only_blocks": not direct_ops}


def _group_inputs(graph: Graph, nodes: list[Node]) -> list[tuple | None]:
    """Shapes of the tensors a group of nodes reads from outside itself, in first-use order."""
    inside = {n.name for n in nodes}
    refs: dict[tuple[str, int], None] = {}
    for n in nodes:
        for ref in n.inputs:
            if ref[0] not in inside:
                refs[ref] = None
    return [graph.value_shape(r) for r in refs]


def collapse(rows: list[Row], depth: int, graph: Graph | None = None) -> list[Row]:
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(block_of(r.name, depth), []).append(r)
    out = []
    for key, members in groups.items():
        if len(members) == 1 and members[0].name == key:
            out.append(members[0])
            continue
        row = _merge(key, members)
        if graph is not None:
            nodes = [graph.nodes[m.name] for m in members]
            row.inputs = _group_inputs(graph, nodes)
            row.block = _block_info(key, nodes)
            if row.block is not None:
                row.op = row.block["type"]
        out.append(row)
    return out


def _batch_of(graph: Graph) -> int | None:
    shapes = [n.attrs["shape"] for n in graph.input_nodes()]
    batches = {s[0] for s in shapes if s}
    if len(batches) == 1:
        (b,) = batches
        return b if isinstance(b, int) else None
    return None


def build_report(graph: Graph, *, depth: int | None = None, convention: Convention | None = None,
                 stage: str = "as written", passes: list[str] | tuple[str, ...] = (), compare: str | None = None,
                 warnings: list[str] | tuple[str, ...] = ()) -> Report:
    """The report of an annotated graph. `compare` names a tool (`cnndsl.report.conventions`) whose count is added."""
    from cnndsl.report.conventions import CONVENTIONS, tool_counts
    from cnndsl.report.training import memory_estimates

    if convention is None:
        convention = Convention(**graph.meta.get("flop_convention", {}))
    counts = tool_counts(graph, compare) if compare else {}
    layers = [n for n in graph.topo() if n.op != "input"]
    base = [_row(graph, n, counts.get(n.name)) for n in layers]
    if depth is not None and depth < 1:
        raise ValueError("depth must be at least 1")
    rows = collapse(base, depth, graph) if depth else base

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
    batch = _batch_of(graph)
    totals["batch"] = batch
    scale = batch or 1
    totals["for_batch"] = {"batch": batch, "macs": totals["macs"] * scale, "flops": totals["flops"] * scale,
                           "memory": totals["memory"] * scale,
                           "peak_memory": None if totals["peak_memory"] is None else totals["peak_memory"] * scale}
    totals["params_bytes"] = 4 * (totals["params"] + totals["buffers"])
    totals["estimates"] = memory_estimates(totals, scale)
    if compare:
        conv = CONVENTIONS[compare]
        known = [c for c in counts.values() if c is not None]
        per_item = int(sum(known))
        totals["compare"] = {"tool": compare, "figure": conv.figure, "call": conv.call, "per_item": per_item,
                             "for_batch": per_item * scale, "complete": len(known) == len(counts)}

    by_op: dict[str, list[Row]] = {}
    for r in base:
        by_op.setdefault(r.op, []).append(r)
    op_rows = sorted((_merge(op, rs, op=op, keep_shape=False) for op, rs in by_op.items()),
                     key=lambda r: (-(r.macs or 0), -(r.params or 0), r.name))
    block_rows = collapse(base, 1, graph)

    return Report(
        network=graph.meta.get("network", graph.name),
        inputs=[(n.name, tuple(n.attrs["shape"]), n.attrs.get("dtype", "float32")) for n in graph.input_nodes()],
        convention=convention, stage=stage, passes=list(passes), depth=depth, rows=rows, totals=totals,
        by_op=op_rows, by_block=block_rows,
        warnings=list(dict.fromkeys(list(graph.meta.get("rf_warnings", [])) + list(warnings))),
    )
