"""Build Graph IR nodes through the op registry: defaults filled, attributes
normalized, shapes inferred at insertion. The elaborator uses it, and so can tests
and tools that make graphs in Python.

    b = GraphBuilder("tiny")
    x = b.input("image", (1, 3, 32, 32))
    y = b.add("conv", [x], name="conv1", out=8, kernel=3)
    b.output("logits", y)
    g = b.graph
"""

from __future__ import annotations

from typing import Any

from cnndsl.diagnostics import Span
from cnndsl.ir import budgets
from cnndsl.ir.graph import Graph, Node
from cnndsl.ops.registry import MissingRule, OpDef, ShapeError, get

Ref = tuple[str, int]


class AttrError(Exception):
    """A bad attribute, before positions are attached by the caller; `attr` names it when one is to blame."""

    def __init__(self, message: str, attr: str | None = None):
        super().__init__(message)
        self.attr = attr


def complete_attrs(opdef: OpDef, attrs: dict[str, Any]) -> dict[str, Any]:
    """Check names, fill defaults; raise AttrError for unknown or missing attributes."""
    unknown = [k for k in attrs if opdef.attr(k) is None]
    if unknown:
        raise AttrError(f"{opdef.name}: unknown attribute {unknown[0]!r}")
    out = {}
    for spec in opdef.attrs:
        if spec.name in attrs:
            value = attrs[spec.name]
            problem = spec.problem(value)  # the declared constraints (cnndsl/ops/constraints.py)
            if problem:
                raise AttrError(f"{opdef.name}: {spec.name} {problem}", spec.name)
            out[spec.name] = value
        elif spec.required:
            raise AttrError(f"{opdef.name}: missing required attribute {spec.name!r}")
        else:
            out[spec.name] = spec.default
    return out


def check_volumes(opdef: OpDef, attrs: dict[str, Any]) -> None:
    """The `product_at_most` constraints again on the normalized values: `kernel=100000` is one int
    until the input's rank makes it one per axis, and the window's volume is that of all of them."""
    for spec in opdef.attrs:
        for c in spec.checks:
            if c.kind == "product_at_most" and spec.name in attrs:
                problem = c.check(attrs[spec.name])
                if problem:
                    raise AttrError(f"{opdef.name}: {spec.name} {problem}", spec.name)


def infer_node(opdef: OpDef, attrs: dict[str, Any], in_shapes: list) -> tuple[dict[str, Any], Any]:
    """Normalize attributes and compute the output shape; raises ShapeError."""
    lo, hi = opdef.inputs
    if len(in_shapes) < lo or (hi is not None and len(in_shapes) > hi):
        want = f"{lo}" if lo == hi else f"{lo} or more" if hi is None else f"{lo} to {hi}"
        raise ShapeError(f"{opdef.name} takes {want} input tensors, got {len(in_shapes)}")
    if opdef.normalize is not None:
        attrs = opdef.normalize(attrs, in_shapes)
        check_volumes(opdef, attrs)
    shape = opdef.shape(attrs, in_shapes)
    n_out = opdef.num_outputs(attrs)
    if n_out > 1 and not (isinstance(shape, list) and len(shape) == n_out):
        raise ShapeError(f"{opdef.name}: shape rule must return {n_out} shapes (internal error)")
    return attrs, shape


def shape_meta(shape: Any) -> dict[str, Any]:
    """Meta entries for an inferred shape: a list (several outputs) goes to `shapes`,
    and `shape` holds the first output's so single-output readers still work."""
    if isinstance(shape, list):
        return {"shape": tuple(shape[0]), "shapes": [tuple(s) for s in shape]}
    return {"shape": shape}


class GraphBuilder:
    def __init__(self, name: str = "graph"):
        self.graph = Graph(name)
        self.param_total = 0  # parameters of the nodes added so far (the MAX_PARAMS budget)

    def input(self, name: str, shape: tuple, dtype: str = "float32", span: Span | None = None) -> Ref:
        budgets.check_shape(shape, f"input '{name}'")
        node = Node(name, "input", {"shape": tuple(shape), "dtype": dtype}, [],
                    {"shape": tuple(shape), "dtype": dtype, "span": span, "scope": ()})
        self.graph.add_node(node)
        return (name, 0)

    def add(self, op: str, inputs: list[Ref], name: str | None = None, *, span: Span | None = None,
            scope: tuple[str, ...] = (), meta: dict | None = None, **attrs: Any) -> Ref:
        opdef = get(op)
        attrs = complete_attrs(opdef, attrs)
        in_shapes = [self.graph.value_shape(r) for r in inputs]
        attrs, shape = infer_node(opdef, attrs, in_shapes)
        self.check_budgets(opdef, attrs, in_shapes, shape, meta)
        name = self.graph.unique_name(name or op)
        m = {**shape_meta(shape), "dtype": "float32", "span": span, "scope": scope}
        m.update(meta or {})
        self.graph.add_node(Node(name, op, attrs, list(inputs), m))
        return (name, 0)

    def check_budgets(self, opdef: OpDef, attrs: dict[str, Any], in_shapes: list, shape: Any,
                      meta: dict | None) -> None:
        """Elements per tensor and parameters per network (cnndsl/ir/budgets.py), before the node exists."""
        budgets.check_output_shapes(opdef.name, shape)
        budgets.check_padded_input(opdef.name, attrs, in_shapes)
        if meta and "params_of" in meta:
            return  # a shared instance's later application: its parameters were counted at the first
        if opdef.params is None:  # a test's ad-hoc op declaring no rules at all
            return
        try:
            params = opdef.params(attrs, in_shapes)
        except MissingRule:
            return  # an op without a params rule: the registry test names it; passes flag it unsupported
        total = self.param_total + budgets.param_count(opdef.name, params)
        budgets.check_total_params(total)
        self.param_total = total

    def add_multi(self, op: str, inputs: list[Ref], name: str | None = None, **kw: Any) -> list[Ref]:
        """Like `add`, for ops with several outputs (chunk): one ref per output."""
        ref = self.add(op, inputs, name, **kw)
        node = self.graph.nodes[ref[0]]
        return [(node.name, i) for i in range(get(op).num_outputs(node.attrs))]

    def output(self, name: str, ref: Ref) -> None:
        self.graph.outputs.append((name, ref))
