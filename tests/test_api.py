"""The Python API (`cnndsl.load` -> `Model`): what it returns, what it refuses, and that the CLI says the same."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import cnndsl
from cnndsl.diagnostics import CnnError, UnknownKeyword

SMALL = """
network Small(width=4, num_classes=3) (image: f32[N, 1, 8, 8]) {
    conv(width, kernel=3, padding=1, bias=false) as conv1
    bn as bn1
    relu
    maxpool(kernel=2, stride=2) as pool
    gap
    flatten
    linear(num_classes) as fc
}
"""


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnndsl.cli.main", *map(str, args)], capture_output=True, text=True,
                          check=False)


def test_load_library_network_with_parameters():
    m = cnndsl.load("resnet18", num_classes=10, batch=2, input_shape=(3, 64, 64))
    assert isinstance(m, cnndsl.Model)
    assert m.name == "resnet18" and m.network == "ResNet"
    assert m.inputs == {"image": (2, 3, 64, 64)}
    assert m.outputs == {"output": (2, 10)}
    assert m.params["num_classes"] == 10
    # torchvision's resnet18(num_classes=10): 11,689,512 - 512*990 - 990 parameters
    assert m.report()["totals"]["params"] == 11_689_512 - 990 * 513


def test_load_text_and_string_input_shape(cnn_file):
    m = cnndsl.load_text(SMALL, "small.cnn", input_shape="1x16x16", width=8)
    assert m.outputs == {"output": ("N", 3)} and m.inputs["image"] == ("N", 1, 16, 16)
    path = cnn_file(SMALL, "small.cnn")
    assert cnndsl.load(path).report()["totals"]["params"] == 36 + 8 + 15  # conv 4*9, bn 2*4, fc 4*3+3


def test_unknown_network_parameter_is_an_error_with_a_suggestion():
    with pytest.raises(UnknownKeyword) as err:
        cnndsl.load("resnet18", num_clases=10)
    assert "num_classes" in err.value.message


def test_unknown_keyword_arguments_are_errors():
    m = cnndsl.load_text(SMALL)
    with pytest.raises(TypeError):
        m.report(deph=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        m.rf(nod="conv1")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        m.compile("onnx", "x.onnx", sed=3)  # type: ignore[call-arg]
    from cnndsl.api import load_text

    with pytest.raises(TypeError):
        load_text(SMALL, input_shpe=(1, 8, 8))  # type: ignore[call-arg]


@pytest.mark.parametrize("kwargs", [{"batch": 0}, {"batch": "2"}, {"input_shape": (1, -8, 8)}, {"width": {"a": 1}},
                                    {"width": float("nan")}])
def test_bad_values_are_cnn_errors(kwargs):
    with pytest.raises(CnnError):
        cnndsl.load_text(SMALL, **kwargs)


def test_report_is_the_cli_json(cnn_file):
    path = cnn_file(SMALL, "small.cnn")
    proc = cli("report", path, "--format", "json", "--depth", "1")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == cnndsl.load(path).report(depth=1)
    proc = cli("rf", path, "--format", "json", "--node", "pool", "--at", "1,2")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == cnndsl.load(path).rf(node="pool", at=(1, 2))


def test_rf_and_diff():
    m = cnndsl.load_text(SMALL)
    rf = m.rf(node="pool", at=(0, 0))
    assert rf["schema"] == "cnndsl.rf/1" and rf["nodes"][0]["rf"]["size"] == [4, 4]
    assert rf["region"]["ranges"] == [[-1, 2], [-1, 2]]
    same = m.diff(cnndsl.load_text(SMALL))
    assert same["identical"] and same["schema"] == "cnndsl.diff/1"
    wider = m.diff(cnndsl.load_text(SMALL, width=8))
    assert not wider["identical"] and wider["totals"]["params"]["delta"] == (72 + 16 + 27) - (36 + 8 + 15)
    with pytest.raises(TypeError):
        m.diff("small.cnn")  # type: ignore[arg-type]


def test_graph_is_not_changed_by_analyses():
    m = cnndsl.load_text(SMALL)
    before = m.graph.to_text()
    m.report(optimize=True)
    m.rf(optimize=True)
    assert m.graph.to_text() == before and "macs" not in m.graph.nodes["conv1"].meta


def test_to_torch_and_to_onnx_agree(tmp_path):
    import onnxruntime as ort
    import torch

    m = cnndsl.load_text(SMALL, width=6)
    net = m.to_torch(seed=3).eval()
    assert isinstance(net, torch.nn.Module)
    art = m.to_onnx(tmp_path / "small.onnx", seed=3)
    assert art.path.exists() and art.target == "onnx"
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(str(art.path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # the module's own initialization when neither weights nor a seed is given
    assert m.to_torch().conv1.weight.shape == (6, 1, 3, 3)


def test_compile_writes_weights_only_when_asked(tmp_path):
    import jinja2  # noqa: F401
    m = cnndsl.load_text(SMALL)
    art = m.compile("pytorch", tmp_path / "small.py")
    assert art.path.read_text().startswith("#") and not (tmp_path / "small.npz").exists()
    m.compile("pytorch", tmp_path / "saved.py", save_weights=True)
    assert (tmp_path / "saved.npz").exists()
    from cnndsl.weights import WeightsMismatch

    with pytest.raises(WeightsMismatch):  # a mapping is checked against the graph like a checkpoint file
        m.compile("onnx", tmp_path / "x.onnx", weights={"conv1.weight": np.zeros((2, 2))})
    assert not (tmp_path / "x.onnx").exists()
