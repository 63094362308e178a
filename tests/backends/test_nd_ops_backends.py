"""1-D and 3-D spatial ops (NCL, NCDHW) through ONNX Runtime (opset 13 and 18), the generated
PyTorch module and TVM llvm, each against the numpy interpreter (itself checked against
torch.nn.functional in tests/interp/test_interp_nd_vs_torch.py). One graph per case, and a
small 3-D and 1-D network with BN folding and conv+act fusion at -O1."""

from __future__ import annotations

import numpy as np
import pytest
from _one_op import close, one_op_graph, one_op_inputs, onnx_matches_interpreter, pytorch_matches_interpreter

from cnndsl import interp
from cnndsl.backend import CompileOptions, get_backend
from cnndsl.ir.builder import GraphBuilder
from cnndsl.weights import Weights
from cnndsl.weights_init import init_weights

CASES = [
    ("conv", {"out": 8, "kernel": 7, "stride": 2, "padding": 3}, (2, 3, 29)),
    ("conv", {"out": 8, "kernel": 3, "groups": 8, "dilation": 2, "bias": False}, (1, 8, 20)),
    ("conv", {"out": 6, "kernel": 4, "stride": 3, "padding": "same"}, (1, 4, 17)),
    ("conv", {"out": 5, "kernel": 3}, (2, 3, 6, 7, 8)),
    ("conv", {"out": 8, "kernel": (3, 7, 7), "stride": (1, 2, 2), "padding": (1, 3, 3), "bias": False},
     (1, 3, 4, 16, 16)),
    ("conv", {"out": 6, "kernel": (3, 1, 1), "stride": (2, 1, 1), "padding": (1, 0, 0)}, (1, 4, 7, 6, 6)),
    ("conv", {"out": 6, "kernel": 3, "groups": 3, "dilation": (1, 2, 1), "padding": (1, 2, 1)}, (1, 6, 5, 8, 9)),
    ("conv", {"out": 3, "kernel": 2, "padding": (0, 1, 0, 1, 0, 1)}, (1, 2, 5, 6, 7)),  # asymmetric
    ("conv_t", {"out": 3, "kernel": 4, "stride": 2, "padding": 1}, (2, 4, 9)),
    ("conv_t", {"out": 2, "kernel": 2, "stride": 2}, (1, 4, 3, 4, 5)),
    ("conv_t", {"out": 4, "kernel": (3, 2, 3), "stride": (1, 2, 2), "padding": (1, 0, 1), "output_padding": (0, 1, 0)},
     (1, 4, 3, 4, 5)),
    ("maxpool", {"kernel": 3, "stride": 2, "padding": 1}, (2, 3, 20)),
    ("maxpool", {"kernel": 3, "stride": 2, "ceil_mode": True}, (1, 3, 21)),
    ("maxpool", {"kernel": 2}, (1, 3, 6, 8, 10)),
    ("maxpool", {"kernel": (1, 3, 3), "stride": (1, 2, 2), "padding": (0, 1, 1)}, (1, 3, 5, 9, 11)),
    ("avgpool", {"kernel": 4, "stride": 3, "padding": 2, "count_include_pad": False}, (2, 3, 20)),
    ("avgpool", {"kernel": (2, 3, 3), "stride": (2, 2, 1), "padding": (1, 1, 0)}, (1, 3, 6, 9, 10)),
    ("avgpool", {"kernel": 3, "stride": 2, "ceil_mode": True, "padding": 1}, (1, 3, 7, 9, 11)),
    ("lppool", {"p": 2.0, "kernel": 3, "stride": 2}, (1, 3, 20)),
    ("lppool", {"p": 2.0, "kernel": 2}, (1, 3, 6, 8, 10)),
    ("adaptive_avgpool", {"size": 5}, (2, 3, 23)),
    ("adaptive_maxpool", {"size": 4}, (2, 3, 23)),
    ("adaptive_avgpool", {"size": (2, 3, 4)}, (1, 3, 7, 9, 10)),
    ("adaptive_maxpool", {"size": (3, 2, 5)}, (1, 3, 7, 9, 10)),
    ("adaptive_maxpool", {"size": 2}, (1, 3, 4, 6, 8)),
    ("gap", {}, (2, 5, 19)),
    ("gmp", {}, (2, 5, 19)),
    ("gap", {}, (2, 5, 3, 4, 5)),
    ("gmp", {}, (2, 5, 3, 4, 5)),
    ("bn", {"eps": 1e-3}, (2, 5, 19)),
    ("bn", {}, (2, 5, 3, 4, 5)),
    ("bn", {"frozen": True, "eps": 1e-3}, (2, 5, 19)),  # torchvision's FrozenBatchNorm2d rule, 1-D and 3-D
    ("bn", {"frozen": True}, (2, 5, 3, 4, 5)),
    ("upsample", {"scale": 2}, (1, 3, 7)),
    ("upsample", {"scale": 2, "mode": "linear"}, (1, 3, 7)),
    ("upsample", {"size": 11, "mode": "linear", "align_corners": True}, (1, 3, 7)),
    ("upsample", {"scale": 2}, (1, 2, 3, 4, 5)),
    ("upsample", {"scale": (1, 2, 2), "mode": "trilinear"}, (1, 2, 3, 4, 5)),
    ("upsample", {"size": (5, 7, 6), "mode": "trilinear", "align_corners": True}, (1, 2, 3, 4, 5)),
    ("pad", {"padding": (2, 1)}, (1, 3, 9)),
    ("pad", {"padding": 3, "mode": "reflect"}, (1, 3, 9)),
    ("pad", {"padding": (0, 4), "mode": "replicate"}, (1, 3, 9)),
    ("pad", {"padding": (1, 0, 2, 0, 3, 1), "value": 0.5}, (1, 2, 4, 5, 6)),
    ("pad", {"padding": (1, 2, 3), "mode": "reflect"}, (1, 2, 4, 5, 6)),
    ("pad", {"padding": 2, "mode": "replicate"}, (1, 2, 4, 5, 6)),
]
IDS = [f"{op}-{len(shape) - 2}d-{i}" for i, (op, _a, shape) in enumerate(CASES)]


@pytest.mark.parametrize("opset", [13, 18])
@pytest.mark.parametrize("op,attrs,shape", CASES, ids=IDS)
def test_onnxruntime_matches_interpreter(op, attrs, shape, opset, tmp_path):
    onnx_matches_interpreter(op, attrs, [shape], op == "lppool", opset, tmp_path)


@pytest.mark.parametrize("op,attrs,shape", CASES, ids=IDS)
def test_generated_pytorch_matches_interpreter(op, attrs, shape, tmp_path):
    pytorch_matches_interpreter(op, attrs, [shape], op == "lppool", tmp_path)


def _tvm_run(g, w, xs):
    import tvm
    from cnndsl.backends.tvm import LLVM_BACKEND

    ex, _manifest, _params = LLVM_BACKEND.build(g, w)
    vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
    res = vm["main"](*[tvm.runtime.tensor(x) for x in xs])
    return [res.numpy()] if hasattr(res, "numpy") else [r.numpy() for r in res]


@pytest.mark.parametrize("op,attrs,shape", CASES, ids=IDS)
def test_tvm_llvm_matches_interpreter(op, attrs, shape):
    import tvm  # noqa: F401
    g = one_op_graph(op, attrs, [shape])
    w = Weights(init_weights(g, 0, randomize_buffers=True))
    xs = one_op_inputs([shape], op == "lppool")
    close(_tvm_run(g, w, xs), interp.run(g, w, xs))


def test_generated_pytorch_names_the_nd_modules():
    from _pytorch_util import generate

    b = GraphBuilder("video")
    x = b.input("x", (1, 3, 4, 8, 8))
    y = b.add("conv", [x], name="c3", out=4, kernel=(3, 1, 1), padding=(1, 0, 0), bias=False)
    y = b.add("bn", [y], name="bn3")
    y = b.add("maxpool", [y], name="mp", kernel=(1, 2, 2))
    y = b.add("conv_t", [y], name="up", out=2, kernel=2, stride=2)
    y = b.add("pad", [y], name="pad", padding=(0, 1, 0, 1, 0, 2))  # begins (d, h, w), then ends
    b.output("y", y)
    s = GraphBuilder("signal")
    z = s.input("z", (1, 2, 32))
    z = s.add("conv", [z], name="c1", out=4, kernel=7, stride=2, padding=3)
    z = s.add("bn", [z], name="bn1")
    z = s.add("avgpool", [z], name="ap", kernel=2)
    z = s.add("adaptive_maxpool", [z], name="amp", size=3)
    s.output("z", z)
    text3 = generate(b.graph)[0]
    text1 = generate(s.graph)[0]
    for line in ("nn.Conv3d(3, 4, kernel_size=(3, 1, 1), padding=(1, 0, 0), bias=False)", "nn.BatchNorm3d(4)",
                 "nn.MaxPool3d((1, 2, 2))", "nn.ConvTranspose3d(4, 2, kernel_size=2, stride=2)",
                 "nn.ConstantPad3d((0, 2, 1, 0, 0, 1), 0.0)"):
        assert line in text3, (line, text3)
    for line in ("nn.Conv1d(2, 4, kernel_size=7, stride=2, padding=3)", "nn.BatchNorm1d(4)", "nn.AvgPool1d(2)",
                 "nn.AdaptiveMaxPool1d(3)"):
        assert line in text1, (line, text1)


def _small_nets():
    """A 3-D (video) and a 1-D (signal) conv -> bn -> relu stack with a residual add, pooling and a head."""
    nets = []
    for name, shape, k in (("video", (2, 3, 6, 16, 16), (3, 3, 3)), ("signal", (2, 2, 64), (7,))):
        b = GraphBuilder(name)
        x = b.input("x", shape)
        y = b.add("conv", [x], name="stem", out=8, kernel=k, stride=2, bias=False)
        y = b.add("relu", [b.add("bn", [y], name="stem_bn")], name="stem_act")
        h = b.add("conv", [y], name="c1", out=8, kernel=3, bias=False)
        h = b.add("relu", [b.add("bn", [h], name="bn1")], name="act1")
        h = b.add("conv", [h], name="c2", out=8, kernel=3, bias=False)
        h = b.add("bn", [h], name="bn2")
        y = b.add("relu", [b.add("add", [h, y], name="add")], name="act2")
        y = b.add("maxpool", [y], name="pool", kernel=2)
        y = b.add("flatten", [b.add("gap", [y], name="gap")], name="flat")
        b.output("logits", b.add("linear", [y], name="fc", out=5))
        nets.append(b.graph)
    return nets


@pytest.mark.parametrize("opt_level", [0, 1])
@pytest.mark.parametrize("index", [0, 1], ids=["3d", "1d"])
def test_small_nd_nets_through_every_backend(index, opt_level, tmp_path):
    """BN folding and conv+act fusion (-O1) on 3-D and 1-D convs, through ONNX Runtime and TVM."""
    import onnxruntime  # noqa: F401
    import tvm  # noqa: F401

    from cnndsl.backend import optimize_for_inference

    g = _small_nets()[index]
    w = Weights(init_weights(g, 0, randomize_buffers=True))
    xs = [np.random.default_rng(2).standard_normal(g.nodes["x"].attrs["shape"]).astype("float32")]
    want = interp.run(g, w, xs)
    backend = get_backend("onnx")
    backend.compile(g, w, tmp_path / "m.onnx", CompileOptions(opt_level=opt_level))
    close(backend.run(tmp_path / "m.onnx", xs), want)
    g1, w1 = optimize_for_inference(g, w) if opt_level else (g, w)
    if opt_level:
        assert "bn" not in {n.op for n in g1.nodes.values()} and "fused_conv" in {n.op for n in g1.nodes.values()}
    close(interp.run(g1, w1, xs), want)
    close(_tvm_run(g1, w1, xs), want)


@pytest.mark.parametrize("index", [0, 1], ids=["3d", "1d"])
def test_tvm_folds_nd_convs_onto_the_packed_kernel_with_weights_as_params(index):
    """1-D and 3-D convs run as the packed 2-D conv (backends/tvm/nd.py); the same with the weights
    as `main`'s parameters (packed by Relax ops instead of numpy) and a symbolic batch."""
    import tvm
    from cnndsl.backends.tvm.lower import build_module

    from cnndsl.backend import optimize_for_inference

    g = _small_nets()[index]
    g, w = optimize_for_inference(g, Weights(init_weights(g, 0, randomize_buffers=True)))
    mod, _keys = build_module(g, w)
    assert mod["main"].script().count("conv2d_nchwc") == 3, "every conv lowered onto the packed kernel"
    assert "conv3d" not in mod["main"].script() and "conv1d" not in mod["main"].script()
    xs = [np.random.default_rng(2).standard_normal(g.nodes["x"].attrs["shape"]).astype("float32")]
    want = interp.run(g, w, xs)
    ex, _manifest, params = get_backend("llvm").build(g, w, CompileOptions(extra={"weights": "params", "batch": "N"}))
    vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
    got = vm["main"](tvm.runtime.tensor(xs[0]), *[tvm.runtime.tensor(np.asarray(v)) for v in params.values()])
    close([got.numpy()], want)
