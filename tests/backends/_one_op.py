"""One op as a whole graph, run through a backend and compared with the numpy interpreter: the
shared part of the per-op backend tests (test_nd_ops_backends.py, test_math_ops_backends.py)."""

from __future__ import annotations

import numpy as np

from cnndsl import interp
from cnndsl.backend import CompileOptions, get_backend
from cnndsl.ir.builder import GraphBuilder
from cnndsl.ops import get
from cnndsl.weights import Weights
from cnndsl.weights_init import init_weights


def one_op_graph(op, attrs, shapes, batch=None):
    """A graph of `op` over one input per shape (`batch` replaces each batch size, e.g. "N"), every
    output of the op a graph output."""
    b = GraphBuilder(f"one_{op}")
    xs = [b.input(f"x{i}", (batch or s[0],) + tuple(s[1:])) for i, s in enumerate(shapes)]
    refs = b.add_multi(op, xs, name="n", **attrs) if callable(get(op).outputs) else [b.add(op, xs, name="n", **attrs)]
    for i, r in enumerate(refs):
        b.output(f"y{i}", r)
    return b.graph


def one_op_inputs(shapes, positive=False):
    """Seeded float32 inputs; `positive` keeps them in [0.1, inf) for ops defined there (lppool, sqrt, log)."""
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(s).astype("float32") for s in shapes]
    return [np.abs(x) + 0.1 for x in xs] if positive else xs


def close(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def onnx_matches_interpreter(op, attrs, shapes, positive, opset, tmp_path):
    """The op exported at `opset`, run by ONNX Runtime on a symbolic batch, against the interpreter."""
    g = one_op_graph(op, attrs, shapes, batch="N")
    w = Weights(init_weights(g, 0, randomize_buffers=True))
    xs = one_op_inputs(shapes, positive)
    backend = get_backend("onnx")
    path = tmp_path / "m.onnx"
    backend.compile(g, w, path, CompileOptions(opset=opset))
    close(backend.run(path, xs), interp.run(g, w, xs))


def pytorch_matches_interpreter(op, attrs, shapes, positive, tmp_path):
    """The generated PyTorch module of the op, built and run in eval mode, against the interpreter."""
    import torch
    from _pytorch_util import generate, write_and_build

    text, _info, g, w = generate(one_op_graph(op, attrs, shapes))
    model = write_and_build(text, tmp_path / "model.py", w)
    xs = one_op_inputs(shapes, positive)
    model.eval()
    with torch.no_grad():
        out = model(*[torch.from_numpy(x) for x in xs])
    close([o.numpy() for o in (out if isinstance(out, tuple) else (out,))], interp.run(g, w, xs))
