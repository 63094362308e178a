"""Report columns a torchinfo user reads first, block names at --depth, batch totals, memory estimates, schemas."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import cnndsl

NET = """
block Unit(c) {
    conv(c, kernel=3, padding=1, bias=false) as conv
    relu as act
}

block Stage(c, n) {
    repeat n {
        Unit(c)
    }
}

network Net(num_classes=4) (image: f32[N, 3, 8, 8]) {
    conv(4, kernel=3, stride=2, padding=1) as stem
    Stage(4, 3) as layer1
    gap as pool
    flatten as flat
    linear(num_classes) as fc
}
"""
# stem: 4*27 + 4 = 112 params, out 4x4x4 = 64 elements, MACs 64*27 = 1,728
# each Unit conv: 4*36 = 144 params, MACs 64*36 = 2,304; three of them
# fc: 4*4 + 4 = 20 params, MACs 16
PARAMS = 112 + 3 * 144 + 20
MACS = 1728 + 3 * 2304 + 16


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnndsl.cli.main", *map(str, args)], capture_output=True, text=True,
                          check=False)


def test_row_columns():
    rep = cnndsl.load_text(NET, "net.cnn").report()
    assert rep["schema"] == "cnndsl.report/1" and rep["cnndsl_version"] == cnndsl.__version__
    rows = {r["name"]: r for r in rep["layers"]}
    stem = rows["stem"]
    assert stem["input_shapes"] == [["N", 3, 8, 8]] and stem["shape"] == ["N", 4, 4, 4]
    assert stem["kernel"] == [3, 3] and stem["stride"] == [2, 2]
    assert stem["params"] == 112 and stem["params_percent"] == round(100 * 112 / PARAMS, 2)
    assert stem["macs"] == 1728 and stem["macs_percent"] == round(100 * 1728 / MACS, 2)
    assert rows["layer1.0.act"]["kernel"] is None and rows["layer1.0.act"]["macs_percent"] == 0.0
    assert rep["totals"]["params"] == PARAMS and rep["totals"]["macs"] == MACS


def test_depth_rows_are_named_by_block_type_and_instance():
    m = cnndsl.load_text(NET, "net.cnn")
    rep = m.build_report(depth=1)
    layer1 = next(r for r in rep.rows if r.name == "layer1")
    assert layer1.title == "layer1: Unit \u00d73" and layer1.op == "Stage"
    assert layer1.inputs == [("N", 4, 4, 4)] and layer1.shape == ("N", 4, 4, 4)
    assert layer1.params == 3 * 144 and layer1.nodes == 6
    doc = m.report(depth=1)
    block = next(r for r in doc["layers"] if r["name"] == "layer1")
    assert block["block"] == {"type": "Stage", "label": "Stage(c=4, n=3)", "children": {"Unit": 3}}
    assert block["title"] == "layer1: Unit \u00d73"
    deeper = {r.name: r for r in m.build_report(depth=2).rows}
    assert deeper["layer1.1"].title == "layer1.1: Unit" and deeper["layer1.1"].op == "Unit"


def test_by_op_rows_carry_no_single_nodes_shape():
    rep = cnndsl.load_text(NET, "net.cnn").report()
    conv = next(r for r in rep["by_op"] if r["name"] == "conv")
    assert conv["nodes"] == 4 and conv["shape"] is None and conv["rf"] is None
    assert conv["params_percent"] == round(100 * (112 + 432) / PARAMS, 2)


def test_batch_totals_and_memory_estimates():
    rep = cnndsl.load_text(NET, "net.cnn", batch=8).report()
    t = rep["totals"]
    assert t["batch"] == 8
    assert t["for_batch"]["macs"] == 8 * MACS and t["for_batch"]["flops"] == 8 * t["flops"]
    # activations per item: input 3*8*8 + stem 64 + 3 * (conv 64 + relu 64) + pool 4 + flat 4 + fc 4, float32
    per_item = 4 * (192 + 64 + 6 * 64 + 4 + 4 + 4)
    assert t["memory"] == per_item and t["for_batch"]["memory"] == 8 * per_item
    assert t["params_bytes"] == 4 * PARAMS  # no buffers here
    est = t["estimates"]
    assert est["batch"] == 8 and est["weights_bytes"] == 4 * PARAMS and est["gradients_bytes"] == 4 * PARAMS
    assert est["optimizer_bytes"] == {"sgd_momentum": 4 * PARAMS, "adam": 8 * PARAMS}
    assert est["activations_bytes"] == 8 * per_item
    assert est["training_bytes"]["sgd_momentum"] == 4 * PARAMS * 3 + 8 * per_item
    assert est["training_bytes"]["adam"] == 4 * PARAMS * 4 + 8 * per_item
    assert est["inference_peak_bytes"] == 4 * PARAMS + 8 * t["peak_memory"]
    assert "no checkpointing" in est["assumptions"]


def test_table_wording(cnn_file):
    path = cnn_file(NET, "net.cnn")
    proc = cli("report", path, "--batch", "8", "--depth", "1")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "output output" not in text and "receptive field of output 'output': " in text
    assert "layer1: Unit \u00d73" in text
    assert f"{8 * MACS:,} for the batch of 8" in text
    assert "training" in text and "with Adam" in text and "parameter size" in text
    header = next(line for line in text.splitlines() if line.startswith("name"))
    for col in ("input shape", "output shape", "kernel/stride", "params %", "buffers", "MACs %"):
        assert col in header


@pytest.mark.parametrize("verb", [["report"], ["rf"], ["list", "--no-figures"], ["ir"]])
def test_every_json_output_has_schema_and_version(verb, cnn_file):
    path = cnn_file(NET, "net.cnn")
    args = verb + ([] if verb[0] == "list" else [path]) + ["--format", "json"]
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == f"cnndsl.{verb[0]}/1" and doc["cnndsl_version"] == cnndsl.__version__
