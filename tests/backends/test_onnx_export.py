"""ONNX export of small graphs: full checker, onnx shape inference against ours, names,
ONNX Runtime and the onnx reference evaluator against the numpy interpreter."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from _onnx_nets import NETS

from cnndsl import interp
from cnndsl.backend import CompileOptions, get_backend
from cnndsl.weights_init import init_weights

RTOL, ATOL = 1e-4, 1e-5


def export(graph, weights, tmp_path, opt_level=0, opset=None):
    backend = get_backend("onnx")
    options = CompileOptions(opt_level=opt_level, opset=opset)
    graph, weights = backend.prepare(graph, weights, options)
    backend.check(graph)
    path = tmp_path / f"{graph.name}-O{opt_level}-{opset}.onnx"
    artefact = backend.compile(graph, weights, path, options)
    return path, artefact, graph, weights


def random_input(graph, batch, seed=0):
    shape = graph.nodes[graph.input_names[0]].attrs["shape"]
    return np.random.default_rng(seed).standard_normal((batch,) + tuple(shape[1:])).astype(np.float32)


def dims(value_info) -> tuple:
    return tuple(d.dim_param if d.HasField("dim_param") else d.dim_value
                 for d in value_info.type.tensor_type.shape.dim)


def independent(model):
    """`model` without the value_info cnndsl declares for viewers (Netron), so onnx's inference
    computes every shape itself; Resize results keep theirs (onnx's Resize inference drops symbols)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    resized = {o for n in model.graph.node if n.op_type == "Resize" for o in n.output}
    kept = [v for v in model.graph.value_info if v.name in resized]
    del model.graph.value_info[:]
    model.graph.value_info.extend(kept)
    return model


def inferred_shapes(model) -> dict[str, tuple]:
    inferred = onnx.shape_inference.infer_shapes(independent(model), check_type=True, strict_mode=True,
                                                 data_prop=True)
    g = inferred.graph
    return {v.name: dims(v) for v in list(g.value_info) + list(g.output) + list(g.input)}


@pytest.fixture(params=sorted(NETS))
def net(request):
    graph = NETS[request.param]()
    return graph, init_weights(graph, seed=1, randomize_buffers=True)


@pytest.mark.parametrize("opt_level", [0, 1])
def test_checker_and_shape_inference_agree(net, tmp_path, opt_level):
    graph, weights = net
    path, _art, graph, _w = export(graph, weights, tmp_path, opt_level)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    from cnndsl.backends.onnx.export import value_names

    shapes = inferred_shapes(model)
    names = value_names(graph)
    checked = 0
    for (node, idx), value in names.items():
        ours = tuple(graph.value_shape((node, idx)))
        assert value in shapes, f"onnx inferred no shape for {value}"
        assert shapes[value] == ours, f"{node}: onnx infers {shapes[value]}, cnndsl {ours}"
        checked += 1
    assert checked == sum(1 for _ in names)


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("opt_level", [0, 1])
def test_onnxruntime_matches_interpreter(net, tmp_path, batch, opt_level):
    graph, weights = net
    path, _art, _g, _w = export(graph, weights, tmp_path, opt_level)
    x = random_input(graph, batch)
    want = interp.run(graph, weights, [x])
    got = get_backend("onnx").run(path, [x])
    assert len(got) == len(want)
    for (name, _ref), w, g in zip(graph.outputs, want, got):
        assert g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=name)


def test_reference_evaluator_matches_interpreter(net, tmp_path):
    from onnx.reference import ReferenceEvaluator

    graph, weights = net
    path, _art, _g, _w = export(graph, weights, tmp_path)
    x = random_input(graph, 2)
    want = interp.run(graph, weights, [x])
    got = ReferenceEvaluator(str(path)).run(None, {graph.input_names[0]: x})
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def _ort_opset_ok(path) -> bool:
    try:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:
        if "opset" in str(err).lower() or "version" in str(err).lower():
            return False
        raise
    return True


@pytest.mark.parametrize("opset", range(13, onnx.defs.onnx_opset_version() + 1))
def test_every_opset(opset, tmp_path):
    """Every opset from 13 to the newest the installed onnx knows: checker, shape inference,
    reference evaluator; ONNX Runtime too where it supports the opset."""
    from onnx.reference import ReferenceEvaluator

    results = {}
    for name in sorted(NETS):
        graph = NETS[name](size=16 if name == "convnet" else 10)
        weights = init_weights(graph, seed=2, randomize_buffers=True)
        path, art, graph, _w = export(graph, weights, tmp_path, opset=opset)
        assert art.details["opset"] == opset
        model = onnx.load(str(path))
        assert model.opset_import[0].version == opset
        onnx.checker.check_model(model, full_check=True)
        shapes = inferred_shapes(model)
        for out_name, ref in graph.outputs:
            assert shapes[out_name] == tuple(graph.value_shape(ref))
        x = random_input(graph, 2, seed=opset)
        want = interp.run(graph, weights, [x])
        uses_bn = any(n.op == "bn" for n in graph.nodes.values())
        if opset >= 14 or not uses_bn:
            # onnx's reference BatchNormalization-9 (opsets 9-13) always mixes in batch statistics
            # (its momentum default makes it take the training path), so it is no oracle there
            got = ReferenceEvaluator(model).run(None, {graph.input_names[0]: x})
            for w, g in zip(want, got):
                np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
        if _ort_opset_ok(path):
            for w, g in zip(want, get_backend("onnx").run(path, [x])):
                np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
            results[name] = "ort"
    assert opset > 21 or len(results) == len(NETS), "ONNX Runtime should run every opset up to 21"


def test_names_and_symbolic_batch(tmp_path):
    graph = NETS["convnet"]()
    weights = init_weights(graph, seed=0)
    path, _art, _g, _w = export(graph, weights, tmp_path)
    model = onnx.load(str(path))
    g = model.graph
    assert g.name == "convnet"
    assert [i.name for i in g.input] == ["image"]
    assert [o.name for o in g.output] == ["logits"]
    assert dims(g.input[0])[0] == "N" and dims(g.output[0])[0] == "N"
    node_names = {n.name for n in g.node}
    for node in graph.nodes.values():
        if node.op != "input":
            assert node.name in node_names, node.name
    params = {i.name for i in g.initializer if "/" not in i.name}
    trainable = {k for k in weights if not k.endswith("num_batches_tracked")}
    assert params == trainable
    for init in g.initializer:
        if init.name in weights:
            np.testing.assert_array_equal(onnx.numpy_helper.to_array(init), weights[init.name])


def test_fixed_batch(tmp_path):
    graph = NETS["convnet"](batch=3)
    weights = init_weights(graph, seed=0)
    path, _art, _g, _w = export(graph, weights, tmp_path)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert dims(model.graph.input[0])[0] == 3
    x = random_input(graph, 3)
    np.testing.assert_allclose(get_backend("onnx").run(path, [x])[0], interp.run(graph, weights, [x])[0],
                               rtol=RTOL, atol=ATOL)


def test_upsample_size_with_old_opset_symbolic_batch(tmp_path):
    """Before opset 18 Resize has no `axes`: sizes are built from Shape(x) for a symbolic batch."""
    graph = NETS["convnet"]()
    weights = init_weights(graph, seed=0)
    for opset in (13, 16, 17):
        path, _art, _g, _w = export(graph, weights, tmp_path, opset=opset)
        x = random_input(graph, 2)
        np.testing.assert_allclose(get_backend("onnx").run(path, [x])[0], interp.run(graph, weights, [x])[0],
                                   rtol=RTOL, atol=ATOL)


def test_output_is_written_atomically(tmp_path, monkeypatch):
    """A failure while writing leaves the previous file intact and no temporary behind."""
    from cnndsl import output

    graph = NETS["convnet"]()
    weights = init_weights(graph, seed=0)
    path, _art, _g, _w = export(graph, weights, tmp_path)
    before = path.read_bytes()

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(output.os, "replace", boom)
    with pytest.raises(output.OutputError, match="disk full"):
        get_backend("onnx").compile(graph, weights, path, CompileOptions())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_every_value_has_its_shape_and_the_source_is_relative(tmp_path):
    """Netron labels an edge only when the file says its shape: every tensor a node reads carries one
    (ours, the same as onnx's strict inference), and the source is named without this machine's path."""
    from cnndsl.api import load

    graph = load("resnet50")
    path, _art, graph, _w = export(graph, init_weights(graph, seed=0), tmp_path)
    model = onnx.load(str(path))
    g = model.graph
    declared = {v.name: dims(v) for v in list(g.value_info) + list(g.input) + list(g.output)}
    declared.update({i.name: tuple(i.dims) for i in g.initializer})
    read = [x for n in g.node for x in n.input if x]
    assert [x for x in read if x not in declared] == []
    assert len(g.value_info) >= 170  # ResNet-50's 175 nodes less the graph input and output
    assert declared["layer3.2.conv2"] == ("N", 256, 14, 14)
    inferred = inferred_shapes(model)
    assert all(inferred[k] == v for k, v in declared.items() if k in inferred)
    props = {p.key: p.value for p in model.metadata_props}
    assert props["cnndsl.source"] in ("<cnndsl>/resnet.cnn", "architectures/resnet.cnn")


def test_helper_tensors_of_multi_node_lowerings_have_shapes(tmp_path):
    """SiLU lowers to Sigmoid + Mul: the Sigmoid's output is no IR value, and gets its shape too."""
    from cnndsl.api import load

    graph = load("efficientnet_b0")
    path, _art, graph, _w = export(graph, init_weights(graph, seed=0), tmp_path)
    g = onnx.load(str(path)).graph
    declared = {v.name: dims(v) for v in list(g.value_info) + list(g.input) + list(g.output)}
    constants = {o for n in g.node if n.op_type == "Constant" for o in n.output}
    declared.update({i.name: tuple(i.dims) for i in g.initializer})
    read = {x for n in g.node for x in n.input if x and x not in constants}
    assert sorted(read - set(declared)) == []
    sigmoid = next(n for n in g.node if n.op_type == "Sigmoid" and n.name.startswith("features.0"))
    assert declared[sigmoid.output[0]] == ("N", 32, 112, 112)


def test_log_of_a_sigmoid_is_accurate_where_onnxruntime_sigmoid_underflows(tmp_path):
    """log(sigmoid(z)) lowers to -softplus(-z): ONNX Runtime's Sigmoid is 0 from z = -18 on (absolute
    accuracy), so Log(Sigmoid) gave -inf there (the fuzzer's program:212760)."""
    from cnndsl.api import load_text

    g = load_text("network T() (x: f32[1, 8]) {\n    sigmoid\n    log\n}\n")
    path = tmp_path / "m.onnx"
    get_backend("onnx").compile(g, {}, path, CompileOptions())
    assert "Log" not in {n.op_type for n in onnx.load(path).graph.node}
    x = np.array([[-80, -30, -19, -15, -1, 0, 3, 20]], np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    want = -np.logaddexp(0.0, -x.astype(np.float64))  # log(sigmoid(x)) in float64
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(interp.run(g, {}, [x], dtype=np.float64)[0], want, rtol=1e-7)  # the oracle too
