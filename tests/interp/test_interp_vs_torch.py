"""The numpy reference interpreter against torch.nn.functional, op by op (float64 on both
sides, so any difference is a semantic one, not rounding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnndsl.interp import run
from cnndsl.ir.builder import GraphBuilder
from cnndsl.ops.registry import SELF_PARAM
from cnndsl.weights import Weights
from cnndsl.weights_init import init_weights

F = torch.nn.functional


def _graph(op: str, shapes: list[tuple], attrs: dict, multi: bool = False):
    b = GraphBuilder(op)
    xs = [b.input(f"x{i}", s) for i, s in enumerate(shapes)]
    if multi:
        for i, ref in enumerate(b.add_multi(op, xs, name="node", **attrs)):
            b.output(f"y{i}", ref)
    else:
        b.output("y", b.add(op, xs, name="node", **attrs))
    return b.graph


def _check(op, shapes, attrs, torch_fn, positive=False, multi=False, seed=0):
    """Run `op` on random inputs through the interpreter and through `torch_fn(xs, w, attrs)`."""
    g = _graph(op, shapes, attrs, multi)
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(s) for s in shapes]
    if positive:
        xs = [np.abs(x) + 0.1 for x in xs]
    weights = init_weights(g, seed=seed, randomize_buffers=True)
    ours = run(g, weights, xs, dtype=np.float64)
    w = {p: torch.from_numpy(v.astype(np.float64) if v.dtype != np.int64 else v)
         for p, v in Weights(weights).for_node(g, "node").items()}  # by param name (SELF_PARAM: the node's own)
    ref = torch_fn([torch.from_numpy(x) for x in xs], w, g.nodes["node"].attrs)
    refs = list(ref) if isinstance(ref, (list, tuple)) else [ref]
    assert len(ours) == len(refs)
    for a, r in zip(ours, refs):
        r = r.numpy()
        assert a.shape == r.shape, (a.shape, r.shape)
        assert g.output_shapes()[0][1:] == r.shape[1:]
        np.testing.assert_allclose(a, r, rtol=1e-9, atol=1e-9)


def _tpad(p):  # ours (top, left, bottom, right) -> torch's F.pad (left, right, top, bottom)
    return (p[1], p[3], p[0], p[2])


def _conv(xs, w, a):
    x = F.pad(xs[0], _tpad(a["padding"]))
    return F.conv2d(x, w["weight"], w.get("bias"), a["stride"], 0, a["dilation"], a["groups"])


CONV_CASES = [
    ((2, 3, 17, 17), {"out": 8, "kernel": 3}),
    ((1, 3, 32, 32), {"out": 16, "kernel": 7, "stride": 2, "padding": 3, "bias": False}),
    ((1, 8, 15, 15), {"out": 12, "kernel": 3, "groups": 4}),
    ((1, 8, 15, 15), {"out": 8, "kernel": 3, "groups": 8, "stride": 2}),  # depthwise
    ((1, 4, 16, 16), {"out": 6, "kernel": 3, "dilation": 2}),
    ((1, 4, 16, 16), {"out": 6, "kernel": 3, "dilation": (2, 3), "padding": (2, 3)}),
    ((1, 4, 13, 11), {"out": 5, "kernel": 3, "padding": (0, 1, 2, 1)}),  # asymmetric
    ((1, 4, 14, 15), {"out": 5, "kernel": 3, "stride": 2, "padding": "same"}),  # TF SAME, odd pixel bottom/right
    ((1, 4, 13, 13), {"out": 5, "kernel": (1, 7), "stride": (2, 1)}),
    ((1, 6, 9, 9), {"out": 4, "kernel": 1, "stride": 2, "padding": 0}),
]


@pytest.mark.parametrize("shape,attrs", CONV_CASES)
def test_conv(shape, attrs):
    _check("conv", [shape], attrs, _conv)


def test_conv_same_matches_torch_same_at_stride_1():
    _check("conv", [(1, 3, 10, 11)], {"out": 4, "kernel": 4, "padding": "same", "dilation": 2},
           lambda xs, w, a: F.conv2d(xs[0], w["weight"], w["bias"], 1, "same", 2))


def _conv_t(xs, w, a):
    return F.conv_transpose2d(xs[0], w["weight"], w.get("bias"), a["stride"], a["padding"], a["output_padding"],
                              a["groups"], a["dilation"])


@pytest.mark.parametrize("shape,attrs", [
    ((1, 4, 7, 7), {"out": 6, "kernel": 4, "stride": 2, "padding": 1}),
    ((2, 4, 7, 6), {"out": 6, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1}),
    ((1, 4, 5, 5), {"out": 6, "kernel": 3, "stride": (2, 3), "padding": (1, 0), "output_padding": (1, 2), "bias": False}),
    ((1, 4, 5, 5), {"out": 6, "kernel": 3, "stride": 2, "groups": 2}),
    ((1, 4, 5, 5), {"out": 2, "kernel": 3, "stride": 1, "dilation": 2, "padding": 1}),
    ((1, 3, 5, 5), {"out": 2, "kernel": 1, "stride": 3, "padding": 1}),  # padding beyond the kernel: crops
])
def test_conv_t(shape, attrs):
    _check("conv_t", [shape], attrs, _conv_t)


def _maxpool(xs, w, a):
    pt, pl, pb, pr = a["padding"]
    if (pt, pl) == (pb, pr):
        return F.max_pool2d(xs[0], a["kernel"], a["stride"], (pt, pl), a["dilation"], a["ceil_mode"])
    x = F.pad(xs[0], _tpad(a["padding"]), value=-float("inf"))
    return F.max_pool2d(x, a["kernel"], a["stride"], 0, a["dilation"], a["ceil_mode"])


@pytest.mark.parametrize("shape,attrs", [
    ((1, 3, 16, 16), {"kernel": 3, "stride": 2, "padding": 1}),
    ((1, 3, 8, 8), {"kernel": 3, "stride": 2, "ceil_mode": True}),
    ((1, 3, 6, 7), {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((1, 3, 112, 112), {"kernel": 3, "stride": 2, "ceil_mode": True}),  # GoogLeNet's 112 -> 56
    ((1, 3, 11, 11), {"kernel": 3, "stride": 1, "dilation": 2, "padding": 1}),
    ((1, 3, 10, 9), {"kernel": 2, "stride": 2}),
    ((1, 3, 9, 9), {"kernel": 3, "stride": 2, "padding": (0, 1, 1, 0)}),  # asymmetric
])
def test_maxpool(shape, attrs):
    _check("maxpool", [shape], attrs, _maxpool)


def _avgpool(xs, w, a):
    pt, pl, _pb, _pr = a["padding"]
    return F.avg_pool2d(xs[0], a["kernel"], a["stride"], (pt, pl), a["ceil_mode"], a["count_include_pad"])


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("shape,kernel,stride,padding", [
    ((1, 3, 8, 8), 3, 2, 1),
    ((1, 3, 7, 6), 3, 2, 1),
    ((1, 3, 7, 7), 2, 2, 0),
    ((2, 2, 9, 10), 3, 3, 1),
    ((1, 2, 5, 5), 3, 1, 1),
])
def test_avgpool(shape, kernel, stride, padding, ceil_mode, count_include_pad):
    _check("avgpool", [shape], {"kernel": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil_mode,
                                    "count_include_pad": count_include_pad}, _avgpool)


@pytest.mark.parametrize("p,kernel,stride,ceil_mode,shape", [
    (2.0, 3, 2, False, (1, 3, 9, 9)),
    (2.0, 2, 2, True, (1, 3, 7, 7)),
    (3.0, 3, 1, False, (1, 2, 6, 5)),
    (1.0, 2, None, False, (1, 2, 6, 6)),
])
def test_lppool(p, kernel, stride, ceil_mode, shape):
    _check("lppool", [shape], {"p": p, "kernel": kernel, "stride": stride, "ceil_mode": ceil_mode},
           lambda xs, w, a: F.lp_pool2d(xs[0], a["p"], a["kernel"], a["stride"], a["ceil_mode"]), positive=True)


@pytest.mark.parametrize("op,fn", [("adaptive_avgpool", F.adaptive_avg_pool2d),
                                   ("adaptive_maxpool", F.adaptive_max_pool2d)])
@pytest.mark.parametrize("shape,size", [((1, 3, 7, 7), 1), ((1, 3, 7, 7), 7), ((1, 3, 10, 11), (3, 5)),
                                        ((2, 2, 5, 4), (7, 6)), ((1, 2, 14, 14), (4, 4))])
def test_adaptive_pool(op, fn, shape, size):
    _check(op, [shape], {"size": size}, lambda xs, w, a: fn(xs[0], a["size"]))


def test_global_pools():
    _check("gap", [(2, 5, 7, 6)], {}, lambda xs, w, a: F.adaptive_avg_pool2d(xs[0], 1))
    _check("gmp", [(2, 5, 7, 6)], {}, lambda xs, w, a: F.adaptive_max_pool2d(xs[0], 1))


@pytest.mark.parametrize("attrs", [{}, {"affine": False}, {"eps": 1e-3}])
def test_bn_uses_running_stats(attrs):
    def ref(xs, w, a):
        return F.batch_norm(xs[0], w["running_mean"], w["running_var"], w.get("weight"), w.get("bias"),
                            training=False, eps=a["eps"])

    _check("bn", [(2, 6, 5, 5)], attrs, ref)


def test_bn_on_features():
    _check("bn", [(3, 6)], {}, lambda xs, w, a: F.batch_norm(xs[0], w["running_mean"], w["running_var"],
                                                             w["weight"], w["bias"], training=False))


@pytest.mark.parametrize("attrs", [{}, {"affine": False, "eps": 1e-5}])
def test_layernorm_is_convnext_layernorm2d(attrs):
    def ref(xs, w, a):
        x = xs[0].permute(0, 2, 3, 1)
        c = x.shape[-1]
        return F.layer_norm(x, (c,), w.get("weight"), w.get("bias"), a["eps"]).permute(0, 3, 1, 2)

    _check("layernorm", [(2, 6, 4, 5)], attrs, ref)


@pytest.mark.parametrize("shape,axis", [((2, 4, 5, 6), -1), ((2, 4, 5, 6), 3), ((3, 7, 9), 2), ((3, 10), -1)])
@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_on_the_last_axis_is_nn_layernorm(shape, axis, affine):
    # torchvision's CNBlock: nn.LayerNorm(dim, eps=1e-6) on [N, H, W, C]
    _check("layernorm", [shape], {"axis": axis, "affine": affine},
           lambda xs, w, a: F.layer_norm(xs[0], (shape[-1],), w.get("weight"), w.get("bias"), a["eps"]))


def test_layernorm_on_a_middle_axis():
    def ref(xs, w, a):
        x = xs[0].movedim(2, -1)
        return F.layer_norm(x, (x.shape[-1],), w["weight"], w["bias"], a["eps"]).movedim(-1, 2)

    _check("layernorm", [(2, 3, 5, 4)], {"axis": 2}, ref)


def test_layer_scale():
    # the gamma is keyed by the node's own name (SELF_PARAM), torchvision's CNBlock.layer_scale
    _check("layer_scale", [(2, 6, 4, 5)], {"init": 0.5}, lambda xs, w, a: xs[0] * w[SELF_PARAM])


ACTIVATIONS = [
    ("relu", {}, lambda x: F.relu(x)),
    ("relu6", {}, lambda x: F.relu6(x)),
    ("leaky_relu", {"slope": 0.2}, lambda x: F.leaky_relu(x, 0.2)),
    ("elu", {"alpha": 0.5}, lambda x: F.elu(x, 0.5)),
    ("sigmoid", {}, torch.sigmoid),
    ("tanh", {}, torch.tanh),
    ("hsigmoid", {}, F.hardsigmoid),
    ("hswish", {}, F.hardswish),
    ("silu", {}, F.silu),
    ("gelu", {}, F.gelu),
    ("gelu", {"approximate": "tanh"}, lambda x: F.gelu(x, approximate="tanh")),
    ("identity", {}, lambda x: x),
    ("dropout", {"p": 0.5}, lambda x: F.dropout(x, 0.5, training=False)),
    ("stochastic_depth", {"p": 0.2, "mode": "row"}, lambda x: x),
]


@pytest.mark.parametrize("op,attrs,fn", ACTIVATIONS, ids=[f"{a[0]}-{i}" for i, a in enumerate(ACTIVATIONS)])
def test_activation(op, attrs, fn):
    g = _graph(op, [(2, 3, 8, 8)], attrs)
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)) * 4  # reaches relu6/hardsigmoid clamps
    ours = run(g, {}, [x], dtype=np.float64)[0]
    np.testing.assert_allclose(ours, fn(torch.from_numpy(x)).numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n", [1, 5])
def test_prelu(n):
    g = _graph("prelu", [(2, 5, 4, 4)], {"num_parameters": n})
    w = np.linspace(-0.5, 0.7, n)
    x = np.random.default_rng(2).standard_normal((2, 5, 4, 4))
    ours = run(g, {"node.weight": w}, [x], dtype=np.float64)[0]
    np.testing.assert_allclose(ours, F.prelu(torch.from_numpy(x), torch.from_numpy(w)).numpy(), rtol=1e-12)


def test_prelu_default_weight_is_torchs():
    g = _graph("prelu", [(1, 5, 2, 2)], {"num_parameters": 5})
    np.testing.assert_array_equal(init_weights(g)["node.weight"], torch.nn.PReLU(5).weight.detach().numpy())


@pytest.mark.parametrize("axis", [1, -1, 2])
def test_softmax(axis):
    _check("softmax", [(2, 5, 3, 4)], {"axis": axis}, lambda xs, w, a: F.softmax(xs[0] * 1, dim=a["axis"]))


def test_matmul():
    _check("matmul", [(2, 3, 5), (2, 5, 4)], {}, lambda xs, w, a: torch.bmm(xs[0], xs[1]))


@pytest.mark.parametrize("axes", [(0, 2, 1), (0, 3, 1, 2)])
def test_transpose(axes):
    shape = (2, 3, 5) if len(axes) == 3 else (2, 3, 4, 5)
    _check("transpose", [shape], {"axes": axes}, lambda xs, w, a: xs[0].permute(*a["axes"]))


@pytest.mark.parametrize("axes,keepdims", [((2, 3), False), ((2, 3), True), ((1,), True), ((-1,), False)])
def test_mean(axes, keepdims):
    _check("mean", [(2, 5, 3, 4)], {"axes": axes, "keepdims": keepdims},
           lambda xs, w, a: xs[0].mean(dim=a["axes"], keepdim=a["keepdims"]))


def test_linear():
    _check("linear", [(3, 10)], {"out": 4}, lambda xs, w, a: F.linear(xs[0], w["weight"], w["bias"]))
    _check("linear", [(3, 10)], {"out": 4, "bias": False}, lambda xs, w, a: F.linear(xs[0], w["weight"]))


@pytest.mark.parametrize("shape", [(2, 5, 6, 8), (2, 7, 8), (3, 10, 1, 1)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_on_the_last_axis_is_nn_linear(shape, bias):
    # [N, H, W, C] -> [N, H, W, out] (ConvNeXt's pointwise layers); [N, C, 1, 1] is no special case
    _check("linear", [shape], {"out": 4, "bias": bias}, lambda xs, w, a: F.linear(xs[0], w["weight"], w.get("bias")))


def test_merges():
    _check("add", [(2, 3, 4, 4)] * 3, {}, lambda xs, w, a: xs[0] + xs[1] + xs[2])
    _check("mul", [(2, 3, 4, 4), (2, 3, 1, 1)], {}, lambda xs, w, a: xs[0] * xs[1])
    _check("mul", [(2, 3, 1, 1), (2, 3, 4, 4)], {}, lambda xs, w, a: xs[0] * xs[1])
    _check("concat", [(2, 3, 4, 4), (2, 5, 4, 4), (2, 1, 4, 4)], {}, lambda xs, w, a: torch.cat(xs, 1))
    _check("concat", [(2, 3, 4, 4), (2, 3, 2, 4)], {"axis": -2}, lambda xs, w, a: torch.cat(xs, 2))


def test_flatten_and_reshape():
    _check("flatten", [(2, 3, 4, 5)], {}, lambda xs, w, a: torch.flatten(xs[0], 1))
    _check("flatten", [(2, 3, 4, 5)], {"start": 2}, lambda xs, w, a: torch.flatten(xs[0], 2))
    _check("reshape", [(2, 4, 6, 6)], {"shape": [8, -1, 3]}, lambda xs, w, a: xs[0].reshape(2, 8, -1, 3))
    _check("reshape", [(2, 4, 6, 6)], {"shape": [-1]}, lambda xs, w, a: xs[0].reshape(2, -1))


@pytest.mark.parametrize("groups", [2, 3, 4])
def test_channel_shuffle(groups):
    def torchvision_shuffle(xs, w, a):  # torchvision.models.shufflenetv2.channel_shuffle
        x = xs[0]
        n, c, h, wd = x.shape
        x = x.view(n, groups, c // groups, h, wd).transpose(1, 2).contiguous()
        return x.view(n, -1, h, wd)

    _check("channel_shuffle", [(2, 12, 3, 3)], {"groups": groups}, torchvision_shuffle)
    _check("channel_shuffle", [(2, 12, 3, 3)], {"groups": groups},
           lambda xs, w, a: F.channel_shuffle(xs[0], groups))


@pytest.mark.parametrize("chunks,axis", [(2, 1), (4, 1), (3, 2)])
def test_chunk(chunks, axis):
    _check("chunk", [(2, 12, 6, 5)], {"chunks": chunks, "axis": axis},
           lambda xs, w, a: torch.chunk(xs[0], chunks, dim=axis), multi=True)


@pytest.mark.parametrize("attrs", [
    {"padding": (1, 2, 3, 4)}, {"padding": 2, "value": 1.5}, {"padding": (1, 2, 0, 3), "mode": "reflect"},
    {"padding": (2, 1), "mode": "replicate"},
])
def test_pad(attrs):
    def ref(xs, w, a):
        return F.pad(xs[0], _tpad(a["padding"]), mode=a["mode"], **({"value": a["value"]} if a["mode"] == "constant" else {}))

    _check("pad", [(2, 3, 5, 6)], attrs, ref)


UPSAMPLES = [
    ((1, 2, 4, 3), {"scale": 2}),
    ((1, 2, 4, 3), {"scale": (2, 3)}),
    ((1, 2, 5, 5), {"scale": 1.5}),
    ((1, 2, 4, 3), {"size": (7, 5)}),
    ((1, 2, 9, 8), {"size": (4, 3)}),
    ((1, 2, 4, 3), {"scale": 2, "mode": "bilinear"}),
    ((1, 2, 4, 3), {"scale": 2, "mode": "bilinear", "align_corners": True}),
    ((1, 2, 5, 5), {"scale": 1.5, "mode": "bilinear"}),
    ((1, 2, 4, 3), {"size": (7, 9), "mode": "bilinear"}),
    ((1, 2, 4, 3), {"size": (7, 9), "mode": "bilinear", "align_corners": True}),
    ((1, 2, 9, 8), {"size": (4, 3), "mode": "bilinear"}),
    ((1, 2, 9, 8), {"size": (1, 3), "mode": "bilinear", "align_corners": True}),
]


@pytest.mark.parametrize("shape,attrs", UPSAMPLES)
def test_upsample(shape, attrs):
    def ref(xs, w, a):
        kw = {"align_corners": a["align_corners"]} if a["mode"] == "bilinear" else {}
        if a["size"] is not None:
            return F.interpolate(xs[0], size=a["size"], mode=a["mode"], **kw)
        s = a["scale"]
        return F.interpolate(xs[0], scale_factor=s if isinstance(s, tuple) else float(s), mode=a["mode"], **kw)

    _check("upsample", [shape], attrs, ref)


@pytest.mark.parametrize("act,act_attrs,fn", [("relu", {}, F.relu), ("leaky_relu", {"slope": 0.2},
                                                                       lambda y: F.leaky_relu(y, 0.2)),
                                             ("hswish", None, F.hardswish)])
def test_fused_conv(act, act_attrs, fn):
    _check("fused_conv", [(1, 4, 9, 9)], {"out": 6, "stride": 2, "act": act, "act_attrs": act_attrs},
           lambda xs, w, a: fn(_conv(xs, w, a)))
