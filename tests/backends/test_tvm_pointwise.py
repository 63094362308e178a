"""1x1 (pointwise) convolutions in the packed layout of the llvm target.

A stride-1 1x1 conv is tiled over its flattened output positions when that gives a better
register tile than one row (cpu_schedule._schedule_packed_conv); a strided 1x1 conv reads a
dense copy of the input positions it uses (packed.SUBSAMPLE_BLOCK). Checked: single layers
against the numpy interpreter (float64) for AVX2 (haswell) and the host, at the ResNet widths
and odd ones, channels not divisible by the block, stride 2, residual epilogues; the tile
chosen per ISA; and that AVX-512 code (znver4) builds.
"""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from _chains import chain
from _llvm import build as _build
from _llvm import relative_error as _relative_error
from _llvm import weights as _weights

from cnndsl import interp
from cnndsl.backend import optimize_for_inference
from cnndsl.ir.builder import GraphBuilder

TOLERANCE = 2e-6  # max |tvm - float64| / max |float64|: the direct path's (docs/backends.md)


def _residual_1x1(hw: int, c: int, mid: int):
    """relu(x + conv1x1(relu(conv1x1(x)))): ResNet-50's reduce / expand pair with its shortcut."""
    b = GraphBuilder("r")
    x = b.input("x", (1, c, hw, hw))
    y = b.add("conv", [x], name="reduce", out=mid, kernel=1, padding=0, bias=True)
    y = b.add("relu", [y], name="a0")
    y = b.add("conv", [y], name="expand", out=c, kernel=1, padding=0, bias=True)
    y = b.add("add", [y, x], name="sum")
    b.output("y", b.add("relu", [y], name="a1"))
    return b.graph


def _transition(hw: int, c: int, out: int):
    """avgpool(conv1x1(relu(x)), 2) without a bias: DenseNet's transition, a 1x1 conv with no epilogue, so
    its kernel writes its function's output itself (that output cannot be re-indexed by position)."""
    b = GraphBuilder("t")
    x = b.input("x", (1, c, hw, hw))
    y = b.add("relu", [x], name="a0")
    y = b.add("conv", [y], name="conv", out=out, kernel=1, padding=0, bias=False)
    b.output("y", b.add("avgpool", [y], name="pool", kernel=2, stride=2))
    return b.graph


def _one(hw, cin, cout, stride=1, bias=True):
    return chain(hw, cin, [{"out": cout, "kernel": 1, "stride": stride, "padding": 0, "bias": bias},
                           {"op": "relu"}])


CASES = {
    "w14_flat": lambda: _one(14, 32, 48),                 # 196 positions: 2 chunks x 4, not 1 x 7
    "w7_rows": lambda: _one(7, 32, 32),                   # 49 positions: no better tile than a row
    "w28": lambda: _one(28, 16, 16),
    "w13_odd": lambda: _one(13, 24, 16),                  # 169: neither divides by 4
    "out_40_chunks_5": lambda: _one(14, 16, 40),          # 5 chunks: the 2-chunk tile does not divide
    "in_20_plain": lambda: _one(14, 20, 16),              # no block of 8 in 20: read plain, one chunk
    "s2_w14": lambda: _one(14, 32, 64, stride=2),         # downsample to 7x7 through the dense copy
    "s2_w15_odd": lambda: _one(15, 16, 16, stride=2),     # odd input: 8x8 output
    "s2_plain_12": lambda: _one(12, 12, 16, stride=2),    # plain input (12 channels) subsampled
    "s3_w13": lambda: _one(13, 16, 24, stride=3),
    "residual_w14": lambda: _residual_1x1(14, 32, 16),
    "residual_w7": lambda: _residual_1x1(7, 64, 16),
    "no_epilogue_w14": lambda: _transition(14, 64, 32),   # the row tile: flattening would change the output
    "no_epilogue_w4": lambda: _transition(4, 128, 64),    # DenseNet-161's last transition at 128x128 input
}


@pytest.mark.parametrize("mcpu", [None, "haswell"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_pointwise_matches_float64(case, mcpu):
    g = CASES[case]()
    w = _weights(g)
    x = np.random.default_rng(5).standard_normal(g.nodes["x"].attrs["shape"]).astype("float32")
    ex, _, _ = _build(g, w, **({"mcpu": mcpu} if mcpu else {}))
    out = tvm.relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()
    assert _relative_error(out, interp.run(g, w, [x])[0]) <= TOLERANCE


def _conv_kernels(g, mcpu: str, winograd: str = "auto") -> dict[str, str]:
    """The scheduled TIR of each fused kernel holding a packed conv, for target `mcpu`."""
    from cnndsl.backends.tvm import build as B
    from cnndsl.backends.tvm.cpu_schedule import schedule_module
    from cnndsl.backends.tvm.lower import build_module

    tgt = B.make_target("llvm", mcpu=mcpu)
    g, w = optimize_for_inference(g, _weights(g))
    mod, _ = build_module(g, w, batch=1, layout="NCHWc", target=tgt, winograd=winograd)
    fused = schedule_module(B.fuse_cpu(B.prepare_cpu(B.inference_prepasses(mod)), tgt), tgt)
    return {gv.name_hint: f.script() for gv, f in fused.functions_items() if "conv2d_nchwc" in gv.name_hint}


def test_avx2_tiles_the_flattened_positions():
    """At 14x14 (AVX2) the tile runs over the 196 positions, 2 channel chunks x 4 of them (a row
    of 14 would need a guarded 2 x 5); at 7x7 over the 49 positions, 2 x 5 with the last tile
    guarded (a row of 7: 1 x 7, too few accumulators). A 3x3 conv keeps its rows."""
    (text,) = _conv_kernels(_one(14, 32, 48), "haswell").values()
    # the conv's result indexed by position, the epilogue run per tile of 2 chunks x 4 positions
    assert "T.sblock_alloc_buffer((T.int64(1), T.int64(6), T.int64(196), T.int64(8)))" in text
    assert "T.unroll(T.int64(4))" in text and "T.unroll(T.int64(2))" in text and "T.unroll(T.int64(7))" not in text
    assert "for ax0, ax1 in T.grid(T.int64(2), T.int64(4)):" in text
    # 3 pairs of chunks alone are few parallel tasks: the 49 tiles are split 7 ways too
    assert "T.parallel(T.int64(21))" in text
    (text,) = _conv_kernels(_one(7, 32, 32), "haswell").values()
    assert "T.sblock_alloc_buffer((T.int64(1), T.int64(4), T.int64(49), T.int64(8)))" in text
    assert "T.unroll(T.int64(5))" in text and "T.where(" in text
    (text,) = _conv_kernels(chain(14, 32, [{"out": 32, "kernel": 3, "padding": 1}]), "haswell", "0").values()
    assert "T.int64(196)" not in text and "T.unroll(T.int64(5))" in text


def test_strided_pointwise_reads_a_dense_copy():
    """A stride-2 1x1 conv reads `subsample_nchwc` (a quarter of the input, vectorized copy),
    not every other column of the input; a stride-1 one has no copy."""
    (text,) = _conv_kernels(_one(14, 32, 64, stride=2), "haswell").values()
    assert 'T.sblock("subsample_nchwc")' in text
    (text,) = _conv_kernels(_one(14, 32, 64), "haswell").values()
    assert "subsample_nchwc" not in text


def test_tile_choice_per_isa():
    from cnndsl.backends.tvm.cpu_target import PROFILES

    avx2, avx512 = PROFILES["avx2"], PROFILES["avx512"]
    # 2 chunks x 4 where 4 divides; 2 x 5 with a guarded last tile at 14 and 49; 1 x 7 (7
    # accumulators for the 8 FMAs in flight) predicted at 7/8 of 2 x 4
    assert [avx2.conv_tile(w, 8, 8) for w in (56, 28, 14, 7, 196, 49)] == [(2, 4), (2, 4), (2, 5), (1, 7), (2, 4), (2, 5)]
    assert avx2.tile_value(56, 2, 4, 8) == 1.0 and avx2.tile_value(14, 1, 7, 8) == 0.875
    assert avx2.conv_tile(14, 5, 8)[0] == 1  # 5 chunks: no pair
    assert avx2.tile_score(2, 4, 8) > avx2.tile_score(1, 7, 8)
    # AVX-512 broadcasts from memory inside the FMA: one chunk, the most columns that fit; where those
    # are fewer than the 8 FMAs in flight (width 7) two chunks, if the chunks pair (Zen 5: 79-81 -> 98 %)
    assert avx512.conv_tile(56, 4, 16) == (1, 14)
    assert avx512.conv_tile(56 * 56, 4, 16) == (1, 16)
    assert avx512.conv_tile(7, 4, 16) == (2, 7) and avx512.conv_tile(7, 3, 16) == (1, 7)
    # a conv reading its padding inline: at most 14 columns (with 16 LLVM stored the accumulators every tap)
    assert avx512.conv_tile(112, 4, 16) == (1, 16) and avx512.conv_tile(112, 4, 16, max_cols=14) == (1, 14)
    assert avx512.tile_score(1, 16, 16) > avx512.tile_score(1, 14, 16)


def test_avx512_pointwise_builds():
    """-X mcpu=znver4: the flattened, subsampled and 7-wide (two-chunk) 1x1 kernels compile to AVX-512,
    and where this CPU has AVX-512 they run and agree with the float64 interpreter."""
    from cnndsl.backends.tvm.build import make_target
    from tvm.target import codegen

    runs = bool(codegen.llvm_cpu_has_features("avx512f", make_target("llvm")))
    for graph in (_residual_1x1(14, 32, 16), _one(14, 32, 64, stride=2), _residual_1x1(7, 64, 32),
                  _one(7, 64, 32, bias=False)):
        w = _weights(graph)
        ex, manifest, _ = _build(graph, w, mcpu="znver4")
        assert manifest["target_detail"]["mcpu"] == "znver4"
        assert "zmm" in ex.mod.imports[0].inspect_source("asm")
        if runs:
            x = np.random.default_rng(6).standard_normal(graph.nodes["x"].attrs["shape"]).astype("float32")
            out = tvm.relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()
            assert _relative_error(out, interp.run(graph, w, [x])[0]) <= TOLERANCE


@pytest.mark.parametrize("mcpu", [None, "haswell"])
@pytest.mark.parametrize("hw, cin, cout, stride", [(14, 32, 32, 1), (13, 16, 48, 1), (28, 16, 32, 2), (9, 24, 16, 1)])
def test_direct_3x3_guarded_tiles_match_float64(hw, cin, cout, stride, mcpu):
    """The same tile rule on direct 3x3 rows (Winograd off): 2 x 5 at width 14 and 13, the last
    tile guarded; stride 2 down to 14; 1 x 9 -> 2 x 5 at 9."""
    g = chain(hw, cin, [{"out": cout, "kernel": 3, "stride": stride, "padding": 1, "bias": True}, {"op": "relu"}])
    w = _weights(g)
    x = np.random.default_rng(6).standard_normal((1, cin, hw, hw)).astype("float32")
    ex, _, _ = _build(g, w, winograd="0", **({"mcpu": mcpu} if mcpu else {}))
    out = tvm.relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()
    assert _relative_error(out, interp.run(g, w, [x])[0]) <= TOLERANCE
