"""The pass manager enforces the IR contract (issue 17 item 6): lint after every pass, the
in-place flag checked, transformations leave their input alone, the offending pass named;
`remove_node` refuses outputs and nodes still in use; the CLI's --verify."""

from __future__ import annotations

import pytest

from cnndsl.cli.main import main
from cnndsl.ir.builder import GraphBuilder
from cnndsl.passes import contract
from cnndsl.passes.manager import INFERENCE, PASSES, Pass, PassError, PassResult, run_passes


def small():
    b = GraphBuilder("small")
    x = b.input("x", (1, 3, 8, 8))
    h = b.add("conv", [x], name="conv1", out=4, kernel=3, padding=1, bias=False)
    h = b.add("bn", [h], name="bn1")
    h = b.add("relu", [h], name="relu1")
    h = b.add("gap", [h], name="gap")
    b.output("y", h)
    return b.graph


def test_the_tests_run_with_verification_on():
    assert contract.VERIFY is True  # tests/conftest.py


def register(monkeypatch, name, fn, in_place):
    monkeypatch.setitem(PASSES, name, Pass(name, fn, "analysis" if in_place else "transform", "test", in_place))


def test_an_analysis_that_changes_attributes_is_named(monkeypatch):
    def sneaky(graph, ctx):
        graph.nodes["conv1"].attrs["out"] = 5
        return PassResult(graph, False)

    register(monkeypatch, "sneaky", sneaky, in_place=True)
    with pytest.raises(PassError, match="pass 'sneaky'.*declared in_place.*changed the graph's nodes"):
        run_passes(small(), ["shapes", "sneaky"])
    # without verification the same pipeline runs: the check is the manager's, not the pass's
    run_passes(small(), ["shapes", "sneaky"], verify=False)


def test_an_analysis_that_returns_a_new_graph_is_named(monkeypatch):
    register(monkeypatch, "copier", lambda g, ctx: PassResult(g.copy(), False), in_place=True)
    with pytest.raises(PassError, match="pass 'copier'.*returned a different graph"):
        run_passes(small(), ["copier"])


def test_a_transformation_that_edits_its_input_is_named(monkeypatch):
    def careless(graph, ctx):
        graph.set_inputs("gap", [("bn1", 0)])  # drops relu1's use, on the caller's graph
        return PassResult(graph, True)

    register(monkeypatch, "careless", careless, in_place=False)
    with pytest.raises(PassError, match="pass 'careless'.*changed the graph it was given"):
        run_passes(small(), ["careless"])


def test_a_transformation_that_returns_a_broken_graph_is_named(monkeypatch):
    def cyclic(graph, ctx):
        g = graph.copy()
        g.set_inputs("conv1", [("relu1", 0)])
        return PassResult(g, True)

    register(monkeypatch, "cyclic", cyclic, in_place=False)
    with pytest.raises(PassError, match="(?s)pass 'cyclic'.*invalid graph.*cycle"):
        run_passes(small(), ["shapes", "cyclic"])


def test_a_transformation_that_loses_shapes_is_named(monkeypatch):
    def unshaped(graph, ctx):
        g = graph.copy()
        g.nodes["relu1"].meta = {k: v for k, v in g.nodes["relu1"].meta.items() if k != "shape"}
        return PassResult(g, True)

    register(monkeypatch, "unshaped", unshaped, in_place=False)
    with pytest.raises(PassError, match="pass 'unshaped' left nodes without a shape: relu1"):
        run_passes(small(), ["shapes", "unshaped"])


def test_the_standard_pipelines_keep_the_contract():
    from cnndsl.api import load

    for name in ("resnet18", "mobilenet_v2", "densenet121", "inception_v3"):
        g = load(name)
        res = run_passes(g, INFERENCE, verify=True)
        assert res.ran == list(INFERENCE)
        g.lint()  # the caller's graph is intact


def test_remove_node_refuses_outputs_and_used_nodes():
    g = small()
    with pytest.raises(ValueError, match="'relu1' still has users: gap"):
        g.remove_node("relu1")
    with pytest.raises(ValueError, match="'gap' is graph output 'y'"):
        g.remove_node("gap")
    g.lint()
    assert len(g) == 5


def test_cli_verify_flag(monkeypatch, capsys):
    """A bug in a registered pass: `report --optimize` runs it silently, `--verify` names it (exit 2)."""
    real = PASSES["dce"]

    def careless_dce(graph, ctx):
        graph.nodes[next(iter(graph.nodes))].attrs["poked"] = True
        return real.run(graph, ctx)

    monkeypatch.setitem(PASSES, "dce", Pass("dce", careless_dce, real.kind, real.doc, real.in_place))
    monkeypatch.setattr(contract, "VERIFY", False)
    assert main(["report", "resnet18", "--optimize"]) == 0
    capsys.readouterr()
    assert main(["report", "resnet18", "--optimize", "--verify"]) == 2
    assert "pass 'dce' is a transformation but changed the graph it was given" in capsys.readouterr().err
