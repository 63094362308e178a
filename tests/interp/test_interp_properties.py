"""Random window configurations (hypothesis) through the interpreter and torch: conv,
conv_t, max/avg pooling, whatever the stride, dilation, padding, groups and ceil_mode."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnndsl.interp import run
from cnndsl.ir.builder import GraphBuilder
from cnndsl.ops import ShapeError
from cnndsl.weights_init import init_weights

F = torch.nn.functional
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


def _run_one(op, shape, attrs, seed=0):
    b = GraphBuilder()
    try:
        b.output("y", b.add(op, [b.input("x", shape)], name="n", **attrs))
    except ShapeError:
        return None
    g = b.graph
    w = init_weights(g, seed=seed)
    x = np.random.default_rng(seed).standard_normal(shape)
    y = run(g, w, [x], dtype=np.float64)[0]
    assert y.shape == g.output_shapes()[0]
    return g.nodes["n"].attrs, x, {k.split(".", 1)[1]: torch.from_numpy(v.astype(np.float64)) for k, v in w.items()}, y


@SETTINGS
@given(c_in=st.integers(1, 3), c_out=st.integers(1, 3), groups=st.sampled_from([1, 2]), h=st.integers(3, 12),
       w=st.integers(3, 12), k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)), d=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       pad=st.tuples(*[st.integers(0, 3)] * 4), bias=st.booleans())
def test_conv_any_window(c_in, c_out, groups, h, w, k, s, d, pad, bias):
    out = _run_one("conv", (1, c_in * groups, h, w), {"out": c_out * groups, "kernel": k, "stride": s, "dilation": d,
                                                          "padding": pad, "groups": groups, "bias": bias})
    if out is None:
        return
    _a, x, p, y = out
    ref = F.conv2d(F.pad(torch.from_numpy(x), (pad[1], pad[3], pad[0], pad[2])), p["weight"], p.get("bias"),
                   s, 0, d, groups)
    np.testing.assert_allclose(y, ref.numpy(), rtol=1e-9, atol=1e-9)


@SETTINGS
@given(c=st.integers(1, 3), c_out=st.integers(1, 3), groups=st.sampled_from([1, 2]), h=st.integers(1, 6),
       k=st.integers(1, 4), s=st.integers(1, 3), d=st.integers(1, 2), p=st.integers(0, 2), op=st.integers(0, 2))
def test_conv_t_any_window(c, c_out, groups, h, k, s, d, p, op):
    out = _run_one("conv_t", (1, c * groups, h, h + 1),
                   {"out": c_out * groups, "kernel": k, "stride": s, "dilation": d, "padding": p, "output_padding": op,
                        "groups": groups})
    if out is None:
        return
    _a, x, w, y = out
    ref = F.conv_transpose2d(torch.from_numpy(x), w["weight"], w["bias"], s, p, op, groups, d)
    np.testing.assert_allclose(y, ref.numpy(), rtol=1e-9, atol=1e-9)


@SETTINGS
@given(h=st.integers(2, 11), w=st.integers(2, 11), k=st.integers(1, 4), s=st.integers(1, 3),
       p=st.integers(0, 2), ceil_mode=st.booleans(), count_include_pad=st.booleans(), dil=st.integers(1, 2))
def test_pools_any_window(h, w, k, s, p, ceil_mode, count_include_pad, dil):
    out = _run_one("avgpool", (1, 2, h, w), {"kernel": k, "stride": s, "padding": p, "ceil_mode": ceil_mode,
                                                 "count_include_pad": count_include_pad})
    if out is not None:
        _a, x, _w, y = out
        ref = F.avg_pool2d(torch.from_numpy(x), k, s, p, ceil_mode, count_include_pad)
        np.testing.assert_allclose(y, ref.numpy(), rtol=1e-9, atol=1e-12)
    out = _run_one("maxpool", (1, 2, h, w), {"kernel": k, "stride": s, "padding": p, "ceil_mode": ceil_mode, "dilation": dil})
    if out is not None:
        _a, x, _w, y = out
        ref = F.max_pool2d(torch.from_numpy(x), k, s, p, dil, ceil_mode)
        np.testing.assert_allclose(y, ref.numpy(), rtol=1e-9, atol=1e-12)
