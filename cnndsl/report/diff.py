"""What changed between two annotated graphs: structure, totals, receptive fields.

Nodes are matched by name (names are the hierarchical block paths, so the same layer
in two versions of a network has the same name). Both graphs must have been through
the analysis passes.
"""

from __future__ import annotations

from typing import Any

from cnndsl import __version__
from cnndsl.ir.graph import Graph
from cnndsl.report.model import build_report

SCHEMA = "cnndsl.diff/1"
TOTALS = ("params", "buffers", "macs", "flops", "memory", "peak_memory", "layers")


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v if isinstance(v, (int, float, str, bool)) or v is None else str(v)


def _rf_key(rf: dict | None) -> Any:
    return None if rf is None else {k: list(rf[k]) for k in ("size", "stride", "padding")}


def _label(g: Graph) -> str:
    """What the user named: the library name or the file (with the network when it differs from the name)."""
    lib = g.meta.get("library_name")
    net = g.meta.get("network", g.name)
    if lib:
        return f"{lib} ({net})" if lib != net else str(lib)
    where = g.meta.get("display") or g.meta.get("source")
    return f"{where}: {net}" if where else str(net)


def _side(g: Graph, rep) -> dict[str, Any]:
    return {"label": _label(g), "network": rep.network, "source": g.meta.get("display") or g.meta.get("source"),
            "inputs": [{"name": n, "shape": list(s)} for n, s, _d in rep.inputs]}


def diff_graphs(a: Graph, b: Graph) -> dict[str, Any]:
    """The `cnndsl diff --format json` object (schema `cnndsl.diff/1`); `identical` is false when anything differs."""
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
    side_a, side_b = _side(a, ra), _side(b, rb)
    identical = (not (added or removed or changed or rf_changes)
                 and all(t["delta"] in (0, None) and t["a"] == t["b"] for t in totals.values())
                 and all(o["shape"][0] == o["shape"][1] for o in outputs) and len(a.outputs) == len(b.outputs)
                 and side_a["inputs"] == side_b["inputs"])
    return {
        "schema": SCHEMA,
        "cnndsl_version": __version__,
        "a": side_a,
        "b": side_b,
        "identical": identical,
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


def _dims(v: Any, sep: str = ", ") -> str:
    if v is None:
        return "-"
    text = sep.join(str(x) for x in v)
    return text if sep == "x" else f"[{text}]"


def render_diff(d: dict[str, Any], limit: int = 50) -> str:
    def inputs(side: dict) -> str:
        return ", ".join(f"{i['name']}[{', '.join(str(d) for d in i['shape'])}]" for i in side["inputs"])

    verdict = "identical" if d["identical"] else "structure: " + ("same" if d["same_structure"] else "differs")
    out = [f"a: {d['a']['label']}, input {inputs(d['a'])}", f"b: {d['b']['label']}, input {inputs(d['b'])}",
           verdict, ""]
    width = max(len(k) for k in d["totals"])
    same = d["a"]["label"] == d["b"]["label"]  # the same name twice: the columns are "a" and "b"
    head_a, head_b = ("a", "b") if same else (d["a"]["label"], d["b"]["label"])
    col = max(16, len(head_a), len(head_b))
    out.append(f"{'':<{width}}  {head_a:>{col}}  {head_b:>{col}}  {'delta':>16}  {'ratio':>8}")
    for key, t in d["totals"].items():
        sign = "+" if t["delta"] and t["delta"] > 0 else ""
        delta = "-" if t["delta"] is None else f"{sign}{t['delta']:,}"
        ratio = "-" if t["ratio"] is None else f"{t['ratio']:.4f}"
        out.append(f"{key:<{width}}  {_fmt(t['a']):>{col}}  {_fmt(t['b']):>{col}}  {delta:>16}  {ratio:>8}")
    for o in d["outputs"]:
        name = o["a"] if o["a"] == o["b"] else f"{o['a']}/{o['b']}"
        out.append(f"output '{name}': shape {_dims(o['shape'][0])} -> {_dims(o['shape'][1])}; "
                   f"receptive field {_dims((o['rf'][0] or {}).get('size'), 'x')} -> "
                   f"{_dims((o['rf'][1] or {}).get('size'), 'x')}")

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
    def change(k: str, v: list) -> str:
        if k == "shape":
            return f"shape {_dims(v[0])} -> {_dims(v[1])}"
        return f"{k} {_fmt(v[0])} -> {_fmt(v[1])}"

    section("changed", [c["name"] + ": " + "; ".join(change(k, v) if k != "attrs" else
                                                      "attrs " + ", ".join(f"{ak} {av[0]} -> {av[1]}"
                                                                           for ak, av in v.items())
                                                      for k, v in c.items() if k != "name") for c in d["changed"]])
    section("receptive field changed", [f"{c['name']}: {_dims((c['a'] or {}).get('size'), 'x')} -> "
                                        f"{_dims((c['b'] or {}).get('size'), 'x')}" for c in d["rf_changed"]])
    return "\n".join(out) + "\n"
