"""`cnndsl rf`: receptive field (size, effective stride, effective padding) per node."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "receptive field size, effective stride and padding of every node (multi-path aware)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from cnndsl.cli.common import add_source_arguments

    add_source_arguments(p)
    p.add_argument("--node", metavar="NAME", help="only this node, with the input region one output position sees")
    p.add_argument("--at", metavar="I,J", help="with --node: the output position, one index per spatial axis "
                                               "(L in 1-D, D,I,J in 3-D; default: the centre)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--optimize", action="store_true", help="after the inference cleanups (BN folding, fusion, ...)")


def _position(text: str | None, shape, nd: int = 2) -> tuple[int, ...]:
    """The output position: one index per spatial axis (I,J in 2-D; L in 1-D; D,H,W in 3-D)."""
    from cnndsl.diagnostics import CnnError

    spatial = None if shape is None or len(shape) != nd + 2 else tuple(shape[2:])
    if text is None:
        if spatial is None or not all(isinstance(d, int) for d in spatial):
            return (0,) * nd
        return tuple(d // 2 for d in spatial)
    try:
        at = tuple(int(v) for v in text.split(","))
    except ValueError:
        at = ()
    if len(at) != nd:
        names = {1: "L (one integer)", 2: "I,J (two integers)", 3: "D,I,J (three integers)"}[nd]
        raise CnnError(f"--at expects {names}, got {text!r}")
    if spatial is not None and not all(0 <= a < d for a, d in zip(at, spatial)):
        raise CnnError(f"--at {text} is outside the node's output of {'x'.join(str(d) for d in spatial)} positions")
    return at


def _entry(node) -> dict:
    rf = node.meta.get("rf")
    shape = node.meta.get("shape")
    return {
        "name": node.name, "op": node.op, "shape": None if shape is None else list(shape),
        "rf": None if rf is None else {"size": list(rf["size"]), "stride": list(rf["stride"]),
                                       "padding": list(rf["padding"]), "aligned": list(rf["aligned"]),
                                       "paths": rf["paths"]},
    }


def _region(graph, node, at) -> dict:
    from cnndsl.passes.rf import input_region

    region = input_region(node, at)
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


_RANGE_NAMES = {1: ("positions",), 2: ("rows", "cols"), 3: ("frames", "rows", "cols")}


def _ranges(ranges) -> str:
    return ", ".join(f"{name} {lo}..{hi}" for name, (lo, hi) in zip(_RANGE_NAMES[len(ranges)], ranges))


def run(args: argparse.Namespace) -> int:
    from cnndsl import __version__
    from cnndsl.cli.common import load_from_args
    from cnndsl.diagnostics import CnnError, did_you_mean
    from cnndsl.passes.manager import run_standard

    graph = load_from_args(args)
    result = run_standard(graph, optimize=args.optimize)
    graph = result.graph
    for w in result.warnings:
        print(f"cnndsl: warning: {w}", file=sys.stderr)
    nodes = graph.topo()
    region = None
    if args.node:
        if args.node not in graph.nodes:
            raise CnnError(f"no node named '{args.node}'{did_you_mean(args.node, graph.nodes)}")
        node = graph.nodes[args.node]
        nodes = [node]
        if node.meta.get("rf") is None:
            raise CnnError(f"node '{node.name}' ({node.op}) has no receptive field: its op, or one it depends on, "
                           "has no rf rule")
        region = _region(graph, node, _position(args.at, node.meta.get("shape"), len(node.meta["rf"]["size"])))
    elif args.at:
        raise CnnError("--at needs --node")

    if args.format == "json":
        out = {"cnndsl_version": __version__, "network": graph.meta.get("network", graph.name),
               "inputs": [{"name": n.name, "shape": list(n.attrs["shape"])} for n in graph.input_nodes()],
               "method": "Araujo, Norris & Sim (Distill 2019); largest size over paths",
               "nodes": [_entry(n) for n in nodes], "warnings": list(result.warnings)}
        if region is not None:
            out["region"] = region
        print(json.dumps(out, indent=2))
        return 0

    inputs = ", ".join(f"{n.name}[{', '.join(str(d) for d in n.attrs['shape'])}]" for n in graph.input_nodes())
    print(f"cnndsl {__version__} receptive fields: {graph.meta.get('network', graph.name)}; input {inputs}")
    axes = {1: "l", 2: "h x w", 3: "d x h x w"}.get(len(graph.input_nodes()[0].attrs["shape"]) - 2, "h x w") \
        if graph.input_nodes() else "h x w"
    print(f"size / stride / padding per axis ({axes}), in input pixels; '!' marks misaligned paths")
    rows = []
    for n in nodes:
        e = _entry(n)
        rf = e["rf"]
        shape = "?" if e["shape"] is None else "[" + ", ".join(str(d) for d in e["shape"]) + "]"
        if rf is None:
            rows.append([n.name, n.op, shape, "unsupported", "", "", ""])
            continue
        mark = "" if all(rf["aligned"]) else "!"
        rows.append([n.name, n.op, shape, "x".join(str(v) for v in rf["size"]) + mark,
                     "x".join(str(v) for v in rf["stride"]), "x".join(str(v) for v in rf["padding"]),
                     str(rf["paths"]) if rf["paths"] < 10**6 else f"{float(rf['paths']):.1e}"])
    headers = ["name", "op", "output shape", "size", "stride", "padding", "paths"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    if region is not None:
        print(f"\noutput position {tuple(region['position'])} of '{args.node}' sees input '{region['input']}' "
              f"{_ranges(region['ranges'])} (inclusive; negative or past the edge = padding)")
        if region["clipped"]:
            print(f"inside the input: {_ranges(region['clipped'])}")
    for w in result.warnings:
        print(f"warning: {w}")
    return 0
