"""`cnndsl compile --target onnx` and `cnndsl run`, as a user runs them (subprocess)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import onnx
import onnxruntime  # noqa: F401
import pytest

TINY = """
network Tiny(num_classes=10) (image: f32[N, 3, 16, 16]) {
    conv(8, kernel=3, stride=2) as conv1
    bn as bn1
    relu
    dropout(0.2)
    gap
    flatten
    linear(num_classes) as fc
}
"""


def cnndsl(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cnndsl.cli.main", *map(str, args)], capture_output=True, check=False,
                          text=True, cwd=cwd)


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.cnn"
    path.write_text(textwrap.dedent(TINY).lstrip())
    return path


@pytest.fixture
def x(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32))
    return path


def assert_user_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in proc.stderr, proc.stderr


def test_compile_prints_one_line_summary(tiny, tmp_path):
    out = tmp_path / "tiny.onnx"
    proc = cnndsl("compile", tiny, "--target", "onnx", "-o", out, "--opset", "17")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"wrote {out} (") and "7 ops" in lines[0] and "opset 17" in lines[0]
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17
    assert "Dropout" in {n.op_type for n in model.graph.node}


def test_O1_drops_dropout_and_folds_bn(tiny, tmp_path):
    out = tmp_path / "tiny.onnx"
    proc = cnndsl("compile", tiny, "-o", out, "-O1")
    assert proc.returncode == 0, proc.stderr
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert "Dropout" not in ops and "BatchNormalization" not in ops


def test_run_artefact_and_source_agree_with_interpreter(tiny, x, tmp_path):
    from cnndsl import interp
    from cnndsl.api import load
    from cnndsl.weights import save_npz
    from cnndsl.weights_init import init_weights

    graph = load(str(tiny))
    weights = init_weights(graph, seed=5, randomize_buffers=True)
    save_npz(tmp_path / "w.npz", weights)
    want = interp.run(graph, weights, [np.load(x)])[0]

    assert cnndsl("compile", tiny, "-o", tmp_path / "m.onnx", "--weights", tmp_path / "w.npz").returncode == 0
    proc = cnndsl("run", tmp_path / "m.onnx", "--input", x, "-o", tmp_path / "y1.npy")
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y1.npy"), want, rtol=1e-4, atol=1e-6)

    for opt in ("-O0", "-O1"):
        y2 = tmp_path / f"y2{opt}.npy"  # a .npy carries no cnndsl marker: a second run there would need --force
        proc = cnndsl("run", tiny, "--input", x, "-o", y2, "--weights", tmp_path / "w.npz", opt)
        assert proc.returncode == 0, proc.stderr
        assert "output[2, 10]" in proc.stdout
        np.testing.assert_allclose(np.load(y2), want, rtol=1e-4, atol=1e-6)


def test_seed_changes_weights(tiny, tmp_path):
    a, b, c = (tmp_path / f"{n}.onnx" for n in "abc")
    for path, seed in ((a, 1), (b, 1), (c, 2)):
        assert cnndsl("compile", tiny, "-o", path, "--seed", seed).returncode == 0
    wa, wb, wc = ({i.name: i.raw_data for i in onnx.load(str(p)).graph.initializer} for p in (a, b, c))
    assert wa == wb and wa["conv1.weight"] != wc["conv1.weight"]


def test_user_errors_exit_2_without_traceback(tiny, x, tmp_path):
    assert_user_error(cnndsl("compile", tiny, "--target", "onxx", "-o", tmp_path / "m.onnx"),
                      "unknown target 'onxx'; did you mean 'onnx'?")
    assert_user_error(cnndsl("compile", tiny, "-o", tmp_path / "m.onnx", "--opset", "7"),
                      "--opset 7 is not supported: use 13 to")
    assert_user_error(cnndsl("compile", tiny, "-o", tmp_path / "nodir" / "m.onnx"), "does not exist")
    assert_user_error(cnndsl("compile", tiny, "-o", tmp_path / "m2.onnx", "--weights", tmp_path / "missing.npz"), "not found")
    np.savez(tmp_path / "bad.npz", **{"conv.weight": np.zeros((8, 3, 3, 3), np.float32)})
    assert_user_error(cnndsl("compile", tiny, "-o", tmp_path / "m.onnx", "--weights", tmp_path / "bad.npz"),
                      "missing", "conv1.weight [8, 3, 3, 3]; did you mean 'conv.weight'?")
    assert cnndsl("compile", tiny, "-o", tmp_path / "m.onnx").returncode == 0
    np.save(tmp_path / "wrong.npy", np.zeros((2, 3, 8, 8), np.float32))
    assert_user_error(cnndsl("run", tmp_path / "m.onnx", "--input", tmp_path / "wrong.npy", "-o", tmp_path / "y.npy"),
                      "expected shape [N, 3, 16, 16], got [2, 3, 8, 8]")
    assert_user_error(cnndsl("run", tmp_path / "m.onnx", "--input", tmp_path / "nope.npy", "-o", tmp_path / "y.npy"),
                      "not found")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    assert_user_error(cnndsl("run", tmp_path / "junk.onnx", "--input", x, "-o", tmp_path / "y.npy"),
                      "ONNX Runtime cannot load this model")
    assert_user_error(cnndsl("run", x, "--input", x, "-o", tmp_path / "y.npy"), "neither a compiled artefact")
    assert_user_error(cnndsl("run", tmp_path / "m.onnx", "--target", "llvm", "--input", x, "-o", tmp_path / "y.npy"),
                      "compiled for target onnx, not llvm")


def test_directory_artefact_dispatches_on_manifest(tmp_path, x):
    d = tmp_path / "art"
    d.mkdir()
    (d / "manifest.json").write_text('{"target": "nosuch"}')
    assert_user_error(cnndsl("run", d, "--input", x, "-o", tmp_path / "y.npy"), "unknown target 'nosuch'")
    (tmp_path / "plain").mkdir()
    assert_user_error(cnndsl("run", tmp_path / "plain", "--input", x, "-o", tmp_path / "y.npy"),
                      "without manifest.json")
