"""The generated module, with the same weights, agrees with the numpy interpreter and ONNX Runtime (eval mode)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _onnx_nets import convnet, layoutnet, nhwcnet
from _pytorch_util import generate, rel_err, tiny_res, write_and_build

from cnndsl import interp
from cnndsl.api import load
from cnndsl.backend import CompileOptions, get_backend

RTOL = 1e-4

# library networks at reduced input sizes (every op family the library uses)
LIBRARY = {
    "lenet5": None, "resnet18": (3, 64, 64), "resnet50": (3, 64, 64), "resnext50_32x4d": (3, 64, 64),
    "vgg11_bn": (3, 32, 32), "mobilenet_v2": (3, 64, 64), "mobilenet_v3_small": (3, 64, 64),
    "densenet121": (3, 64, 64), "googlenet": (3, 64, 64), "efficientnet_b0": (3, 64, 64),
    "squeezenet1_0": (3, 64, 64), "mnasnet0_5": (3, 64, 64), "regnet_x_400mf": (3, 64, 64),
    "regnet_y_400mf": (3, 64, 64), "alexnet": (3, 64, 64), "unet": (3, 64, 64),
}


def _inputs(graph, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(graph.nodes[n].attrs["shape"]).astype(np.float32) for n in graph.input_names]


def _run_torch(model, xs):
    model.eval()
    with torch.no_grad():
        out = model(*[torch.from_numpy(x) for x in xs])
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def _run_onnx(graph, weights, xs, tmp_path):
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401
    backend = get_backend("onnx")
    path = tmp_path / "model.onnx"
    backend.compile(graph, weights, path, CompileOptions())
    return backend.run(path, xs)


def _check(graph, tmp_path, opt_level=0, onnx=True):
    text, _info, g, w = generate(graph, opt_level=opt_level)
    model = write_and_build(text, tmp_path / "model.py", w)
    xs = _inputs(graph)
    got = _run_torch(model, xs)
    ref = interp.run(graph, w if opt_level == 0 else generate(graph)[3], xs)
    assert len(got) == len(ref)
    for a, b in zip(got, ref):
        assert a.shape == b.shape
        assert rel_err(a, b) < RTOL
    if onnx:
        for a, b in zip(got, _run_onnx(g, w, xs, tmp_path)):
            assert rel_err(a, b) < RTOL


@pytest.mark.parametrize("opt_level", [0, 1])
@pytest.mark.parametrize("build", [convnet, layoutnet, nhwcnet, tiny_res],
                         ids=["convnet", "layoutnet", "nhwcnet", "tiny_res"])
def test_small_nets(build, opt_level, tmp_path):
    _check(build(batch=2), tmp_path, opt_level)


HEAVY = {"vgg11_bn", "alexnet", "resnext50_32x4d", "unet"}  # seconds of weight init and numpy convolutions each


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in sorted(LIBRARY)])
def test_library(name, tmp_path):
    shape = LIBRARY[name]
    _check(load(name, input_shape=shape, batch=2), tmp_path)


def _every_library_network():
    from cnndsl.elaborate.modules import library_index

    return sorted(k for k, e in library_index().items() if k == k.lower())


@pytest.mark.slow
@pytest.mark.parametrize("name", _every_library_network())
def test_every_library_network(name, tmp_path):
    """Every network of the library, at 64x64 where it accepts that (LeNet keeps its 32x32;
    Inception v3's aux head needs a 17x17 map before its 5x5 pool and conv, so 299x299)."""
    graph = load(name, batch=1)
    c, h, _w = graph.nodes[graph.input_names[0]].attrs["shape"][1:]
    shape = (c, 64, 64) if h > 64 and name != "inception_v3" else None
    _check(load(name, input_shape=shape, batch=1), tmp_path)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "efficientnet_b0"])
def test_library_O1(name, tmp_path):
    _check(load(name, input_shape=(3, 64, 64), batch=2), tmp_path, opt_level=1)


def test_O1_folds_batch_norm():
    text, _info, _g, _w = generate(load("resnet18"), opt_level=1)
    assert "BatchNorm" not in text
    assert "FusedConv2d(" in text
    assert "-O1" in text.splitlines()[2]  # line 2: the body hash
