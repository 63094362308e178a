"""Graph IR over a `networkx.MultiDiGraph`.

Ordered inputs on each node are the truth; edges (with a `port` key attribute) are
derived from them and `lint()` checks both agree (torch.fx's args/users split).
A node's output is addressed by `(node name, output index)`; most ops have one output.
Shapes are tuples in NCHW order whose batch entry may be the symbol `"N"`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from cnndsl.diagnostics import Span

Dim = int | str
Shape = tuple[Dim, ...]


@dataclass(frozen=True)
class TensorType:
    shape: Shape
    dtype: str = "float32"

    def __str__(self) -> str:
        return f"{self.dtype}[{', '.join(str(d) for d in self.shape)}]"


@dataclass
class Node:
    """One layer. `inputs` are (producer name, output index) pairs, in port order."""

    name: str
    op: str
    attrs: dict[str, Any] = field(default_factory=dict)
    inputs: list[tuple[str, int]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def span(self) -> Span | None:
        return self.meta.get("span")

    @property
    def shape(self) -> Shape | None:
        return self.meta.get("shape")

    @property
    def scope(self) -> tuple[str, ...]:
        return self.meta.get("scope", ())

    @property
    def params_of(self) -> str:
        """The node whose parameters this node uses (weight keys `<params_of>.<param>`): the node itself, or, in a
        later application of a shared instance, the first application's node (`meta["params_of"]`)."""
        return self.meta.get("params_of", self.name)

    @property
    def owns_params(self) -> bool:
        """False for the nodes of a shared instance's later applications: their parameters are counted,
        stored and initialized once, at the first application (or, when dead-node elimination removed
        that, at the first live one, marked `meta["holds_params"]`)."""
        return "params_of" not in self.meta or bool(self.meta.get("holds_params"))


class Graph:
    """A static DAG of `Node`s with named, ordered graph inputs and outputs.

    Graph inputs are nodes with op `input` (attrs: shape, dtype). `outputs` is an
    ordered list of (output name, (node name, index)).
    """

    def __init__(self, name: str = "graph"):
        self.name = name
        self.nx = nx.MultiDiGraph()
        self.nodes: dict[str, Node] = {}
        self.input_names: list[str] = []
        self.outputs: list[tuple[str, tuple[str, int]]] = []
        self.meta: dict[str, Any] = {}

    # ------------------------------------------------------------------ building
    def add_node(self, node: Node) -> Node:
        if node.name in self.nodes:
            raise ValueError(f"duplicate node name {node.name!r}")
        self.nodes[node.name] = node
        self.nx.add_node(node.name)
        for port, (src, _idx) in enumerate(node.inputs):
            self.nx.add_edge(src, node.name, key=port, port=port)
        if node.op == "input":
            self.input_names.append(node.name)
        return node

    def unique_name(self, base: str) -> str:
        if base not in self.nodes:
            return base
        i = 1
        while f"{base}_{i}" in self.nodes:
            i += 1
        return f"{base}_{i}"

    def set_inputs(self, name: str, inputs: list[tuple[str, int]]) -> None:
        """Replace a node's inputs and re-derive its in-edges."""
        node = self.nodes[name]
        for src, _dst, key in list(self.nx.in_edges(name, keys=True)):
            self.nx.remove_edge(src, name, key)
        node.inputs = list(inputs)
        for port, (src, _idx) in enumerate(node.inputs):
            self.nx.add_edge(src, name, key=port, port=port)

    def replace_uses(self, old: tuple[str, int], new: tuple[str, int]) -> None:
        for user in list(self.users(old[0])):
            node = self.nodes[user]
            if old in node.inputs:
                self.set_inputs(user, [new if i == old else i for i in node.inputs])
        self.outputs = [(n, new if ref == old else ref) for n, ref in self.outputs]

    def remove_node(self, name: str) -> None:
        """Remove a node nothing reads: refused (ValueError) for a node with users or a graph output."""
        users = self.users(name)
        if users:
            raise ValueError(f"node {name!r} still has users: {', '.join(users[:5])}")
        outputs = [out for out, (src, _i) in self.outputs if src == name]
        if outputs:
            raise ValueError(f"node {name!r} is graph output {outputs[0]!r}")
        self.nx.remove_node(name)
        del self.nodes[name]
        if name in self.input_names:
            self.input_names.remove(name)

    # ------------------------------------------------------------------ reading
    def users(self, name: str) -> list[str]:
        return list(dict.fromkeys(self.nx.successors(name)))

    def ancestors(self, name: str) -> set[str]:
        """`name` and every node it depends on."""
        return nx.ancestors(self.nx, name) | {name}

    def topo(self) -> list[Node]:
        """Deterministic topological order: insertion order breaks ties."""
        order = {n: i for i, n in enumerate(self.nodes)}
        return [self.nodes[n] for n in nx.lexicographical_topological_sort(self.nx, key=order.get)]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.topo())

    def __len__(self) -> int:
        return len(self.nodes)

    def input_nodes(self) -> list[Node]:
        return [self.nodes[n] for n in self.input_names]

    def output_shapes(self) -> list[Any]:
        return [self.value_shape(ref) for _n, ref in self.outputs]

    def value_shape(self, ref: tuple[str, int]) -> Any:
        node = self.nodes[ref[0]]
        shapes = node.meta.get("shapes")
        if shapes is not None:
            return shapes[ref[1]]
        return node.meta.get("shape")

    def copy(self) -> Graph:
        import copy as _copy

        g = Graph(self.name)
        for node in self.nodes.values():
            g.add_node(Node(node.name, node.op, _copy.deepcopy(node.attrs), list(node.inputs), dict(node.meta)))
        g.outputs = list(self.outputs)
        g.meta = dict(self.meta)
        return g

    # ------------------------------------------------------------------ checking
    def lint(self) -> None:
        """Check the invariants every pass may rely on; raise AssertionError-free ValueError."""
        problems: list[str] = []
        if set(self.nx.nodes) != set(self.nodes):
            problems.append("networkx nodes and node table differ")
        for node in self.nodes.values():
            expect = sorted((src, node.name, port) for port, (src, _i) in enumerate(node.inputs))
            have = sorted((s, d, data["port"]) for s, d, data in self.nx.in_edges(node.name, data=True))
            if expect != have:
                problems.append(f"{node.name}: inputs {node.inputs} disagree with edges {have}")
            for src, _i in node.inputs:
                if src not in self.nodes:
                    problems.append(f"{node.name}: input from unknown node {src!r}")
        if not nx.is_directed_acyclic_graph(self.nx):
            problems.append("graph has a cycle")
        for out_name, (src, _i) in self.outputs:
            if src not in self.nodes:
                problems.append(f"output {out_name!r} refers to unknown node {src!r}")
        if problems:
            raise ValueError("IR lint failed:\n  " + "\n  ".join(problems))

    # ------------------------------------------------------------------ printing
    def to_text(self) -> str:
        from cnndsl.ir.printer import to_text

        return to_text(self)

    def to_json(self) -> dict:
        from cnndsl.ir.printer import to_json

        return to_json(self)
