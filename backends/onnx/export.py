"""Graph IR + weights -> onnx.ModelProto, through the lowering table in `lower.py`.

Names: graph inputs keep their IR names; each IR node's result is the ONNX value named
like the node (or like the graph output it feeds); the last ONNX node a lowering emits
is named like the IR node, helpers before it `<node>/<OpType>`. Initializers are named
as in the weights store. The batch dimension stays the symbol `N` unless the graph
fixes it. No shapes of intermediate values are written (except where onnx's inference is
known to lose the batch symbol: Resize), so onnx's own shape inference is an
independent check of ours.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import helper, numpy_helper

from cnndsl import __version__
from cnndsl.backend import BackendError
from cnndsl.ops.registry import param_key

from .lower import LOWERINGS

# ops whose ONNX form does not say what they were (stochastic depth is an Identity at
# inference, an adaptive pool a plain or global pool): recorded in the model's metadata
LOST_IN_ONNX = ("adaptive_avgpool", "adaptive_maxpool", "stochastic_depth")

DEFAULT_OPSET = 18
MIN_OPSET = 13


def max_opset() -> int:
    return onnx.defs.onnx_opset_version()


def check_opset(opset: int | None) -> int:
    opset = DEFAULT_OPSET if opset is None else int(opset)
    if not MIN_OPSET <= opset <= max_opset():
        raise BackendError(f"--opset {opset} is not supported: use {MIN_OPSET} to {max_opset()} "
                           f"(the newest the installed onnx {onnx.__version__} knows)")
    return opset


def _value_info(name: str, shape, dtype: str = "float32") -> onnx.ValueInfoProto:
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    dims = [d if isinstance(d, str) else int(d) for d in shape]
    return helper.make_tensor_value_info(name, elem, dims)


class LoweringContext:
    """What a lowering sees: emit nodes, fetch weights, make constants, read shapes."""

    def __init__(self, graph, weights, opset: int):
        self.graph = graph
        self.weights = weights
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, onnx.TensorProto] = {}
        self._names: set[str] = set()
        self._current = None
        self.values: dict[tuple[str, int], str] = {}
        self.value_info: dict[str, onnx.ValueInfoProto] = {}

    # -- names
    def _fresh(self, base: str) -> str:
        name, i = base, 1
        while name in self._names:
            name, i = f"{base}_{i}", i + 1
        self._names.add(name)
        return name

    def reserve(self, name: str) -> str:
        return self._fresh(name)

    # -- what lowerings call
    def emit(self, op_type: str, inputs: list[str], out: str | list[str] | None = None, **attrs) -> str:
        """Add one ONNX node; `out` given: the IR node's result (named like it), else a fresh helper value."""
        node = self._current
        final = out is not None
        outs = ([out] if isinstance(out, str) else list(out)) if final else [self._fresh(f"{node.name}/{op_type}")]
        name = node.name if final else outs[0]
        onode = helper.make_node(op_type, list(inputs), outs, name=name, **attrs)
        if node.span is not None:
            onode.doc_string = str(node.span)
        self.nodes.append(onode)
        return outs[0]

    def annotate(self, value: str, shape) -> None:
        """Declare a value's shape (value_info) where onnx's own inference loses information."""
        self.value_info[value] = _value_info(value, shape)

    def outputs(self, node) -> list[str]:
        """Value names of every output of a multi-output node (chunk)."""
        return [self.values[(node.name, i)] for i in range(num_outputs(node))]

    def weight(self, node, param: str) -> str:
        """The initializer of the weight `param_key(node, param)`, named like its store key."""
        key = param_key(node.params_of, param)
        if key not in self.initializers:
            if key not in self.weights:
                raise BackendError(f"no weight '{key}' for node {node.name} ({node.op})")
            arr = np.ascontiguousarray(self.weights[key], dtype=np.float32)
            self.initializers[key] = numpy_helper.from_array(arr, name=key)
            self._names.add(key)
        return key

    def const(self, node, hint: str, array: np.ndarray) -> str:
        name = self._fresh(f"{node.name}/{hint}")
        self.initializers[name] = numpy_helper.from_array(np.asarray(array), name=name)
        return name

    def shape(self, ref) -> tuple:
        return tuple(self.graph.value_shape(tuple(ref)))


def num_outputs(node) -> int:
    from cnndsl.ops.registry import get

    return get(node.op).num_outputs(node.attrs) if node.op != "input" else 1


def _param_keys(graph) -> set[str]:
    from cnndsl.ops.registry import get

    keys = set()
    for node in graph.topo():
        if node.op != "input":
            shapes = [graph.value_shape(tuple(r)) for r in node.inputs]
            keys.update(param_key(node.params_of, p) for p in get(node.op).params(node.attrs, shapes))
    return keys


def value_names(graph) -> dict[tuple[str, int], str]:
    """The ONNX value name of every IR value: graph outputs take their output names. Initializers
    are named like the weight keys, so a value whose name is a key (layer_scale's output: its
    gamma is keyed by the node name) becomes `<name>/out`."""
    out_names = {}
    for out_name, ref in graph.outputs:
        out_names.setdefault(tuple(ref), out_name)
    reserved = {name for name, _ref in graph.outputs} | _param_keys(graph)
    names = {}
    for node in graph.topo():
        n = num_outputs(node)
        for i in range(n):
            ref = (node.name, i)
            base = node.name if n == 1 else f"{node.name}:{i}"
            if ref in out_names and node.op != "input":
                names[ref] = out_names[ref]
            elif base in reserved and out_names.get(ref) != base:
                names[ref] = f"{base}/out"
            else:
                names[ref] = base
    return names


def _relative_source(meta: dict) -> str:
    """The source as the diagnostics name it (`<cnndsl>/resnet.cnn`, `nets/mine.cnn`), else its file name."""
    import os

    display = str(meta.get("display") or "")
    if display and not os.path.isabs(display):
        return display
    return os.path.basename(str(meta["source"]))


def build_model(graph, weights, opset: int | None = None) -> onnx.ModelProto:
    """Lower a checked graph; every op must have a lowering (Backend.check ran first)."""
    opset = check_opset(opset)
    ctx = LoweringContext(graph, weights, opset)
    names = value_names(graph)
    ctx.values = names
    ctx._names.update(names.values())
    ctx._names.update(n.name for n in graph.nodes.values())

    inputs = []
    for node in graph.input_nodes():
        inputs.append(_value_info(names[(node.name, 0)], node.attrs["shape"], node.attrs.get("dtype", "float32")))

    for node in graph.topo():
        if node.op == "input":
            continue
        ctx._current = node
        xs = [names[tuple(ref)] for ref in node.inputs]
        LOWERINGS[node.op](ctx, node, xs, names[(node.name, 0)])
    ctx._current = None

    outputs = []
    for out_name, ref in graph.outputs:
        value = names[tuple(ref)]
        if value != out_name:  # a second output of one value, or a graph input used as output
            ctx.nodes.append(helper.make_node("Identity", [value], [out_name], name=ctx._fresh(f"{out_name}/Identity")))
        outputs.append(_value_info(out_name, graph.value_shape(tuple(ref))))

    out_values = {o.name for o in outputs} | {i.name for i in inputs}
    values_of: dict[str, list] = {}  # node name -> its (ref, value name) pairs: one pass, linear in the graph
    for ref, value in names.items():
        values_of.setdefault(ref[0], []).append((ref, value))
    for node in graph.topo():  # every IR value's shape, so viewers (Netron) label every edge
        if node.op == "input":
            continue
        for ref, value in values_of.get(node.name, ()):
            shape = graph.value_shape(ref)
            if shape is not None and value not in ctx.value_info:
                ctx.value_info[value] = _value_info(value, shape, node.meta.get("dtype", "float32"))
    value_info = [v for name, v in ctx.value_info.items() if name not in out_values]
    g = helper.make_graph(ctx.nodes, graph.name, inputs, outputs, initializer=list(ctx.initializers.values()),
                          value_info=value_info)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(g, opset_imports=opsets, producer_name="cnndsl", producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for(opsets))
    meta = {"cnndsl.network": str(graph.meta.get("network", graph.name))}
    if graph.meta.get("source"):  # a relative name, never this machine's absolute path
        meta["cnndsl.source"] = _relative_source(graph.meta)
    if getattr(weights, "source", ""):
        meta["cnndsl.weights"] = str(weights.source)
    frozen = [n.name for n in graph.topo() if n.op == "bn" and n.attrs.get("frozen")]
    if frozen:  # ONNX has no frozen batch norm: `cnndsl import` reads them back from here (docs/import.md)
        meta["cnndsl.frozen_bn"] = ",".join(frozen)
    lost = {n.name: {"op": n.op, "attrs": dict(n.attrs)} for n in graph.topo() if n.op in LOST_IN_ONNX}
    if lost:  # layers ONNX spells as something else (an identity, a plain pool): for `cnndsl import`
        meta["cnndsl.layers"] = json.dumps(lost, sort_keys=True, default=str)
    helper.set_model_props(model, meta)
    _complete_value_info(model)
    return model


def _complete_value_info(model: onnx.ModelProto) -> None:
    """Shapes for the helper tensors inside multi-node lowerings (LayerNorm's Div, SiLU's Sigmoid, ...),
    from onnx's own inference (best effort: a tensor it cannot infer stays without one)."""
    g = model.graph
    known = {v.name for v in (*g.value_info, *g.input, *g.output)} | {i.name for i in g.initializer}
    inferred = onnx.shape_inference.infer_shapes(model)
    g.value_info.extend(v for v in inferred.graph.value_info
                        if v.name not in known and v.type.tensor_type.HasField("shape"))


__all__ = ["DEFAULT_OPSET", "MIN_OPSET", "LoweringContext", "build_model", "check_opset", "max_opset",
           "value_names"]
