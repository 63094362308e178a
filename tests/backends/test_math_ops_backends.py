"""Issue 12's arithmetic, reduction, slicing and norm ops through ONNX Runtime and the generated
PyTorch module against the numpy interpreter, one graph per case (TVM: test_tvm_lower.py)."""

from __future__ import annotations

import numpy as np
import pytest
from _math_cases import CASES, POSITIVE

from cnndsl import interp
from cnndsl.backend import CompileOptions, get_backend
from cnndsl.ir.builder import GraphBuilder
from cnndsl.ops import get
from cnndsl.weights import Weights
from cnndsl.weights_init import init_weights

IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


def _graph(op, attrs, shapes, batch=None):
    b = GraphBuilder(f"one_{op}")
    xs = [b.input(f"x{i}", (batch or s[0],) + tuple(s[1:])) for i, s in enumerate(shapes)]
    if callable(get(op).outputs):
        refs = b.add_multi(op, xs, name="n", **attrs)
    else:
        refs = [b.add(op, xs, name="n", **attrs)]
    for i, r in enumerate(refs):
        b.output(f"y{i}", r)
    return b.graph


def _inputs(op, shapes):
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(s).astype("float32") for s in shapes]
    return [np.abs(x) + 0.1 for x in xs] if op in POSITIVE else xs


def _close(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("op,attrs,shapes", CASES, ids=IDS)
def test_onnxruntime_matches_interpreter(op, attrs, shapes, opset, tmp_path):
    import onnxruntime  # noqa: F401
    g = _graph(op, attrs, shapes, batch="N")
    w = Weights(init_weights(g, 0, randomize_buffers=True))
    xs = _inputs(op, shapes)
    backend = get_backend("onnx")
    path = tmp_path / "m.onnx"
    backend.compile(g, w, path, CompileOptions(opset=opset))
    _close(backend.run(path, xs), interp.run(g, w, xs))


@pytest.mark.parametrize("op,attrs,shapes", CASES, ids=IDS)
def test_generated_pytorch_matches_interpreter(op, attrs, shapes, tmp_path):
    import torch
    from _pytorch_util import generate, write_and_build

    g = _graph(op, attrs, shapes)
    text, _info, g2, w = generate(g)
    model = write_and_build(text, tmp_path / "model.py", w)
    xs = _inputs(op, shapes)
    model.eval()
    with torch.no_grad():
        out = model(*[torch.from_numpy(x) for x in xs])
    got = [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]
    _close(got, interp.run(g2, w, xs))


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
    _close(interp.run(g1, w1, xs), want)
    backend = get_backend("onnx")
    backend.compile(g, w, tmp_path / "m.onnx", CompileOptions(opt_level=1))
    _close(backend.run(tmp_path / "m.onnx", xs), want)
