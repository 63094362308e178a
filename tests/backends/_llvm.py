"""Helpers of the llvm backend's single-layer tests (Winograd, fused blocks, 1x1 convs): seeded
weights, a build at batch 1, a run on the host CPU, and the error measure their tolerances use."""

from __future__ import annotations

import numpy as np
import tvm

from cnndsl.backend import CompileOptions, get_backend
from cnndsl.weights import Weights
from cnndsl.weights_init import init_weights


def weights(g):
    """Seeded weights, BN statistics randomized too."""
    return Weights(init_weights(g, 0, randomize_buffers=True))


def build(g, w, **extra):
    """(executable, manifest, details) of `g` for llvm at batch 1; `extra`: -X options."""
    return get_backend("llvm").build(g, w, CompileOptions(extra={"batch": 1, **extra}))


def run(ex, x, *params):
    """The executable's output on `x` (and `params`, where weights are parameters), on the host CPU."""
    vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
    out = vm["main"](tvm.runtime.tensor(x), *[tvm.runtime.tensor(p) for p in params])
    return out.numpy()


def relative_error(got, want) -> float:
    """max |got - want| / max |want|, `want` the float64 interpreter's output."""
    return float(np.abs(got.astype(np.float64) - want).max() / np.abs(want).max())
