"""`cnndsl report`, `cnndsl rf`, `cnndsl diff` as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

NET = """
network Tiny(width=8) (image: f32[N, 3, 32, 32]) {
    conv(width, kernel=3, stride=2, bias=false) as conv1
    bn as bn1
    relu
    conv(width, kernel=3) as conv2
    gap
    flatten
    linear(10) as fc
}
"""


def cnndsl(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnndsl.cli.main", *argv], capture_output=True, text=True, check=False,
                          timeout=120)


@pytest.fixture
def tiny(cnn_file):
    return str(cnn_file(NET, "tiny.cnn"))


def test_report_json(tiny):
    proc = cnndsl("report", tiny, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    # conv1: 8*3*9 = 216 params, 8*16*16*27 = 55,296 MACs; bn1: 16; conv2: 8*8*9 + 8 = 584, 8*16*16*72 = 147,456;
    # fc: 8*10 + 10 = 90, 80 MACs
    assert doc["totals"]["params"] == 216 + 16 + 584 + 90
    assert doc["totals"]["macs"] == 55296 + 147456 + 80
    assert [layer["name"] for layer in doc["layers"]][:2] == ["conv1", "bn1"]
    assert doc["inputs"][0]["shape"] == ["N", 3, 32, 32]


def test_report_table_flags_and_pass_tools(tiny):
    proc = cnndsl("report", tiny, "--no-count-bn", "--print-after", "shapes", "--time-passes")
    assert proc.returncode == 0, proc.stderr
    assert "FLOPs = 2*MACs + bias + activations + pooling + elementwise" in proc.stdout
    assert "; IR after pass 'shapes'" in proc.stderr and "; pass timings" in proc.stderr


def test_report_optimize_and_depth(tiny):
    proc = cnndsl("report", tiny, "--optimize", "--format", "json", "--depth", "1")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["stage"]["name"].startswith("inference")
    assert "fold_bn" in doc["stage"]["passes"]
    assert doc["layers"][0]["op"] == "fused_conv"
    assert doc["totals"]["params"] == 216 + 8 + 584 + 90  # bn's 16 became conv1's 8 biases


def test_report_unknown_pass_exits_2(tiny):
    proc = cnndsl("report", tiny, "--print-after", "nope")
    assert proc.returncode == 2
    assert "unknown pass 'nope'" in proc.stderr and "Traceback" not in proc.stderr


def test_rf_json_and_node_region(tiny):
    proc = cnndsl("rf", tiny, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    nodes = {n["name"]: n for n in json.loads(proc.stdout)["nodes"]}
    assert nodes["conv1"]["rf"] == {"size": [3, 3], "stride": [2, 2], "padding": [1, 1], "aligned": [True, True],
                                    "paths": 1}
    assert nodes["conv2"]["shape"] == ["N", 8, 16, 16]
    assert nodes["conv2"]["rf"]["size"] == [7, 7] and nodes["conv2"]["rf"]["padding"] == [3, 3]
    proc = cnndsl("rf", tiny, "--node", "conv2", "--at", "0,5")
    assert proc.returncode == 0, proc.stderr
    # u*S - P .. + r - 1: rows 0*2-3 .. 3, cols 5*2-3 = 7 .. 13
    assert "rows -3..3, cols 7..13" in proc.stdout
    proc = cnndsl("rf", tiny, "--node", "conv3")
    assert proc.returncode == 2 and "did you mean 'conv2'" in proc.stderr


def test_diff(tiny, cnn_file):
    wider = str(cnn_file(NET.replace("width=8", "width=16"), "wide.cnn"))
    proc = cnndsl("diff", tiny, wider, "--format", "json")
    assert proc.returncode == 1, proc.stderr  # the networks differ (diff(1)'s convention)
    d = json.loads(proc.stdout)
    assert d["schema"] == "cnndsl.diff/1" and d["identical"] is False
    assert d["a"]["label"].endswith(": Tiny") and d["a"]["label"] != d["b"]["label"]
    assert d["a"]["inputs"] == [{"name": "image", "shape": ["N", 3, 32, 32]}]
    assert d["totals"]["params"]["a"] == 906
    assert d["totals"]["params"]["delta"] == d["totals"]["params"]["b"] - 906 > 0
    changed = {c["name"]: c for c in d["changed"]}
    assert changed["conv1"]["attrs"]["out"] == [8, 16]
    assert d["same_structure"] is False and not d["added"] and not d["removed"]
    proc = cnndsl("diff", tiny, wider)
    assert proc.returncode == 1 and "params" in proc.stdout and "conv1" in proc.stdout
    assert "['N'" not in proc.stdout and "[N, 8, 16, 16] -> [N, 16, 16, 16]" in proc.stdout
    same = cnndsl("diff", tiny, tiny)
    assert same.returncode == 0 and "identical" in same.stdout, same.stdout


def test_ir_after_a_pass_and_annotated_dot(tiny):
    proc = cnndsl("ir", tiny, "--after", "fold_bn")
    assert proc.returncode == 0, proc.stderr
    assert "bn(" not in proc.stdout and "%conv1" in proc.stdout
    proc = cnndsl("ir", tiny, "--format", "dot", "--annotate", "shape,macs,rf")
    assert proc.returncode == 0, proc.stderr
    assert "MACs 55,296" in proc.stdout and "RF 3x3" in proc.stdout
    proc = cnndsl("ir", tiny, "--after", "nope")
    assert proc.returncode == 2 and "unknown pass 'nope'" in proc.stderr


def test_ir_svg_needs_graphviz(tiny):
    import shutil

    proc = cnndsl("ir", tiny, "--format", "svg")
    if shutil.which("dot") is None:
        assert proc.returncode == 2 and "Graphviz" in proc.stderr and "Traceback" not in proc.stderr
    else:
        assert proc.returncode == 0 and "<svg" in proc.stdout
