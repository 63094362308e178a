"""Sizes, strides, dilations and groups of zero are positioned errors at elaboration (issue 17:
`conv(8, kernel=3, stride=0)` raised ZeroDivisionError in every verb), declared by each AttrSpec's
constraints and reported at the attribute's own column (InvalidValue, exit 2)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cnndsl.api import load_text
from cnndsl.diagnostics import InvalidValue
from cnndsl.ops.registry import all_ops

CASES = [
    ("conv(8, kernel=3, stride=0)", "stride must be positive"),
    ("conv(8, kernel=3, dilation=0)", "dilation must be positive"),
    ("conv(8, kernel=0)", "kernel must be positive"),
    ("conv(0, kernel=3)", "out must be positive"),
    ("conv(8, kernel=3, groups=0)", "groups must be positive"),
    ("conv(8, kernel=(3, 0))", "kernel must be positive"),
    ("maxpool(0)", "kernel must be positive"),
    ("maxpool(2, stride=0)", "stride must be positive"),
    ("avgpool(2, stride=(1, 0))", "stride must be positive"),
    ("conv_t(8, kernel=2, stride=0)", "stride must be positive"),
    # an eps is 0 or a normal float32: 1e-320 is 0 in float32 (fuzzer, program:69822)
    ("l2norm(eps=1e-320)", "eps must be at least 1.18e-38"),
    ("l2norm(eps=0.0)", "eps must be at least 1.18e-38"),
    ("bn(eps=1e-40)", "eps must be 0 or at least 1.18e-38"),
    ("groupnorm(3, eps=-1e-5)", "eps must be 0 or at least 1.18e-38"),
]


@pytest.mark.parametrize("stage,message", CASES)
def test_zero_is_a_positioned_error(stage, message):
    text = f"network T() (image: f32[N, 3, 8, 8]) {{\n    {stage}\n}}\n"
    with pytest.raises(InvalidValue) as info:
        load_text(text, "t.cnn")
    assert message in info.value.message
    attr = message.split()[0]
    col = 5 + (stage.index(f"{attr}=") if f"{attr}=" in stage else stage.index("(") + 1)  # the attribute's column
    assert (info.value.span.line, info.value.span.col) == (2, col)


def test_cli_exits_2_without_traceback(tmp_path):
    src = tmp_path / "t.cnn"
    src.write_text("network T() (image: f32[N, 3, 8, 8]) {\n    conv(8, kernel=3, stride=0)\n}\n")
    for verb in ("check", "report", "rf"):
        proc = subprocess.run([sys.executable, "-m", "cnndsl.cli.main", verb, str(src)], capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "t.cnn:2:23: error: conv: stride must be positive, got 0" in proc.stderr


def test_every_window_attribute_declares_its_minimum():
    for op in all_ops().values():
        for spec in op.attrs:
            if spec.name in ("kernel", "stride", "dilation") and spec.type == "int2":
                assert "positive" in {c.kind for c in spec.checks}, (op.name, spec.name)
                assert spec.problem(0) and spec.problem((1, 0)) and not spec.problem((1, 2)), (op.name, spec.name)


def test_every_eps_is_zero_or_a_normal_float32():
    for op in all_ops().values():
        for spec in op.attrs:
            if spec.name == "eps":
                assert "eps" in {c.kind for c in spec.checks}, op.name
                assert spec.problem(1e-320) and spec.problem(1e-39) and not spec.problem(1e-5), op.name
