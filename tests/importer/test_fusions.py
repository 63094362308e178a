"""ONNX idioms the importer turns back into one cnndsl op, on hand-built models: the imported
network, exported again by cnndsl, gives ONNX Runtime's output for the original model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _models import make_model, save
from _roundtrip import ort_run

from cnndsl.importer import import_onnx
from cnndsl.model import Model

onnx = pytest.importorskip("onnx")
helper = onnx.helper
rng = np.random.default_rng(0)
C = 8
X = [("x", [1, C, 6, 6])]
Y = [("y", [1, C, 6, 6])]


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def scalar(v):
    return np.array(v, np.float32)


CASES = {
    # torch's SiLU and HardSwish exports: x * gate(x)
    "silu": ([helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["x", "s"], ["y"])], [], "silu"),
    "hswish": ([helper.make_node("HardSigmoid", ["x"], ["s"], alpha=1 / 6, beta=0.5),
                helper.make_node("Mul", ["x", "s"], ["y"])], [], "hswish"),
    # torch's erf GELU: (x * (1 + erf(x / sqrt 2))) * 0.5
    "gelu": ([helper.make_node("Div", ["x", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
              helper.make_node("Add", ["e", "one"], ["a"]), helper.make_node("Mul", ["x", "a"], ["m"]),
              helper.make_node("Mul", ["m", "half"], ["y"])],
             [("sqrt2", scalar(math.sqrt(2))), ("one", scalar(1.0)), ("half", scalar(0.5))], "gelu"),
    "relu6": ([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], [("lo", scalar(0.0)), ("hi", scalar(6.0))],
              "relu6"),
    # a layer norm over the channels, spelled out (cnndsl's and LayerNorm2d's exports)
    "layernorm": ([helper.make_node("ReduceMean", ["x", "ax"], ["m"], keepdims=1), helper.make_node("Sub", ["x", "m"], ["d"]),
                   helper.make_node("Mul", ["d", "d"], ["sq"]),
                   helper.make_node("ReduceMean", ["sq", "ax"], ["v"], keepdims=1),
                   helper.make_node("Add", ["v", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["s"]),
                   helper.make_node("Div", ["d", "s"], ["n"]), helper.make_node("Mul", ["n", "w"], ["nw"]),
                   helper.make_node("Add", ["nw", "b"], ["y"])],
                  [("ax", np.array([1], np.int64)), ("eps", scalar(1e-6)), ("w", f32(C, 1, 1)), ("b", f32(C, 1, 1))],
                  "layernorm"),
    # F.normalize(x, dim=1) * scale (SSD's L2Norm)
    "l2norm": ([helper.make_node("ReduceL2", ["x", "ax"], ["r"], keepdims=1), helper.make_node("Max", ["r", "eps"], ["m"]),
                helper.make_node("Div", ["x", "m"], ["n"]), helper.make_node("Mul", ["n", "w"], ["y"])],
               [("ax", np.array([1], np.int64)), ("eps", scalar(1e-12)), ("w", f32(C, 1, 1))], "l2norm"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_idiom_becomes_one_op(case, tmp_path):
    nodes, inits, op = CASES[case]
    for i, n in enumerate(nodes):
        n.name = f"{case}/n{i}"
    path = save(make_model(nodes, X, Y, inits, opset=18), tmp_path / "m.onnx")
    imp = import_onnx(path)
    ops = [n.op for n in imp.graph.topo() if n.op != "input"]
    assert ops == [op], imp.text
    again = tmp_path / "again.onnx"
    Model(imp.graph).to_onnx(again, weights=imp.weights)
    x = f32(1, C, 6, 6) * 3
    np.testing.assert_allclose(ort_run(again, [x])[0], ort_run(path, [x])[0], rtol=1e-5, atol=1e-5)


def test_flatten_chain_of_shape_ops(tmp_path):
    """x.view(x.size(0), -1) as exporters write it: Shape -> Gather -> Unsqueeze -> Concat -> Reshape, then a Gemm."""
    w, b = f32(5, C * 36), f32(5)
    nodes = [helper.make_node("Shape", ["x"], ["sh"]), helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "zero1"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["flat"]),
             helper.make_node("Gemm", ["flat", "w", "b"], ["y"], transB=1, name="fc")]
    model = make_model(nodes, [("x", ["N", C, 6, 6])], [("y", ["N", 5])],
                       [("zero", np.array(0, np.int64)), ("zero1", np.array([0], np.int64)),
                        ("minus1", np.array([-1], np.int64)), ("w", w), ("b", b)])
    imp = import_onnx(save(model, tmp_path / "m.onnx"))
    assert [n.op for n in imp.graph.topo() if n.op != "input"] == ["flatten", "linear"]
    np.testing.assert_array_equal(imp.weights["fc.weight"], w)
    again = tmp_path / "again.onnx"
    Model(imp.graph).to_onnx(again, weights=imp.weights)
    x = f32(3, C, 6, 6)
    np.testing.assert_allclose(ort_run(again, [x])[0], ort_run(tmp_path / "m.onnx", [x])[0], rtol=1e-5, atol=1e-5)
