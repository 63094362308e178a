"""The generated PyTorch is what `ruff format` (its defaults: 88 columns) would write, and `ruff check` is clean.

The oracle is ruff itself (the dev extra's version), run `--isolated` so this repository's own
settings (120 columns) do not apply: a user's project formatted with ruff or black leaves the
generated file unchanged. The default run formats a spread of library networks at -O0 and -O1
(every helper class, inline `nn.Sequential`, optional children, tuple windows, several inputs
and outputs); the whole library is a slow test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _pytorch_util import generate, tiny_res
from cnndsl.backends.pytorch.layout import WIDTH, break_line, layout

from cnndsl.api import library_index, load
from cnndsl.backend import CompileOptions, get_backend

SPREAD = ["resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "inception_v3", "densenet121",
          "convnext_tiny", "shufflenet_v2_x1_0", "regnet_y_400mf", "squeezenet1_0", "mnasnet0_5", "googlenet",
          "r2plus1d_18", "resnet1d", "unet", "retinanet_resnet50_fpn", "ssd300_vgg16", "xception", "dpn68"]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("ruff")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "ruff"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, check=False)


def _check_dir(folder: Path) -> None:
    fmt = _ruff("format", "--isolated", "--no-cache", "--diff", str(folder))
    assert fmt.returncode == 0, fmt.stdout[-6000:] + fmt.stderr[-2000:]
    lint = _ruff("check", "--isolated", "--no-cache", str(folder))
    assert lint.returncode == 0, lint.stdout[-6000:] + lint.stderr[-2000:]


def _write(folder: Path, names: list[str], levels=(0, 1)) -> None:
    for name in names:
        graph = tiny_res() if name == "tiny_res" else load(name)
        for opt_level in levels:
            if opt_level == 0:  # the trainable form needs no weights
                text, _info = get_backend("pytorch").generate(graph, CompileOptions(opt_level=0))
            else:
                text, *_ = generate(graph, opt_level=opt_level)
            (folder / f"{name}_O{opt_level}.py").write_text(text)


def test_library_spread_is_ruff_formatted(tmp_path):
    _write(tmp_path, ["tiny_res", *SPREAD], levels=(0,))
    _write(tmp_path, ["tiny_res", "resnet50", "mobilenet_v2", "mnasnet0_5", "efficientnet_b0", "inception_v3"],
           levels=(1,))
    _check_dir(tmp_path)


@pytest.mark.slow
def test_whole_library_is_ruff_formatted(tmp_path):
    _write(tmp_path, sorted(n for n in library_index() if n[0].islower()))
    _check_dir(tmp_path)


def test_lines_break_as_ruff_breaks_them():
    ind = " " * 8
    # fits: unchanged
    assert break_line(ind + "self.fc = nn.Linear(2048, 1000)") == [ind + "self.fc = nn.Linear(2048, 1000)"]
    # too long, but the arguments fit on one line of their own: no trailing comma
    line = ind + "self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=stride, padding=1, bias=False)"
    assert break_line(line) == [ind + "self.conv2 = nn.Conv2d(",
                                ind + "    channels, channels, kernel_size=3, stride=stride, padding=1, bias=False",
                                ind + ")"]
    # arguments too long for one line: one per line, each with a comma (ruff's magic trailing comma)
    long = ind + "self.block = Block(" + ", ".join(f"argument_{i}={i}" for i in range(8)) + ")"
    out = break_line(long)
    assert out[0] == ind + "self.block = Block(" and out[-1] == ind + ")"
    assert out[1:-1] == [f"{ind}    argument_{i}={i}," for i in range(8)]
    assert all(len(ln) <= WIDTH for ln in out)
    # a conditional value: parenthesized, `if` and `else` on their own lines when it is too long
    cond = ind + "self.downsample = Downsample(in_channels=in_channels, c=out_channels, stride=s) if downsample else nn.Identity()"
    assert break_line(cond) == [ind + "self.downsample = (",
                                ind + "    Downsample(in_channels=in_channels, c=out_channels, stride=s)",
                                ind + "    if downsample",
                                ind + "    else nn.Identity()",
                                ind + ")"]


def test_a_statement_over_several_lines_is_joined_first():
    # an inline nn.Sequential keeps its trailing comma: ruff keeps it exploded, and its caller too
    text = "x = f(\n    a,\n    b,\n)\ny = g(\n    1\n)"
    assert layout(text) == "x = f(\n    a,\n    b,\n)\ny = g(1)"
    # a 1-tuple's comma is not a magic trailing comma
    assert layout("size = (1,)") == "size = (1,)"
    # single quotes from repr() become double quotes, as ruff writes them
    assert layout("self.register_parameter('1', p)") == 'self.register_parameter("1", p)'


def test_a_long_span_comment_moves_above_its_line():
    line = "        out = self.some_rather_long_attribute_name(out)  # architectures/std/some_long_file_name.cnn:123"
    assert len(line) > WIDTH
    assert layout(line).splitlines() == ["        # architectures/std/some_long_file_name.cnn:123",
                                         "        out = self.some_rather_long_attribute_name(out)"]
