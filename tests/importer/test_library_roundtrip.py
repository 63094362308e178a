"""Every library network: cnndsl's ONNX export -> `cnndsl import` -> the same network.

The imported `.cnn` must elaborate to the same parameter count, MACs, receptive fields and
state_dict keys (so `diff` finds nothing), its weights must be the exported ones bit for
bit, and ONNX Runtime must give the same outputs for the original export and the imported
network's own export on one random input.
"""

from __future__ import annotations

import numpy as np
import pytest
from _roundtrip import assert_same_network, load, ort_run, random_inputs

from cnndsl.elaborate.modules import library_index
from cnndsl.importer import import_onnx
from cnndsl.model import Model
from cnndsl.syntax.format import format_source

# quick enough for the default run (a few seconds each on 2 cores); the rest is marked slow
# one of each kind (plain, residual, inverted residual, dense, shuffle, SE, CBAM-free attention, layer
# norm + layer scale + stochastic depth, 1-D); the rest (same structures, larger) is marked slow
FAST = ["lenet5", "resnet18", "resnet50", "mobilenet_v2", "densenet121", "mobilenet_v3_small",
        "shufflenet_v2_x0_5", "efficientnet_b0", "googlenet", "resnet1d", "convnext_tiny", "nonlocal_resnet18"]
SHORT = {"resnet50": 100, "mobilenet_v2": 100, "densenet121": 100}  # the "well under 100 lines"
LIBRARY = sorted(n for n in library_index() if n[:1].islower())
# unet3d's full tile needs ~24 GiB in some runtimes; its structure is checked without running it
NO_RUN = {"unet3d"}


def _params(names):
    return [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in names]


@pytest.mark.parametrize("name", _params(LIBRARY))
def test_library_network_round_trip(name, tmp_path):
    original = load(name)
    path = tmp_path / f"{name}.onnx"
    original.to_onnx(path, seed=0)
    imp = import_onnx(path)
    imported = Model(imp.graph)
    assert_same_network(original, imported)
    seeded = original.weights(seed=0)
    assert set(imp.weights) == set(seeded)
    for k, v in seeded.items():
        np.testing.assert_array_equal(imp.weights[k], np.asarray(v), err_msg=k)
    if name in SHORT:
        assert imp.text.count("\n") < SHORT[name], imp.text
    assert format_source(imp.text, "imported.cnn") == imp.text  # `cnndsl fmt --check` passes on it
    if name in NO_RUN:
        return
    again = tmp_path / f"{name}.imported.onnx"
    imported.to_onnx(again, weights=imp.weights)
    xs = random_inputs(original)
    for y0, y1 in zip(ort_run(path, xs), ort_run(again, xs)):
        np.testing.assert_array_equal(y1, y0)


def test_imported_text_reads_like_the_library(tmp_path):
    """ResNet-50: the stages are one parametric block each, the repeated bottlenecks a repeat loop."""
    path = tmp_path / "r50.onnx"
    load("resnet50").to_onnx(path, seed=0)
    text = import_onnx(path).text
    assert text.count("\nblock ") + text.startswith("block ") >= 3
    assert "repeat " in text
    assert "network ResNet()" in text
    assert " as layer4" in text and " as fc" in text
