"""A network that is a chain of layers, for the backend tests that check one op or one
schedule case at a time: `chain(hw, cin, [{"op": "conv", ...}, ...])`."""

from __future__ import annotations

from cnndsl.ir.builder import GraphBuilder


def chain(hw: int, cin: int, layers: list[dict], batch: int | str = 1):
    """Input `x` [batch, cin, hw, hw] through `layers` (each a dict of attributes; "op"
    defaults to conv), named l0, l1, ...; output `y`."""
    b = GraphBuilder("t")
    y = b.input("x", (batch, cin, hw, hw))
    for i, attrs in enumerate(layers):
        attrs = dict(attrs)
        op = attrs.pop("op", "conv")
        y = b.add(op, [y], name=f"l{i}", **attrs)
    b.output("y", y)
    return b.graph
