"""1-D and 3-D spatial ops (NCL, NCDHW) in the numpy interpreter against torch.nn.functional,
float64 on both sides: conv, conv_t, max/avg/Lp pooling, adaptive and global pooling, BN,
upsample, pad. (2-D: test_interp_vs_torch.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnndsl.interp import run
from cnndsl.ir.builder import GraphBuilder
from cnndsl.ops import ShapeError
from cnndsl.weights import Weights
from cnndsl.weights_init import init_weights

F = torch.nn.functional


def _tpad(p):
    """Ours (begins, then ends, first spatial axis first) -> F.pad's (last axis first: begin, end, ...)."""
    nd = len(p) // 2
    out = []
    for i in reversed(range(nd)):
        out += [p[i], p[nd + i]]
    return tuple(out)


def _nd(x) -> int:
    return x.dim() - 2


def _conv(xs, w, a):
    x = F.pad(xs[0], _tpad(a["padding"]))
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[_nd(x)]
    return fn(x, w["weight"], w.get("bias"), a["stride"], 0, a["dilation"], a["groups"])


def _conv_t(xs, w, a):
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[_nd(xs[0])]
    return fn(xs[0], w["weight"], w.get("bias"), a["stride"], a["padding"], a["output_padding"], a["groups"],
              a["dilation"])


def _sym(p):
    nd = len(p) // 2
    assert tuple(p[:nd]) == tuple(p[nd:]), "torch pools take symmetric padding only"
    return tuple(p[:nd])


def _maxpool(xs, w, a):
    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[_nd(xs[0])]
    return fn(xs[0], a["kernel"], a["stride"], _sym(a["padding"]), a["dilation"], a["ceil_mode"])


def _avgpool(xs, w, a):
    fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[_nd(xs[0])]
    return fn(xs[0], a["kernel"], a["stride"], _sym(a["padding"]), a["ceil_mode"], a["count_include_pad"])


def _lppool(xs, w, a):
    nd = _nd(xs[0])
    fn = {1: F.lp_pool1d, 2: F.lp_pool2d, 3: F.lp_pool3d}[nd]
    one = (lambda v: v[0]) if nd == 1 else tuple  # lp_pool1d takes ints
    return fn(xs[0], a["p"], one(a["kernel"]), one(a["stride"]), a["ceil_mode"])


def _adaptive(kind):
    def ref(xs, w, a):
        return getattr(F, f"adaptive_{kind}_pool{_nd(xs[0])}d")(xs[0], a["size"])

    return ref


def _global(kind):
    def ref(xs, w, a):
        return getattr(F, f"adaptive_{kind}_pool{_nd(xs[0])}d")(xs[0], 1)

    return ref


def _bn(xs, w, a):
    return F.batch_norm(xs[0], w["running_mean"], w["running_var"], w.get("weight"), w.get("bias"), False, 0.0,
                        a["eps"])


def _upsample(xs, w, a):
    if a["size"] is not None:
        size = a["size"] if isinstance(a["size"], int) else tuple(a["size"])
        return F.interpolate(xs[0], size=size, mode=a["mode"],
                             align_corners=a["align_corners"] if a["mode"] != "nearest" else None)
    s = a["scale"]
    scale = float(s) if isinstance(s, (int, float)) else tuple(float(v) for v in s)
    return F.interpolate(xs[0], scale_factor=scale, mode=a["mode"],
                         align_corners=a["align_corners"] if a["mode"] != "nearest" else None)


def _pad(xs, w, a):
    mode = a["mode"]
    if mode == "constant":
        return F.pad(xs[0], _tpad(a["padding"]), mode="constant", value=a["value"])
    return F.pad(xs[0], _tpad(a["padding"]), mode=mode)


CASES = [
    # conv: 1-D and 3-D, grouped, depthwise, dilated, asymmetric and SAME padding, per-axis kernels
    ("conv", (2, 3, 29), {"out": 8, "kernel": 7, "stride": 2, "padding": 3}, _conv),
    ("conv", (1, 8, 20), {"out": 8, "kernel": 3, "groups": 8, "dilation": 2, "bias": False}, _conv),
    ("conv", (1, 4, 17), {"out": 6, "kernel": 4, "stride": 3, "padding": "same"}, _conv),
    ("conv", (1, 4, 17), {"out": 6, "kernel": 3, "padding": (0, 2)}, _conv),  # 1-D: (begin, end)
    ("conv", (2, 3, 8, 9, 10), {"out": 5, "kernel": 3}, _conv),
    ("conv", (1, 3, 8, 16, 16), {"out": 8, "kernel": (3, 7, 7), "stride": (1, 2, 2), "padding": (1, 3, 3),
                                 "bias": False}, _conv),  # r3d_18's stem
    ("conv", (1, 4, 6, 9, 9), {"out": 6, "kernel": (1, 3, 3), "padding": (0, 1, 1)}, _conv),  # (2+1)-D spatial
    ("conv", (1, 4, 7, 6, 6), {"out": 6, "kernel": (3, 1, 1), "stride": (2, 1, 1), "padding": (1, 0, 0)}, _conv),
    ("conv", (1, 6, 7, 8, 9), {"out": 6, "kernel": 3, "groups": 3, "dilation": (1, 2, 1), "padding": (1, 2, 1)},
     _conv),
    ("conv", (1, 2, 7, 8, 9), {"out": 3, "kernel": 3, "stride": 2, "padding": "same"}, _conv),
    ("conv", (1, 2, 7, 8, 9), {"out": 3, "kernel": 2, "padding": (0, 1, 0, 1, 0, 1)}, _conv),  # begins, ends
    # transposed conv
    ("conv_t", (2, 4, 9), {"out": 3, "kernel": 4, "stride": 2, "padding": 1}, _conv_t),
    ("conv_t", (1, 4, 9), {"out": 6, "kernel": 3, "stride": 3, "output_padding": 1, "groups": 2, "dilation": 2},
     _conv_t),
    ("conv_t", (1, 4, 3, 4, 5), {"out": 2, "kernel": 2, "stride": 2}, _conv_t),  # 3-D U-Net's up-conv
    ("conv_t", (1, 4, 3, 4, 5), {"out": 4, "kernel": (3, 2, 3), "stride": (1, 2, 2), "padding": (1, 0, 1),
                                 "output_padding": (0, 1, 0), "bias": False}, _conv_t),
    # max / avg / Lp pooling
    ("maxpool", (2, 3, 20), {"kernel": 3, "stride": 2, "padding": 1}, _maxpool),
    ("maxpool", (1, 3, 21), {"kernel": 3, "stride": 2, "ceil_mode": True, "dilation": 2}, _maxpool),
    ("maxpool", (1, 3, 8, 9, 10), {"kernel": 2}, _maxpool),
    ("maxpool", (1, 3, 7, 9, 11), {"kernel": (1, 3, 3), "stride": (1, 2, 2), "padding": (0, 1, 1)}, _maxpool),
    ("maxpool", (1, 3, 7, 9, 11), {"kernel": 3, "stride": 2, "ceil_mode": True}, _maxpool),
    ("avgpool", (2, 3, 20), {"kernel": 4, "stride": 3, "padding": 2, "count_include_pad": False}, _avgpool),
    ("avgpool", (1, 3, 21), {"kernel": 3, "stride": 2, "ceil_mode": True, "padding": 1}, _avgpool),
    ("avgpool", (1, 3, 8, 9, 10), {"kernel": (2, 3, 3), "stride": (2, 2, 1), "padding": (1, 1, 0)}, _avgpool),
    ("avgpool", (1, 3, 7, 9, 11), {"kernel": 3, "stride": 2, "ceil_mode": True, "padding": 1,
                                   "count_include_pad": False}, _avgpool),
    ("lppool", (1, 3, 20), {"p": 2.0, "kernel": 3, "stride": 2}, _lppool),
    ("lppool", (1, 3, 8, 9, 10), {"p": 3.0, "kernel": 2, "ceil_mode": True}, _lppool),
    # adaptive and global pooling
    ("adaptive_avgpool", (2, 3, 23), {"size": 5}, _adaptive("avg")),
    ("adaptive_maxpool", (2, 3, 23), {"size": 4}, _adaptive("max")),
    ("adaptive_avgpool", (1, 3, 7, 9, 10), {"size": (2, 3, 4)}, _adaptive("avg")),
    ("adaptive_maxpool", (1, 3, 7, 9, 10), {"size": (3, 2, 5)}, _adaptive("max")),
    ("adaptive_avgpool", (1, 3, 4, 6, 8), {"size": 1}, _adaptive("avg")),
    ("gap", (2, 5, 19), {}, _global("avg")),
    ("gmp", (2, 5, 19), {}, _global("max")),
    ("gap", (2, 5, 3, 4, 5), {}, _global("avg")),
    ("gmp", (2, 5, 3, 4, 5), {}, _global("max")),
    # batch norm
    ("bn", (2, 5, 19), {"eps": 1e-3}, _bn),
    ("bn", (2, 5, 3, 4, 5), {}, _bn),
    ("bn", (2, 5, 3, 4, 5), {"affine": False}, _bn),
    # upsample
    ("upsample", (1, 3, 7), {"scale": 2}, _upsample),
    ("upsample", (1, 3, 7), {"scale": 2.5, "mode": "linear"}, _upsample),
    ("upsample", (1, 3, 7), {"size": 11, "mode": "linear", "align_corners": True}, _upsample),
    ("upsample", (1, 2, 3, 4, 5), {"scale": 2}, _upsample),
    ("upsample", (1, 2, 3, 4, 5), {"scale": (1, 2, 2), "mode": "trilinear"}, _upsample),
    ("upsample", (1, 2, 3, 4, 5), {"size": (5, 7, 6), "mode": "trilinear", "align_corners": True}, _upsample),
    ("upsample", (1, 2, 3, 4, 5), {"size": (6, 5, 10)}, _upsample),
    # pad
    ("pad", (1, 3, 9), {"padding": (2, 1)}, _pad),
    ("pad", (1, 3, 9), {"padding": 3, "mode": "reflect"}, _pad),
    ("pad", (1, 3, 9), {"padding": (0, 4), "mode": "replicate"}, _pad),
    ("pad", (1, 2, 4, 5, 6), {"padding": (1, 0, 2, 0, 3, 1), "value": 0.5}, _pad),
    ("pad", (1, 2, 4, 5, 6), {"padding": (1, 2, 3), "mode": "reflect"}, _pad),
    ("pad", (1, 2, 4, 5, 6), {"padding": 2, "mode": "replicate"}, _pad),
]
IDS = [f"{op}-{len(shape) - 2}d-{i}" for i, (op, shape, _a, _f) in enumerate(CASES)]


@pytest.mark.parametrize("op,shape,attrs,torch_fn", CASES, ids=IDS)
def test_nd_op_matches_torch(op, shape, attrs, torch_fn):
    b = GraphBuilder(op)
    b.output("y", b.add(op, [b.input("x", shape)], name="node", **attrs))
    g = b.graph
    x = np.random.default_rng(0).standard_normal(shape)
    weights = init_weights(g, seed=0, randomize_buffers=True)
    (ours,) = run(g, weights, [x], dtype=np.float64)
    w = {p: torch.from_numpy(v.astype(np.float64)) for p, v in Weights(weights).for_node(g, "node").items()
         if v.dtype != np.int64}
    ref = torch_fn([torch.from_numpy(x)], w, g.nodes["node"].attrs).numpy()
    assert ours.shape == ref.shape == tuple(g.nodes["node"].meta["shape"])
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("op,shape,attrs,message", [
    ("conv", (1, 3, 8, 8, 8), {"out": 4, "kernel": (3, 3)}, "kernel has 2 values but the input has 3 spatial axes"),
    ("conv", (1, 3, 8), {"out": 4, "stride": (1, 2)}, "stride has 2 values but the input has 1 spatial axis"),
    ("conv", (1, 3, 8, 8, 8), {"out": 4, "padding": (1, 1, 1, 1)}, "padding takes 1, 3 or 6 values"),
    ("maxpool", (1, 3, 8, 8), {"kernel": (2, 2, 2)}, "kernel has 3 values but the input has 2 spatial axes"),
    ("conv", (1, 3), {"out": 4}, "expects an NCL, NCHW or NCDHW tensor"),
    ("upsample", (1, 3, 4, 4, 4), {"mode": "bilinear"}, 'mode="trilinear"'),
    ("upsample", (1, 3, 4), {"scale": (2, 2)}, "scale has 2 values but the input has 1 spatial axis"),
    ("adaptive_avgpool", (1, 3, 4, 4, 4), {"size": (2, 2)}, "size has 2 values"),
])
def test_nd_attribute_counts_are_checked(op, shape, attrs, message):
    b = GraphBuilder(op)
    with pytest.raises(ShapeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        b.add(op, [b.input("x", shape)], **attrs)
