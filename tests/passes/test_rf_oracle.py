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


@pytest.mark.parametrize("make", [chain, residual, inception, misaligned, nhwc, linear_on_w])
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
