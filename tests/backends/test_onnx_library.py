"""Every library network exports to ONNX: full checker, onnx shape inference agreeing with
ours on every value, and ONNX Runtime agreeing with the numpy interpreter (batch 1 and 2).

Input sizes are reduced for time (the smallest of SIZES the network accepts); the
interpreter runs once at batch 2 and batch 1 is compared against its first row (no op
mixes batch items at inference).
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime  # noqa: F401  (a test dependency: missing it fails, never skips)
import pytest

from cnndsl import interp
from cnndsl.backend import CompileOptions, get_backend
from cnndsl.diagnostics import CnnError
from cnndsl.weights_init import init_weights


def _library() -> list[str]:
    from cnndsl.elaborate.modules import library_index

    index = library_index()
    assert index, "the library index is empty"
    # as `cnndsl list`: a parametric network is listed through its named variants
    return sorted(name for name, e in index.items()
                  if not (e.name == e.network and any(o.network == name and o.name != name for o in index.values())))


SIZES = (64, 96, 128, 160, 224)
# unet3d's full 116x132x132 tile needs ~24 GiB in the float64 interpreter and the reduced sizes above are 2-D:
# its ONNX Runtime check runs at a reduced tile in tests/architectures/test_unet3d_resnet1d.py
OWN_TEST = {"unet3d"}
NAMES = [n for n in _library() if n not in OWN_TEST]
# Over ~5 s each (100M+ parameters to serialize and check, or slow under the numpy
# interpreter even at reduced size): run with `-m slow`.
HEAVY = {"resnet34", "resnext50_32x4d", "resnet101", "resnet152", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2",
         "wide_resnet101_2", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
         "densenet161", "densenet169", "densenet201", "efficientnet_b3", "unet", "alexnet",
         # over ~350 MMACs per item even at the reduced size (or no smaller input accepted)
         "inception_v3", "fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
         "convnext_tiny", "convnext_small", "se_resnet50", "se_resnet101", "xception",
         # dpn68 and inception_resnet_v2 run by default in tests/architectures/test_dpn_inception_resnet.py
         "dpn68", "dpn92", "dpn98", "dpn131", "inception_resnet_v2"}


def load_reduced(name: str):
    """The library network at the smallest input size it accepts (its default size when none is smaller).
    A network that does not load at its default size fails the test."""
    from cnndsl.api import load

    default = load(name)
    shape = default.nodes[default.input_names[0]].attrs["shape"]
    channels, default_size = shape[1], shape[2]
    step = 16 if name == "unet" else 1
    for size in SIZES:
        if size >= default_size or size % step:
            break
        try:
            return load(name, input_shape=(channels, size, size))
        except CnnError:
            continue
    return default


def _params(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in names]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cache = {}

    def get(name):
        if name not in cache:
            graph = load_reduced(name)
            weights = init_weights(graph, seed=0, randomize_buffers=True)
            path = tmp_path_factory.mktemp("onnx") / f"{name}.onnx"
            backend = get_backend("onnx")
            backend.check(graph)
            backend.compile(graph, weights, path, CompileOptions())
            cache.clear()  # keep one network's arrays alive at a time
            cache[name] = (graph, weights, path)
        return cache[name]

    return get


@pytest.mark.parametrize("name", _params(NAMES))
def test_library_checker_and_shapes(name, exported):
    from cnndsl.backends.onnx.export import value_names

    graph, _weights, path = exported(name)
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path), load_external_data=False)
    resized = {o for n in model.graph.node if n.op_type == "Resize" for o in n.output}
    kept = [v for v in model.graph.value_info if v.name in resized]  # the rest: onnx infers them itself
    del model.graph.value_info[:]
    model.graph.value_info.extend(kept)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True).graph
    shapes = {}
    for v in list(inferred.value_info) + list(inferred.output) + list(inferred.input):
        shapes[v.name] = tuple(d.dim_param if d.HasField("dim_param") else d.dim_value
                               for d in v.type.tensor_type.shape.dim)
    for ref, value in value_names(graph).items():
        assert shapes.get(value) == tuple(graph.value_shape(ref)), f"{name}: {ref[0]}"


@pytest.mark.parametrize("name", _params(NAMES))
def test_library_onnxruntime_matches_interpreter(name, exported):
    graph, weights, path = exported(name)
    shape = graph.nodes[graph.input_names[0]].attrs["shape"]
    x = np.random.default_rng(0).standard_normal((2,) + tuple(shape[1:])).astype(np.float32)
    want = interp.run(graph, weights, [x])
    backend = get_backend("onnx")
    got2 = backend.run(path, [x])
    got1 = backend.run(path, [x[:1]])
    for w, g2, g1 in zip(want, got2, got1):
        scale = max(float(np.abs(w).max()), 1e-6)
        np.testing.assert_allclose(g2, w, rtol=1e-4, atol=1e-5 * scale, err_msg=f"{name} batch 2")
        np.testing.assert_allclose(g1, w[:1], rtol=1e-4, atol=1e-5 * scale, err_msg=f"{name} batch 1")
