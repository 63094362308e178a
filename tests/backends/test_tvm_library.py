"""Every library network through TVM (llvm, packed layout) vs the numpy interpreter, at 64x64
where it accepts that (LeNet keeps its 32x32; Inception v3's aux head needs its native 299)."""

from __future__ import annotations

import numpy as np
import pytest
import tvm

# In the default run: one network per family of layouts the llvm target packs (residual,
# depthwise + SE-free inverted residual, dense concat + pre-activation BN); every library
# network under -m slow.
FAST = ("resnet18", "mobilenet_v2", "densenet121")


def _every_library_network() -> list[str]:
    from cnndsl.elaborate.modules import library_index

    return sorted(k for k, e in library_index().items() if k == k.lower())


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow)
                                  for n in _every_library_network()])
def test_library_network_matches_interpreter(name):

    from cnndsl import interp
    from cnndsl.api import load
    from cnndsl.backend import get_backend
    from cnndsl.weights import Weights
    from cnndsl.weights_init import init_weights

    default = load(name, batch=1)
    c, h, _w = default.nodes[default.input_names[0]].attrs["shape"][1:]
    g = load(name, batch=1, input_shape=(c, 64, 64) if h > 64 and name != "inception_v3" else None)
    w = Weights(init_weights(g, 0, randomize_buffers=True))  # BN statistics too
    x = np.random.default_rng(0).standard_normal(g.nodes[g.input_names[0]].attrs["shape"]).astype("float32")
    ex, _manifest, _ = get_backend("llvm").build(g, w)
    res = tvm.relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x))
    got = res.numpy() if hasattr(res, "numpy") else res[0].numpy()
    want = interp.run(g, w, [x])[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))
