"""Fused inverted residuals of the llvm target (backends/tvm/fused_block.py): depthwise ->
1x1 projection (-> residual add) as one kernel.

Single blocks against the numpy interpreter (float64) at every MobileNet width, stride 1 and 2,
with and without the residual, channel counts that are not a multiple of the block (the chain
then stays unfused or takes a block of 8), 5x5 depthwise and other activations; weights as
`main`'s parameters; `-X fuse_ir=0`; the kernel's schedule (register tile, parallel bands);
library networks that have the pattern; builds for AVX2 and AVX-512 (run where the CPU can).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from _llvm import build as _build
from _llvm import relative_error as _relative_error
from _llvm import run as _run
from _llvm import weights as _weights

from cnndsl import interp
from cnndsl.backend import BackendError
from cnndsl.ir.builder import GraphBuilder

# max |tvm - float64 reference| / max |reference|: the direct kernels' tolerance (docs/backends.md)
TOLERANCE = 2e-6


def _block(cin, hidden, cout, width, stride, residual, kernel=3, act="relu6", proj_act=None, batch=1):
    """expand 1x1 + act -> depthwise kxk + act -> project 1x1 (+ act) (+ x), biases on every conv."""
    b = GraphBuilder("ir")
    x = b.input("x", (batch, cin, width, width))
    h = b.add("conv", [x], name="expand", out=hidden, kernel=1, bias=True)
    h = b.add(act, [h], name="expand_act")
    d = b.add("conv", [h], name="dw", out=hidden, kernel=kernel, stride=stride, padding=kernel // 2,
              groups=hidden, bias=True)
    d = b.add(act, [d], name="dw_act")
    y = b.add("conv", [d], name="project", out=cout, kernel=1, bias=True)
    if proj_act:
        y = b.add(proj_act, [y], name="project_act")
    if residual:
        y = b.add("add", [y, x], name="add")
    b.output("y", y)
    return b.graph


def _fused_calls(g, w, **kw) -> int:
    from cnndsl.backends.tvm.lower import build_module

    from cnndsl.backend import optimize_for_inference

    g, w = optimize_for_inference(g, w)
    mod, _ = build_module(g, w, batch=1, layout="NCHWc", **kw)
    for gv, func in mod.functions_items():  # each fused kernel got its schedule (a refused one is left naive)
        if gv.name_hint.startswith("fused_inverted_residual"):
            assert "tirx.is_scheduled" in func.attrs, gv.name_hint
    return len(re.findall(r"call_tir\((?:cls\.)?fused_inverted_residual\d*\b", mod["main"].script()))


def _expand_fused(g, w, mode="auto", batch=1) -> bool:
    """Whether the fused kernel computes the expansion (its kernel has two dense reductions)."""
    from cnndsl.backends.tvm.lower import build_module

    from cnndsl.backend import optimize_for_inference

    g, w = optimize_for_inference(g, w)
    mod, _ = build_module(g, w, batch=batch, layout="NCHWc", fuse_ir=mode)
    return any("fused_expand" in f.script() for gv, f in mod.functions_items()
               if gv.name_hint.startswith("fused_inverted_residual"))


def _input(g, seed=0):
    shape = g.nodes[g.input_names[0]].attrs["shape"]
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


@pytest.mark.parametrize("mode", ["tail", "full"])
@pytest.mark.parametrize("width, stride, residual, cin, hidden, cout", [
    (7, 1, True, 32, 192, 32),     # 7 columns: the tile computes 8 or 9, crops to 7
    (14, 1, True, 24, 144, 24),    # 24 output channels: 3 chunks of 8
    (14, 2, False, 40, 120, 48),   # 40, 120: not a multiple of 16 (a block of 8 on AVX-512)
    (28, 1, False, 16, 96, 40),
    (28, 2, False, 24, 144, 32),
    (56, 1, True, 24, 72, 24),
    (56, 2, False, 16, 48, 24),
    (112, 1, False, 32, 32, 16),   # MobileNetV2's first block (no expansion there; here t = 1)
])
def test_fused_block_matches_float64(width, stride, residual, cin, hidden, cout, mode):
    """Depthwise + projection (tail), and with the expansion too (full: halo rows recomputed
    per band, the first and last bands cropped at the image edges)."""
    g = _block(cin, hidden, cout, width, stride, residual)
    w = _weights(g)
    x = _input(g, width)
    want = interp.run(g, w, [x])[0]
    assert _fused_calls(g, w, fuse_ir=mode) == 1
    assert _expand_fused(g, w, mode) == (mode == "full")
    ex, _m, _ = _build(g, w, fuse_ir=mode)
    err = _relative_error(_run(ex, x), want)
    assert err <= TOLERANCE, f"relative error {err:.2e}"


@pytest.mark.parametrize("kernel, act, proj_act", [(5, "relu", None), (3, "hswish", "relu"), (3, "identity", None)])
def test_fused_block_kernel_and_activations(kernel, act, proj_act):
    """MnasNet's 5x5 depthwise with ReLU; MobileNetV3's hardswish; an activation on the projection;
    odd width 13 (no tile divides it)."""
    g = _block(16, 48, 16, 13, 1, True, kernel=kernel, act=act, proj_act=proj_act)
    w = _weights(g)
    x = _input(g, 3)
    assert _fused_calls(g, w) == 1
    ex, _m, _ = _build(g, w)
    assert _relative_error(_run(ex, x), interp.run(g, w, [x])[0]) <= TOLERANCE


@pytest.mark.parametrize("hidden, cout", [(20, 16), (48, 12)])
def test_channels_without_a_block_stay_unfused(hidden, cout):
    """20 hidden channels (no block of 8: the depthwise input stays plain) or 12 output channels
    (no block for the result): each layer its own kernel, same numbers."""
    g = _block(16, hidden, cout, 14, 1, False)
    w = _weights(g)
    x = _input(g, 5)
    assert _fused_calls(g, w) == 0
    ex, _m, _ = _build(g, w)
    assert _relative_error(_run(ex, x), interp.run(g, w, [x])[0]) <= TOLERANCE


def test_shared_depthwise_output_is_not_fused():
    """A depthwise output read by two layers is needed in memory: no fusion."""
    b = GraphBuilder("two")
    x = b.input("x", (1, 16, 14, 14))
    d = b.add("conv", [x], name="dw", out=16, kernel=3, padding=1, groups=16, bias=True)
    p = b.add("conv", [d], name="p", out=16, kernel=1)
    b.output("y", b.add("add", [p, d], name="add"))
    g = b.graph
    w = _weights(g)
    x = _input(g, 6)
    assert _fused_calls(g, w) == 0
    ex, _m, _ = _build(g, w)
    assert _relative_error(_run(ex, x), interp.run(g, w, [x])[0]) <= TOLERANCE


@pytest.mark.parametrize("width, stride, hidden, batch, fused", [
    (112, 2, 96, 1, True),     # MobileNetV2's second block: 4.8 MB expanded tensor
    (56, 2, 144, 1, False),    # 1.8 MB: stays in the caches at batch 1 ...
    (56, 2, 144, 8, True),     # ... not at batch 8
    (56, 1, 144, 8, False),    # stride 1: two halo rows per band
])
def test_expansion_rule(width, stride, hidden, batch, fused):
    from cnndsl.backends.tvm.fused_block import expand_pays

    g = _block(24, hidden, 24, width, stride, False)
    d = g.nodes["dw"]
    assert expand_pays(d, batch) == fused
    assert expand_pays(d, batch, "full") and not expand_pays(d, batch, "tail")


def test_fuse_ir_off_and_bad_value():
    g = _block(24, 144, 24, 14, 1, True)
    w = _weights(g)
    assert _fused_calls(g, w, fuse_ir="0") == 0
    x = _input(g, 7)
    on, _m, _ = _build(g, w)
    off, _m, _ = _build(g, w, fuse_ir="0")
    np.testing.assert_allclose(_run(on, x), _run(off, x), rtol=1e-5, atol=1e-5)
    with pytest.raises(BackendError, match="fuse_ir"):
        _build(g, w, fuse_ir="maybe")


@pytest.mark.parametrize("batch", [3, "N"])
def test_weights_as_parameters_and_batch(batch):
    """Weights passed at run time (packed by Relax); a batch of 3, and a symbolic batch run at 2."""
    g = _block(24, 144, 24, 14, 2, False, batch=batch)
    w = _weights(g)
    ex, manifest, params = _build(g, w, weights="params", batch=batch)
    x = np.random.default_rng(8).standard_normal((3 if batch == 3 else 2, 24, 14, 14)).astype("float32")
    got = _run(ex, x, *[np.asarray(params[k], "float32") for k in manifest["param_order"]])
    assert _relative_error(got, interp.run(g, w, [x])[0]) <= TOLERANCE


@pytest.mark.parametrize("mcpu, isa", [("znver3", "avx2"), ("znver4", "avx512")])
def test_fused_kernel_schedule_and_isa(mcpu, isa):
    """The fused kernel gets its schedule (parallel bands, vectorized channel blocks, unrolled
    register tiles) for both ISAs; the build for this CPU's ISA is run against the interpreter,
    the other is compiled only (its vector registers checked in the assembly)."""
    from cnndsl.backends.tvm import build as B
    from cnndsl.backends.tvm.cpu_schedule import schedule_module
    from cnndsl.backends.tvm.cpu_target import profile_of
    from cnndsl.backends.tvm.lower import build_module
    from tvm.target import codegen

    from cnndsl.backend import optimize_for_inference

    g = _block(24, 144, 24, 14, 1, True)
    w = _weights(g)
    tgt = B.make_target("llvm", mcpu=mcpu)
    assert profile_of(tgt).isa == isa
    g2, w2 = optimize_for_inference(g, w)
    mod, _ = build_module(g2, w2, batch=1, layout="NCHWc", target=tgt)
    scheduled = schedule_module(B.fuse_cpu(B.prepare_cpu(B.inference_prepasses(mod)), tgt), tgt)
    fused = [f.script() for gv, f in scheduled.functions_items() if "inverted_residual" in gv.name_hint]
    assert len(fused) == 1
    assert all(s in fused[0] for s in ("T.parallel", "T.vectorized", "T.unroll")), fused[0][:2000]
    ex, _m, _ = _build(g, w, mcpu=mcpu)
    asm = ex.mod.imports[0].inspect_source("asm")
    assert ("zmm" in asm) == (isa == "avx512") and "ymm" in asm
    if not codegen.llvm_cpu_has_features("avx512f" if isa == "avx512" else "avx2", B.make_target("llvm")):
        return  # compiled; this CPU cannot run that ISA
    x = _input(g, 9)
    assert _relative_error(_run(ex, x), interp.run(g, w, [x])[0]) <= TOLERANCE


def _library(name: str, size: int):
    from cnndsl.api import load

    return load(name, batch=1, input_shape=(3, size, size))


@pytest.mark.parametrize("name, size, chains", [
    ("mobilenet_v2", 96, 17),
    pytest.param("efficientnet_b0", 96, 0, marks=pytest.mark.slow),  # SE between depthwise and projection
    pytest.param("mnasnet1_0", 96, 17, marks=pytest.mark.slow),
    pytest.param("mobilenet_v3_large", 96, 7, marks=pytest.mark.slow),
])
def test_library_networks_fuse_and_match(name, size, chains):
    """Every inverted residual without squeeze-excitation is one fused kernel; the network's
    output matches the float64 interpreter."""
    g = _library(name, size)
    w = _weights(g)
    assert _fused_calls(g, w) == chains
    x = _input(g, 10)
    ex, _m, _ = _build(g, w)
    want = interp.run(g, w, [x])[0]
    np.testing.assert_allclose(_run(ex, x), want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))
