"""The op reference, read from the registry: every op's attributes (type, default, constraints),
arity, what it counts (each rule, and its figures on a small example run through the rules
themselves), and its PyTorch and ONNX equivalents (cnndsl/ops/reference.py).

`cnndsl ops` prints it (table, JSON, markdown, or one op); docs/ops.md is `markdown()` written by
scripts/gen_ops_doc.py, and tests/ops/test_ops_reference.py fails when the file is stale.
"""

from __future__ import annotations

from typing import Any

from cnndsl.ops.constraints import show_value
from cnndsl.ops.reference import DEFAULT_EXAMPLE, EQUIVALENTS, EXAMPLES
from cnndsl.ops.registry import (
    NO_FLOPS,
    NO_MACS,
    NO_PARAMS,
    RF_GLOBAL,
    RF_NONE,
    RF_POINTWISE,
    RULES,
    OpDef,
    all_ops,
)

TYPE_WORDS = {
    "int": "int",
    "float": "number",
    "bool": "bool",
    "str": "string",
    "int2": "int, or one per spatial axis",
    "pad": "int, one per axis, begins then ends, \"same\" or \"valid\"",
    "ints": "list of ints",
    "layer": "layer (an activation)",
    "any": "value",
}

_DECLARED_NONE = {NO_PARAMS: "none", NO_MACS: "none", NO_FLOPS: "none", RF_POINTWISE: "pointwise",
                  RF_GLOBAL: "global (sees the whole input)", RF_NONE: "none (positions lose their meaning)"}

CATEGORY_ORDER = ("io", "conv", "linear", "norm", "activation", "pool", "elementwise", "shape", "regularize")


def rule_words(opdef: OpDef, rule: str) -> str:
    """How an op declares one rule: its declared none, "not countable" (None), or its own rule."""
    value = getattr(opdef, rule)
    if rule in opdef.missing_rules():
        return "NOT DECLARED"
    if value is None:
        return "not countable (reported as unsupported)"
    if value in _DECLARED_NONE:
        return _DECLARED_NONE[value]
    return "its own rule"


def _arity(opdef: OpDef) -> str:
    lo, hi = opdef.inputs
    if lo == hi:
        return str(lo)
    return f"{lo} or more" if hi is None else f"{lo} to {hi}"


def _outputs(opdef: OpDef) -> str:
    return "one per part (set by the attributes)" if callable(opdef.outputs) else str(opdef.outputs)


def attribute_record(spec: Any, index: int, positional: int) -> dict:
    return {
        "name": spec.name,
        "type": spec.type,
        "type_words": TYPE_WORDS.get(spec.type, spec.type),
        "required": spec.required,
        "default": None if spec.required else show_value(spec.default),
        "constraints": [c.text for c in spec.checks],
        "positional": index < positional,
        "doc": spec.doc,
    }


def example(opdef: OpDef) -> dict | None:
    """The op's rules run on its reference example: output shape(s), parameters, MACs, FLOPs, RF kind."""
    from cnndsl.ir.builder import GraphBuilder

    if opdef.name == "input":
        return None
    attrs, shapes = EXAMPLES.get(opdef.name, DEFAULT_EXAMPLE)
    b = GraphBuilder("example")
    refs = [b.input(f"x{i}", s) for i, s in enumerate(shapes)]
    node = b.graph.nodes[b.add(opdef.name, refs, name="example", **attrs)[0]]
    out = node.meta.get("shapes", node.meta["shape"])
    params = opdef.params(node.attrs, list(shapes)) if callable(opdef.params) else {}
    macs = opdef.macs(node.attrs, list(shapes), out) if callable(opdef.macs) else None
    flops = opdef.flops(node.attrs, list(shapes), out) if callable(opdef.flops) else None
    rf = opdef.rf(node.attrs) if callable(opdef.rf) else None
    count = 0
    for shape, _trainable in params.values():
        n = 1
        for d in shape:
            n *= int(d)
        count += n
    return {
        "stage": opdef.name + "(" + ", ".join(f"{k}={show_value(v)}" for k, v in attrs.items()) + ")",
        "inputs": [list(s) for s in shapes],
        "outputs": [list(s) for s in out] if isinstance(out, list) else [list(out)],
        "params": {k or "(the node's own name)": {"shape": list(s), "trainable": t} for k, (s, t) in params.items()},
        "param_count": count,
        "macs": macs,
        "flops": flops,
        "rf": None if rf is None else rf.kind,
    }


def op_record(opdef: OpDef) -> dict:
    eq = EQUIVALENTS.get(opdef.name)
    return {
        "name": opdef.name,
        "category": opdef.category,
        "doc": opdef.doc,
        "inputs": _arity(opdef),
        "outputs": _outputs(opdef),
        "attributes": [attribute_record(s, i, opdef.positional) for i, s in enumerate(opdef.attrs)],
        "counts": {rule: rule_words(opdef, rule) for rule in RULES},
        "inference_identity": opdef.inference_identity,
        "example": example(opdef),
        "pytorch": eq.torch if eq else None,
        "onnx": eq.onnx if eq else None,
    }


def records() -> list[dict]:
    ops = all_ops()
    order = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    return [op_record(ops[n]) for n in sorted(ops, key=lambda n: (order.get(ops[n].category, 99), n))]


# ------------------------------------------------------------------ renderings
def _int(n: Any) -> str:
    return "-" if n is None else f"{n:,}"


def _shape(s: list) -> str:
    return "[" + ", ".join(str(d) for d in s) + "]"


def _example_line(ex: dict) -> str:
    params = ", ".join(f"{k} {_shape(v['shape'])}{'' if v['trainable'] else ' (buffer)'}"
                       for k, v in ex["params"].items())
    return (f"{ex['stage']} on {', '.join(_shape(s) for s in ex['inputs'])} -> "
            f"{', '.join(_shape(s) for s in ex['outputs'])}; params {_int(ex['param_count'])}"
            f"{f' ({params})' if params else ''}, MACs {_int(ex['macs'])}, FLOPs {_int(ex['flops'])}, "
            f"RF {ex['rf']}")


def text(rec: dict) -> str:
    """One op in full, for `cnndsl ops NAME`."""
    lines = [f"{rec['name']} ({rec['category']}): {rec['doc']}",
             f"  inputs: {rec['inputs']}; outputs: {rec['outputs']}"]
    if rec["inference_identity"]:
        lines.append("  the identity at inference")
    if rec["attributes"]:
        lines.append("  attributes (positional first):")
        w = max(len(a["name"]) for a in rec["attributes"])
        for a in rec["attributes"]:
            default = "required" if a["required"] else f"default {a['default']}"
            cons = f"; {', '.join(a['constraints'])}" if a["constraints"] else ""
            doc = f" -- {a['doc']}" if a["doc"] else ""
            pos = "" if a["positional"] else " (keyword)"
            lines.append(f"    {a['name']:<{w}}  {a['type_words']}, {default}{cons}{pos}{doc}")
    else:
        lines.append("  attributes: none")
    c = rec["counts"]
    lines.append(f"  counts: params {c['params']}; MACs {c['macs']}; FLOPs {c['flops']}; receptive field {c['rf']}")
    if rec["example"]:
        lines.append(f"  example: {_example_line(rec['example'])}")
    lines.append(f"  PyTorch: {rec['pytorch']}")
    lines.append(f"  ONNX: {rec['onnx']}")
    return "\n".join(lines)


def table(recs: list[dict]) -> str:
    """Every op on one line: name, category, inputs, attributes, PyTorch equivalent."""
    rows = [("op", "category", "inputs", "attributes", "PyTorch")]
    for r in recs:
        names = ", ".join(a["name"] + ("" if a["required"] else "?") for a in r["attributes"]) or "-"
        rows.append((r["name"], r["category"], r["inputs"], names, r["pytorch"] or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    out = []
    for row in rows:
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    out.append("")
    out.append("(? marks an attribute with a default; `cnndsl ops NAME` shows one op in full)")
    return "\n".join(out)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(recs: list[dict] | None = None) -> str:
    """docs/ops.md."""
    recs = records() if recs is None else recs
    lines = [
        "# Op reference",
        "",
        "<!-- Generated from the op registry by scripts/gen_ops_doc.py (`cnndsl ops --format markdown`);",
        "     do not edit by hand: tests/ops/test_ops_reference.py fails when this file is stale. -->",
        "",
        "Every op cnndsl knows, read from its registry entry (`cnndsl/ops/`): attributes with their",
        "types, defaults and constraints (checked where the attribute is written, before anything",
        "else sees the value: docs/language.md, \"Attribute constraints\"), how many tensors it takes,",
        "what it counts (each of params, MACs, FLOPs and receptive field is declared by the op; the",
        "example line runs those rules on a small input), and its PyTorch and ONNX equivalents.",
        "In a constraint, `> 0` applies to every number of the value (`kernel=(3, 0)` fails), `n to m",
        "values` to the count of a list, `product <= n` to the product of its numbers (a window's volume).",
        "",
        "| op | category | inputs | attributes | PyTorch | ONNX |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in recs:
        names = ", ".join(f"`{a['name']}`" for a in r["attributes"]) or "-"
        lines.append(f"| [`{r['name']}`](#{r['name']}) | {r['category']} | {r['inputs']} | {names} | "
                     f"{_md(r['pytorch'] or '-')} | {_md(r['onnx'] or '-')} |")
    category = None
    for r in recs:
        if r["category"] != category:
            category = r["category"]
            lines += ["", f"## {category}"]
        lines += ["", f"### {r['name']}", "", _md(r["doc"]) + ("" if r["doc"].endswith(".") else "."), ""]
        lines.append(f"Inputs: {r['inputs']}; outputs: {r['outputs']}."
                     + (" The identity at inference." if r["inference_identity"] else ""))
        if r["attributes"]:
            lines += ["", "| attribute | type | default | constraints | meaning |", "| --- | --- | --- | --- | --- |"]
            for a in r["attributes"]:
                default = "required" if a["required"] else f"`{_md(a['default'])}`"
                pos = "" if a["positional"] else " (keyword only)"
                lines.append(f"| `{a['name']}`{pos} | {_md(a['type_words'])} | {default} | "
                             f"{_md(', '.join(a['constraints'])) or '-'} | {_md(a['doc']) or '-'} |")
        c = r["counts"]
        lines += ["", (f"Counts: params {c['params']}; MACs {c['macs']}; FLOPs {c['flops']}; "
                       f"receptive field {c['rf']}.")]
        if r["example"]:
            on = _example_line(r["example"]).split(" on ", 1)[1]
            lines += ["", f"Example: `{r['example']['stage']}` on {_md(on)}."]
        lines += ["", f"PyTorch: {_md(r['pytorch'] or '-')}. ONNX: {_md(r['onnx'] or '-')}."]
    return "\n".join(lines) + "\n"


__all__ = ["markdown", "op_record", "records", "rule_words", "table", "text"]
