"""Rewrites keep outputs equal: the numpy interpreter before vs after, on random weights."""

from __future__ import annotations

import io

import numpy as np
import pytest

from cnndsl.diagnostics import CnnError
from cnndsl.interp import run
from cnndsl.ir.builder import GraphBuilder
from cnndsl.passes import ANALYSES, CLEANUPS, INFERENCE, PassError, run_passes, run_pipeline
from cnndsl.weights_init import init_weights


def rich_net():
    b = GraphBuilder("rich")
    x = b.input("x", (2, 3, 12, 12))
    h = b.add("conv", [x], name="stem.conv", out=8, kernel=3, stride=2, bias=False)
    h = b.add("bn", [h], name="stem.bn")
    h = b.add("relu", [h], name="stem.relu")
    r = b.add("conv", [h], name="block.conv1", out=8, kernel=3, groups=2)   # conv with bias + bn
    r = b.add("bn", [r], name="block.bn1")
    r = b.add("relu6", [r], name="block.act")
    r = b.add("dropout", [r], name="block.drop", p=0.3)
    r = b.add("conv", [r], name="block.conv2", out=8, kernel=1, bias=False)
    r = b.add("bn", [r], name="block.bn2")
    r = b.add("stochastic_depth", [r], name="block.sd", p=0.1)
    h = b.add("add", [h, r], name="block.add")
    h = b.add("identity", [h], name="block.id")
    h = b.add("leaky_relu", [h], name="block.out", slope=0.2)
    u = b.add("conv_t", [h], name="up.conv", out=6, kernel=2, stride=2, groups=2, bias=False)
    u = b.add("bn", [u], name="up.bn")
    u = b.add("silu", [u], name="up.act")
    b.add("conv", [u], name="unused", out=4, kernel=1)                      # dead: no output reads it
    b.add("layer_scale", [u], name="dead.scale", init=0.5)                   # dead, its weight keyed by its name
    p = b.add("gap", [h], name="pool")
    p = b.add("flatten", [p], name="flat")
    p = b.add("linear", [p], name="fc1", out=16)
    p = b.add("bn", [p], name="fc1.bn")
    p = b.add("linear", [p], name="fc2", out=5)
    q = b.add("conv", [h], name="side.conv", out=4, kernel=3, dilation=2)      # conv with bias + gelu(tanh)
    q = b.add("gelu", [q], name="side.act", approximate="tanh")
    q = b.add("layer_scale", [q], name="side.scale", init=0.5)
    b.output("logits", p)
    b.output("up", u)
    b.output("side", q)
    return b.graph


def _compare(before, w_before, after, w_after, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 12, 12)).astype(np.float32)
    ya = run(before, w_before, [x])
    yb = run(after, w_after, [x])
    assert len(ya) == len(yb)
    for a, c in zip(ya, yb):
        np.testing.assert_allclose(c, a, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 3])
def test_inference_pipeline_preserves_outputs(seed):
    g = rich_net()
    w = init_weights(g, seed, randomize_buffers=True)
    res = run_passes(g, INFERENCE, weights=w)
    out = res.graph
    _compare(g, w, out, res.weights, seed)
    ops = {n.op for n in out.nodes.values()}
    assert not ops & {"bn", "dropout", "stochastic_depth", "identity"}
    assert "unused" not in out.nodes
    assert out.nodes["stem.conv"].op == "fused_conv" and out.nodes["stem.conv"].attrs["act"] == "relu"
    assert out.nodes["block.conv1"].attrs["act"] == "relu6"
    assert out.nodes["side.conv"].attrs["act"] == "gelu"
    assert out.nodes["side.conv"].attrs["act_attrs"] == {"approximate": "tanh"}
    assert out.nodes["up.conv"].op == "conv_t" and out.nodes["up.conv"].attrs["bias"] is True  # folded, not fused
    assert out.nodes["fc1"].meta["folded"] == ["fc1.bn"]
    assert not any(k.startswith(("stem.bn.", "fc1.bn.", "unused.", "dead.scale")) for k in res.weights)
    assert "side.scale" in res.weights
    assert set(res.weights) == set(init_weights(out, 0))  # exactly the parameters the new graph has
    out.lint()


@pytest.mark.parametrize("name", CLEANUPS)
def test_each_cleanup_alone_preserves_outputs(name):
    g = rich_net()
    w = init_weights(g, 7, randomize_buffers=True)
    before = ["fold_bn"] if name == "fuse_conv_act" else []  # every activation here follows a bn
    res = run_passes(g, ["shapes", *before, name], weights=w)
    assert res.modified
    _compare(g, w, res.graph, res.weights if res.weights is not None else w)


def test_transforms_do_not_mutate_their_input():
    g = rich_net()
    text = g.to_text()
    w = init_weights(g, 0, randomize_buffers=True)
    snapshot = {k: v.copy() for k, v in w.items()}
    run_passes(g, INFERENCE, weights=w)
    assert g.to_text() == text
    assert all(np.array_equal(w[k], snapshot[k]) for k in snapshot)


def test_fold_declines_with_a_reason_when_conv_output_is_shared():
    b = GraphBuilder("shared")
    x = b.input("x", (1, 3, 8, 8))
    c = b.add("conv", [x], name="conv", out=4, kernel=3)
    n = b.add("bn", [c], name="bn")
    y = b.add("add", [c, n], name="add")          # the conv's raw output is needed too
    a = b.add("relu", [y], name="relu")           # input is an add: not fusable
    b.output("y", a)
    g = b.graph
    w = init_weights(g, 0, randomize_buffers=True)
    res = run_passes(g, INFERENCE, weights=w)
    assert "bn" in res.graph.nodes
    assert any("fold_bn: bn not folded" in d and "other readers" in d for d in res.declined)
    assert any("fuse_conv_act: relu" in d and "not a conv" in d for d in res.declined)
    _compare_one(g, w, res.graph, res.weights or w)


def _compare_one(before, wb, after, wa):
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(run(after, wa, [x])[0], run(before, wb, [x])[0], rtol=1e-4, atol=1e-5)


def test_structural_run_without_weights():
    g = run_pipeline(rich_net(), "fuse_conv_act")
    assert g.nodes["stem.conv"].op == "fused_conv"
    assert "unused" in g.nodes  # dce not reached yet


def test_analyses_after_cleanup_count_the_folded_graph():
    g = rich_net()
    before = run_passes(g, ANALYSES).graph
    after = run_passes(g, INFERENCE).graph
    macs = sum(n.meta["macs"] for n in before.nodes.values() if n.name != "unused")
    assert sum(n.meta["macs"] for n in after.nodes.values()) == macs
    # folding removes BN's 2C trainable parameters and adds a C-bias where there was none
    assert after.nodes["stem.conv"].meta["params"] == before.nodes["stem.conv"].meta["params"] + 8


def test_pass_error_names_the_pass_and_those_before():
    g = rich_net()
    g.nodes["block.conv1"].attrs["groups"] = 3   # 8 channels are not divisible by 3
    with pytest.raises(PassError) as info:
        run_passes(g, ["params", "macs", "shapes"])
    err = info.value
    assert isinstance(err, CnnError)
    assert err.pass_name == "shapes" and err.before == ["params", "macs"]
    assert "pass 'shapes' failed (passes before it: params, macs)" in err.message
    assert "block.conv1" in err.message


def test_unknown_pass_is_an_error():
    with pytest.raises(CnnError, match="unknown pass 'nope'"):
        run_passes(rich_net(), ["nope"])
    with pytest.raises(CnnError):
        run_passes(rich_net(), ["shapes"], print_after=["nope"])


def test_print_after_and_time_passes():
    stream = io.StringIO()
    run_passes(rich_net(), INFERENCE, print_after=["fold_bn"], time_passes=True, stream=stream)
    text = stream.getvalue()
    assert "; IR after pass 'fold_bn' (modified: yes)" in text
    assert text.count("IR after pass") == 1
    assert "%stem.bn" not in text.split("; pass timings")[0]
    for name in INFERENCE:
        assert f";   {name}" in text


def test_analysis_requires_shapes():
    b = GraphBuilder("bare")
    x = b.input("x", (1, 3, 8, 8))
    b.output("y", b.add("relu", [x], name="r"))
    g = b.graph
    del g.nodes["r"].meta["shape"]
    with pytest.raises(PassError, match="pass 'macs' failed .*needs 'shape'"):
        run_passes(g, ["macs"])
    assert run_passes(g, ["shapes", "macs"]).graph.nodes["r"].meta["shape"] == (1, 3, 8, 8)
