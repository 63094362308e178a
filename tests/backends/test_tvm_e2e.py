"""TVM end to end: a small CNN compiled for llvm, exported, loaded in a fresh process; cuda compile-only."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tvm

from cnndsl import interp
from cnndsl.backend import CompileOptions, get_backend
from cnndsl.ir.builder import GraphBuilder
from cnndsl.weights import Weights
from cnndsl.weights_init import init_weights


def small_cnn(batch="N", hw=24):
    """MobileNet-like: conv-BN-relu, depthwise + hswish, SE gate, residual, pool, dropout, fc."""
    b = GraphBuilder("small")
    x = b.input("image", (batch, 3, hw, hw))
    y = b.add("conv", [x], name="stem.conv", out=16, kernel=3, stride=2, bias=False)
    y = b.add("bn", [y], name="stem.bn")
    y = b.add("relu", [y], name="stem.act")
    r = y
    y = b.add("conv", [y], name="dw.conv", out=16, kernel=3, groups=16, bias=False)
    y = b.add("bn", [y], name="dw.bn")
    y = b.add("hswish", [y], name="dw.act")
    s = b.add("gap", [y], name="se.pool")
    s = b.add("conv", [s], name="se.fc1", out=4, kernel=1)
    s = b.add("relu", [s], name="se.act")
    s = b.add("conv", [s], name="se.fc2", out=16, kernel=1)
    s = b.add("hsigmoid", [s], name="se.gate")
    y = b.add("mul", [y, s], name="se.mul")
    y = b.add("add", [y, r], name="res")
    y = b.add("maxpool", [y], name="pool", kernel=3, stride=2, padding=1)
    y = b.add("conv", [y], name="head.conv", out=32, kernel=1)
    y = b.add("silu", [y], name="head.act")
    y = b.add("gap", [y], name="gap")
    y = b.add("flatten", [y], name="flat")
    y = b.add("dropout", [y], name="drop", p=0.2)
    y = b.add("linear", [y], name="fc", out=10)
    b.output("logits", y)
    return b.graph


@pytest.fixture(scope="module")
def net():
    g = small_cnn()
    w = Weights(init_weights(g, 0, randomize_buffers=True))
    return g, w


RUN_FRESH = """
import json, sys, numpy as np
from cnndsl.backend import backend_for_artefact
path, xin, yout = sys.argv[1:4]
b = backend_for_artefact(path)
y = b.run(path, [np.load(xin)])
np.save(yout, y[0])
print(json.dumps({"target": b.name, "tvm_loaded": "tvm" in sys.modules}))
"""


@pytest.mark.parametrize("weights_mode", ["embed", "params"])
def test_llvm_compile_export_and_run_in_fresh_process(net, tmp_path, weights_mode):
    g, w = net
    backend = get_backend("llvm")
    out = tmp_path / "art"
    art = backend.compile(g, w, out, CompileOptions(extra={"weights": weights_mode}))
    assert art.target == "llvm" and "target llvm" in art.summary()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["target"] == "llvm"
    assert manifest["inputs"] == [{"name": "image", "shape": ["N", 3, 24, 24], "dtype": "float32"}]
    assert manifest["outputs"][0]["shape"] == ["N", 10]
    assert manifest["versions"]["tvm"] and manifest["versions"]["cnndsl"]
    assert manifest["tuning"] == {"tuned": False}
    assert (out / "model.so").is_file()
    assert (out / "weights.params").is_file() == (weights_mode == "params")
    assert not list(tmp_path.glob(".art.*")), "temporary directory left behind"
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 3, 24, 24)).astype("float32")
        np.save(tmp_path / "x.npy", x)
        proc = subprocess.run([sys.executable, "-c", RUN_FRESH, str(out), str(tmp_path / "x.npy"),
                               str(tmp_path / "y.npy")], capture_output=True, text=True, check=True)
        assert json.loads(proc.stdout.strip().splitlines()[-1])["target"] == "llvm"
        y = np.load(tmp_path / "y.npy")
        want = interp.run(g, w, [x])[0]
        np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)


def test_wrong_input_shape_is_a_clear_error(net, tmp_path):
    from cnndsl.backend import BackendError

    g, w = net
    backend = get_backend("llvm")
    backend.compile(g, w, tmp_path / "a", CompileOptions())
    with pytest.raises(BackendError, match="expected"):
        backend.run(tmp_path / "a", [np.zeros((1, 3, 20, 20), "float32")])


def test_fixed_batch_and_naive_schedule_agree(net):

    g, w = net
    x = np.random.default_rng(5).standard_normal((2, 3, 24, 24)).astype("float32")
    outs = []
    for sched in ("default", "naive"):
        ex, manifest, _ = get_backend("llvm").build(g, w, CompileOptions(extra={"batch": 2, "schedule": sched}))
        assert manifest["inputs"][0]["shape"][0] == 2
        vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
        outs.append(vm["main"](tvm.runtime.tensor(x)).numpy())
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-4, atol=1e-5)


def test_cli_compile_and_run(tmp_path, capsys):
    from cnndsl.cli.main import main

    art = tmp_path / "lenet_tvm"
    assert main(["compile", "lenet5", "--target", "llvm", "-o", str(art)]) == 0
    assert "target llvm" in capsys.readouterr().out
    manifest = json.loads((art / "manifest.json").read_text())
    shape = [2 if isinstance(d, str) else d for d in manifest["inputs"][0]["shape"]]
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal(shape).astype("float32"))
    assert main(["run", str(art), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")]) == 0
    assert np.load(tmp_path / "y.npy").shape[0] == 2



def test_unknown_tune_again_value_is_a_clear_error(tmp_path, capsys):
    from cnndsl.cli.main import main

    art = tmp_path / "never"
    rc = main(["compile", "lenet5", "--target", "llvm", "--tune", "--tuning-db", str(tmp_path / "db"),
               "-X", "tune_again=maybe", "-o", str(art)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "-X tune_again=maybe: expected 1 or 0" in err and "Traceback" not in err
    assert not art.exists()

def test_cuda_compiles_without_a_gpu_and_kernels_land_on_the_gpu(net, tmp_path):
    from cnndsl.backends.tvm import build as B

    g, w = net
    backend = get_backend("cuda")
    ex, manifest, _ = backend.build(g, w, CompileOptions(extra={"batch": 1}))
    src = B.cuda_source(ex)
    assert src.count("__global__") >= 5, "kernels fell back to the host"
    assert manifest["target_detail"]["arch"] == "sm_90"
    art = backend.compile(g, w, tmp_path / "cu", CompileOptions(extra={"arch": "sm_80"}))
    m = json.loads((tmp_path / "cu" / "manifest.json").read_text())
    assert m["target"] == "cuda" and m["target_detail"]["arch"] == "sm_80" and m["cuda_kernels"] >= 5
    assert art.path.is_dir()


def test_cuda_refuses_tuning_without_a_gpu(net, tmp_path):
    from cnndsl.backend import BackendError

    g, w = net
    with pytest.raises(BackendError, match="GPU"):
        get_backend("cuda").build(g, w, CompileOptions(tune=True, trials=1, tuning_db=str(tmp_path)))


def test_params_mode_carries_a_parameter_keyed_by_its_node_name(tmp_path):
    # ConvNeXt's block: nn.LayerNorm and nn.Linear on NHWC, and a layer-scale gamma whose key
    # is the node name itself (`block.layer_scale`), passed to `main` as a parameter
    from _onnx_nets import nhwcnet

    g = nhwcnet()
    w = Weights(init_weights(g, 0, randomize_buffers=True))
    backend = get_backend("llvm")
    out = tmp_path / "art"
    backend.compile(g, w, out, CompileOptions(extra={"weights": "params"}))
    manifest = json.loads((out / "manifest.json").read_text())
    assert "block.layer_scale" in manifest["param_order"] and "block.block.3.weight" in manifest["param_order"]
    x = np.random.default_rng(0).standard_normal((2, 3, 10, 10)).astype("float32")
    for got, want in zip(backend.run(out, [x]), interp.run(g, w, [x])):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
