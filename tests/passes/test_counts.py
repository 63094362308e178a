"""Parameters, MACs and FLOPs of a small hand-built net, counted by hand; unsupported ops."""

from __future__ import annotations

import pytest

from cnndsl.ir.builder import GraphBuilder
from cnndsl.ops.registry import REGISTRY, RF_POINTWISE, OpDef
from cnndsl.passes import ANALYSES, Convention, run_passes
from cnndsl.report import build_report, render


def small_net():
    b = GraphBuilder("small")
    x = b.input("x", (1, 3, 8, 8))
    h = b.add("conv", [x], name="conv1", out=4, kernel=3, padding=1, bias=False)
    h = b.add("bn", [h], name="bn1")
    h = b.add("relu", [h], name="relu1")
    h = b.add("conv", [h], name="dw", out=4, kernel=3, stride=2, padding=1, groups=4)
    h = b.add("gap", [h], name="gap")
    h = b.add("flatten", [h], name="flat")
    h = b.add("linear", [h], name="fc", out=10)
    b.output("y", h)
    return b.graph


def test_params_and_macs_by_hand():
    g = run_passes(small_net(), ANALYSES).graph
    m = {n.name: n.meta for n in g.topo()}
    # conv1: 4*3*3*3 = 108 weights, no bias; 4*8*8 outputs * 3*9 MACs each = 6912
    assert (m["conv1"]["params"], m["conv1"]["macs"]) == (108, 6912)
    # bn1: weight + bias trainable (8); running mean/var (8) + num_batches_tracked (1) buffers
    assert (m["bn1"]["params"], m["bn1"]["buffers"], m["bn1"]["macs"]) == (8, 9, 0)
    # depthwise 3x3/2: 4*1*9 + 4 bias = 40 params; 4*4*4 outputs * 1*9 = 576 MACs
    assert (m["dw"]["params"], m["dw"]["macs"]) == (40, 576)
    # fc: 4*10 + 10 = 50 params, 40 MACs
    assert (m["fc"]["params"], m["fc"]["macs"]) == (50, 40)
    totals = build_report(g).totals
    assert totals["params"] == 108 + 8 + 40 + 50 == 206
    assert totals["buffers"] == 9
    assert totals["macs"] == 6912 + 576 + 40 == 7528
    assert totals["complete"] is True


def test_flops_follow_the_convention():
    g = run_passes(small_net(), ANALYSES).graph
    # 2*MACs + bn 2*256 + relu 256 + dw bias 64 + gap 64 (one add per input element) + fc bias 10
    assert build_report(g).totals["flops"] == 2 * 7528 + 512 + 256 + 64 + 64 + 10
    bare = Convention(bias=False, bn=False, activations=False, pooling=False, elementwise=False)
    g = run_passes(small_net(), ANALYSES, convention=bare).graph
    assert build_report(g).totals["flops"] == 2 * 7528
    only_bn = Convention(bias=False, bn=True, activations=False, pooling=False, elementwise=False)
    g = run_passes(small_net(), ANALYSES, convention=only_bn).graph
    assert build_report(g).totals["flops"] == 2 * 7528 + 512
    assert "bn" in only_bn.describe() and "bias" not in only_bn.describe().split("FLOPs")[1]


@pytest.fixture
def mystery_op(monkeypatch):
    """A registered op with a shape rule that declares it cannot count MACs, FLOPs or params (None)."""
    opdef = OpDef(name="mystery", attrs=(), shape=lambda _a, s: tuple(s[0]), category="activation",
                  macs=None, flops=None, params=None, rf=RF_POINTWISE)
    monkeypatch.setitem(REGISTRY, "mystery", opdef)
    return opdef


def test_op_without_rule_is_unsupported_not_zero(mystery_op):
    b = GraphBuilder("m")
    x = b.input("x", (1, 3, 8, 8))
    h = b.add("conv", [x], name="conv", out=4, kernel=3, bias=False)
    h = b.add("mystery", [h], name="odd")
    b.output("y", h)
    g = run_passes(b.graph, ANALYSES).graph
    odd = g.nodes["odd"].meta
    assert odd["macs"] is None and odd["params"] is None and odd["flops"] is None
    assert set(odd["unsupported"]) == {"params", "macs", "flops"}
    rep = build_report(g)
    assert rep.totals["complete"] is False
    assert rep.totals["unsupported"] == ["odd (mystery): params, macs, flops"]
    assert rep.totals["macs"] == 4 * 8 * 8 * 27  # the supported part, flagged incomplete
    table = render(rep, "table")
    assert "unsupported" in table and "+?" in table
    row = next(r for r in rep.to_json()["layers"] if r["name"] == "odd")
    assert row["macs"] is None and row["params"] is None


def test_an_undeclared_rule_is_flagged_not_zero(monkeypatch):
    """An op registered without a rule (a registry bug the registry test names) is reported as
    unsupported by the passes, never as 0 or a 1x1 receptive field."""
    opdef = OpDef(name="forgetful", attrs=(), shape=lambda _a, s: tuple(s[0]), category="activation")
    monkeypatch.setitem(REGISTRY, "forgetful", opdef)
    b = GraphBuilder("m")
    h = b.add("forgetful", [b.input("x", (1, 3, 8, 8))], name="odd")
    b.output("y", h)
    g = run_passes(b.graph, ANALYSES).graph
    odd = g.nodes["odd"].meta
    assert odd["macs"] is None and odd["params"] is None and odd["flops"] is None
    assert set(odd["unsupported"]) >= {"params", "macs", "flops"}
