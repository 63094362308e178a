"""`cnndsl import`: an ONNX model (or a PyTorch module, through torch.onnx) -> a readable `.cnn`
file and its weights keyed by the `.cnn`'s names.

Steps, one module each: `read` (load, shape inference, constant folding, computed reshape
targets), `fuse` (multi-node idioms), `mapping` (ONNX op -> cnndsl op, one table), `scopes`
(names from the exporter's scopes), `structure` (module tree, blocks, repeats, emission),
`keying` (weights keyed by the nodes the text elaborates to), `torch_export` (a
`model.py:factory` through torch.onnx). onnx (and torch) are imported only when importing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnndsl.diagnostics import InputError
from cnndsl.syntax.format import format_source

from .stage import ImportFailed, Stage, Unsupported

# graph names exporters give every model: not a name a person chose
_GENERIC_GRAPH_NAMES = frozenset(["main_graph", "torch_jit", "torch-jit-export", "graph", "net", ""])


@dataclass
class Imported:
    """The result of an import: the `.cnn` text, its weights (keys `<node>.<param>`), the elaborated graph."""

    text: str
    weights: dict[str, np.ndarray]
    network: str
    graph: object  # cnndsl.ir.graph.Graph of `text`


class _Ctx:
    """What a mapping row may read: constants, inferred shapes, the opset."""

    def __init__(self, om):
        self.om = om
        self.opset = om.opset

    def has_const(self, name: str) -> bool:
        return bool(name) and name in self.om.consts

    def const(self, name: str) -> np.ndarray:
        return self.om.consts[name]

    def shape(self, name: str) -> tuple:
        return self.om.shapes.get(name, ())

    def scope_of_const(self, name: str) -> bool:
        return name in self.om.initializer_names or bool(self.om.const_sources.get(name))

    def source_of(self, name: str) -> str:
        """The initializer a constant came from (through Reshape/Unsqueeze/Identity), for its weight key."""
        return self.om.const_sources.get(name, name)

    def stage(self, op, attrs, node, inputs, params=None, sources=None) -> Stage:
        n_out = len(node.outputs) if op in ("chunk", "split") else 1
        srcs = {k: self.source_of(v) for k, v in (sources or {}).items()}
        return Stage(op, attrs, list(inputs), [o for o in node.outputs if o][:n_out],
                     dict(params or {}), node.name, node.index, srcs)


def _identifier(text: str, fallback: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_")
    if not base:
        return fallback
    base = base if base[:1].isalpha() else fallback + base
    return base[:1].upper() + base[1:]


def network_name(model, om, path: str, name: str | None) -> str:
    """--network, else the name cnndsl's export recorded, else the graph's name, else the file's stem."""
    if name:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise InputError(f"--network {name!r} is not a name (letters, digits and _, not starting with a digit)")
        return name
    for p in model.metadata_props:
        if p.key == "cnndsl.network":
            return _identifier(p.value, "Net")
    if om.graph_name not in _GENERIC_GRAPH_NAMES:
        return _identifier(om.graph_name, "Net")
    return _identifier(Path(str(path)).stem, "Net")


def _comment_text(text: str) -> str:
    """User-supplied text for a `#` comment: printable, one line."""
    return "".join(c if c.isprintable() else "?" for c in text)[:200]


def import_model(model, source: str, network: str | None = None, origin: str | None = None) -> Imported:
    """An ONNX ModelProto -> Imported. `source` labels errors, `origin` the header comment."""
    from cnndsl.ops.registry import SELF_PARAM

    from .fuse import fuse
    from .keying import keyed_weights
    from .mapping import MAPPINGS, recorded
    from .read import read_model
    from .scopes import assign_paths
    from .structure import Emitter, build_tree

    om = read_model(model, source)
    fuse(om)
    ctx = _Ctx(om)
    stages: list[Stage] = []
    problems: list[Unsupported] = []
    alias: dict[str, str] = {}
    with_helpers = {m.name.split("/")[0] for m in om.nodes if "/" in m.name}
    for n in om.nodes:
        n.inputs = [alias.get(i, i) for i in n.inputs]
        if n.name in om.layers and n.name not in with_helpers:  # lowered to this one node: the recorded layer
            st = recorded(ctx, n, om.layers[n.name])
            if st is not None:
                stages.append(st)
                continue
        fn = MAPPINGS.get(n.op)
        if fn is None:
            problems.append(Unsupported(n, "no cnndsl op for this ONNX op"))
            continue
        try:
            st = fn(ctx, n)
        except Unsupported as err:
            problems.append(err)
            continue
        if st is None:
            alias[n.outputs[0]] = n.inputs[0]
            continue
        stages.append(st)
    if problems:
        raise ImportFailed(source, problems)
    outputs = [alias.get(o, o) for o in om.outputs]
    for st in stages:
        if "" in st.params:
            st.params[SELF_PARAM] = st.params.pop("")
            st.param_sources[SELF_PARAM] = st.param_sources.pop("", "")
    producer = "cnndsl" if model.producer_name == "cnndsl" else model.producer_name
    assign_paths(stages, producer)
    inputs = []
    for name, dims, _dtype in om.inputs:
        if len(dims) < 2 or any(not isinstance(d, int) for d in dims[1:]):
            raise InputError(f"{source}: input '{name}' has shape {list(dims)}; cnndsl networks take "
                             "[N, C, ...] with fixed sizes after the batch")
        inputs.append((name, dims))
    if not inputs:
        raise InputError(f"{source}: the model has no inputs")
    net_name = network_name(model, om, source, network)
    em = Emitter(stages, outputs, net_name, inputs)
    root = build_tree(stages)
    root.inputs = [i[0] for i in inputs]
    root.outputs = outputs
    em.body(root, True)
    in_text = ", ".join(f"{em.input_name(n)}: f32[N, " + ", ".join(str(d) for d in dims[1:]) + "]"
                        for n, dims in inputs)
    header = f"# Imported by `cnndsl import` from {_comment_text(origin or source)}\n\n"
    text = format_source(header + em.finish(root, in_text), source)  # laid out as `cnndsl fmt` would
    graph, weights = keyed_weights(text, stages, source)
    return Imported(text, weights, net_name, graph)


def import_onnx(path: str | Path, network: str | None = None) -> Imported:
    """An `.onnx` file (external data beside it included) -> Imported."""
    from .read import load

    return import_model(load(path), str(path), network, origin=Path(str(path)).name)


def import_torch(spec: str, input_shape: tuple[int, ...], network: str | None = None) -> Imported:
    """`path/to/model.py:factory` -> exported through torch.onnx (TorchScript exporter) -> Imported."""
    from .torch_export import export_factory

    model, cls_name = export_factory(spec, input_shape)
    return import_model(model, spec, network or _identifier(cls_name, "Net"), origin=spec)


__all__ = ["ImportFailed", "Imported", "import_model", "import_onnx", "import_torch", "network_name"]
