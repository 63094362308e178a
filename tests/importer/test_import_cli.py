"""`cnndsl import` as a subprocess: the files it writes, what the other verbs make of them, its errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from _roundtrip import ort_run

pytest.importorskip("onnx")


def cnndsl(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cnndsl.cli.main", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, check=False)


@pytest.fixture(scope="module")
def lenet_onnx(tmp_path_factory):
    """A small library network keeps the subprocesses quick; the big ones are the round-trip tests' job."""
    path = tmp_path_factory.mktemp("lenet") / "lenet5.onnx"
    r = cnndsl("compile", "lenet5", "--target", "onnx", "-o", path)
    assert r.returncode == 0, r.stderr
    return path


def test_import_then_diff_compile_run(lenet_onnx, tmp_path):
    net, weights = tmp_path / "lenet.cnn", tmp_path / "lenet.npz"
    r = cnndsl("import", lenet_onnx, "-o", net, "--weights", weights)
    assert r.returncode == 0, r.stderr
    assert f"wrote {net} (network LeNet5" in r.stdout and f"wrote {weights} (" in r.stdout
    text = net.read_text()
    assert text.startswith("# Imported by `cnndsl import` from lenet5.onnx")
    assert "network LeNet5() (image: f32[N, 1, 32, 32])" in text
    assert cnndsl("check", net).returncode == 0
    d = cnndsl("diff", "lenet5", net)
    assert d.returncode == 0 and "identical" in d.stdout, d.stdout + d.stderr
    again = tmp_path / "again.onnx"
    r = cnndsl("compile", net, "--target", "onnx", "--weights", weights, "-o", again)
    assert r.returncode == 0, r.stderr
    x = np.random.default_rng(1).standard_normal((2, 1, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(ort_run(again, [x])[0], ort_run(lenet_onnx, [x])[0])


def test_network_name_and_existing_output(lenet_onnx, tmp_path):
    net = tmp_path / "mine.cnn"
    net.write_text("# my own edits\n")
    r = cnndsl("import", lenet_onnx, "-o", net, "--network", "MyLeNet")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert net.read_text() == "# my own edits\n"  # a file cnndsl did not write is kept without --force
    r = cnndsl("import", lenet_onnx, "-o", net, "--network", "MyLeNet", "--force")
    assert r.returncode == 0, r.stderr
    assert "network MyLeNet()" in net.read_text()
    r = cnndsl("import", lenet_onnx, "-o", tmp_path / "x.cnn", "--network", "not a name")
    assert r.returncode == 2 and "is not a name" in r.stderr


@pytest.mark.parametrize("out, extra, message", [
    ("n.cnn", ["--input-shape", "3x8x8"], "--input-shape applies to FILE.py:factory"),
    ("out.txt", [], "the output is a .cnn file"),
    ("n.cnn", ["--weights", "w.pt"], "the weights file is an .npz"),
])
def test_option_errors(lenet_onnx, tmp_path, out, extra, message):
    r = cnndsl("import", lenet_onnx, "-o", tmp_path / out, *extra)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


MODULE = '''
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + x)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.blocks = nn.Sequential(Block(16), Block(16), Block(16))
        self.head = nn.Linear(16, 10)

    def forward(self, image):
        x = self.blocks(self.stem(image))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def tiny():
    torch.manual_seed(0)
    m = Tiny()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):  # non-trivial statistics, so the BN must really be there
            mod.running_mean.uniform_(-1, 1)
            mod.running_var.uniform_(0.5, 2)
    return m


def broken():
    raise RuntimeError("no weights here")


def shuffle():
    return nn.Sequential(nn.Conv2d(3, 4, 1), nn.ChannelShuffle(2))
'''


def test_pytorch_module(tmp_path):
    torch = pytest.importorskip("torch")
    (tmp_path / "tiny.py").write_text(textwrap.dedent(MODULE))
    net, weights = tmp_path / "tiny.cnn", tmp_path / "tiny.npz"
    r = cnndsl("import", "tiny.py:tiny", "--input-shape", "3x32x32", "-o", net, "--weights", weights, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    text = net.read_text()
    assert "network Tiny() (image: f32[N, 3, 32, 32])" in text
    assert "repeat 3 {" in text  # the three equal blocks, one loop
    sys.path.insert(0, str(tmp_path))
    try:
        import tiny
    finally:
        sys.path.remove(str(tmp_path))
    module = tiny.tiny().eval()
    state = {k: v.numpy() for k, v in module.state_dict().items()}
    with np.load(weights) as w:
        assert set(w.files) == set(state)
        for k, v in state.items():
            np.testing.assert_array_equal(w[k], v, err_msg=k)
    onnx_path = tmp_path / "tiny.onnx"
    assert cnndsl("compile", net, "--target", "onnx", "--weights", weights, "-o", onnx_path).returncode == 0
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ort_run(onnx_path, [x])[0], want, rtol=1e-5, atol=1e-5)


SHUFFLE_REFUSED = "could not export the module: UnsupportedOperatorError: Exporting the operator 'aten::channel_shuffle'"


@pytest.mark.parametrize("spec, extra, message", [
    ("tiny.py:tiny", [], "give the input shape"),
    ("tiny.py:missing", ["--input-shape", "3x32x32"], "defines no callable 'missing'"),
    ("tiny.py:broken", ["--input-shape", "3x32x32"], "calling broken() failed: RuntimeError: no weights here"),
    ("nothere.py:tiny", ["--input-shape", "3x32x32"], "no such Python file"),
    ("tiny.py:1bad", ["--input-shape", "3x32x32"], "path/to/model.py:factory"),
    ("tiny.py:shuffle", ["--input-shape", "3x8x8"], SHUFFLE_REFUSED),
])
def test_pytorch_module_errors(tmp_path, monkeypatch, capfd, spec, extra, message):
    """In process (`main()`, the console script's function): torch is loaded once for all cases."""
    from cnndsl.cli.main import main

    pytest.importorskip("torch")
    (tmp_path / "tiny.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.chdir(tmp_path)
    assert main(["import", spec, *extra, "-o", str(tmp_path / "t.cnn")]) == 2
    out, err = capfd.readouterr()
    assert message in err and "Traceback" not in err
    assert out == ""  # not the exporter's dump of its graph either
    assert not (tmp_path / "t.cnn").exists()
