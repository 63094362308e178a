"""The packed NCHW[b]c layout of the llvm target (backends/tvm/packed.py).

Each case is a small network compiled with the default (packed) lowering and checked against
the numpy interpreter, and checked to have taken the packed path it is about (or, for the
cases that must stay plain, not to have). The layout plan of whole library networks is
checked too: a ResNet packs once at its input and unpacks once before the classifier.
"""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from _chains import chain

from cnndsl import interp
from cnndsl.api import load
from cnndsl.backend import CompileOptions, get_backend, optimize_for_inference
from cnndsl.ir.builder import GraphBuilder
from cnndsl.weights import Weights
from cnndsl.weights_init import init_weights


def _residual(hw: int, c: int, merge: str):
    """conv -> relu -> conv, merged with the block input by `merge` (add / mul / concat)."""
    b = GraphBuilder("r")
    x = b.input("x", (1, c, hw, hw))
    y = b.add("conv", [x], name="c0", out=c, kernel=3, padding=1)
    y = b.add("relu", [y], name="a0")
    y = b.add("conv", [y], name="c1", out=c, kernel=3, padding=1, bias=True)
    attrs = {"axis": 1} if merge == "concat" else {}
    z = b.add(merge, [y, x], name="m", **attrs)
    b.output("y", z)
    return b.graph


def _se(hw: int, c: int, batch=1):
    """Squeeze-and-excitation: gap -> 1x1 reduce (to c/16, not a block of 8) -> relu -> 1x1 -> sigmoid -> mul."""
    b = GraphBuilder("se")
    x = b.input("x", (batch, c, hw, hw))
    y = b.add("conv", [x], name="c0", out=c, kernel=3, padding=1)
    s = b.add("gap", [y], name="gap")
    s = b.add("conv", [s], name="fc1", out=c // 16, kernel=1, padding=0, bias=True)
    s = b.add("relu", [s], name="r")
    s = b.add("conv", [s], name="fc2", out=c, kernel=1, padding=0, bias=True)
    s = b.add("sigmoid", [s], name="g")
    b.output("y", b.add("mul", [y, s], name="scale"))
    return b.graph


CASES = {
    # dense convs: blocks 16 and 8, an odd input (RGB stem), 1x1, 5x5, stride 2, dilation 2, bias
    "c16_3x3": lambda: chain(14, 16, [{"out": 32, "kernel": 3, "padding": 1}, {"op": "relu"}]),
    "c8_to_24": lambda: chain(9, 8, [{"out": 24, "kernel": 3, "padding": 1, "bias": True}]),
    "rgb_stem_7x7_s2": lambda: chain(32, 3, [{"out": 16, "kernel": 7, "stride": 2, "padding": 3},
                                              {"op": "bn"}, {"op": "relu"},
                                              {"op": "maxpool", "kernel": 3, "stride": 2, "padding": 1}]),
    "1x1_s2": lambda: chain(15, 32, [{"out": 16, "kernel": 1, "stride": 2, "padding": 0}]),
    "5x5_asym_pad": lambda: chain(11, 16, [{"out": 16, "kernel": 5, "padding": [2, 1, 1, 2]}]),
    "dilated": lambda: chain(17, 16, [{"out": 16, "kernel": 3, "padding": 2, "dilation": 2}]),
    "prime_width": lambda: chain(13, 16, [{"out": 16, "kernel": 3, "padding": 1}, {"op": "hswish"}]),
    "width_over_16": lambda: chain(37, 8, [{"out": 16, "kernel": 3, "padding": 1}]),
    # depthwise (MobileNet), with relu6 fused, stride 2, block 8 (24 channels)
    "depthwise_s2": lambda: chain(16, 24, [{"out": 24, "kernel": 3, "stride": 2, "padding": 1, "groups": 24},
                                            {"op": "bn"}, {"op": "relu6"}]),
    "depthwise_5x5": lambda: chain(12, 32, [{"out": 32, "kernel": 5, "padding": 2, "groups": 32}]),
    # merges and pools on packed values
    "residual_add": lambda: _residual(10, 16, "add"),
    "residual_mul": lambda: _residual(10, 16, "mul"),
    "concat": lambda: _residual(10, 16, "concat"),
    "se_block": lambda: _se(8, 32),
    "avgpool_ceil": lambda: chain(11, 16, [{"out": 16, "kernel": 3, "padding": 1},
                                            {"op": "avgpool", "kernel": 3, "stride": 2, "padding": 1,
                                             "ceil_mode": True, "count_include_pad": False}]),
    "adaptive_2x2": lambda: chain(8, 16, [{"out": 16, "kernel": 3, "padding": 1},
                                           {"op": "adaptive_avgpool", "size": 2}, {"op": "flatten"}]),
    # batch norm that cannot fold into a conv (pre-activation, after relu), affine or not
    "preact_bn": lambda: chain(8, 16, [{"out": 16, "kernel": 3, "padding": 1}, {"op": "relu"}, {"op": "bn"},
                                        {"op": "relu"}, {"out": 16, "kernel": 1, "padding": 0}]),
    "preact_bn_plain_affine": lambda: chain(8, 8, [{"out": 8, "kernel": 3, "padding": 1}, {"op": "relu"},
                                                    {"op": "bn", "affine": False}]),
    # stays plain (or falls back part-way): grouped conv, output of 10 channels, prelu epilogue
    "grouped_plain": lambda: chain(8, 16, [{"out": 32, "kernel": 3, "padding": 1, "groups": 4}]),
    "odd_output_plain": lambda: chain(8, 16, [{"out": 10, "kernel": 3, "padding": 1}, {"op": "relu"}]),
    "prelu_after_conv": lambda: chain(8, 16, [{"out": 16, "kernel": 3, "padding": 1},
                                               {"op": "prelu", "num_parameters": 16}]),
}
# how many convolutions each case lowers in the packed layout (dense + depthwise)
PACKED_CONVS = {"grouped_plain": 0, "odd_output_plain": 0, "se_block": 2, "residual_add": 2, "residual_mul": 2,
                "concat": 2}


def _weights(g):
    return Weights(init_weights(g, 0, randomize_buffers=True))


def _lowered(g, w, layout="NCHWc", **kw):
    from cnndsl.backends.tvm.lower import build_module

    g, w = optimize_for_inference(g, w)
    mod, _ = build_module(g, w, batch=kw.get("batch", 1), embed=kw.get("embed", True), layout=layout,
                          winograd=kw.get("winograd", "auto"))
    return mod


def _count_calls(mod, name: str) -> int:
    """Calls in `main` of the PrimFuncs named `name` (identical convs share one PrimFunc)."""
    import re

    return len(re.findall(rf"call_tir\((?:cls\.)?{name}\d*\b", mod["main"].script()))


def _run(ex, x):

    vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
    return vm["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()


@pytest.mark.parametrize("case", sorted(CASES))
def test_packed_layout_matches_interpreter(case):
    g = CASES[case]()
    w = _weights(g)
    shape = list(g.nodes["x"].attrs["shape"])
    x = np.random.default_rng(3).standard_normal(shape).astype("float32")
    ref = interp.run(g, w, [x])[0]
    ex, manifest, _ = get_backend("llvm").build(g, w, CompileOptions(extra={"batch": 1}))
    assert manifest["layout"] == "NCHWc" and manifest["schedule"] == "default"
    np.testing.assert_allclose(_run(ex, x), ref, rtol=1e-4, atol=1e-4)
    mod = _lowered(g, w)
    n_packed = (_count_calls(mod, "conv2d_nchwc") + _count_calls(mod, "depthwise_nchwc")
                + _count_calls(mod, "winograd_matmul"))
    n_convs = sum(1 for n in g.nodes.values() if n.op == "conv")
    assert n_packed == PACKED_CONVS.get(case, n_convs)


@pytest.mark.parametrize("case", ["se", "preact_bn"])
def test_symbolic_batch_and_separate_weights(case):
    """Packed weights (and BN scale/shift) as `main`'s parameters, packed by Relax at run time;
    symbolic batch."""
    c = 32 if case == "se" else 16
    g = _se(8, c, batch="N") if case == "se" else chain(
        8, c, [{"out": c, "kernel": 3, "padding": 1}, {"op": "relu"}, {"op": "bn"}, {"op": "relu"}], batch="N")
    w = _weights(g)
    ex, manifest, params = get_backend("llvm").build(g, w, CompileOptions(extra={"batch": "N", "weights": "params"}))
    assert manifest["layout"] == "NCHWc" and manifest["param_order"]

    vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, c, 8, 8)).astype("float32")
        args = [tvm.runtime.tensor(params[k]) for k in manifest["param_order"]]
        y = vm["main"](tvm.runtime.tensor(x), *args).numpy()
        np.testing.assert_allclose(y, interp.run(g, w, [x])[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("batch, classes", [(1, 40), ("N", 1000), (2, 10)])
def test_classifier_matmul(batch, classes):
    """gap -> flatten -> linear: the row-matmul schedule (panels of columns; 10 classes have no
    panel of 8 and keep the generic schedule), with a fixed and a symbolic batch."""
    from cnndsl.backends.tvm import build as B
    from cnndsl.backends.tvm.cpu_schedule import schedule_module

    g = chain(6, 16, [{"out": 32, "kernel": 3, "padding": 1}, {"op": "gap"}, {"op": "flatten"},
                       {"op": "linear", "out": classes}], batch=batch)
    w = _weights(g)
    ex, _m, _ = get_backend("llvm").build(g, w, CompileOptions(extra={"batch": batch}))
    for n in ((1, 3) if batch == "N" else (batch,)):
        x = np.random.default_rng(n).standard_normal((n, 16, 6, 6)).astype("float32")
        gi = chain(6, 16, [{"out": 32, "kernel": 3, "padding": 1}, {"op": "gap"}, {"op": "flatten"},
                            {"op": "linear", "out": classes}], batch=n)
        np.testing.assert_allclose(_run(ex, x), interp.run(gi, w, [x])[0], rtol=1e-4, atol=1e-4)
    tgt = B.make_target("llvm")
    bfix = 1 if batch == "N" else batch
    fused = B.fuse_cpu(B.inference_prepasses(_lowered(g, w, batch=bfix)), tgt)
    text = next(f.script() for gv, f in schedule_module(fused, tgt).functions_items() if "matmul" in gv.name_hint)
    if classes in (40, 1000):  # panels of 40 / 64 columns, parallel over panels
        assert "matmul_update" in text and "T.parallel" in text and "T.unroll" in text


def test_nchw_layout_still_available():
    g = CASES["residual_add"]()
    w = _weights(g)
    x = np.random.default_rng(0).standard_normal((1, 16, 10, 10)).astype("float32")
    ex, manifest, _ = get_backend("llvm").build(g, w, CompileOptions(extra={"batch": 1, "layout": "NCHW"}))
    assert manifest["layout"] == "NCHW"
    np.testing.assert_allclose(_run(ex, x), interp.run(g, w, [x])[0], rtol=1e-4, atol=1e-4)
    assert _count_calls(_lowered(g, w, layout="NCHW"), "conv2d_nchwc") == 0


def test_unknown_layout_is_an_error():
    from cnndsl.backend import BackendError

    g = CASES["c16_3x3"]()
    with pytest.raises(BackendError, match="layout"):
        get_backend("llvm").build(g, _weights(g), CompileOptions(extra={"batch": 1, "layout": "NHWC"}))


def _layout_changes(mod) -> tuple[int, int]:
    """(packs, unpacks) in `main`: 5-D permute_dims results (pack) and 5-D permute_dims inputs (unpack)."""
    text = mod["main"].script()
    packs = text.count("axes=[0, 1, 3, 4, 2]")
    unpacks = text.count("axes=[0, 1, 4, 2, 3]")
    return packs, unpacks


@pytest.mark.parametrize("name, packs, unpacks", [("resnet18", 0, 1), ("resnet50", 0, 1), ("mobilenet_v2", 0, 1),
                                                  ("densenet121", 0, 1), ("se_resnet50", 0, 1)])
def test_library_networks_stay_packed(name, packs, unpacks):
    """The whole convolution trunk is packed: the stem conv reads the RGB input in place (no
    pack), and the one unpack is the pooled features before flatten."""
    g = load(name)
    w = Weights(init_weights(g, 0))
    mod = _lowered(g, w)
    assert _layout_changes(mod) == (packs, unpacks)


def test_packed_convs_are_scheduled():
    """Every fused kernel holding a packed direct conv gets the register-tiled schedule (parallel
    rows, unrolled columns, vectorized channel lanes), not TVM's naive loops (Winograd off: its
    kernels are checked in test_tvm_winograd.py)."""
    from cnndsl.backends.tvm import build as B
    from cnndsl.backends.tvm.cpu_schedule import schedule_module

    g = _residual(14, 32, "add")
    w = _weights(g)
    tgt = B.make_target("llvm")
    fused = B.fuse_cpu(B.prepare_cpu(B.inference_prepasses(_lowered(g, w, winograd="0"))), tgt)
    scheduled = schedule_module(fused, tgt)
    convs = [(gv.name_hint, f) for gv, f in scheduled.functions_items() if "conv2d_nchwc" in gv.name_hint]
    assert len(convs) == 2
    for name, func in convs:
        text = func.script()
        assert "T.parallel" in text and "T.vectorized" in text and "T.unroll" in text, name
