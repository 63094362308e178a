"""The interpreter as a whole: dtypes, inputs, weights, multi-output nodes, and a full
ResNet-50 checked against the same weights run through torch.nn.functional."""

from __future__ import annotations

import numpy as np
import pytest

from cnndsl.interp import KERNELS, InterpError, run
from cnndsl.ir.builder import GraphBuilder
from cnndsl.weights_init import init_weights


def _tiny():
    b = GraphBuilder("tiny")
    x = b.input("x", ("N", 4, 8, 8))
    a, c = b.add_multi("chunk", [x], name="split", chunks=2)
    a = b.add("conv", [a], name="conv", out=2, kernel=3)
    y = b.add("concat", [a, c], name="cat")
    b.output("y", y)
    b.output("second_half", c)
    return b.graph


def test_multi_output_node_feeds_consumers_and_outputs():
    g = _tiny()
    x = np.random.default_rng(0).standard_normal((3, 4, 8, 8)).astype(np.float32)
    w = init_weights(g, seed=1)
    y, half = run(g, w, {"x": x})
    assert y.shape == (3, 4, 8, 8) and half.shape == (3, 2, 8, 8)
    np.testing.assert_array_equal(half, x[:, 2:])
    np.testing.assert_array_equal(y[:, 2:], x[:, 2:])


def test_outputs_are_float32_by_default_and_float64_on_request():
    g = _tiny()
    x = np.ones((1, 4, 8, 8))
    w = init_weights(g)
    assert all(o.dtype == np.float32 for o in run(g, w, [x]))
    assert all(o.dtype == np.float64 for o in run(g, w, [x], dtype=np.float64))


def test_input_errors():
    g = _tiny()
    w = init_weights(g)
    with pytest.raises(InterpError, match="expected shape"):
        run(g, w, [np.ones((1, 3, 8, 8))])
    with pytest.raises(InterpError, match="missing graph inputs: x"):
        run(g, w, {"image": np.ones((1, 4, 8, 8))})
    with pytest.raises(InterpError, match="takes 1 inputs"):
        run(g, w, [])


def test_weight_errors():
    g = _tiny()
    w = init_weights(g)
    with pytest.raises(InterpError, match="missing weight 'conv.bias'"):
        run(g, {k: v for k, v in w.items() if k != "conv.bias"}, [np.ones((1, 4, 8, 8))])
    w["conv.weight"] = w["conv.weight"][:1]
    with pytest.raises(InterpError, match="conv.weight.*expected shape"):
        run(g, w, [np.ones((1, 4, 8, 8))])


def test_num_batches_tracked_may_be_absent():
    b = GraphBuilder()
    b.output("y", b.add("bn", [b.input("x", (1, 2, 3, 3))], name="bn"))
    w = {k: v for k, v in init_weights(b.graph).items() if not k.endswith("num_batches_tracked")}
    np.testing.assert_array_equal(run(b.graph, w, [np.zeros((1, 2, 3, 3))])[0], 0)


def test_unknown_op_is_reported_before_running(monkeypatch):
    g = _tiny()
    monkeypatch.delitem(KERNELS, "chunk")
    with pytest.raises(InterpError, match="no reference kernel for: chunk"):
        run(g, init_weights(g), [np.ones((1, 4, 8, 8))])


def _torch_resnet(g, weights, x):
    """A second, independent evaluation of the same graph with torch.nn.functional."""
    import torch
    F = torch.nn.functional
    w = {k: torch.from_numpy(v) for k, v in weights.items()}
    vals = {"image": torch.from_numpy(x)}
    for node in g.topo():
        if node.op == "input":
            continue
        xs = [vals[s] for s, _ in node.inputs]
        a, n = node.attrs, node.name
        if node.op == "conv":
            pt, pl, _, _ = a["padding"]
            y = F.conv2d(xs[0], w[n + ".weight"], None, a["stride"], (pt, pl), a["dilation"], a["groups"])
        elif node.op == "bn":
            y = F.batch_norm(xs[0], w[n + ".running_mean"], w[n + ".running_var"], w[n + ".weight"],
                             w[n + ".bias"], False, 0.0, a["eps"])
        elif node.op == "relu":
            y = F.relu(xs[0])
        elif node.op == "maxpool":
            y = F.max_pool2d(xs[0], a["kernel"], a["stride"], a["padding"][:2])
        elif node.op == "add":
            y = xs[0] + xs[1]
        elif node.op == "gap":
            y = F.adaptive_avg_pool2d(xs[0], 1)
        elif node.op == "flatten":
            y = torch.flatten(xs[0], 1)
        elif node.op == "linear":
            y = F.linear(xs[0], w[n + ".weight"], w[n + ".bias"])
        vals[n] = y
    return vals[g.outputs[0][1][0]].numpy()


def test_resnet50_matches_torch(resnet50):
    g = resnet50
    weights = init_weights(g, seed=0, randomize_buffers=True)
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    (ours,) = run(g, weights, [x])  # about 0.3 s here; no timed assertion (STYLE.md)
    ref = _torch_resnet(g, weights, x)
    assert ours.shape == (1, 1000)
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max())
