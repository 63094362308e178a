"""Sizes, strides, dilations and groups of zero are positioned errors at elaboration (issue 17:
`conv(8, kernel=3, stride=0)` raised ZeroDivisionError in every verb), declared by `AttrSpec.minimum`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cnndsl.api import load_text
from cnndsl.diagnostics import WrongType
from cnndsl.ops.registry import all_ops

CASES = [
    ("conv(8, kernel=3, stride=0)", "stride must be at least 1"),
    ("conv(8, kernel=3, dilation=0)", "dilation must be at least 1"),
    ("conv(8, kernel=0)", "kernel must be at least 1"),
    ("conv(0, kernel=3)", "out must be at least 1"),
    ("conv(8, kernel=3, groups=0)", "groups must be at least 1"),
    ("conv(8, kernel=(3, 0))", "kernel must be at least 1"),
    ("maxpool(0)", "kernel must be at least 1"),
    ("maxpool(2, stride=0)", "stride must be at least 1"),
    ("avgpool(2, stride=(1, 0))", "stride must be at least 1"),
    ("conv_t(8, kernel=2, stride=0)", "stride must be at least 1"),
]


@pytest.mark.parametrize("stage,message", CASES)
def test_zero_is_a_positioned_error(stage, message):
    text = f"network T() (image: f32[N, 3, 8, 8]) {{\n    {stage}\n}}\n"
    with pytest.raises(WrongType) as info:
        load_text(text, "t.cnn")
    assert message in info.value.message
    assert info.value.span.line == 2


def test_cli_exits_2_without_traceback(tmp_path):
    src = tmp_path / "t.cnn"
    src.write_text("network T() (image: f32[N, 3, 8, 8]) {\n    conv(8, kernel=3, stride=0)\n}\n")
    for verb in ("check", "report", "rf"):
        proc = subprocess.run([sys.executable, "-m", "cnndsl.cli.main", verb, str(src)], capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "t.cnn:2:5: error: conv: stride must be at least 1, got 0" in proc.stderr


def test_every_window_attribute_declares_its_minimum():
    for op in all_ops().values():
        for spec in op.attrs:
            if spec.name in ("kernel", "stride", "dilation") and spec.type == "int2":
                assert spec.minimum == 1, (op.name, spec.name)
