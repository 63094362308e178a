"""Receptive fields checked against the interpreter: which input pixels actually reach an output.

With non-negative weights, zero biases and an impulse input (one pixel set per batch item),
an output position is non-zero exactly when the impulse lies in its receptive field, so
the impulses that reach it must lie inside `input_region`, and each edge of that region
that falls inside the image must be reached (the window's outermost taps always exist;
holes from dilation or stride, and edges in the padding, only thin the inside).
"""

from __future__ import annotations

import numpy as np
import pytest

from cnndsl.interp import run
from cnndsl.ir.builder import GraphBuilder
from cnndsl.passes import ANALYSES, run_passes
from cnndsl.passes.rf import input_region
from cnndsl.weights_init import init_weights

H = W = 20


def chain(b, x):
    h = b.add("conv", [x], name="c1", out=2, kernel=3, stride=2, padding=1)
    h = b.add("relu", [h], name="r1")
    h = b.add("maxpool", [h], name="p1", kernel=2, stride=1, padding=0)
    h = b.add("conv", [h], name="c2", out=2, kernel=3, padding=2, dilation=2)
    return b.add("conv", [h], name="c3", out=2, kernel=(1, 3), stride=(1, 2), padding=(0, 1))


def residual(b, x):
    h = b.add("conv", [x], name="c1", out=2, kernel=3, stride=2, padding=1)
    h = b.add("conv", [h], name="c2", out=2, kernel=3, padding=1)
    s = b.add("conv", [x], name="down", out=2, kernel=1, stride=2, padding=0)
    return b.add("add", [h, s], name="add")


def inception(b, x):
    b1 = b.add("conv", [x], name="b1", out=1, kernel=1)
    b2 = b.add("conv", [x], name="b2", out=1, kernel=3, padding=1)
    b3 = b.add("conv", [x], name="b3", out=1, kernel=5, padding=2)
    b4 = b.add("avgpool", [x], name="pool", kernel=3, stride=1, padding=1)
    h = b.add("concat", [b1, b2, b3, b4], name="cat")
    return b.add("conv", [h], name="after", out=1, kernel=3, stride=2, padding=1)


def misaligned(b, x):
    a = b.add("conv", [x], name="a", out=1, kernel=2, stride=2, padding=0)
    c = b.add("conv", [x], name="c", out=1, kernel=3, stride=2, padding=1)
    return b.add("add", [a, c], name="add")


def nhwc(b, x):
    # ConvNeXt's block layout: the pointwise layers run on [N, H, W, C] between two transposes
    h = b.add("conv", [x], name="dw", out=2, kernel=3, stride=2, padding=1)
    h = b.add("transpose", [h], name="to_nhwc", axes=(0, 2, 3, 1))
    h = b.add("linear", [h], name="fc1", out=3)
    h = b.add("relu", [h], name="act")
    h = b.add("linear", [h], name="fc2", out=2)
    h = b.add("transpose", [h], name="to_nchw", axes=(0, 3, 1, 2))
    return b.add("conv", [h], name="after", out=1, kernel=3, padding=1)


def linear_on_w(b, x):
    # nn.Linear on an NCHW tensor mixes the last (w) axis only
    h = b.add("conv", [x], name="c1", out=2, kernel=3, stride=2, padding=1)
    return b.add("linear", [h], name="mix_w", out=4)


def adaptive_uniform(b, x):
    # adaptive pooling with uniform windows (10 -> 5: a window of 2 at stride 2) is exact, not "sees all"
    h = b.add("conv", [x], name="c1", out=2, kernel=3, stride=2, padding=1)
    h = b.add("adaptive_avgpool", [h], name="pool", size=5)
    return b.add("conv", [h], name="after", out=1, kernel=3, padding=1)


def adaptive_identity(b, x):
    # an adaptive pool whose output size is its input's is the identity
    h = b.add("conv", [x], name="c1", out=2, kernel=3, stride=2, padding=1)
    return b.add("adaptive_maxpool", [h], name="pool", size=10)


@pytest.mark.parametrize("make", [chain, residual, inception, misaligned, nhwc, linear_on_w, adaptive_uniform,
                                  adaptive_identity])
def test_rf_matches_actual_dependencies(make):
    b = GraphBuilder(make.__name__)
    x = b.input("x", ("N", 1, H, W))
    out = make(b, x)
    b.output("y", out)
    g = run_passes(b.graph, ANALYSES).graph
    weights = {k: (np.abs(v) + 0.05 if k.endswith(".weight") else np.zeros_like(v))
               for k, v in init_weights(g, 0).items()}
    impulses = np.zeros((H * W, 1, H, W), dtype=np.float32)
    impulses[np.arange(H * W), 0, np.arange(H * W) // W, np.arange(H * W) % W] = 1.0
    (y,) = run(g, weights, [impulses])
    reach = np.abs(y).sum(axis=1) > 0              # [impulse, Ho, Wo]
    node = g.nodes[out[0]]
    ho, wo = y.shape[2:]
    for i in range(ho):
        for j in range(wo):
            hits = np.nonzero(reach[:, i, j])[0]
            rows, cols = hits // W, hits % W
            (r0, r1), (c0, c1) = input_region(node, (i, j))
            assert r0 <= rows.min() and rows.max() <= r1 and c0 <= cols.min() and cols.max() <= c1, (i, j)
            for edge, got in ((r0, rows.min()), (r1, rows.max()), (c0, cols.min()), (c1, cols.max())):
                if 0 <= edge < H:
                    assert got == edge, (i, j)


def test_adaptive_rf_uniform_windows_and_the_global_bound():
    b = GraphBuilder("adaptive")
    x = b.input("x", ("N", 1, 12, 12))
    h = b.add("conv", [x], name="c1", out=2, kernel=3, padding=1)
    b.add("adaptive_avgpool", [h], name="even", size=4)       # 12 / 4: a window of 3 at stride 3
    b.add("adaptive_avgpool", [h], name="same", size=12)      # the identity
    b.add("adaptive_avgpool", [h], name="uneven", size=(5, 4))  # 12 / 5 is not uniform: "global" on h only
    b.output("y", ("even", 0))
    g = run_passes(b.graph, ANALYSES).graph
    c1 = g.nodes["c1"].meta["rf"]
    assert g.nodes["even"].meta["rf"]["size"] == [3 + 2, 3 + 2] and g.nodes["even"].meta["rf"]["stride"] == [3, 3]
    assert g.nodes["same"].meta["rf"]["size"] == c1["size"] and g.nodes["same"].meta["rf"]["stride"] == [1, 1]
    uneven = g.nodes["uneven"].meta["rf"]
    assert uneven["size"] == [3 + 11, 5] and uneven["stride"][1] == 3


@pytest.mark.parametrize("name,size", [("vgg16", 212), ("vgg11", 150), ("alexnet", 195)])
def test_identity_adaptive_pool_keeps_the_published_receptive_field(name, size):
    """torchvision's VGG and AlexNet end their features with an adaptive average pool to 6x6 / 7x7 that,
    at 224x224, is the identity: the field there is pool5's (Araujo et al., Distill 2019: VGG-16 212,
    AlexNet 195), not the whole image."""
    from cnndsl.api import load

    g = run_passes(load(name), ANALYSES).graph
    pool = next(n for n in g.nodes.values() if n.op == "adaptive_avgpool")
    assert pool.meta["rf"]["size"] == [size, size]
