"""Small helpers the passes share: registry lookups that tolerate missing rules."""

from __future__ import annotations

from typing import Any

from cnndsl.ir.graph import Graph, Node
from cnndsl.ops.registry import REGISTRY, OpDef


def opdef_of(node: Node) -> OpDef | None:
    """The node's registry entry, or None when the op is unknown to this build."""
    from cnndsl import ops  # noqa: F401  (fills REGISTRY)

    return REGISTRY.get(node.op)


def rule_of(opdef: OpDef | None, rule: str) -> Any:
    """A rule callable (`params`, `macs`, `flops`, `rf`), or None when the op has none.

    An op states "cannot count" by setting the field to None (the report then says
    "unsupported", never 0); a rule may also raise NotImplementedError for attribute
    combinations it cannot count. A rule the op never declared (a registry bug, which
    tests/ops/test_ops_registry.py catches) is treated the same way: flagged, not zero.
    """
    if opdef is None or rule in opdef.missing_rules():
        return None
    return getattr(opdef, rule, None)


def in_shapes(graph: Graph, node: Node) -> list:
    return [graph.value_shape(ref) for ref in node.inputs]


def out_shapes(node: Node) -> list:
    """Every output shape of a node (one entry for single-output ops)."""
    shapes = node.meta.get("shapes")
    if shapes is not None:
        return list(shapes)
    return [node.meta.get("shape")]


def mark_unsupported(node: Node, what: str) -> None:
    """Record that `what` could not be computed. Lists are replaced, never mutated: a graph
    copy shares its meta values with the original."""
    missing = node.meta.get("unsupported", [])
    if what not in missing:
        node.meta["unsupported"] = [*missing, what]


def clear_unsupported(node: Node, what: str) -> None:
    missing = node.meta.get("unsupported")
    if missing and what in missing:
        rest = [m for m in missing if m != what]
        if rest:
            node.meta["unsupported"] = rest
        else:
            del node.meta["unsupported"]


def new_weights(old, items) -> dict:
    """A weights store of the same kind as `old` (a `cnndsl.weights.Weights` keeps its source)."""
    try:
        from cnndsl.weights import Weights
    except ImportError:  # pragma: no cover
        return dict(items)
    if isinstance(old, Weights):
        return Weights(items, source=old.source)
    return dict(items)

