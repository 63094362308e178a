"""Text, JSON and DOT renderings of the Graph IR."""

from __future__ import annotations

import json
from typing import Any

from cnndsl.ir.graph import Graph


def _fmt_shape(shape: Any) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _fmt_attr(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(_fmt_attr(x) for x in v) + ")"
    if v is None:
        return "none"
    return str(v)


def _ref(ref: tuple[str, int]) -> str:
    return f"%{ref[0]}" if ref[1] == 0 else f"%{ref[0]}#{ref[1]}"


def to_text(g: Graph) -> str:
    lines = [f"graph {g.name}("]
    for node in g.input_nodes():
        lines.append(f"    %{node.name}: {node.attrs.get('dtype', 'float32')}{_fmt_shape(node.attrs['shape'])},")
    lines.append(") {")
    for node in g.topo():
        if node.op == "input":
            continue
        args = ", ".join(_ref(i) for i in node.inputs)
        attrs = ", ".join(f"{k}={_fmt_attr(v)}" for k, v in node.attrs.items())
        call = f"{node.op}({args}" + (f"; {attrs}" if attrs else "") + ")"
        shape = _fmt_shape(node.meta.get("shape"))
        span = node.meta.get("span")
        where = f"  # {span.file}:{span.line}" if span else ""
        if not node.owns_params:
            where += f" (parameters of %{node.params_of})" if where else f"  # parameters of %{node.params_of}"
        lines.append(f"    %{node.name}: {shape} = {call}{where}")
    outs = ", ".join(f"{n}={_ref(r)}" for n, r in g.outputs)
    lines.append(f"    return {outs}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return str(v)


def to_json(g: Graph) -> dict:
    nodes = []
    for node in g.topo():
        span = node.meta.get("span")
        entry = {
            "name": node.name,
            "op": node.op,
            "attrs": _jsonable(node.attrs),
            "inputs": [{"node": s, "index": i} for s, i in node.inputs],
            "shape": _jsonable(node.meta.get("shape")),
            "dtype": node.meta.get("dtype", "float32"),
            "scope": list(node.meta.get("scope", ())),
            "span": None if span is None else {"file": span.file, "line": span.line, "col": span.col},
        }
        for key in ("params", "macs", "flops", "memory", "rf", "shared", "params_of"):
            if key in node.meta:
                entry[key] = _jsonable(node.meta[key])
        nodes.append(entry)
    return {
        "name": g.name,
        "inputs": [{"name": n.name, "shape": _jsonable(n.attrs["shape"]), "dtype": n.attrs.get("dtype", "float32")}
                   for n in g.input_nodes()],
        "outputs": [{"name": n, "node": r[0], "index": r[1]} for n, r in g.outputs],
        "nodes": nodes,
    }


def to_dot(g: Graph, annotate: tuple[str, ...] = ("shape",)) -> str:
    """Graphviz DOT of `g`: see `cnndsl.ir.dot` (block clusters, op colours, tooltips)."""
    from cnndsl.ir.dot import to_dot as dot

    return dot(g, annotate)
