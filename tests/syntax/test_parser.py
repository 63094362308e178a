"""Syntax layer: the grammar parses the language's constructs into the AST with positions."""

from __future__ import annotations

import textwrap

import pytest

from cnndsl.diagnostics import CnnSyntaxError
from cnndsl.syntax import ast as A
from cnndsl.syntax.parser import parse


def p(text: str) -> A.Module:
    return parse(textwrap.dedent(text).lstrip("\n"), "t.cnn")


def test_every_construct_parses():
    m = p("""
        # comment
        from std.layers import ConvBN, SE
        import std.layers as L
        let width = 64 * 2 ** 1 if true else none
        block B(c, stride=1) (x) {
            let mid = c // 4
            y = x -> conv(mid, kernel=1) -> bn -> relu   # trailing comment
            residual if stride == 1 {
                conv(c, 3)
            } shortcut {
                conv(c, kernel=1)
            }
            branches concat(axis=1) {
                conv(c)
                maxpool(3, stride=1, padding=1) -> conv(c)
            }
            repeat 2 as i {
                relu
            }
            for (a, b) in [(1, 2), (3, 4)] {
                relu
            }
            if c > 1 {
                relu
            } elif c == 1 {
                relu6
            } else {
                identity
            }
            (x, y) -> add
                -> relu as ("act" + str(1))
            return y, x
        }
        network Net(n=1) (image: f32[N, 3, 224, 224]) {
            B(64) as first
            L.ConvBN(3)
        }
    """)
    kinds = [type(i).__name__ for i in m.items]
    assert kinds == ["ImportNames", "ImportModule", "LetStmt", "BlockDef", "BlockDef"]
    block = m.items[3]
    assert [type(s).__name__ for s in block.body] == [
        "LetStmt", "AssignStmt", "ResidualStmt", "BranchesStmt", "RepeatStmt", "ForStmt", "IfStmt",
        "ChainStmt", "ReturnStmt"]
    assert block.params[1].name == "stride" and isinstance(block.params[1].default, A.Num)
    net = m.items[4]
    assert net.is_network and net.inputs[0].dtype == "f32"
    assert net.body[0].chain.head.rename == "first"
    assert net.body[1].chain.head.callee == ("L", "ConvBN")


def test_positions_are_one_based_line_and_column():
    m = p("""
        network Net() (x: f32[N, 3, 8, 8]) {
            conv(8) -> relu
        }
    """)
    stage = m.items[0].body[0].chain.stages[0]
    assert (stage.span.line, stage.span.col) == (2, 16)
    assert stage.span.end_col == 20


def test_newline_rules_continue_lines():
    m = p("""
        network Net() (x: f32[N, 3, 8, 8]) {
            conv(8,
                 kernel=3)
            -> relu
            y = x ->
                relu
        }
    """)
    body = m.items[0].body
    assert len(body) == 2
    assert [s.dotted for s in body[0].chain.stages] == ["relu"]


def test_flat_sum_keeps_all_operands():
    m = p("let a = 1 + 2 - 3 + 4\n")
    e = m.items[0].value
    assert isinstance(e, A.BinOp) and e.ops == ("+", "-", "+") and len(e.operands) == 4


@pytest.mark.parametrize("text", ["block B( {\n}\n", "network\n", "let = 3\n"])
def test_malformed_raise_syntax_error(text):
    with pytest.raises(CnnSyntaxError):
        parse(text, "t.cnn")
