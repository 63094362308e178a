"""`cnndsl compile --target pytorch` and `cnndsl run model.py`, as a user runs them (subprocess)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest


def cnndsl(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cnndsl.cli.main", *map(str, args)], capture_output=True, check=False,
                          text=True, cwd=cwd)


def test_compile_library_network(tmp_path):
    out = tmp_path / "model.py"
    r = cnndsl("compile", "lenet5", "--target", "pytorch", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "target pytorch" in r.stdout
    text = out.read_text()
    assert "def lenet5(num_classes: int = 10) -> LeNet5:" in text
    assert "# architectures/lenet.cnn:" in text


def test_compile_O1_and_run(tmp_path):
    out = tmp_path / "model.py"
    r = cnndsl("compile", "resnet18", "--input-shape", "3x32x32", "--target", "pytorch", "-O1", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "BatchNorm2d" not in out.read_text()
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32))
    y = tmp_path / "y.npy"
    r = cnndsl("run", out, "--input", x, "-o", y)
    assert r.returncode == 0, r.stderr
    assert np.load(y).shape == (1, 1000)


def test_unknown_op_is_reported_before_writing(tmp_path, monkeypatch):
    from cnndsl.api import load
    from cnndsl.backend import Refused, UnsupportedOps, get_backend

    backend = get_backend("pytorch")
    monkeypatch.setitem(backend.lowerings, "relu", Refused("testing"))
    with pytest.raises(UnsupportedOps) as err:
        backend.compile(load("resnet18"), {}, tmp_path / "m.py")
    assert len(err.value.nodes) == 17  # every relu, at once
    assert not (tmp_path / "m.py").exists()


def test_run_agrees_with_onnx(tmp_path):
    import onnxruntime  # noqa: F401
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    outs = {}
    for target in ("pytorch", "onnx"):
        y = tmp_path / f"{target}.npy"
        r = cnndsl("run", "resnet18", "--input-shape", "3x32x32", "--target", target, "--seed", "3", "--input", x,
                   "-o", y)
        assert r.returncode == 0, r.stderr
        outs[target] = np.load(y)
    np.testing.assert_allclose(outs["pytorch"], outs["onnx"], rtol=1e-4, atol=1e-4)


def test_weights_are_written_only_when_asked(tmp_path):
    out = tmp_path / "model.py"
    r = cnndsl("compile", "lenet5", "--target", "pytorch", "-o", out)
    assert r.returncode == 0, r.stderr
    assert out.exists() and not (tmp_path / "model.npz").exists()
    r = cnndsl("compile", "lenet5", "--target", "pytorch", "--save-weights", "-o", tmp_path / "saved.py")
    assert r.returncode == 0 and (tmp_path / "saved.npz").exists(), r.stderr
    # --weights given: they travel with the module (written beside it, keyed like its state_dict)
    r = cnndsl("compile", "lenet5", "--target", "pytorch", "--weights", tmp_path / "saved.npz", "-o",
               tmp_path / "again.py")
    assert r.returncode == 0 and (tmp_path / "again.npz").exists(), r.stderr
    a, b = np.load(tmp_path / "saved.npz"), np.load(tmp_path / "again.npz")
    assert sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)


def test_compiled_weights_load_into_the_module(tmp_path):
    out = tmp_path / "model.py"
    r = cnndsl("compile", "lenet5", "--target", "pytorch", "--seed", "5", "--save-weights", "-o", out)
    assert r.returncode == 0, r.stderr
    from cnndsl.backends.pytorch.runtime import build_model

    from cnndsl.weights import load_file

    model = build_model(out, load_file(tmp_path / "model.npz"))
    assert model.c1.weight.shape == (6, 1, 5, 5)
