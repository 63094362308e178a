"""Peak activation memory by liveness over the topological schedule, checked by hand."""

from __future__ import annotations

from cnndsl.ir.builder import GraphBuilder
from cnndsl.passes import ANALYSES, run_passes


def small_dag(extra_output: bool = False):
    # x [1,1,4,4] = 16 floats = 64 B; a: 2 ch = 128 B; b: 4 ch = 256 B; c = concat(a, b): 384 B; d: 1 ch = 64 B
    b = GraphBuilder("dag")
    x = b.input("x", (1, 1, 4, 4))
    a = b.add("conv", [x], name="a", out=2, kernel=3)
    bb = b.add("conv", [x], name="b", out=4, kernel=3)
    c = b.add("concat", [a, bb], name="c")
    d = b.add("conv", [c], name="d", out=1, kernel=1)
    b.output("y", d)
    if extra_output:
        b.output("features", a)
    return b.graph


def test_node_memory_is_output_bytes_per_item():
    res = run_passes(small_dag(), ANALYSES)
    mem = {n: res.graph.nodes[n].meta["memory"] for n in "xabcd"}
    assert mem == {"x": 64, "a": 128, "b": 256, "c": 384, "d": 64}


def test_peak_by_hand():
    # schedule x, a, b, c, d
    # step x: {x} 64;  a: {x,a} 192;  b: {x,a,b} 448 (x dies);  c: {a,b,c} 768 (a, b die);  d: {c,d} 448
    res = run_passes(small_dag(), ANALYSES)
    g = res.graph
    assert [n.name for n in g.topo()] == ["x", "a", "b", "c", "d"]
    assert [g.nodes[n].meta["live_bytes"] for n in "xabcd"] == [64, 192, 448, 768, 448]
    peak = g.meta["peak_memory"]
    assert peak["bytes"] == 768 and peak["node"] == "c" and peak["live"] == ["a", "b", "c"]
    assert "topological" in peak["schedule"]


def test_graph_outputs_stay_live_to_the_end():
    # `a` is also an output: at d, live = {a, c, d} = 128 + 384 + 64 = 576
    res = run_passes(small_dag(extra_output=True), ANALYSES)
    g = res.graph
    assert [g.nodes[n].meta["live_bytes"] for n in "xabcd"] == [64, 192, 448, 768, 576]
    assert g.meta["peak_memory"]["bytes"] == 768


def test_symbolic_batch_counts_per_item():
    b = GraphBuilder("n")
    x = b.input("x", ("N", 3, 2, 2))
    b.output("y", b.add("relu", [x], name="r"))
    res = run_passes(b.graph, ANALYSES)
    assert res.graph.nodes["r"].meta["memory"] == 3 * 2 * 2 * 4
    assert res.graph.meta["peak_memory"]["bytes"] == 2 * 48
