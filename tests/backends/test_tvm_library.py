"""Library networks through TVM (llvm) at reduced input size vs the numpy interpreter (slow: ~30 s each)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tvm")

NETS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "densenet121",
        "googlenet", "convnext_tiny", "shufflenet_v2_x1_0", "squeezenet1_0", "regnet_x_400mf", "mnasnet0_5",
        "vgg11", "resnext50_32x4d"]


@pytest.mark.slow
@pytest.mark.parametrize("name", NETS)
def test_library_network_matches_interpreter(name):
    import tvm

    from cnndsl import interp
    from cnndsl.api import load
    from cnndsl.backend import get_backend
    from cnndsl.weights import Weights
    from cnndsl.weights_init import init_weights

    g = load(name, batch=1, input_shape=(3, 64, 64))
    w = Weights(init_weights(g, 0))
    x = np.random.default_rng(0).standard_normal(g.nodes[g.input_names[0]].attrs["shape"]).astype("float32")
    ex, _manifest, _ = get_backend("llvm").build(g, w)
    res = tvm.relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x))
    got = res.numpy() if hasattr(res, "numpy") else res[0].numpy()
    want = interp.run(g, w, [x])[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))
