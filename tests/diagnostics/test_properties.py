"""Property tests: expressions evaluate like their Python meaning; token soup only ever
yields cnndsl diagnostics."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnndsl.api import load_text
from cnndsl.diagnostics import CnnError
from cnndsl.elaborate.evaluator import Evaluator
from cnndsl.syntax.parser import parse

BINOPS = ["+", "-", "*", "//", "%", "/", "<", "<=", "==", "!=", "and", "or"]


def exprs():
    leaf = st.one_of(st.integers(-50, 50).map(str), st.sampled_from(["true", "false", "2.5", "0.5"]))

    def extend(children):
        return st.one_of(
            st.tuples(children, st.sampled_from(BINOPS), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            children.map(lambda c: f"(-{c})"),
            children.map(lambda c: f"(not {c})"),
            st.tuples(children, children, children).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        )

    return st.recursive(leaf, extend, max_leaves=12)


def evaluate(text: str):
    mod = parse(f"let a = {text}\n", "p.cnn")
    return Evaluator(lambda n, s: None, lambda *a: None).eval(mod.items[0].value)


@settings(max_examples=300, deadline=None)
@given(exprs())
def test_arithmetic_matches_python(src):
    py_src = src.replace("true", "True").replace("false", "False")
    try:
        expected = eval(py_src, {"__builtins__": {}})  # the oracle: Python's meaning of the same text
        py_error = None
    except (ZeroDivisionError, TypeError) as err:
        expected, py_error = None, err
    try:
        got = evaluate(src)
    except CnnError:
        # cnndsl refuses what Python refuses, and mixing bools into arithmetic
        return
    assert py_error is None, f"cnndsl accepted {src!r} that Python rejects"
    if isinstance(expected, float) or isinstance(got, float):
        assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-12)
    else:
        assert got == expected and type(got) is type(expected)


TOKENS = ["network", "block", "let", "repeat", "for", "in", "if", "else", "residual", "shortcut", "branches",
          "return", "as", "N", "x", "y", "conv", "relu", "add", "concat", "(", ")", "[", "]", "{", "}", ",",
          "->", "=", "==", "+", "*", "**", ":", "\n", "1", "8", "f32", "true", "none", '"s"', ".", "#c\n"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_token_soup_only_yields_diagnostics(tokens):
    text = " ".join(tokens)
    try:
        load_text(text, "soup.cnn")
    except CnnError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=25))
def test_token_soup_inside_a_network(tokens):
    text = "network Net() (x: f32[N, 3, 8, 8]) {\n" + " ".join(tokens) + "\n}\n"
    try:
        load_text(text, "soup.cnn")
    except CnnError:
        pass
