"""Receptive fields: closed form on a chain, multi-path cases computed by hand."""

from __future__ import annotations

import pytest

from cnndsl.ir.builder import GraphBuilder
from cnndsl.passes import ANALYSES, run_passes
from cnndsl.passes.rf import input_region


def analyse(b: GraphBuilder):
    return run_passes(b.graph, ANALYSES)


def rf(result, name):
    return result.graph.nodes[name].meta["rf"]


def closed_form(layers):
    """Araujo et al. (Distill 2019), eqs. for r0, S0, P0 over (kernel, stride, padding, dilation)."""
    r, prod, pad = 1, 1, 0
    for k, s, p, d in layers:
        k_eff = d * (k - 1) + 1
        r += (k_eff - 1) * prod
        pad += p * prod
        prod *= s
    return r, prod, pad


def test_single_path_chain_matches_closed_form():
    b = GraphBuilder("chain")
    x = b.input("x", (1, 3, 64, 64))
    h = b.add("conv", [x], name="c1", out=8, kernel=(7, 3), stride=2, padding=(3, 1))
    h = b.add("relu", [h], name="r1")
    h = b.add("maxpool", [h], name="p1", kernel=3, stride=2, padding=1)
    h = b.add("conv", [h], name="c2", out=8, kernel=3, stride=1, padding=2, dilation=2)
    h = b.add("conv", [h], name="c3", out=8, kernel=(1, 5), stride=(1, 2), padding=(0, 2))
    b.output("y", h)
    res = analyse(b)
    rows = [(7, 2, 3, 1), (3, 2, 1, 1), (3, 1, 2, 2), (1, 1, 0, 1)]
    cols = [(3, 2, 1, 1), (3, 2, 1, 1), (3, 1, 2, 2), (5, 2, 2, 1)]
    (rh, sh, ph), (rw, sw, pw) = closed_form(rows), closed_form(cols)
    got = rf(res, "c3")
    assert got["size"] == [rh, rw] == [27, 39]
    assert got["stride"] == [sh, sw] == [4, 8]
    assert got["padding"] == [ph, pw] == [13, 19]
    assert got["aligned"] == [True, True] and got["paths"] == 1
    assert not res.warnings


def test_chain_hand_values():
    # rows: 7x7/2 p3 -> r 7, S 2, P 3; 3x3/2 p1 -> r 7+2*2=11, S 4, P 3+2=5; dilated 3x3 (eff 5) p2 -> r 11+4*4=27
    b = GraphBuilder("chain")
    x = b.input("x", (1, 3, 64, 64))
    h = b.add("conv", [x], name="c1", out=8, kernel=7, stride=2, padding=3)
    h = b.add("maxpool", [h], name="p1", kernel=3, stride=2, padding=1)
    h = b.add("conv", [h], name="c2", out=8, kernel=3, padding=2, dilation=2)
    b.output("y", h)
    res = analyse(b)
    assert rf(res, "c1") == {"size": [7, 7], "stride": [2, 2], "padding": [3, 3], "aligned": [True, True],
                             "paths": 1}
    assert rf(res, "p1")["size"] == [11, 11] and rf(res, "p1")["padding"] == [5, 5]
    assert rf(res, "c2")["size"] == [27, 27] and rf(res, "c2")["stride"] == [4, 4]
    assert rf(res, "c2")["padding"] == [13, 13]
    # output position u sees [u*S - P, u*S - P + r - 1]
    node = res.graph.nodes["c2"]
    assert input_region(node, (0, 0)) == [(-13, 13), (-13, 13)]
    assert input_region(node, (5, 2)) == [(7, 33), (-5, 21)]


def test_residual_block_takes_the_largest_path_and_is_aligned():
    b = GraphBuilder("res")
    x = b.input("x", (1, 8, 16, 16))
    h = b.add("conv", [x], name="conv1", out=8, kernel=3, stride=2, padding=1)
    h = b.add("conv", [h], name="conv2", out=8, kernel=3, padding=1)
    s = b.add("conv", [x], name="down", out=8, kernel=1, stride=2, padding=0)
    y = b.add("add", [h, s], name="add")
    b.output("y", y)
    res = analyse(b)
    # main path: r = 1 + 2 + 2*2 = 7, S = 2, P = 1 + 1*2 = 3 (centre offset 3 - 3 = 0)
    # shortcut:  r = 1, S = 2, P = 0 (centre offset 0): aligned
    got = rf(res, "add")
    assert got["size"] == [7, 7] and got["stride"] == [2, 2] and got["padding"] == [3, 3]
    assert got["aligned"] == [True, True] and got["paths"] == 2
    assert not res.warnings
    # the union region equals the largest path's region when aligned
    assert input_region(res.graph.nodes["add"], (1, 1)) == [(-1, 5), (-1, 5)]


def test_inception_module():
    b = GraphBuilder("inception")
    x = b.input("x", (1, 16, 28, 28))
    b1 = b.add("conv", [x], name="b1", out=8, kernel=1)
    b2 = b.add("conv", [b.add("conv", [x], name="b2r", out=8, kernel=1)], name="b2", out=8, kernel=3, padding=1)
    b3 = b.add("conv", [b.add("conv", [x], name="b3r", out=8, kernel=1)], name="b3", out=8, kernel=5, padding=2)
    p = b.add("maxpool", [x], name="pool", kernel=3, stride=1, padding=1)
    b4 = b.add("conv", [p], name="b4", out=8, kernel=1)
    cat = b.add("concat", [b1, b2, b3, b4], name="cat")
    out = b.add("conv", [cat], name="after", out=8, kernel=3, padding=1)
    b.output("y", out)
    res = analyse(b)
    got = rf(res, "cat")
    # four paths: (1,1,0), (3,1,1) twice, (5,1,2): largest 5, all centred
    assert got["size"] == [5, 5] and got["stride"] == [1, 1] and got["padding"] == [2, 2]
    assert got["paths"] == 4 and got["aligned"] == [True, True]
    assert rf(res, "after")["size"] == [7, 7] and rf(res, "after")["padding"] == [3, 3]
    assert not res.warnings


def test_misaligned_paths_warn():
    b = GraphBuilder("skew")
    x = b.input("x", (1, 4, 8, 8))
    # padding only at the bottom/right keeps 8x8 but shifts the window: centre offset 1 vs 0
    h = b.add("conv", [x], name="skew", out=4, kernel=3, padding=(0, 0, 2, 2))
    y = b.add("add", [x, h], name="add")
    b.output("y", y)
    res = analyse(b)
    got = rf(res, "add")
    assert got["size"] == [3, 3]
    assert got["aligned"] == [False, False]
    assert len(res.warnings) == 2  # one per axis, at the merge only
    assert got["paths"] == 2
    assert all("add" in w and "misaligned" in w for w in res.warnings)
    assert res.graph.meta["rf_warnings"] == res.warnings
    # union of the two regions: identity [u, u], skewed conv [u, u + 2]
    assert input_region(res.graph.nodes["add"], (3, 3)) == [(3, 5), (3, 5)]


def test_misaligned_strides_warn():
    b = GraphBuilder("strides")
    x = b.input("x", (1, 4, 8, 8))
    a = b.add("conv", [x], name="a", out=4, kernel=2, stride=2, padding=0)   # r 2, S 2, P 0
    c = b.add("conv", [x], name="c", out=4, kernel=3, stride=2, padding=1)   # r 3, S 2, P 1
    y = b.add("add", [a, c], name="add")
    b.output("y", y)
    res = analyse(b)
    # centre offsets: (2-1)/2 - 0 = 0.5 vs (3-1)/2 - 1 = 0 -> misaligned
    assert rf(res, "add")["aligned"] == [False, False] and len(res.warnings) == 2


def test_se_gate_is_global_but_not_misaligned():
    b = GraphBuilder("se")
    x = b.input("x", (1, 8, 8, 8))
    h = b.add("conv", [x], name="conv", out=8, kernel=3, padding=1)
    g = b.add("gap", [h], name="squeeze")
    g = b.add("conv", [g], name="fc1", out=2, kernel=1)
    g = b.add("sigmoid", [g], name="gate")
    g = b.add("conv", [g], name="fc2", out=8, kernel=1)
    y = b.add("mul", [h, g], name="scale")
    b.output("y", y)
    res = analyse(b)
    got = rf(res, "scale")
    # the gate path saw the whole (padded) input: 3 + (8 - 1) * 1 = 10; stride/padding from the conv path
    assert got["size"] == [10, 10] and got["stride"] == [1, 1] and got["padding"] == [1, 1]
    assert got["aligned"] == [True, True] and not res.warnings


def test_upsample_gives_fractional_stride():
    b = GraphBuilder("up")
    x = b.input("x", (1, 4, 8, 8))
    h = b.add("conv", [x], name="down", out=4, kernel=3, stride=2, padding=1)
    h = b.add("upsample", [h], name="up", scale=2)
    h = b.add("conv", [h], name="conv", out=4, kernel=3, padding=1)
    b.output("y", h)
    res = analyse(b)
    assert rf(res, "up")["stride"] == [1, 1]
    assert rf(res, "conv")["size"] == [5, 5]


@pytest.mark.parametrize("position", [(0, 0), (2, 3)])
def test_region_of_input_is_the_pixel(position):
    b = GraphBuilder("id")
    x = b.input("x", (1, 1, 4, 4))
    b.output("y", x)
    res = analyse(b)
    i, j = position
    assert input_region(res.graph.nodes["x"], position) == [(i, i), (j, j)]


def test_reshape_loses_positions_conservatively_and_stays_bounded():
    # CBAM's max over channels as reshape -> maxpool -> reshape: positions are not tracked
    # through a reshape, so the gate counts as seeing the whole 8x8 input (stride 0)
    b = GraphBuilder("gate")
    x = b.input("x", (1, 4, 8, 8))
    g = b.add("reshape", [x], name="flat", shape=(1, 4, 64))
    g = b.add("maxpool", [g], name="cmax", kernel=(4, 1), stride=(4, 1))
    g = b.add("reshape", [g], name="back", shape=(1, 8, 8))
    c = b.add("conv", [x], name="conv", out=1, kernel=3, padding=1)
    y = b.add("add", [c, g], name="add")
    b.output("y", y)
    res = analyse(b)
    assert rf(res, "back")["size"] == [8, 8] and rf(res, "back")["stride"] == [0, 0]
    got = rf(res, "add")
    assert got["size"] == [8, 8] and got["stride"] == [1, 1] and got["padding"] == [1, 1]
    assert got["aligned"] == [True, True] and not res.warnings


def _convnext_block(b, x, nhwc: bool):
    h = b.add("conv", [x], name="dw", out=8, kernel=7, padding=3, groups=8)
    if nhwc:  # torchvision's CNBlock: Permute, LayerNorm and Linear on the last axis, Permute back
        h = b.add("transpose", [h], name="p1", axes=(0, 2, 3, 1))
        h = b.add("layernorm", [h], name="ln", axis=-1)
        h = b.add("linear", [h], name="fc1", out=32)
        h = b.add("gelu", [h], name="act")
        h = b.add("linear", [h], name="fc2", out=8)
        h = b.add("transpose", [h], name="p2", axes=(0, 3, 1, 2))
    else:  # the same block with channel layernorm and 1x1 convs
        h = b.add("layernorm", [h], name="ln")
        h = b.add("conv", [h], name="fc1", out=32, kernel=1)
        h = b.add("gelu", [h], name="act")
        h = b.add("conv", [h], name="fc2", out=8, kernel=1)
    h = b.add("layer_scale", [h], name="layer_scale")
    return b.add("add", [h, x], name="add")


def test_nhwc_segment_keeps_the_receptive_field():
    results = []
    for nhwc in (True, False):
        b = GraphBuilder("cnblock")
        x = b.input("x", (1, 8, 16, 16))
        y = _convnext_block(b, x, nhwc)
        y = b.add("conv", [y], name="down", out=8, kernel=2, stride=2, padding=0)
        b.output("y", y)
        results.append(analyse(b))
    nhwc, nchw = results
    for name in ("ln", "fc1", "act", "fc2", "layer_scale", "add", "down"):
        assert rf(nhwc, name) == rf(nchw, name), name
    assert rf(nhwc, "fc2")["size"] == [7, 7] and rf(nhwc, "down")["size"] == [8, 8]
    assert nhwc.graph.nodes["fc1"].meta["rf_axes"] == (1, 2) and nhwc.graph.nodes["p2"].meta["rf_axes"] == (2, 3)
    assert not nhwc.warnings


def test_linear_and_layernorm_mix_only_their_axis():
    b = GraphBuilder("along")
    x = b.input("x", (1, 2, 10, 12))
    h = b.add("conv", [x], name="c", out=2, kernel=3, padding=1)
    w = b.add("linear", [h], name="mix_w", out=12)      # the last axis of NCHW is w
    ln = b.add("layernorm", [h], name="ln_h", axis=2)   # normalizes along h
    b.output("a", w)
    b.output("b", ln)
    res = analyse(b)
    assert rf(res, "mix_w")["size"] == [3, 3 + 11] and rf(res, "mix_w")["stride"] == [1, 0]
    assert rf(res, "ln_h")["size"] == [3 + 9, 3] and rf(res, "ln_h")["stride"] == [0, 1]


def test_window_over_moved_spatial_axes_is_unsupported():
    # a conv after a transpose that left the spatial axes away from 2, 3: no honest answer
    b = GraphBuilder("moved")
    x = b.input("x", (1, 4, 8, 8))
    h = b.add("transpose", [x], name="t", axes=(0, 2, 1, 3))
    h = b.add("conv", [h], name="c", out=2, kernel=3, padding=1)
    b.output("y", h)
    res = analyse(b)
    assert rf(res, "t")["size"] == [1, 1]
    assert rf(res, "c") is None and "rf" in res.graph.nodes["c"].meta["unsupported"]
