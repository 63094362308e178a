"""Every error class a user can cause: the class, the exact position, the message."""

from __future__ import annotations

import textwrap

import pytest

from cnndsl import diagnostics as D
from cnndsl.api import load, load_text


def err_of(text: str, **kw) -> D.CnnError:
    with pytest.raises(D.CnnError) as info:
        load_text(textwrap.dedent(text).lstrip("\n"), "t.cnn", **kw)
    return info.value


def at(err: D.CnnError) -> tuple[int, int]:
    return err.span.line, err.span.col


NET = "network Net() (x: f32[N, 3, 8, 8]) {{\n{body}\n}}\n"


def net(body: str) -> str:
    return NET.format(body=textwrap.indent(textwrap.dedent(body).strip("\n"), "    "))


# ---------------------------------------------------------------- syntax
@pytest.mark.parametrize("body, pos, words", [
    ("conv(8) relu", (2, 13), "missing '->'"),
    ("let a = 1\nif a = 1 {\n    relu\n}", (3, 10), "use '=='"),
    ("let a = 1 -> 2", (2, 15), "'->' cannot appear"),
])
def test_syntax_hints(body, pos, words):
    err = err_of(net(body))
    assert type(err) is D.CnnSyntaxError
    assert at(err) == pos
    assert words in err.message


def test_unclosed_brace_points_at_opener():
    err = err_of("network Net() (x: f32[N, 3, 8, 8]) {\n    conv(8)\n    if true {\n        relu\n")
    assert type(err) is D.CnnSyntaxError
    assert "missing '}'" in err.message and at(err) == (3, 13)


def test_colon_instead_of_brace():
    err = err_of("block B(c):\n    relu\n")
    assert type(err) is D.CnnSyntaxError and "not ':'" in err.message and at(err) == (1, 11)


def test_unexpected_character():
    err = err_of(net("conv(8) $ relu"))
    assert type(err) is D.CnnSyntaxError and at(err) == (2, 13) and "'$'" in err.message


# ---------------------------------------------------------------- names
def test_unknown_op_did_you_mean():
    err = err_of(net("conv(8) -> rleu"))
    assert type(err) is D.UnknownOp and at(err) == (2, 16)
    assert "did you mean 'relu'?" in err.message


def test_unknown_name_in_expression():
    err = err_of(net("conv(widht)"))
    assert type(err) is D.UnknownName and at(err) == (2, 10)


def test_unknown_keyword():
    err = err_of(net("conv(8, kernal=3)"))  # at the keyword's own column, not the stage's
    assert type(err) is D.UnknownKeyword and at(err) == (2, 13) and "did you mean 'kernel'?" in err.message


def test_unknown_block_parameter():
    err = err_of("block B(c) {\n    conv(c)\n}\n" + net("B(c=3, strid=2)").replace("2:", "x"))
    assert type(err) is D.UnknownKeyword and at(err) == (5, 5)


def test_wrong_arity_positional():
    err = err_of(net("conv(8, 3, 2)"))  # at the first argument too many
    assert type(err) is D.WrongArity and at(err) == (2, 16) and "at most 2 positional" in err.message


def test_missing_required_attribute():
    err = err_of(net("conv"))
    assert type(err) is D.WrongArity and at(err) == (2, 5) and "'out'" in err.message


def test_wrong_type():
    err = err_of(net('conv(8, bias=1)'))  # at the attribute
    assert type(err) is D.WrongType and at(err) == (2, 13) and "true or false" in err.message


def test_duplicate_definitions_collected_and_sorted():
    err = err_of("block A(c, c) {\n    relu\n}\nblock A() {\n    relu\n}\n" + net("relu"))
    assert type(err) is D.MultipleErrors
    assert [type(e) for e in err.errors] == [D.DuplicateDefinition, D.DuplicateDefinition]
    assert [at(e) for e in err.errors] == [(1, 12), (4, 7)]


def test_duplicate_node_name():
    err = err_of(net("conv(8) as a\nrelu as a"))
    assert type(err) is D.DuplicateDefinition and at(err) == (3, 5)


def test_shadowing_an_op():
    err = err_of(net("let relu = 3\nconv(8)"))
    assert type(err) is D.Shadowing and at(err) == (2, 9)


def test_tensor_used_before_bound():
    err = err_of(net("y = x -> conv(3)\n(y, z) -> add"))
    assert type(err) is D.UnboundTensor and at(err) == (3, 9)


# ---------------------------------------------------------------- imports
def test_import_not_found(cnn_file):
    path = cnn_file("from nowhere.blocks import A\n" + net("relu"))
    with pytest.raises(D.ImportNotFound) as info:
        load(str(path))
    assert at(info.value) == (1, 1)


def test_import_cycle(cnn_file):
    cnn_file("from b import B\nblock A() {\n    relu\n}\n", "a.cnn")
    cnn_file("from a import A\nblock B() {\n    relu\n}\n", "b.cnn")
    path = cnn_file("from a import A\n" + net("A()"))
    with pytest.raises(D.ImportCycle) as info:
        load(str(path))
    assert "a.cnn -> " in info.value.message and "b.cnn" in info.value.message


def test_import_missing_name(cnn_file):
    cnn_file("block Real() {\n    relu\n}\n", "lib.cnn")
    path = cnn_file("from lib import Rael\n" + net("relu"))
    with pytest.raises(D.ImportNotFound) as info:
        load(str(path))
    assert at(info.value) == (1, 17) and "did you mean 'Real'?" in info.value.message


# ---------------------------------------------------------------- limits and shapes
def test_recursion_too_deep():
    err = err_of("block R(d) {\n    relu\n    R(d + 1)\n}\n" + net("R(0)"))
    assert type(err) is D.RecursionTooDeep and at(err) == (3, 5)
    assert len(err.chain) > 60


def test_repeat_limit():
    err = err_of(net("repeat 10**12 {\n    relu\n}"))
    assert type(err) is D.LimitExceeded and at(err) == (2, 12)


def test_shape_mismatch_points_at_merge_with_instance_chain():
    err = err_of("""
        block B(c) (x) {
            y = x -> conv(c)
            (y, x) -> add -> relu
        }
        network Net() (x: f32[N, 8, 8, 8]) {
            B(8)
            B(16)
        }
    """)
    assert type(err) is D.ShapeMismatch and at(err) == (3, 15)
    assert "[N, 16, 8, 8] vs [N, 8, 8, 8]" in err.message
    text = D.render(err)
    assert "in B(c=16) at t.cnn:7:5" in text
    assert "               ^^^" in text


def test_channel_mismatch_groups():
    err = err_of(net("conv(8) -> conv(9, groups=2)"))
    assert type(err) is D.ShapeMismatch and at(err) == (2, 16)
    assert err.message == "conv: groups=2 must divide input channels (8) and output channels (9)"


@pytest.mark.parametrize("body, pos, words", [
    ("mean(axes=[1, 2, 3]) -> linear(4)", (2, 29), "linear: expects [N, ..., features] (it acts on the last axis), got [N]"),
    ("conv(8) -> layernorm(axis=4)", (2, 16), "layernorm: axis 4 is out of range for [N, 8, 8, 8]"),
    ("layernorm(axis=-5)", (2, 5), "layernorm: axis -5 is out of range"),
    ("layernorm(axis=0)", (2, 5), "layernorm: the batch axis cannot be normalized"),
    ("transpose((0, 2, 3))", (2, 5), "must be a permutation of 0..3"),
    ("transpose((1, 0, 2, 3))", (2, 5), "keeps the batch axis first"),
])
def test_linear_layernorm_transpose_shape_errors_are_positioned(body, pos, words):
    err = err_of(net(body))
    assert type(err) is D.ShapeMismatch and at(err) == pos
    assert words in err.message


def test_render_format():
    err = err_of(net("conv(8) -> rleu"))
    lines = D.render(err).splitlines()
    assert lines[0].startswith("t.cnn:2:16: error: unknown layer or block 'rleu'")
    assert lines[1] == "        conv(8) -> rleu"
    assert lines[2] == "                   ^^^^"
