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
    pytest.importorskip("onnxruntime")
    g = _graph(op, attrs, shapes, batch="N")
    w = Weights(init_weights(g, 0, randomize_buffers=True))
    xs = _inputs(op, shapes)
    backend = get_backend("onnx")
    path = tmp_path / "m.onnx"
    backend.compile(g, w, path, CompileOptions(opset=opset))
    _close(backend.run(path, xs), interp.run(g, w, xs))


@pytest.mark.parametrize("op,attrs,shapes", CASES, ids=IDS)
def test_generated_pytorch_matches_interpreter(op, attrs, shapes, tmp_path):
    torch = pytest.importorskip("torch")
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
