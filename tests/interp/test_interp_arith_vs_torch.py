"""Issue 12 item 3's ops in the interpreter against torch / torch.nn.functional in float64."""

from __future__ import annotations

import pytest
import torch

F = torch.nn.functional

import numpy as np
from test_interp_vs_torch import _check, _graph

from cnndsl.interp import run


def _scalar(fn):
    def ref(xs, w, a):
        if len(xs) == 2:
            return fn(xs[0], xs[1])
        c = torch.tensor(a["scalar"], dtype=torch.float64)
        return fn(c, xs[0]) if a["reverse"] else fn(xs[0], c)

    return ref


@pytest.mark.parametrize("op,fn", [("sub", torch.sub), ("div", torch.div), ("pow", torch.pow)])
@pytest.mark.parametrize("shapes,attrs", [
    ([(2, 3, 4, 5), (2, 3, 4, 5)], {}),
    ([(2, 3, 4, 5), (2, 1, 4, 5)], {}),  # broadcast over channels (x / ||x||)
    ([(2, 3, 1, 1), (2, 3, 4, 5)], {}),  # a gate on the left
    ([(2, 3, 4, 5)], {"scalar": 1.5}),
    ([(2, 3, 4, 5)], {"scalar": 2.0, "reverse": True}),
])
def test_binary(op, fn, shapes, attrs):
    _check(op, shapes, attrs, _scalar(fn), positive=True)


@pytest.mark.parametrize("op,attrs,fn,positive", [
    ("mul_scalar", {"factor": 0.17}, lambda xs, w, a: xs[0] * 0.17, False),
    ("add_scalar", {"offset": -1.25}, lambda xs, w, a: xs[0] - 1.25, False),
    ("neg", {}, lambda xs, w, a: -xs[0], False),
    ("sqrt", {}, lambda xs, w, a: torch.sqrt(xs[0]), True),
    ("exp", {}, lambda xs, w, a: torch.exp(xs[0]), False),
    ("log", {}, lambda xs, w, a: torch.log(xs[0]), True),
    ("abs", {}, lambda xs, w, a: torch.abs(xs[0]), False),
    ("clamp", {"min": -0.5, "max": 0.75}, lambda xs, w, a: torch.clamp(xs[0], -0.5, 0.75), False),
    ("clamp", {"min": 0.0}, lambda xs, w, a: torch.clamp(xs[0], min=0.0), False),
    ("clamp", {"max": 0.1}, lambda xs, w, a: torch.clamp(xs[0], max=0.1), False),
])
def test_unary(op, attrs, fn, positive):
    _check(op, [(2, 3, 4, 5)], attrs, fn, positive=positive)


@pytest.mark.parametrize("attrs", [{}, {"axes": (2, 3)}, {"axes": (1, 3), "keepdims": True}, {"axes": -1}])
def test_reductions(attrs):
    def dims(a):
        return tuple(a["axes"])

    _check("sum", [(2, 3, 4, 5)], attrs, lambda xs, w, a: xs[0].sum(dim=dims(a), keepdim=a["keepdims"]))
    _check("max", [(2, 3, 4, 5)], attrs, lambda xs, w, a: torch.amax(xs[0], dim=dims(a), keepdim=a["keepdims"]))
    _check("norm", [(2, 3, 4, 5)], attrs,
           lambda xs, w, a: torch.linalg.vector_norm(xs[0], 2, dim=dims(a), keepdim=a["keepdims"]))


def test_p_norm():
    _check("norm", [(2, 3, 4, 5)], {"p": 3.0, "axes": (1, 2)},
           lambda xs, w, a: torch.linalg.vector_norm(xs[0], 3.0, dim=(1, 2)))


@pytest.mark.parametrize("attrs,index", [
    ({"axis": 1, "start": 0, "stop": 2}, (slice(None), slice(0, 2))),
    ({"axis": 1, "start": 2}, (slice(None), slice(2, None))),
    ({"axis": 3, "start": 1, "stop": -1, "step": 2}, (Ellipsis, slice(1, -1, 2))),
    ({"axis": -2, "start": -3}, (slice(None), slice(None), slice(-3, None))),
])
def test_slice(attrs, index):
    _check("slice", [(2, 5, 6, 7)], attrs, lambda xs, w, a: xs[0][index])


@pytest.mark.parametrize("shape,attrs,sizes,dim", [
    ((2, 7, 4, 5), {"sizes": (2, 4, 1)}, [2, 4, 1], 1),
    ((2, 3, 6, 5), {"sizes": (5, 1), "axis": 2}, [5, 1], 2),
])
def test_split_uneven(shape, attrs, sizes, dim):
    g = _graph("split", [shape], attrs, multi=True)
    x = np.random.default_rng(0).standard_normal(shape)
    ours = run(g, {}, [x], dtype=np.float64)
    refs = torch.split(torch.from_numpy(x), sizes, dim=dim)
    assert [o.shape for o in ours] == [tuple(r.shape) for r in refs] == [tuple(s) for s in g.output_shapes()]
    for a, r in zip(ours, refs):
        np.testing.assert_array_equal(a, r.numpy())


@pytest.mark.parametrize("shape", [(2, 6, 5, 4), (2, 6, 7), (1, 6, 3, 4, 5)])
def test_groupnorm(shape):
    _check("groupnorm", [shape], {"groups": 3, "eps": 1e-3},
           lambda xs, w, a: F.group_norm(xs[0], 3, w["weight"], w["bias"], 1e-3))
    _check("groupnorm", [shape], {"groups": 2, "affine": False}, lambda xs, w, a: F.group_norm(xs[0], 2))


@pytest.mark.parametrize("attrs", [{}, {"affine": True, "eps": 1e-3}])
def test_instancenorm(attrs):
    _check("instancenorm", [(2, 3, 5, 4)], attrs,
           lambda xs, w, a: F.instance_norm(xs[0], weight=w.get("weight"), bias=w.get("bias"), eps=a["eps"]))


def test_instancenorm_with_running_stats_uses_them_at_inference():
    def ref(xs, w, a):
        m = torch.nn.InstanceNorm2d(3, affine=True, track_running_stats=True).double().eval()
        m.load_state_dict({k: v for k, v in w.items()})
        with torch.no_grad():
            return m(xs[0])

    _check("instancenorm", [(2, 3, 5, 4)], {"affine": True, "track_running_stats": True}, ref)


def test_l2norm_is_f_normalize_times_the_scale():
    _check("l2norm", [(2, 5, 3, 4)], {}, lambda xs, w, a: F.normalize(xs[0], dim=1))
    from cnndsl.ops.registry import SELF_PARAM

    _check("l2norm", [(2, 5, 3, 4)], {"scale": 20.0, "eps": 1e-10},
           lambda xs, w, a: w[SELF_PARAM].view(1, -1, 1, 1) * F.normalize(xs[0], dim=1, eps=1e-10))
    _check("l2norm", [(2, 5, 3, 4)], {"axis": -1}, lambda xs, w, a: F.normalize(xs[0], dim=-1))


def _frozen_bn(x, w, eps):
    """torchvision.ops.FrozenBatchNorm2d.forward, verbatim (torchvision is not installed)."""
    scale = w["weight"].reshape(1, -1, 1, 1) * (w["running_var"].reshape(1, -1, 1, 1) + eps).rsqrt()
    bias = w["bias"].reshape(1, -1, 1, 1) - w["running_mean"].reshape(1, -1, 1, 1) * scale
    return x * scale + bias


def test_frozen_bn_is_torchvisions_frozen_batchnorm():
    _check("bn", [(2, 4, 3, 5)], {"frozen": True}, lambda xs, w, a: _frozen_bn(xs[0], w, 1e-5))


def test_frozen_bn_holds_four_buffers_and_nothing_trainable():
    from cnndsl.ops import get

    params = get("bn").params({"frozen": True, "affine": True}, [(1, 8, 4, 4)])
    assert params == {p: ((8,), False) for p in ("weight", "bias", "running_mean", "running_var")}
