"""The IR contract a pass must keep, checked by the pass manager when verification is on.

Verification runs in the test suite (tests/conftest.py turns it on for every test) and
under the CLI's `--verify`; it costs a linear walk of the graph per pass. After each pass:

- the graph it returns passes `Graph.lint()` (edges agree with inputs, no cycle, outputs
  and inputs name existing nodes, every value carries a shape when every value did before);
- an analysis (`in_place=True`) returns the graph it was given, with the same nodes,
  edges and attributes: it may only write `node.meta`;
- a transformation (`in_place=False`) leaves the graph it was given untouched: nodes,
  edges, attributes, outputs and the identity of every meta value are as before.

A broken contract is a `ContractError` naming the pass; it means a bug in cnndsl, not in
the user's network, and the manager reports it as such.
"""

from __future__ import annotations

from typing import Any

from cnndsl.ir.graph import Graph

VERIFY = False  # every pipeline verifies when True (tests/conftest.py, `--verify`)


class ContractError(Exception):
    """A pass broke the IR contract."""


def structure(graph: Graph) -> tuple:
    """Nodes, inputs, attributes and outputs: what an analysis must not change."""
    return (tuple((n.name, n.op, _frozen(n.attrs), tuple(map(tuple, n.inputs))) for n in graph.nodes.values()),
            tuple((name, tuple(ref)) for name, ref in graph.outputs), tuple(graph.input_names))


def snapshot(graph: Graph) -> tuple:
    """`structure` plus the identity of every meta value: what a transformation must not change in its input."""
    metas = tuple(tuple((k, id(v)) for k, v in n.meta.items()) for n in graph.nodes.values())
    return structure(graph), metas


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)


def shaped(graph: Graph) -> bool:
    return all("shape" in n.meta or "shapes" in n.meta for n in graph.nodes.values())


def check(pass_name: str, in_place: bool, before: tuple, was_shaped: bool, given: Graph, result: Graph) -> None:
    """Raise ContractError if the pass `pass_name` broke the contract (see the module docstring)."""
    try:
        result.lint()
    except ValueError as err:
        raise ContractError(f"pass '{pass_name}' returned an invalid graph: {err}") from None
    if was_shaped and not shaped(result):
        lost = [n.name for n in result.nodes.values() if "shape" not in n.meta and "shapes" not in n.meta]
        raise ContractError(f"pass '{pass_name}' left nodes without a shape: {', '.join(lost[:5])}")
    if in_place:
        if result is not given:
            raise ContractError(f"pass '{pass_name}' is declared in_place but returned a different graph")
        if structure(result) != before[0]:
            raise ContractError(f"pass '{pass_name}' is declared in_place (an analysis) but changed the graph's "
                                "nodes, edges or attributes")
    elif snapshot(given) != before:
        raise ContractError(f"pass '{pass_name}' is a transformation but changed the graph it was given "
                            "(it must work on a copy)")


__all__ = ["VERIFY", "ContractError", "check", "shaped", "snapshot", "structure"]
