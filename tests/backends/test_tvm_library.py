"""Every library network through TVM (llvm, packed layout) vs the numpy interpreter, at a reduced
input size where it accepts one (`_reduced`), 1-D, 2-D and 3-D alike."""

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


def _reduced(name: str):
    """The network at the smallest of 64, 96, 128, 160 (per spatial axis) it accepts below its default size;
    its default size when none is accepted (LeNet, Inception v3's aux head, SSD's fixed anchor grid)."""
    from cnndsl.api import load
    from cnndsl.diagnostics import CnnError

    default = load(name, batch=1)
    shape = default.nodes[default.input_names[0]].attrs["shape"]
    for size in (64, 96, 128, 160):
        if any(size >= d for d in shape[2:]):
            break
        try:
            return load(name, batch=1, input_shape=(shape[1],) + (size,) * (len(shape) - 2))
        except CnnError:
            continue
    return default


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow)
                                  for n in _every_library_network()])
def test_library_network_matches_interpreter(name):

    from cnndsl import interp
    from cnndsl.backend import get_backend
    from cnndsl.weights import Weights
    from cnndsl.weights_init import init_weights

    g = _reduced(name)
    w = Weights(init_weights(g, 0, randomize_buffers=True))  # BN statistics too
    x = np.random.default_rng(0).standard_normal(g.nodes[g.input_names[0]].attrs["shape"]).astype("float32")
    ex, _manifest, _ = get_backend("llvm").build(g, w)
    res = tvm.relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x))
    got = res.numpy() if hasattr(res, "numpy") else res[0].numpy()
    want = interp.run(g, w, [x])[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))
