"""The receptive-field report (`cnndsl rf`, `Model.rf()`): per node size / stride / padding.

Built from a graph the `rf` pass has annotated. `rf_report` returns the JSON object
(schema `cnndsl.rf/1`, docs/reports.md); `render_rf_table` prints it for people.
"""

from __future__ import annotations

from typing import Any

from cnndsl import __version__
from cnndsl.diagnostics import CnnError, did_you_mean
from cnndsl.ir.graph import Graph, Node

SCHEMA = "cnndsl.rf/1"
METHOD = "Araujo, Norris & Sim (Distill 2019); largest size over paths"


def parse_position(text: str | None) -> tuple[int, ...] | None:
    """`--at I,J` (one integer per spatial axis) as a tuple; None when not given."""
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise CnnError(f"--at expects integers separated by commas (I,J), got {text!r}") from None


def check_position(at: tuple[int, ...] | None, shape, nd: int) -> tuple[int, ...]:
    """The output position: one index per spatial axis (I,J in 2-D; L in 1-D; D,H,W in 3-D), default the centre."""
    spatial = None if shape is None or len(shape) != nd + 2 else tuple(shape[2:])
    if at is None:
        if spatial is None or not all(isinstance(d, int) for d in spatial):
            return (0,) * nd
        return tuple(d // 2 for d in spatial)
    at = tuple(at)
    if len(at) != nd:
        names = {1: "L (one integer)", 2: "I,J (two integers)", 3: "D,I,J (three integers)"}[nd]
        raise CnnError(f"--at expects {names}, got {','.join(str(a) for a in at)!r}")
    if spatial is not None and not all(0 <= a < d for a, d in zip(at, spatial)):
        raise CnnError(f"--at {','.join(str(a) for a in at)} is outside the node's output of "
                       f"{'x'.join(str(d) for d in spatial)} positions")
    return at


def node_entry(node: Node) -> dict[str, Any]:
    rf = node.meta.get("rf")
    shape = node.meta.get("shape")
    return {
        "name": node.name, "op": node.op, "shape": None if shape is None else list(shape),
        "rf": None if rf is None else {"size": list(rf["size"]), "stride": list(rf["stride"]),
                                       "padding": list(rf["padding"]), "aligned": list(rf["aligned"]),
                                       "paths": rf["paths"]},
    }


def input_region(graph: Graph, node: Node, at: tuple[int, ...]) -> dict[str, Any]:
    from cnndsl.passes.rf import input_region as region_of

    region = region_of(node, at)
    inp = graph.input_nodes()[0] if graph.input_nodes() else None
    extent = tuple(inp.attrs["shape"][2:]) if inp is not None and len(inp.attrs["shape"]) == len(at) + 2 else None
    clipped = None
    if extent is not None and all(isinstance(e, int) for e in extent):
        clipped = [[max(0, lo), min(e - 1, hi)] for (lo, hi), e in zip(region, extent)]
    out = {"position": list(at), "input": None if inp is None else inp.name,
           "ranges": [list(r) for r in region], "clipped": clipped}
    if len(region) == 2:  # 2-D: also as rows and columns
        out.update(rows=list(region[0]), cols=list(region[1]))
    return out


def rf_report(graph: Graph, *, node: str | None = None, at: tuple[int, ...] | None = None,
              warnings: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The `cnndsl rf --format json` object for an rf-annotated graph (one node and its input region with `node`)."""
    nodes = graph.topo()
    region = None
    if node is not None:
        if node not in graph.nodes:
            raise CnnError(f"no node named '{node}'{did_you_mean(node, graph.nodes)}")
        target = graph.nodes[node]
        nodes = [target]
        if target.meta.get("rf") is None:
            raise CnnError(f"node '{target.name}' ({target.op}) has no receptive field: its op, or one it depends "
                           "on, has no rf rule")
        pos = check_position(at, target.meta.get("shape"), len(target.meta["rf"]["size"]))
        region = input_region(graph, target, pos)
    elif at is not None:
        raise CnnError("--at needs --node")
    out: dict[str, Any] = {
        "schema": SCHEMA, "cnndsl_version": __version__, "network": graph.meta.get("network", graph.name),
        "inputs": [{"name": n.name, "shape": list(n.attrs["shape"])} for n in graph.input_nodes()],
        "method": METHOD, "nodes": [node_entry(n) for n in nodes], "warnings": list(warnings),
    }
    if region is not None:
        out["node"] = node
        out["region"] = region
    return out


_RANGE_NAMES = {1: ("positions",), 2: ("rows", "cols"), 3: ("frames", "rows", "cols")}
_AXES = {1: "l", 2: "h x w", 3: "d x h x w"}


def _ranges(ranges) -> str:
    return ", ".join(f"{name} {lo}..{hi}" for name, (lo, hi) in zip(_RANGE_NAMES[len(ranges)], ranges))


def render_rf_table(rep: dict[str, Any]) -> str:
    inputs = ", ".join(f"{i['name']}[{', '.join(str(d) for d in i['shape'])}]" for i in rep["inputs"])
    nd = len(rep["inputs"][0]["shape"]) - 2 if rep["inputs"] else 2
    out = [f"cnndsl {rep['cnndsl_version']} receptive fields: {rep['network']}; input {inputs}",
           (f"size / stride / padding per axis ({_AXES.get(nd, 'h x w')}), in input pixels; "
           "'!' marks misaligned paths")]
    rows = []
    for e in rep["nodes"]:
        rf = e["rf"]
        shape = "?" if e["shape"] is None else "[" + ", ".join(str(d) for d in e["shape"]) + "]"
        if rf is None:
            rows.append([e["name"], e["op"], shape, "unsupported", "", "", ""])
            continue
        mark = "" if all(rf["aligned"]) else "!"
        rows.append([e["name"], e["op"], shape, "x".join(str(v) for v in rf["size"]) + mark,
                     "x".join(str(v) for v in rf["stride"]), "x".join(str(v) for v in rf["padding"]),
                     str(rf["paths"]) if rf["paths"] < 10**6 else f"{float(rf['paths']):.1e}"])
    headers = ["name", "op", "output shape", "size", "stride", "padding", "paths"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    out.append("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    out.append("  ".join("-" * w for w in widths))
    for r in rows:
        out.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    region = rep.get("region")
    if region is not None:
        out.append("")
        out.append(f"output position {tuple(region['position'])} of '{rep['node']}' sees input "
                   f"'{region['input']}' {_ranges(region['ranges'])} (inclusive; negative or past the edge = padding)")
        if region["clipped"]:
            out.append(f"inside the input: {_ranges(region['clipped'])}")
    for w in rep["warnings"]:
        out.append(f"warning: {w}")
    return "\n".join(out) + "\n"
