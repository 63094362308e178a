"""Shapes, parameter counts, MACs and FLOPs per op, each computed by hand in the test."""

from __future__ import annotations

import pytest

from cnndsl.ir.builder import AttrError, GraphBuilder
from cnndsl.ops import RFRule, ShapeError, get
from cnndsl.ops.registry import SELF_PARAM, param_key


def one(op, shape, /, multi=False, **attrs):
    """Build input -> op; return (node, output shape or shapes, params, macs, flops)."""
    b = GraphBuilder()
    x = b.input("x", shape)
    b.add(op, [x], name="n", **attrs)
    node = b.graph.nodes["n"]
    d = get(op)
    out = node.meta["shapes"] if multi else node.meta["shape"]
    params = d.params(node.attrs, [shape])
    n_params = sum(_prod(s) for s, _trainable in params.values())
    return node, out, params, n_params, d.macs(node.attrs, [shape], out), d.flops(node.attrs, [shape], out)


def _prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n


# ----------------------------------------------------------------------------- conv
def test_resnet_stem_conv():
    _, out, params, n, macs, flops = one("conv", ("N", 3, 224, 224), out=64, kernel=7, stride=2, padding=3,
                                         bias=False)
    assert out == ("N", 64, 112, 112)
    assert n == 64 * 3 * 7 * 7 == 9408
    assert params == {"weight": ((64, 3, 7, 7), True)}
    assert macs == 112 * 112 * 64 * 3 * 49 == 118_013_952
    assert flops == 0


def test_conv_bias_is_a_flop_not_a_mac():
    _, out, _, n, macs, flops = one("conv", (1, 16, 10, 10), out=8, kernel=3)
    assert out == (1, 8, 10, 10)  # default padding dilation*(k-1)//2 = 1
    assert n == 8 * 16 * 9 + 8
    assert macs == 10 * 10 * 8 * 16 * 9
    assert flops == 10 * 10 * 8


def test_depthwise_and_grouped_conv():
    _, out, _, n, macs, _ = one("conv", (1, 32, 112, 112), out=32, kernel=3, groups=32, bias=False)
    assert (out, n, macs) == ((1, 32, 112, 112), 32 * 9, 112 * 112 * 32 * 9)
    _, _, params, n, macs, _ = one("conv", (1, 64, 56, 56), out=128, kernel=3, stride=2, groups=4, bias=False)
    assert params["weight"][0] == (128, 16, 3, 3) and n == 18_432
    assert macs == 28 * 28 * 128 * 16 * 9


def test_dilated_conv_keeps_size_with_default_padding():
    node, out, *_ = one("conv", (1, 8, 33, 33), out=8, kernel=3, dilation=4)
    assert node.attrs["padding"] == (4, 4, 4, 4) and out == (1, 8, 33, 33)


@pytest.mark.parametrize("size,stride,expect_pad,expect_out", [
    (224, 2, (0, 0, 1, 1), 112),  # total (112-1)*2+3-224 = 1, the odd pixel at the bottom/right
    (225, 2, (1, 1, 1, 1), 113),
    (10, 1, (1, 1, 1, 1), 10),
    (7, 3, (1, 1, 1, 1), 3),  # total (3-1)*3+3-7 = 2
])
def test_conv_same_padding_is_tf_same(size, stride, expect_pad, expect_out):
    node, out, *_ = one("conv", (1, 3, size, size), out=4, kernel=3, stride=stride, padding="same")
    assert node.attrs["padding"] == expect_pad and out[2:] == (expect_out, expect_out)


def test_conv_asymmetric_padding():
    node, out, *_ = one("conv", (1, 3, 10, 10), out=4, kernel=3, padding=(0, 1, 2, 3))
    assert node.attrs["padding"] == (0, 1, 2, 3) and out == (1, 4, 10, 12)


def test_conv_t_shapes_params_macs():
    _node, out, params, n, macs, _ = one("conv_t", (1, 64, 7, 7), out=32, kernel=4, stride=2, padding=1)
    assert out == (1, 32, 14, 14)  # (7-1)*2 - 2 + 3 + 1
    assert params["weight"][0] == (64, 32, 4, 4) and n == 64 * 32 * 16 + 32
    assert macs == 7 * 7 * 64 * 32 * 16
    _, out, *_ = one("conv_t", (1, 8, 7, 7), out=8, kernel=3, stride=2, padding=1, output_padding=1)
    assert out == (1, 8, 14, 14)  # (7-1)*2 - 2 + 2 + 1 + 1
    with pytest.raises(ShapeError, match="output_padding"):
        one("conv_t", (1, 8, 7, 7), out=8, kernel=3, stride=2, output_padding=2)


def test_linear():
    _, out, params, n, macs, flops = one("linear", ("N", 2048), out=1000)
    assert out == ("N", 1000) and n == 2_049_000 and macs == 2_048_000 and flops == 1000
    assert params["weight"][0] == (1000, 2048)


def test_linear_on_the_last_axis_like_nn_linear():
    # ConvNeXt's pointwise layers: [N, H, W, C] -> [N, H, W, 4C], weight [4C, C]
    _, out, params, n, macs, flops = one("linear", ("N", 56, 56, 96), out=384)
    assert out == ("N", 56, 56, 384) and params == {"weight": ((384, 96), True), "bias": ((384,), True)}
    assert n == 384 * 96 + 384
    assert macs == 56 * 56 * 96 * 384  # positions x in x out
    assert flops == 56 * 56 * 384  # the bias, once per output element
    assert one("linear", ("N", 7, 10), out=3, bias=False)[1:5] == (("N", 7, 3), {"weight": ((3, 10), True)}, 30, 7 * 10 * 3)
    # [N, C, 1, 1] is no special case: the last axis (1) is the one transformed
    _, out, params, *_ = one("linear", ("N", 64, 1, 1), out=10)
    assert out == ("N", 64, 1, 10) and params["weight"][0] == (10, 1)
    with pytest.raises(ShapeError, match="last axis"):
        one("linear", ("N",), out=3)


# ----------------------------------------------------------------------------- pooling
def test_maxpool_and_ceil_mode():
    _, out, *_ = one("maxpool", (1, 64, 112, 112), kernel=3, stride=2, padding=1)
    assert out == (1, 64, 56, 56)
    _, out, *_ = one("maxpool", (1, 64, 112, 112), kernel=3, stride=2, ceil_mode=True)
    assert out == (1, 64, 56, 56)  # GoogLeNet: floor would give 55
    _, out, *_ = one("maxpool", (1, 64, 112, 112), kernel=3, stride=2)
    assert out == (1, 64, 55, 55)
    # the last window may not start in the padding: 6+1 -> ceil((6+2-3)/2)+1 = 4 windows, 4th starts at 6 < 7
    _, out, *_ = one("avgpool", (1, 1, 6, 6), kernel=3, stride=2, padding=1, ceil_mode=True)
    assert out == (1, 1, 4, 4)
    _, out, *_ = one("avgpool", (1, 1, 5, 5), kernel=2, stride=2, padding=1, ceil_mode=True)
    assert out == (1, 1, 3, 3)  # ceil((5+2-2)/2)+1 = 4, but window 4 would start at 6 >= 5+1


def test_pool_padding_limit():
    with pytest.raises(ShapeError, match="half the kernel"):
        one("maxpool", (1, 1, 8, 8), kernel=3, padding=2)


def test_lppool():
    _, out, _, n, macs, flops = one("lppool", (1, 4, 9, 9), p=2.0, kernel=3, stride=2)
    assert out == (1, 4, 4, 4) and n == 0 and macs == 0 and flops == 4 * 4 * 4 * (2 * 9 + 1)


@pytest.mark.parametrize("op", ["adaptive_avgpool", "adaptive_maxpool"])
def test_adaptive_pools(op):
    node, out, *_ = one(op, (1, 512, 13, 13), size=7)
    assert node.attrs["size"] == (7, 7) and out == (1, 512, 7, 7)
    _, out, *_ = one(op, (1, 8, 13, 13), size=(2, 3))
    assert out == (1, 8, 2, 3)
    assert get(op).rf(node.attrs) == RFRule("adaptive")  # exact where uniform: tests/passes/test_rf_oracle.py


def test_gap_and_mean():
    _, out, _, _, _, flops = one("gap", (1, 2048, 7, 7))
    assert out == (1, 2048, 1, 1) and flops == 2048 * 49
    _, out, *_ = one("mean", ("N", 8, 5, 6))
    assert out == ("N", 8)
    node, out, *_ = one("mean", ("N", 8, 5, 6), axes=[-1, 2], keepdims=True)
    assert node.attrs["axes"] == (2, 3) and out == ("N", 8, 1, 1)
    with pytest.raises(ShapeError, match="batch"):
        one("mean", ("N", 8, 5, 6), axes=[0])


# ----------------------------------------------------------------------------- norm and scale
def test_bn_params():
    _, _, params, _n, _, flops = one("bn", (1, 64, 8, 8))
    assert {k: v[1] for k, v in params.items()} == {"weight": True, "bias": True, "running_mean": False,
                                                     "running_var": False, "num_batches_tracked": False}
    assert params["num_batches_tracked"][0] == ()
    assert flops == 2 * 64 * 64


def test_layernorm_and_layer_scale_like_convnext():
    node, out, params, _n, _, _ = one("layernorm", (1, 96, 56, 56))
    assert node.attrs["eps"] == 1e-6 and params == {"weight": ((96,), True), "bias": ((96,), True)}
    assert out == (1, 96, 56, 56)
    assert one("layernorm", (1, 96, 56, 56), affine=False)[2] == {}
    node, out, params, _n, _, flops = one("layer_scale", (1, 96, 56, 56))
    assert params == {SELF_PARAM: ((96, 1, 1), True)} and node.attrs["init"] == 1e-6  # keyed by the node name
    assert param_key("features.1.0.layer_scale", SELF_PARAM) == "features.1.0.layer_scale"
    assert param_key("features.1.0.block.2", "weight") == "features.1.0.block.2.weight"
    assert flops == 96 * 56 * 56


def test_layernorm_axis():
    # nn.LayerNorm over the last axis of an NHWC tensor (ConvNeXt's CNBlock)
    node, out, params, *_ = one("layernorm", ("N", 56, 56, 96), axis=-1)
    assert node.attrs["axis"] == 3 and out == ("N", 56, 56, 96)
    assert params == {"weight": ((96,), True), "bias": ((96,), True)}
    assert one("layernorm", ("N", 5, 7), axis=2)[2]["weight"][0] == (7,)
    assert get("layernorm").rf({"axis": 3}) == RFRule("along", axes=(3,))
    with pytest.raises(ShapeError, match="out of range"):
        one("layernorm", ("N", 8, 4, 4), axis=4)
    with pytest.raises(ShapeError, match="batch axis"):
        one("layernorm", ("N", 8, 4, 4), axis=0)


def test_prelu():
    assert one("prelu", (1, 16, 4, 4))[3] == 1
    assert one("prelu", (1, 16, 4, 4), num_parameters=16)[2] == {"weight": ((16,), True)}
    with pytest.raises(ShapeError, match="num_parameters"):
        one("prelu", (1, 16, 4, 4), num_parameters=8)


def test_softmax_axis_normalized():
    node, out, *_ = one("softmax", ("N", 10), axis=-1)
    assert node.attrs["axis"] == 1 and out == ("N", 10)
    assert get("softmax").category != "activation"  # not an elementwise epilogue


# ----------------------------------------------------------------------------- layout
def test_reshape():
    assert one("reshape", ("N", 64, 7, 7), shape=[-1])[1] == ("N", 3136)
    assert one("reshape", ("N", 64, 7, 7), shape=[16, -1, 7])[1] == ("N", 16, 28, 7)
    with pytest.raises(ShapeError, match="cannot infer"):
        one("reshape", ("N", 64, 7, 7), shape=[5, -1])
    with pytest.raises(ShapeError, match="elements per item"):
        one("reshape", ("N", 64, 7, 7), shape=[64, 7])


def test_channel_shuffle():
    assert one("channel_shuffle", (1, 116, 28, 28), groups=2)[1] == (1, 116, 28, 28)
    with pytest.raises(ShapeError, match="must divide"):
        one("channel_shuffle", (1, 116, 28, 28), groups=3)


def test_chunk_has_one_output_per_chunk():
    node, outs, *_ = one("chunk", ("N", 64, 8, 8), multi=True, chunks=2)
    assert outs == [("N", 32, 8, 8)] * 2 and node.meta["shape"] == ("N", 32, 8, 8)
    assert get("chunk").num_outputs(node.attrs) == 2
    b = GraphBuilder()
    refs = b.add_multi("chunk", [b.input("x", ("N", 12, 6, 4))], chunks=3, axis=2)
    assert refs == [("chunk", 0), ("chunk", 1), ("chunk", 2)]
    assert b.graph.value_shape(refs[2]) == ("N", 12, 2, 4)
    with pytest.raises(ShapeError, match="evenly"):
        one("chunk", ("N", 10, 8, 8), chunks=3)
    with pytest.raises(AttrError, match="at least 2"):  # the declared constraint, before any shape rule
        one("chunk", ("N", 10, 8, 8), chunks=1)
    with pytest.raises(ShapeError, match="non-batch"):
        one("chunk", ("N", 10, 8, 8), chunks=2, axis=0)


def test_pad():
    node, out, *_ = one("pad", (1, 3, 8, 8), padding=(1, 2, 3, 4))
    assert node.attrs["padding"] == (1, 2, 3, 4) and out == (1, 3, 12, 14)
    assert one("pad", (1, 3, 8, 8), padding=(1, 2))[1] == (1, 3, 10, 12)
    assert get("pad").rf(node.attrs) == RFRule("local", padding=(1, 2))
    with pytest.raises(ShapeError, match="reflect"):
        one("pad", (1, 3, 4, 4), padding=4, mode="reflect")


def test_stochastic_depth_is_an_inference_identity():
    d = get("stochastic_depth")
    assert d.inference_identity and get("dropout").inference_identity
    node, out, *_ = one("stochastic_depth", ("N", 8, 4, 4), p=0.1, mode="batch")
    assert out == ("N", 8, 4, 4) and node.attrs["mode"] == "batch"


def test_upsample_shapes():
    assert one("upsample", (1, 8, 7, 9))[1] == (1, 8, 14, 18)
    assert one("upsample", (1, 8, 5, 5), scale=1.5, mode="bilinear")[1] == (1, 8, 7, 7)  # floor, as PyTorch
    assert one("upsample", (1, 8, 5, 5), size=(3, 11))[1] == (1, 8, 3, 11)
    with pytest.raises(ShapeError, match="align_corners"):
        one("upsample", (1, 8, 5, 5), align_corners=True)


# ----------------------------------------------------------------------------- matrix
def _two(op, a, b, **attrs):
    g = GraphBuilder()
    node = g.graph.nodes[g.add(op, [g.input("a", a), g.input("b", b)], name="n", **attrs)[0]]
    d = get(op)
    out = node.meta["shape"]
    return out, d.params(node.attrs, [a, b]), d.macs(node.attrs, [a, b], out), d.flops(node.attrs, [a, b], out)


def test_matmul_nonlocal_affinity():
    # theta^T phi of a non-local block: [N, HW, C'] x [N, C', HW], 14x14 positions, C' = 512
    out, params, macs, flops = _two("matmul", ("N", 196, 512), ("N", 512, 196))
    assert out == ("N", 196, 196)
    assert params == {}
    assert macs == 196 * 512 * 196 == 19_668_992
    assert flops == 0
    assert get("matmul").rf({}) == RFRule("none")


def test_matmul_shape_errors():
    with pytest.raises(ShapeError, match=r"\[1, 4, 6\] x \[1, 5, 3\]"):
        _two("matmul", (1, 4, 6), (1, 5, 3))
    with pytest.raises(ShapeError, match="matmul expects"):
        _two("matmul", (1, 4, 6, 1), (1, 6, 3))


def test_transpose():
    node, out, params, n, macs, flops = one("transpose", ("N", 64, 196), axes=(0, 2, 1))
    assert out == ("N", 196, 64) and node.attrs["axes"] == (0, 2, 1)
    assert (params, n, macs, flops) == ({}, 0, 0, 0)
    assert one("transpose", ("N", 3, 4, 5), axes=[0, 3, 1, 2])[1] == ("N", 5, 3, 4)
    with pytest.raises(ShapeError, match="permutation"):
        one("transpose", ("N", 3, 4), axes=(1, 0, 2))
    with pytest.raises(ShapeError, match="permutation"):
        one("transpose", ("N", 3, 4), axes=(0, 1))
