"""Models the importer cannot express: one error that lists every unsupported node (its index in
the graph, name and op type, and why), exit 2 from the CLI with no traceback and no file written."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from _models import make_model, save

from cnndsl.importer import ImportFailed, import_onnx

onnx = pytest.importorskip("onnx")
helper = onnx.helper

W = np.random.default_rng(0).standard_normal((8, 3, 3, 3)).astype(np.float32)


def _model_with_two_unsupported():
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="stem/conv", pads=[1, 1, 1, 1]),
        helper.make_node("Cos", ["c"], ["cos"], name="odd/cos"),
        helper.make_node("Relu", ["cos"], ["r"], name="act"),
        helper.make_node("TopK", ["r", "k"], ["vals", "idx"], name="select/topk", axis=1),
    ]
    return make_model(nodes, [("x", [1, 3, 8, 8])], [("vals", [1, 2, 8, 8])],
                      [("w", W), ("k", np.array([2], np.int64))])


def test_every_unsupported_node_listed_at_once(tmp_path):
    path = save(_model_with_two_unsupported(), tmp_path / "m.onnx")
    with pytest.raises(ImportFailed) as info:
        import_onnx(path)
    err = info.value
    assert [(p.node.index, p.node.name, p.node.op) for p in err.problems] == [
        (1, "odd/cos", "Cos"), (3, "select/topk", "TopK")]
    text = str(err)
    assert "2 ONNX nodes cannot be imported" in text
    assert "node #1 'odd/cos' (Cos)" in text and "node #3 'select/topk' (TopK)" in text


def test_unsupported_attribute_named_with_its_reason(tmp_path):
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], name="fc", transA=1)]
    model = make_model(nodes, [("x", [4, 4])], [("y", [4, 4])], [("w", np.ones((4, 4), np.float32))])
    with pytest.raises(ImportFailed, match=r"node #0 'fc' \(Gemm\): Gemm with transA"):
        import_onnx(save(model, tmp_path / "gemm.onnx"))


def test_cli_exit_2_no_traceback_no_output(tmp_path):
    path = save(_model_with_two_unsupported(), tmp_path / "m.onnx")
    out, weights = tmp_path / "m.cnn", tmp_path / "m.npz"
    r = subprocess.run([sys.executable, "-m", "cnndsl.cli.main", "import", str(path), "-o", str(out),
                        "--weights", str(weights)], check=False, capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "'odd/cos' (Cos)" in r.stderr and "'select/topk' (TopK)" in r.stderr
    assert not out.exists() and not weights.exists()
    assert list(tmp_path.iterdir()) == [path]  # no temporaries left


@pytest.mark.parametrize("content, message", [
    (b"not a protobuf at all \xff\xfe", "not a readable ONNX model"),
    (None, "no such ONNX file"),
])
def test_unreadable_model(tmp_path, content, message):
    path = tmp_path / "bad.onnx"
    if content is not None:
        path.write_bytes(content)
    r = subprocess.run([sys.executable, "-m", "cnndsl.cli.main", "import", str(path), "-o",
                        str(tmp_path / "x.cnn")], check=False, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


def test_old_opset_refused(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="act")]
    model = make_model(nodes, [("x", [1, 3, 4, 4])], [("y", [1, 3, 4, 4])], opset=9)
    with pytest.raises(Exception, match="opset 9 is not supported: import needs opset 11 or newer"):
        import_onnx(save(model, tmp_path / "old.onnx"))
