"""What changed between two annotated graphs: structure, totals, receptive fields.

Nodes are matched by name (names are the hierarchical block paths, so the same layer
in two versions of a network has the same name). Both graphs must have been through
the analysis passes.
"""

from __future__ import annotations

from typing import Any

from cnndsl.ir.graph import Graph
from cnndsl.report.model import build_report

TOTALS = ("params", "buffers", "macs", "flops", "memory", "peak_memory", "layers")


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v if isinstance(v, (int, float, str, bool)) or v is None else str(v)


def _rf_key(rf: dict | None) -> Any:
    return None if rf is None else {k: list(rf[k]) for k in ("size", "stride", "padding")}


def diff_graphs(a: Graph, b: Graph) -> dict[str, Any]:
    ra, rb = build_report(a), build_report(b)
    names_a, names_b = set(a.nodes), set(b.nodes)
    added = [n for n in b.nodes if n not in names_a]
    removed = [n for n in a.nodes if n not in names_b]
    changed = []
    rf_changes = []
    for name in a.nodes:
        if name not in names_b:
            continue
        na, nb = a.nodes[name], b.nodes[name]
        what: dict[str, Any] = {}
        if na.op != nb.op:
            what["op"] = [na.op, nb.op]
        keys = list(dict.fromkeys(list(na.attrs) + list(nb.attrs)))
        attrs = {k: [_jsonable(na.attrs.get(k)), _jsonable(nb.attrs.get(k))] for k in keys
                 if na.attrs.get(k) != nb.attrs.get(k)}
        if attrs:
            what["attrs"] = attrs
        if [s for s, _i in na.inputs] != [s for s, _i in nb.inputs]:
            what["inputs"] = [[s for s, _i in na.inputs], [s for s, _i in nb.inputs]]
        if na.meta.get("shape") != nb.meta.get("shape"):
            what["shape"] = [_jsonable(na.meta.get("shape")), _jsonable(nb.meta.get("shape"))]
        for key in ("params", "macs"):
            if na.meta.get(key) != nb.meta.get(key):
                what[key] = [na.meta.get(key), nb.meta.get(key)]
        if na.params_of != nb.params_of:  # shared modules: whose parameters the node uses
            what["shares"] = [None if na.owns_params else na.params_of, None if nb.owns_params else nb.params_of]
        if what:
            changed.append({"name": name, **what})
        rfa, rfb = _rf_key(na.meta.get("rf")), _rf_key(nb.meta.get("rf"))
        if rfa != rfb:
            rf_changes.append({"name": name, "a": rfa, "b": rfb})
    totals = {}
    for key in TOTALS:
        va, vb = ra.totals.get(key), rb.totals.get(key)
        delta = None if va is None or vb is None else vb - va
        totals[key] = {"a": va, "b": vb, "delta": delta,
                       "ratio": None if not va or vb is None else round(vb / va, 6)}
    outputs = []
    for (name_a, ref_a), (name_b, ref_b) in zip(a.outputs, b.outputs):
        na, nb = a.nodes[ref_a[0]], b.nodes[ref_b[0]]
        outputs.append({"a": name_a, "b": name_b, "shape": [_jsonable(na.meta.get("shape")),
                                                              _jsonable(nb.meta.get("shape"))],
                        "rf": [_rf_key(na.meta.get("rf")), _rf_key(nb.meta.get("rf"))]})
    return {
        "a": {"network": ra.network, "inputs": [[n, list(s)] for n, s, _d in ra.inputs]},
        "b": {"network": rb.network, "inputs": [[n, list(s)] for n, s, _d in rb.inputs]},
        "same_structure": not (added or removed or any(set(c) & {"op", "attrs", "inputs"} for c in changed)),
        "totals": totals,
        "added": [{"name": n, "op": b.nodes[n].op} for n in added],
        "removed": [{"name": n, "op": a.nodes[n].op} for n in removed],
        "changed": changed,
        "rf_changed": rf_changes,
        "outputs": outputs,
        "unsupported": {"a": ra.totals["unsupported"], "b": rb.totals["unsupported"]},
        "shared": {"a": ra.totals["shared"], "b": rb.totals["shared"]},
    }


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def render_diff(d: dict[str, Any], limit: int = 50) -> str:
    out = [f"a: {d['a']['network']} {d['a']['inputs']}", f"b: {d['b']['network']} {d['b']['inputs']}",
           "structure: " + ("same" if d["same_structure"] else "differs"), ""]
    width = max(len(k) for k in d["totals"])
    out.append(f"{'':<{width}}  {'a':>16}  {'b':>16}  {'delta':>16}  {'ratio':>8}")
    for key, t in d["totals"].items():
        sign = "+" if t["delta"] and t["delta"] > 0 else ""
        delta = "-" if t["delta"] is None else f"{sign}{t['delta']:,}"
        ratio = "-" if t["ratio"] is None else f"{t['ratio']:.4f}"
        out.append(f"{key:<{width}}  {_fmt(t['a']):>16}  {_fmt(t['b']):>16}  {delta:>16}  {ratio:>8}")
    for o in d["outputs"]:
        out.append(f"output {o['a']}/{o['b']}: shape {o['shape'][0]} -> {o['shape'][1]}; "
                   f"rf {(o['rf'][0] or {}).get('size')} -> {(o['rf'][1] or {}).get('size')}")

    def section(title: str, items: list[str]) -> None:
        if not items:
            return
        out.extend(["", f"{title} ({len(items)}):"])
        out.extend(f"  {i}" for i in items[:limit])
        if len(items) > limit:
            out.append(f"  ... and {len(items) - limit} more (see --format json)")

    for side in ("a", "b"):
        section(f"shared in {side}", [f"{s['instance']}: applied {s['applications']}x, {s['params']:,} params "
                                      "counted once" for s in d["shared"][side]])
    section("only in a", [f"{r['name']} ({r['op']})" for r in d["removed"]])
    section("only in b", [f"{r['name']} ({r['op']})" for r in d["added"]])
    section("changed", [c["name"] + ": " + "; ".join(f"{k} {v[0]} -> {v[1]}" if k != "attrs" else
                                                      "attrs " + ", ".join(f"{ak} {av[0]} -> {av[1]}"
                                                                           for ak, av in v.items())
                                                      for k, v in c.items() if k != "name") for c in d["changed"]])
    section("receptive field changed", [f"{c['name']}: {(c['a'] or {}).get('size')} -> {(c['b'] or {}).get('size')}"
                                        for c in d["rf_changed"]])
    return "\n".join(out) + "\n"
