"""PyTorch modules through `cnndsl import FILE.py:factory`: the generated PyTorch module of a
library network, exported by torch.onnx (TorchScript exporter), imported back.

The imported network has the module's parameter count, MACs, receptive fields and
state_dict keys (from the exporter's initializer names and scopes), its weights are the
module's own, and ONNX Runtime on the imported network gives the module's output.
The dynamo exporter needs onnxscript, which is not installed here (docs/import.md).
"""

from __future__ import annotations

import numpy as np
import pytest
from _roundtrip import assert_same_counts, load, ort_run, random_inputs

from cnndsl.importer import import_torch
from cnndsl.model import Model

torch = pytest.importorskip("torch")  # the `torch` extra; the CI installs it

FAST = ["resnet18", "mobilenet_v2"]
SLOW = ["densenet121", "efficientnet_b0", "convnext_tiny", "mobilenet_v3_small", "googlenet", "regnet_y_400mf",
        "squeezenet1_1", "inception_v3", "resnet50"]


@pytest.mark.parametrize("name", FAST + [pytest.param(n, marks=pytest.mark.slow) for n in SLOW])
def test_generated_module_round_trip(name, tmp_path):
    original = load(name)
    py = tmp_path / f"{name}_module.py"
    original.compile("pytorch", py)
    shape = tuple(int(d) for d in next(iter(original.inputs.values()))[1:])
    torch.manual_seed(0)  # the factory's own initialization, drawn twice alike: here and below
    imp = import_torch(f"{py}:{name}", shape)
    imported = Model(imp.graph)
    assert_same_counts(original, imported)

    import importlib.util

    spec = importlib.util.spec_from_file_location(f"gen_{name}", py)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(0)
    net = getattr(mod, name)().eval()
    state = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    assert set(imp.weights) == set(state)
    for k, v in state.items():
        np.testing.assert_array_equal(imp.weights[k], v, err_msg=k)
    xs = random_inputs(original)
    onnx_path = tmp_path / "imported.onnx"
    imported.to_onnx(onnx_path, weights=imp.weights)
    with torch.no_grad():
        want = net(torch.from_numpy(xs[0]))
    want = [t.numpy() for t in (want if isinstance(want, (tuple, list)) else [want])]
    got = ort_run(onnx_path, xs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)
