"""The front-end verbs as a user runs them: a subprocess, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def cnndsl(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cnndsl.cli.main", *map(str, args)],
                          check=False, capture_output=True, text=True, timeout=120, cwd=cwd)


def test_version_and_help():
    proc = cnndsl("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("cnndsl ")
    for verb in ("check", "ir", "list"):
        proc = cnndsl(verb, "--help")
        assert proc.returncode == 0 and "usage: cnndsl " + verb in proc.stdout


def test_check_library_and_file(cnn_file):
    proc = cnndsl("check", "resnet50")
    assert proc.returncode == 0, proc.stderr
    assert "[N, 3, 224, 224] -> output[N, 1000]" in proc.stdout
    path = cnn_file("network Net(w=4) (x: f32[N, 3, 16, 16]) {\n    conv(w) -> relu\n}\n")
    proc = cnndsl("check", path, "-D", "w=6", "--input-shape", "3x32x32", "--batch", "2")
    assert proc.returncode == 0 and "output[2, 6, 32, 32]" in proc.stdout


def test_check_error_exit_2_with_caret(cnn_file):
    path = cnn_file("network Net() (x: f32[N, 3, 16, 16]) {\n    conv(8) -> rleu\n}\n")
    proc = cnndsl("check", path.name, cwd=path.parent)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[:3] == [
        "net.cnn:2:16: error: unknown layer or block 'rleu'; did you mean 'relu'?",
        "        conv(8) -> rleu",
        "                   ^^^^",
    ]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, words", [
    (("check", "resnet5O"), "did you mean"),
    (("check", "resnet50", "--input-shape", "3x0x2"), "must be positive"),
    (("check", "resnet50", "-D", "nonsense"), "KEY=VALUE"),
    (("check", "resnet50", "-D", "nope=3"), "no parameter 'nope'"),
])
def test_bad_command_lines(args, words):
    proc = cnndsl(*args)
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr


def test_ir_formats(tmp_path):
    proc = cnndsl("ir", "resnet50")
    assert proc.returncode == 0 and proc.stdout.startswith("graph resnet50(")
    assert "%layer1.0.conv1: [N, 64, 56, 56] = conv(%maxpool;" in proc.stdout
    data = json.loads(cnndsl("ir", "resnet50", "--format", "json").stdout)
    names = [n["name"] for n in data["nodes"]]
    assert "layer4.2.bn3" in names and data["inputs"][0]["shape"] == ["N", 3, 224, 224]
    conv = next(n for n in data["nodes"] if n["name"] == "conv1")
    assert conv["span"]["line"] > 0 and conv["inputs"] == [{"node": "image", "index": 0}]
    dot = cnndsl("ir", "resnet50", "--format", "dot").stdout
    assert dot.startswith('digraph "resnet50"') and '"layer1.0.add" -> "layer1.0.' in dot
    out = tmp_path / "g.json"
    assert cnndsl("ir", "resnet50", "--format", "json", "-o", out).returncode == 0
    assert json.loads(out.read_text())["name"] == "resnet50"


def test_list_names_only():
    proc = cnndsl("list", "--no-figures", "--format", "json")
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert data["schema"] == "cnndsl.list/1" and data["cnndsl_version"]
    names = {row["name"] for row in data["networks"]}
    assert {"resnet18", "resnet50"} <= names


def test_ir_after_pass_and_annotations():
    text = cnndsl("ir", "resnet50", "--after", "fold_bn").stdout
    assert "= bn(" not in text and "%layer1.0.conv1:" in text
    proc = cnndsl("ir", "resnet50", "--after", "no_such_pass")
    assert proc.returncode == 2 and "unknown pass" in proc.stderr
    dot = cnndsl("ir", "resnet50", "--format", "dot", "--annotate", "shape,macs,rf").stdout
    assert "MACs 118,013,952" in dot  # conv1: 64*112*112 outputs x 3*7*7 MACs each
    assert "RF 7x7" in dot


def test_ir_svg_needs_graphviz():
    import shutil

    proc = cnndsl("ir", "resnet18", "--format", "svg")
    if shutil.which("dot"):
        assert proc.returncode == 0 and "<svg" in proc.stdout
    else:
        assert proc.returncode == 2 and "Graphviz" in proc.stderr and "Traceback" not in proc.stderr


def test_write_file_gives_usual_permissions_and_leaves_no_temp(tmp_path):
    import os

    from cnndsl.output import write_file

    target = tmp_path / "out.txt"
    old = os.umask(0o022)
    try:
        write_file(target, "hello")
    finally:
        os.umask(old)
    assert target.read_text() == "hello"
    assert target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
