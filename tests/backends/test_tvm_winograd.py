"""Winograd F(m x m, 3 x 3) convolutions of the llvm target (backends/tvm/winograd.py).

Accuracy against the numpy interpreter (float64) at the tolerance docs/backends.md states,
per tile size, on single layers of the widths ResNet and VGG use; the direct path for what
Winograd does not take (dilation, groups, stride 2, thin channels, -X winograd=0); the
transforms in numpy (float64) against torch.nn.functional.conv2d in float64; weights as
`main`'s parameters (transformed by Relax); and the schedules that the kernels get.
"""

from __future__ import annotations

import numpy as np
import pytest
from _chains import chain
from _llvm import build as _build
from _llvm import relative_error as _relative_error
from _llvm import run as _run
from _llvm import weights as _weights

from cnndsl import interp
from cnndsl.backend import BackendError

# max |tvm - float64 reference| / max |reference|, per tile size (docs/backends.md)
TOLERANCE = {0: 2e-6, 2: 5e-6, 4: 3e-5}


def _lowered_calls(g, w, name: str, **kw) -> int:
    import re

    from cnndsl.backends.tvm.lower import build_module

    from cnndsl.backend import optimize_for_inference

    g, w = optimize_for_inference(g, w)
    mod, _ = build_module(g, w, batch=1, layout="NCHWc", **kw)
    return len(re.findall(rf"call_tir\((?:cls\.)?{name}\d*\b", mod["main"].script()))


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("width, cin, cout", [(7, 32, 32), (14, 40, 24), (28, 16, 32), (56, 8, 16)])
def test_winograd_layer_matches_float64(m, width, cin, cout):
    """conv 3x3 (pad 1, bias) + relu at each ResNet width; channel counts that are not a
    multiple of the AVX-512 block (40, 24) take a block of 8."""
    g = chain(width, cin, [{"out": cout, "kernel": 3, "padding": 1, "bias": True}, {"op": "relu"}])
    w = _weights(g)
    x = np.random.default_rng(width).standard_normal((1, cin, width, width)).astype("float32")
    want = interp.run(g, w, [x])[0]
    ex, _m, _ = _build(g, w, winograd=str(m))
    assert _lowered_calls(g, w, "winograd_matmul", winograd=str(m)) == 1
    err = _relative_error(_run(ex, x), want)
    assert err <= TOLERANCE[m], f"F({m}x{m}) relative error {err:.2e}"


@pytest.mark.parametrize("m", [2, 4])
def test_winograd_residual_and_odd_size(m):
    """Two Winograd convs with a residual add fused onto the second's output transform, at a
    size no tile divides (13: the last tiles are cropped), asymmetric padding."""
    from cnndsl.ir.builder import GraphBuilder

    b = GraphBuilder("r")
    x = b.input("x", (1, 32, 13, 13))
    y = b.add("conv", [x], name="c0", out=32, kernel=3, padding=1)
    y = b.add("relu", [y], name="a0")
    y = b.add("conv", [y], name="c1", out=32, kernel=3, padding=[1, 0, 1, 2], bias=True)
    y = b.add("add", [y, x], name="res")
    b.output("y", b.add("relu", [y], name="a1"))
    g = b.graph
    w = _weights(g)
    xv = np.random.default_rng(1).standard_normal((1, 32, 13, 13)).astype("float32")
    want = interp.run(g, w, [xv])[0]
    ex, _m, _ = _build(g, w, winograd=str(m))
    assert _lowered_calls(g, w, "winograd_matmul", winograd=str(m)) == 2
    assert _relative_error(_run(ex, xv), want) <= TOLERANCE[m]


@pytest.mark.parametrize("case, layers", [
    ("dilated", [{"out": 32, "kernel": 3, "padding": 2, "dilation": 2}]),
    ("grouped", [{"out": 32, "kernel": 3, "padding": 1, "groups": 4}]),
    ("depthwise", [{"out": 32, "kernel": 3, "padding": 1, "groups": 32}]),
    ("stride2", [{"out": 32, "kernel": 3, "padding": 1, "stride": 2}]),
    ("5x5", [{"out": 32, "kernel": 5, "padding": 2}]),
])
def test_direct_path_where_winograd_does_not_apply(case, layers):
    g = chain(12, 32, layers)
    w = _weights(g)
    assert _lowered_calls(g, w, "winograd_matmul", winograd="4") == 0
    x = np.random.default_rng(2).standard_normal((1, 32, 12, 12)).astype("float32")
    ex, _m, _ = _build(g, w, winograd="4")
    assert _relative_error(_run(ex, x), interp.run(g, w, [x])[0]) <= TOLERANCE[0] * 10


def test_rule_and_switch():
    """By default (the rule): F(4) at 8x8 and up, F(2) below, direct for thin convs;
    -X winograd=0 turns it off; a bad value is a BackendError."""
    from cnndsl.backends.tvm.winograd import rule

    assert rule(64, 64, 56, 56) == 4 and rule(512, 512, 7, 7) == 2 and rule(16, 16, 56, 56) == 0
    assert rule(64, 64, 3, 3) == 0
    # AVX-512: F(2) at 7x7 only with 32 rows of batch x tiles to reuse its weights over (batch 2 and up)
    assert rule(512, 512, 7, 7, batch=1, isa="avx512") == 0 and rule(512, 512, 7, 7, batch=2, isa="avx512") == 2
    assert rule(512, 512, 7, 7, batch=1, isa="avx2") == 2 and rule(256, 256, 14, 14, batch=1, isa="avx512") == 4
    g = chain(16, 32, [{"out": 32, "kernel": 3, "padding": 1}])
    w = _weights(g)
    assert _lowered_calls(g, w, "winograd_matmul") == 1
    assert _lowered_calls(g, w, "winograd_matmul", winograd="0") == 0
    assert _lowered_calls(g, w, "conv2d_nchwc", winograd="0") == 1
    with pytest.raises(BackendError, match="winograd"):
        _build(g, w, winograd="3")


def test_symbolic_batch_takes_the_direct_path():
    g = chain(16, 32, [{"out": 32, "kernel": 3, "padding": 1}], batch="N")
    w = _weights(g)
    from cnndsl.backends.tvm.lower import build_module

    from cnndsl.backend import optimize_for_inference

    g2, w2 = optimize_for_inference(g, w)
    mod, _ = build_module(g2, w2, batch="N", layout="NCHWc")
    assert "winograd" not in mod["main"].script()


@pytest.mark.parametrize("m", [2, 4])
def test_weights_as_parameters(m):
    """Weights passed at run time: U = G g G^T computed by Relax in the module."""
    g = chain(10, 16, [{"out": 32, "kernel": 3, "padding": 1, "bias": True}, {"op": "relu"}])
    w = _weights(g)
    x = np.random.default_rng(3).standard_normal((1, 16, 10, 10)).astype("float32")
    ex, manifest, params = _build(g, w, winograd=str(m), weights="params")
    got = _run(ex, x, *[params[k] for k in manifest["param_order"]])
    assert _relative_error(got, interp.run(g, w, [x])[0]) <= TOLERANCE[m]


@pytest.mark.parametrize("m", [2, 4])
def test_transform_matrices_against_torch_float64(m):
    """The F(m, 3) matrices themselves, in float64: A^T [(G g G^T) . (B^T d B)] A over every tile
    of a padded image equals torch.nn.functional.conv2d in float64 to rounding."""
    torch = pytest.importorskip("torch")
    from cnndsl.backends.tvm.winograd import MATRICES

    bt, gm, at = MATRICES[m]
    rng = np.random.default_rng(m)
    x = rng.standard_normal((1, 3, 4 * m, 4 * m))
    wt = rng.standard_normal((5, 3, 3, 3))
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(wt), padding=1).numpy()
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    u = np.einsum("ak,oikl,bl->oiab", gm, wt, gm)
    got = np.zeros_like(want)
    for ty in range(4):
        for tx in range(4):
            d = xp[0, :, ty * m:ty * m + m + 2, tx * m:tx * m + m + 2]
            v = np.einsum("ai,cij,bj->cab", bt, d, bt)
            mm = np.einsum("ocab,cab->oab", u, v)
            got[0, :, ty * m:(ty + 1) * m, tx * m:(tx + 1) * m] = np.einsum("ra,oab,sb->ors", at, mm, at)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_winograd_kernels_are_scheduled():
    """The three kernels get their schedules (parallel, vectorized channel lanes, unrolled
    tiles), not TVM's naive loops; bias + relu fuse onto the output transform."""
    from cnndsl.backends.tvm import build as B
    from cnndsl.backends.tvm.cpu_schedule import schedule_module
    from cnndsl.backends.tvm.lower import build_module

    from cnndsl.backend import optimize_for_inference

    g = chain(16, 32, [{"out": 32, "kernel": 3, "padding": 1, "bias": True}, {"op": "relu"}])
    g, w = optimize_for_inference(g, _weights(g))
    tgt = B.make_target("llvm")
    mod, _ = build_module(g, w, batch=1, layout="NCHWc", target=tgt, winograd="4")
    scheduled = schedule_module(B.fuse_cpu(B.prepare_cpu(B.inference_prepasses(mod)), tgt), tgt)
    kernels = {gv.name_hint: f.script() for gv, f in scheduled.functions_items() if "winograd" in gv.name_hint}
    assert len(kernels) == 3, sorted(kernels)
    for name, text in kernels.items():
        assert "T.parallel" in text and "T.vectorized" in text and "T.unroll" in text, name
    assert any("winograd_output" in n and "relu" in n for n in kernels), sorted(kernels)


@pytest.mark.parametrize("mcpu, isa, block", [("haswell", "avx2", 8), ("znver4", "avx512", 16),
                                              ("x86-64", "sse", 8)])
def test_schedule_follows_the_target(mcpu, isa, block):
    """The ISA, channel block and register tile come from the target: AVX2 (haswell), AVX-512
    (znver4: its code is compiled here, run only where the CPU has AVX-512) and generic x86-64.
    Kernels built for a CPU this machine has are run against the interpreter."""
    from cnndsl.backends.tvm import build as B
    from cnndsl.backends.tvm.cpu_target import profile_of

    tgt = B.make_target("llvm", mcpu=mcpu)
    prof = profile_of(tgt)
    assert (prof.isa, prof.block) == (isa, block)
    g = chain(14, 32, [{"out": 32, "kernel": 3, "padding": 1, "bias": True}, {"op": "relu"},
                        {"out": 32, "kernel": 3, "stride": 2, "padding": 1}, {"op": "relu"}])
    w = _weights(g)
    ex, manifest, _ = _build(g, w, mcpu=mcpu)
    assert manifest["target_detail"]["mcpu"] == mcpu
    from tvm.target import codegen

    host = B.make_target("llvm")
    if isa == "avx512" and not codegen.llvm_cpu_has_features("avx512f", host):
        return  # compiled (the assertion above); this CPU cannot run AVX-512 code
    x = np.random.default_rng(4).standard_normal((1, 32, 14, 14)).astype("float32")
    assert _relative_error(_run(ex, x), interp.run(g, w, [x])[0]) <= TOLERANCE[4]


def test_aarch64_neon_cross_compile():
    """-X mtriple=aarch64-linux-gnu: the NEON profile (4 lanes, 32 registers, block 8) and the
    packed + Winograd kernels compile to NEON FMAs. Not run here: that needs an aarch64 TVM
    runtime (docs/performance.md)."""
    from cnndsl.backends.tvm.cpu_target import profile_of

    g = chain(14, 32, [{"out": 32, "kernel": 3, "padding": 1, "bias": True}, {"op": "relu"},
                        {"out": 32, "kernel": 3, "stride": 2, "padding": 1}])
    ex, manifest, _ = _build(g, _weights(g), mtriple="aarch64-linux-gnu", mcpu="neoverse-n1")
    assert manifest["target_detail"]["mtriple"] == "aarch64-linux-gnu"
    from cnndsl.backends.tvm import build as B

    assert profile_of(B.make_target("llvm", mtriple="aarch64-linux-gnu")).isa == "neon"
    asm = ex.mod.imports[0].inspect_source("asm")
    assert "fmla\tv" in asm and "ymm" not in asm
