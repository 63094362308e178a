"""The op reference (issue 12 item 5): every op has its PyTorch and ONNX equivalents and a working
example; `cnndsl ops` prints every attribute with its type, default and constraints; docs/ops.md is
generated from the registry and this test fails when it is stale; diagnostics give the cnndsl
spelling of PyTorch / Python words."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cnndsl import diagnostics as D
from cnndsl.api import load_text
from cnndsl.ops import all_ops
from cnndsl.ops.describe import markdown, op_record
from cnndsl.ops.reference import EQUIVALENTS, EXAMPLES

ROOT = Path(__file__).resolve().parents[2]


def cnndsl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnndsl.cli.main", *args], capture_output=True, text=True,
                          check=False)


@pytest.mark.parametrize("name", sorted(all_ops()))
def test_every_op_has_its_equivalents_and_a_working_example(name):
    assert name in EQUIVALENTS, (f"op {name!r} has no row in cnndsl/ops/reference.py EQUIVALENTS (its PyTorch "
                                 "and ONNX equivalents); add one, and an EXAMPLES entry if its defaults make no "
                                 "complete use, then run scripts/gen_ops_doc.py")
    rec = op_record(all_ops()[name])  # the example runs through the op's own rules
    assert rec["pytorch"] and rec["onnx"]
    assert "NOT DECLARED" not in rec["counts"].values()
    if name != "input":
        ex = rec["example"]
        assert ex["outputs"] and all(isinstance(d, int) for s in ex["outputs"] for d in s)
        assert isinstance(ex["macs"], int) and isinstance(ex["flops"], int)


def test_no_stray_rows():
    assert set(EQUIVALENTS) <= set(all_ops()) and set(EXAMPLES) <= set(all_ops())


def test_example_figures_are_the_rules_own():
    conv = op_record(all_ops()["conv"])["example"]  # conv(16, kernel=3) on [1, 8, 16, 16]
    assert conv["outputs"] == [[1, 16, 16, 16]]
    assert conv["param_count"] == 16 * 8 * 9 + 16 and conv["macs"] == 16 * 16 * 16 * 8 * 9
    assert conv["params"]["weight"]["shape"] == [16, 8, 3, 3]
    bn = op_record(all_ops()["bn"])
    assert bn["counts"] == {"params": "its own rule", "macs": "none", "flops": "its own rule", "rf": "pointwise"}
    assert bn["example"]["params"]["running_mean"]["trainable"] is False


def test_docs_ops_md_is_generated_and_current():
    doc = ROOT / "docs" / "ops.md"
    assert doc.read_text(encoding="utf-8") == markdown(), \
        "docs/ops.md is stale: run .venv/bin/python scripts/gen_ops_doc.py"


def test_cli_ops_table_json_and_one_op():
    proc = cnndsl("ops")
    assert proc.returncode == 0 and "conv_t" in proc.stdout and "nn.BatchNorm1d" in proc.stdout
    proc = cnndsl("ops", "--format", "json")
    data = json.loads(proc.stdout)
    assert data["schema"] == "cnndsl.ops/1" and {r["name"] for r in data["ops"]} == set(all_ops())
    conv = next(r for r in data["ops"] if r["name"] == "conv")
    stride = next(a for a in conv["attributes"] if a["name"] == "stride")
    assert stride["default"] == "1" and "> 0" in stride["constraints"] and stride["type"] == "int2"
    proc = cnndsl("ops", "dropout")
    assert proc.returncode == 0
    assert "p  number, default 0.5; in [0, 1)" in proc.stdout and "nn.Dropout" in proc.stdout
    proc = cnndsl("ops", "BatchNorm2d")
    assert proc.returncode == 2 and "cnndsl spells it 'bn'" in proc.stderr
    proc = cnndsl("ops", "--format", "markdown")
    assert proc.stdout == markdown()


def err_of(body: str) -> D.CnnError:
    text = "network T() (image: f32[N, 3, 8, 8]) {\n" + textwrap.indent(body, "    ") + "\n}\n"
    with pytest.raises(D.CnnError) as info:
        load_text(text, "t.cnn")
    return info.value


@pytest.mark.parametrize("body,cls,col,words", [
    ("upsample(scale_factor=2)", D.UnknownKeyword, 14, "(cnndsl spells it 'scale')"),
    ("conv(8, kernel_size=3)", D.UnknownKeyword, 13, "(cnndsl spells it 'kernel')"),
    ("conv(out_channels=8)", D.UnknownKeyword, 10, "(cnndsl spells it 'out')"),
    ("conv(8, in_channels=3)", D.UnknownKeyword, 13, "reads input channels from the input tensor"),
    ("relu(inplace=true)", D.UnknownKeyword, 10, "no in-place ops"),
    ("mean(dim=1)", D.UnknownKeyword, 10, "(cnndsl spells it 'axes')"),
    ("softmax(dim=1)", D.UnknownKeyword, 13, "(cnndsl spells it 'axis')"),
    ("leaky_relu(negative_slope=0.2)", D.UnknownKeyword, 16, "(cnndsl spells it 'slope')"),
    ("groupnorm(num_groups=2)", D.UnknownKeyword, 15, "(cnndsl spells it 'groups')"),
    ("BatchNorm2d", D.UnknownOp, 5, "cnndsl spells it 'bn'"),
    ("Conv2d(8)", D.UnknownOp, 5, "cnndsl spells it 'conv'"),
    ("nn.Conv2d(8)", D.UnknownOp, 5, "cnndsl spells it 'conv'"),
    ("ReLU", D.UnknownOp, 5, "'relu'"),
    ("MaxPool2d(2)", D.UnknownOp, 5, "'maxpool'"),
    ("AdaptiveAvgPool2d(1)", D.UnknownOp, 5, "'adaptive_avgpool' ('gap' for output 1)"),
    ("conv(8, bias=False)", D.UnknownName, 18, "cnndsl spells it 'false'"),
    ("conv(8, padding=None)", D.UnknownName, 21, "cnndsl spells it 'none'"),
    ("conv(8, bias=True)", D.UnknownName, 18, "cnndsl spells it 'true'"),
])
def test_pytorch_spellings_get_the_cnndsl_word(body, cls, col, words):
    err = err_of(body)
    assert type(err) is cls, err.message
    assert words in err.message
    assert (err.span.line, err.span.col) == (2, col), err.message


def test_unknown_attribute_lists_the_valid_ones():
    err = err_of("maxpool(2, sride=2)")
    assert type(err) is D.UnknownKeyword
    assert "did you mean 'stride'?" in err.message
    assert "(maxpool's attributes: kernel, stride, padding, dilation, ceil_mode)" in err.message
    err = err_of("relu(slope=0.1)")
    assert "(relu takes no attributes)" in err.message
