"""Read an ONNX model into a plain, normalized node list (the importer's first step).

`read_model(path)` loads the model with the `onnx` package (external data included),
runs onnx's shape inference (with data propagation), and normalizes:

- constants: initializers, `Constant` nodes and every node whose inputs are all constant
  are folded to numpy arrays (by onnx's reference evaluator, node by node);
- `Shape -> Gather -> Unsqueeze -> Concat -> Reshape` chains (the `x.view(x.size(0), -1)`
  of exporters): a Reshape whose target is computed takes the target from the inferred
  output shape (batch kept as 0), and the chain computing it becomes dead;
- `Identity` and inference-mode `Dropout` are kept (the mapping decides), dead nodes dropped.

Nothing here knows cnndsl's ops; `mapping.py` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnndsl.diagnostics import InputError


@dataclass
class ONode:
    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict
    index: int  # position in the model's node list


@dataclass
class OModel:
    nodes: list[ONode]
    consts: dict[str, np.ndarray]
    shapes: dict[str, tuple]  # value -> dims (str for symbolic)
    inputs: list[tuple[str, tuple, str]]  # name, dims, dtype
    outputs: list[str]
    initializer_names: set[str] = field(default_factory=set)
    opset: int = 0
    graph_name: str = "net"
    const_sources: dict[str, str] = field(default_factory=dict)  # folded constant -> the initializer it reshapes
    frozen_bn: set[str] = field(default_factory=set)  # BatchNormalization nodes cnndsl exported from bn(frozen=true)
    layers: dict[str, dict] = field(default_factory=dict)  # cnndsl's record of layers ONNX spells otherwise


def _dims(type_proto) -> tuple | None:
    t = type_proto.tensor_type
    if not t.HasField("shape"):
        return None
    dims = []
    for d in t.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or "N")
    return tuple(dims)


def load(path: str | Path):
    import onnx

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such ONNX file")
    try:
        model = onnx.load(str(p), load_external_data=True)
    except Exception as err:  # noqa: BLE001 -- protobuf/IO errors of a foreign file: one positioned message
        raise InputError(f"{p}: not a readable ONNX model ({type(err).__name__}: {err})") from None
    return model


def read_model(model, source: str = "<model>") -> OModel:
    import onnx
    from onnx import numpy_helper

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 11:
        raise InputError(f"{source}: ONNX opset {opset} is not supported: import needs opset 11 or newer")
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # noqa: BLE001 -- inference is an aid; without it shapes come from the model's own value_info
        inferred = model
    g = inferred.graph
    shapes: dict[str, tuple] = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        d = _dims(vi.type)
        if d is not None:
            shapes[vi.name] = d
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    init_names = set(consts)
    inputs = [(vi.name, shapes.get(vi.name, ()), _elem(vi)) for vi in g.input if vi.name not in consts]
    nodes = []
    for i, n in enumerate(g.node):
        if n.domain not in ("", "ai.onnx"):
            nodes.append(ONode(f"{n.domain}.{n.op_type}", n.name, list(n.input), list(n.output), {}, i))
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        nodes.append(ONode(n.op_type, n.name, list(n.input), list(n.output), attrs, i))  # "" when unnamed
    om = OModel(nodes, consts, shapes, inputs, [o.name for o in g.output], init_names, opset, g.name or "net")
    props = {p.key: p.value for p in model.metadata_props}
    if model.producer_name == "cnndsl" and props.get("cnndsl.frozen_bn"):
        om.frozen_bn = set(props["cnndsl.frozen_bn"].split(","))
    if model.producer_name == "cnndsl" and props.get("cnndsl.layers"):
        try:
            layers = json.loads(props["cnndsl.layers"])
        except ValueError:
            layers = None  # an aid only: without it the ONNX nodes are mapped as they are
        if isinstance(layers, dict):
            om.layers = {k: v for k, v in layers.items() if isinstance(v, dict) and isinstance(v.get("attrs"), dict)}
    _fold_shapes(om)
    _fold_constants(om, model)
    _static_reshapes(om)
    _dce(om)
    return om


def _elem(vi) -> str:
    from onnx import helper

    try:
        return str(np.dtype(helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)))
    except Exception:  # noqa: BLE001
        return "float32"


_RESHAPING = frozenset(["Reshape", "Unsqueeze", "Squeeze", "Flatten", "Cast", "Identity"])


def _fold_constants(om: OModel, model) -> None:
    """Every node whose inputs are all constants becomes a constant (onnx's reference evaluator)."""
    from onnx import helper, numpy_helper, onnx_pb
    from onnx.reference import ReferenceEvaluator

    opset = [helper.make_opsetid("", om.opset)]
    kept = []
    for n in om.nodes:
        if n.op == "Constant":
            v = n.attrs.get("value")
            if v is not None:
                om.consts[n.outputs[0]] = numpy_helper.to_array(v)
            else:
                key = next(iter(n.attrs))
                om.consts[n.outputs[0]] = np.asarray(n.attrs[key])
            continue
        if n.op == "Identity" and n.inputs[0] in om.consts:
            om.consts[n.outputs[0]] = om.consts[n.inputs[0]]  # torch.onnx's deduplicated initializers:
            if n.inputs[0] in om.initializer_names:  # the output is named like the parameter it stands for
                om.initializer_names.add(n.outputs[0])
            continue
        part = om.shapes.get(n.inputs[0], ())[n.attrs.get("start", 0):n.attrs.get("end", None)] \
            if n.op == "Shape" and n.inputs[0] in om.shapes else None
        if part is not None and all(isinstance(d, int) for d in part):  # the static dims (not the batch)
            om.consts[n.outputs[0]] = np.array(part, np.int64)
            continue
        ins = [i for i in n.inputs if i]
        if n.op not in ("Shape", "Dropout") and ins and all(i in om.consts for i in ins) and "." not in n.op:
            node = helper.make_node(n.op, n.inputs, n.outputs, **n.attrs)
            graph = helper.make_graph([node], "fold", [onnx_pb.ValueInfoProto(name=i) for i in dict.fromkeys(ins)],
                                      [onnx_pb.ValueInfoProto(name=o) for o in n.outputs if o])
            try:
                sess = ReferenceEvaluator(helper.make_model(graph, opset_imports=opset))
                vals = sess.run(None, {i: om.consts[i] for i in ins})
            except Exception:  # noqa: BLE001 -- a node the evaluator cannot fold stays a node (mapped or refused)
                kept.append(n)
                continue
            for o, v in zip([o for o in n.outputs if o], vals):
                om.consts[o] = np.asarray(v)
            if n.op in _RESHAPING and len(n.outputs) == 1:
                src = om.const_sources.get(n.inputs[0], n.inputs[0] if n.inputs[0] in om.initializer_names else "")
                if src:
                    om.const_sources[n.outputs[0]] = src
            continue
        kept.append(n)
    om.nodes = kept


def _fold_shapes(om: OModel) -> None:
    """Shape arithmetic over a symbolic batch (`x.view(x.size(0), -1)`): Shape, Gather, Slice, Unsqueeze,
    Squeeze, Concat and Cast evaluated on dims lists whose entries are ints or the batch's symbol; a
    Reshape target whose only symbolic entry is its input's own batch, in first place, becomes 0 (copy)."""
    sym: dict[str, tuple[list, bool]] = {}  # value -> (entries, is a scalar)

    def get(v):
        if v in sym:
            return sym[v]
        c = om.consts.get(v)
        if c is not None and c.dtype.kind in "iu" and c.ndim <= 1:
            return [int(x) for x in c.reshape(-1)], c.ndim == 0
        return None

    for n in om.nodes:
        ins = [get(i) if i else None for i in n.inputs]
        out = None
        if n.op == "Shape" and n.inputs[0] in om.shapes:
            out = list(om.shapes[n.inputs[0]])[n.attrs.get("start", 0):n.attrs.get("end", None)], False
        elif n.op == "Gather" and ins[0] and ins[1] and not ins[0][1] and int(n.attrs.get("axis", 0)) == 0:
            idx, scalar = ins[1]
            if all(-len(ins[0][0]) <= i < len(ins[0][0]) for i in idx):
                out = [ins[0][0][i] for i in idx], scalar
        elif n.op == "Unsqueeze" and ins[0] and ins[0][1]:
            out = ins[0][0], False
        elif n.op == "Squeeze" and ins[0] and len(ins[0][0]) == 1:
            out = ins[0][0], True
        elif n.op in ("Cast", "Identity") and ins[0]:
            out = ins[0]
        elif n.op == "Concat" and ins and all(i and not i[1] for i in ins):
            out = [e for i in ins for e in i[0]], False
        elif n.op == "Slice" and ins[0] and all(ins[1:3]) and len(n.inputs) <= 4 and not ins[0][1]:
            out = ins[0][0][ins[1][0][0]:ins[2][0][0]], False
        if out is not None and n.outputs[0] not in om.consts:
            sym[n.outputs[0]] = out
            if all(isinstance(e, int) for e in out[0]):
                arr = np.array(out[0], np.int64)
                om.consts[n.outputs[0]] = arr.reshape(()) if out[1] else arr
        if n.op == "Reshape" and n.inputs[1] in sym and n.inputs[1] not in om.consts:
            target, _ = sym[n.inputs[1]]
            batch = om.shapes.get(n.inputs[0], (None,))[0]
            if target and isinstance(target[0], str) and target[0] == batch and \
                    all(isinstance(e, int) for e in target[1:]):
                name = n.outputs[0] + "/target"
                om.consts[name] = np.array([0] + target[1:], np.int64)
                n.inputs = [n.inputs[0], name]


def _static_reshapes(om: OModel) -> None:
    """Reshape with a computed target: the target is the inferred output shape (batch as 0)."""
    for n in om.nodes:
        if n.op == "Reshape" and n.inputs[1] not in om.consts:
            out = om.shapes.get(n.outputs[0])
            if out is None or any(not isinstance(d, int) for d in out[1:]):
                continue
            target = np.array([0] + list(out[1:]), np.int64)
            name = n.outputs[0] + "/target"
            om.consts[name] = target
            n.inputs = [n.inputs[0], name]


def _dce(om: OModel) -> None:
    live = set(om.outputs)
    kept = []
    for n in reversed(om.nodes):
        if any(o in live for o in n.outputs):
            kept.append(n)
            live.update(i for i in n.inputs if i)
    om.nodes = list(reversed(kept))


__all__ = ["OModel", "ONode", "load", "read_model"]
