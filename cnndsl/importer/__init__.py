"""`cnndsl import`: an ONNX model (or a PyTorch module, through torch.onnx) -> a readable `.cnn`
file and its weights keyed by the `.cnn`'s names.

Steps, one module each: `read` (load, shape inference, constant folding, computed reshape
targets), `fuse` (multi-node idioms), `mapping` (ONNX op -> cnndsl op, one table), `scopes`
(names from the exporter's scopes), `structure` (module tree, blocks, repeats, emission).
onnx (and torch for `import_torch`) are imported only here, when importing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnndsl.diagnostics import InputError

from .stage import ImportFailed, Stage, Unsupported


@dataclass
class Imported:
    text: str
    weights: dict[str, np.ndarray]
    network: str
    nodes: int


class _Ctx:
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
        return name in self.om.initializer_names

    def stage(self, op, attrs, node, inputs, params=None, sources=None) -> Stage:
        return Stage(op, attrs, list(inputs), [o for o in node.outputs if o][:_n_out(op, attrs, node)],
                     dict(params or {}), node.name, node.index, dict(sources or {}))


def _n_out(op, attrs, node) -> int:
    return len(node.outputs) if op in ("chunk", "split") else 1


def _network_name(model, om, name: str | None) -> str:
    import re

    if name:
        return name
    for p in model.metadata_props:
        if p.key == "cnndsl.network":
            base = p.value
            break
    else:
        base = om.graph_name or "Net"
    base = re.sub(r"[^A-Za-z0-9_]", "_", base)
    base = base if base[:1].isalpha() else "Net" + base
    return base[:1].upper() + base[1:]


def import_onnx(path, network: str | None = None) -> Imported:
    from cnndsl.ops.registry import SELF_PARAM

    from .fuse import fuse
    from .mapping import MAPPINGS
    from .read import load, read_model
    from .scopes import assign_paths
    from .structure import Emitter, build_tree

    model = load(path)
    om = read_model(model)
    fuse(om)
    ctx = _Ctx(om)
    stages: list[Stage] = []
    problems: list[Unsupported] = []
    alias: dict[str, str] = {}
    for n in om.nodes:
        n.inputs = [alias.get(i, i) for i in n.inputs]
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
        raise ImportFailed(str(path), problems)
    outputs = [alias.get(o, o) for o in om.outputs]
    for st in stages:
        if "" in st.params:
            st.params[SELF_PARAM] = st.params.pop("")
            st.param_sources[SELF_PARAM] = st.param_sources.pop("")
    producer = "cnndsl" if model.producer_name == "cnndsl" else model.producer_name
    assign_paths(stages, producer, None)
    inputs = []
    for name, dims, _dtype in om.inputs:
        if len(dims) < 2:
            raise InputError(f"{path}: input '{name}' has shape {list(dims)}; cnndsl networks take [N, C, ...]")
        inputs.append((name, dims))
    net_name = _network_name(model, om, network)
    em = Emitter(stages, outputs, net_name, inputs)
    root = build_tree(stages)
    root.inputs = [i[0] for i in inputs]
    root.outputs = outputs
    em.body(root, True)
    in_text = ", ".join(f"{n}: f32[N, " + ", ".join(str(d) for d in dims[1:]) + "]" for n, dims in inputs)
    text = f"# imported from {path} by `cnndsl import`\n\n" + em.finish(root, in_text)
    weights: dict[str, np.ndarray] = {}
    for st in stages:
        name = ".".join(st.path) if st.named else None
        for p, arr in st.params.items():
            weights[(name or "?") + "\x00" + p] = arr
    # keys depend on final node names; resolved by elaborating the text (see keyed_weights)
    return Imported(text, weights, net_name, len(stages)), stages


def keyed_weights(text: str, stages, source_name: str = "<import>"):
    """Elaborate the emitted text and key each stage's parameters by the node it became (in order)."""
    from cnndsl.api import load_text
    from cnndsl.ops.registry import get, param_key

    graph = load_text(text, source_name)
    nodes = [n for n in graph.topo() if n.op != "input"]
    by_name = {n.name: n for n in nodes}
    weights = {}
    param_nodes = [n for n in nodes if get(n.op).params(n.attrs, [graph.value_shape(tuple(r)) for r in n.inputs])]
    param_stages = [st for st in stages if st.params]
    named = {".".join(st.path): st for st in param_stages if st.named}
    if len(param_nodes) != len(param_stages):
        raise InputError(f"internal: {len(param_stages)} stages with weights became {len(param_nodes)} nodes")
    for node, st in zip(param_nodes, param_stages):
        st = named.get(node.name, st)
        shapes = [graph.value_shape(tuple(r)) for r in node.inputs]
        spec = get(node.op).params(node.attrs, shapes)
        for p, (shape, _train) in spec.items():
            key = param_key(node.params_of, p)
            if p in st.params:
                weights[key] = np.asarray(st.params[p]).reshape(shape).astype(np.float32)
            elif p == "num_batches_tracked":
                weights[key] = np.zeros(shape, np.int64)
    del by_name
    return graph, weights


__all__ = ["ImportFailed", "Imported", "import_onnx", "keyed_weights"]
