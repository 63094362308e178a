"""CUDA on a GPU: networks compiled with `--target cuda`, exported, loaded and run on the device, against
the float64 interpreter; and a short MetaSchedule tuning measured on the GPU.

These need a CUDA device and a TVM with its CUDA runtime, so they are skipped elsewhere (CI has no GPU;
the compile-only CUDA tests in test_tvm_e2e.py run everywhere). docs/performance.md ("CUDA") records
the GPU runs and how to repeat them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tvm
from test_tvm_e2e import small_cnn
from test_tvm_library import _reduced

from cnndsl import interp
from cnndsl.backend import CompileOptions, get_backend
from cnndsl.weights import Weights
from cnndsl.weights_init import init_weights

pytestmark = pytest.mark.skipif(not (tvm.runtime.enabled("cuda") and tvm.cuda(0).exist),
                                reason="no CUDA GPU here (run on a GPU machine: docs/performance.md, CUDA)")


def _arch() -> str:
    return "sm_" + tvm.cuda(0).compute_version.replace(".", "")


def _check(g, w, tmp_path, **opts):
    backend = get_backend("cuda")
    extra = {"arch": _arch(), "batch": g.nodes[g.input_names[0]].attrs["shape"][0]}
    art = tmp_path / "art"
    backend.compile(g, w, art, CompileOptions(extra=extra, **opts))
    manifest = json.loads((art / "manifest.json").read_text())
    assert manifest["target"] == "cuda" and manifest["cuda_kernels"] > 0
    x = np.random.default_rng(0).standard_normal(g.nodes[g.input_names[0]].attrs["shape"]).astype("float32")
    got = backend.run(str(art), [x])[0]
    want = interp.run(g, w, [x])[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))
    return manifest


def test_small_cnn_runs_on_the_gpu(tmp_path):
    g = small_cnn(batch=2)
    _check(g, Weights(init_weights(g, 0, randomize_buffers=True)), tmp_path)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "densenet121"])
def test_library_network_runs_on_the_gpu(name, tmp_path):
    g = _reduced(name)
    _check(g, Weights(init_weights(g, 0, randomize_buffers=True)), tmp_path)


@pytest.mark.slow  # minutes: each MetaSchedule round builds and measures on the GPU
def test_tuning_measures_on_the_gpu_and_the_tuned_build_is_exact(tmp_path):
    g = small_cnn(batch=1)
    w = Weights(init_weights(g, 0, randomize_buffers=True))
    manifest = _check(g, w, tmp_path, tune=True, trials=16, tuning_db=str(tmp_path / "db"))
    tuning = manifest["tuning"]
    assert tuning["tuned"] and tuning["tasks_with_records"] > 0, tuning
