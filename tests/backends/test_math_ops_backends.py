"""Issue 12's arithmetic, reduction, slicing and norm ops through ONNX Runtime and the generated
PyTorch module against the numpy interpreter, one graph per case (TVM: test_tvm_lower.py)."""

from __future__ import annotations

import numpy as np
import pytest
from _math_cases import CASES, POSITIVE
from _one_op import close, onnx_matches_interpreter, pytorch_matches_interpreter

from cnndsl import interp
from cnndsl.backend import CompileOptions, get_backend
from cnndsl.weights import Weights
from cnndsl.weights_init import init_weights

IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("op,attrs,shapes", CASES, ids=IDS)
def test_onnxruntime_matches_interpreter(op, attrs, shapes, opset, tmp_path):
    onnx_matches_interpreter(op, attrs, shapes, op in POSITIVE, opset, tmp_path)


@pytest.mark.parametrize("op,attrs,shapes", CASES, ids=IDS)
def test_generated_pytorch_matches_interpreter(op, attrs, shapes, tmp_path):
    pytorch_matches_interpreter(op, attrs, shapes, op in POSITIVE, tmp_path)


def test_frozen_bn_folds_and_the_new_ops_survive_O1(tmp_path):
    """-O1 folds a frozen batch norm into its conv like any other; the arithmetic after it is kept as written."""
    import onnxruntime  # noqa: F401

    from cnndsl.api import load_text
    from cnndsl.backend import optimize_for_inference

    g = load_text("""network N() (x: f32[N, 3, 8, 8]) {
        conv(8, kernel=3, bias=false) -> bn(frozen=true) -> relu
        y = conv(8, kernel=1)
        z = y * 0.5 + sqrt(abs(y))
        return z[:, 2:] -> groupnorm(2) -> instancenorm(affine=true) -> l2norm(scale=3.0)
    }""", "t.cnn")
    w = Weights(init_weights(g, 0, randomize_buffers=True))
    g1, w1 = optimize_for_inference(g, w)
    assert "bn" not in {n.op for n in g1.nodes.values()}
    xs = [np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)]
    want = interp.run(g, w, xs)
    close(interp.run(g1, w1, xs), want)
    backend = get_backend("onnx")
    backend.compile(g, w, tmp_path / "m.onnx", CompileOptions(opt_level=1))
    close(backend.run(tmp_path / "m.onnx", xs), want)
