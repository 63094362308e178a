"""Golden text (onnx.printer) of two small exports, weights left out.

A refactor of the ONNX backend must not change these files. To accept a deliberate
change, rerun with CNNDSL_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx
import pytest
from _onnx_nets import layoutnet, tiny_resnet

from cnndsl.backend import CompileOptions, get_backend
from cnndsl.weights_init import init_weights

GOLDEN = Path(__file__).parent / "golden"
CASES = {"tiny_resnet_O0": (tiny_resnet, 0), "tiny_resnet_O1": (tiny_resnet, 1), "layoutnet_O0": (layoutnet, 0)}


def structural_text(model, weight_keys) -> str:
    """The printer's text with weight initializers turned into typed graph inputs (no values)."""
    from onnx import helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    kept = []
    for init in g.initializer:
        if init.name in weight_keys:
            g.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
        else:
            kept.append(init)
    del g.initializer[:]
    g.initializer.extend(kept)
    m.producer_version = ""
    return onnx.printer.to_text(m) + "\n"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case, tmp_path):
    build, opt_level = CASES[case]
    graph = build()
    weights = init_weights(graph, seed=0)
    backend = get_backend("onnx")
    options = CompileOptions(opt_level=opt_level)
    g, w = backend.prepare(graph, weights, options)
    path = tmp_path / "model.onnx"
    backend.compile(g, w, path, options)
    text = structural_text(onnx.load(str(path)), set(w))
    golden = GOLDEN / f"onnx_{case}.txt"
    if os.environ.get("CNNDSL_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"{golden} missing; run with CNNDSL_UPDATE_GOLDEN=1 to create it"
    assert text == golden.read_text(), f"ONNX text of {case} changed; if intended, rerun with CNNDSL_UPDATE_GOLDEN=1"
