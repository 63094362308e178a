"""Issue 17, item 3: values are validated where the knowledge lives. Every reproduction of the
hostile-input review that concerns attribute or evaluator values is a positioned diagnostic here
(its class and its line:col asserted), never a traceback, a hang, or an `ok` that fails later.

Attribute values are checked by each AttrSpec's declared constraints at the argument's own span;
the evaluator bounds its numbers (2**63, finite floats, zero steps, rounding digits); CLI options
exit 2 with a clear message; weight files take real floats only and name the key of a bad value.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from cnndsl import diagnostics as D
from cnndsl.api import load_text
from cnndsl.weights import WeightsMismatch, expected_params, validate


def err_of(text: str, **kw) -> D.CnnError:
    with pytest.raises(D.CnnError) as info:
        load_text(textwrap.dedent(text).lstrip("\n"), "t.cnn", **kw)
    return info.value


def net(*lines: str) -> str:
    body = "\n".join("    " + ln for ln in lines)
    return f"network T() (image: f32[N, 3, 8, 8]) {{\n{body}\n}}\n"


def col_of(line: str, word: str) -> int:
    """1-based column of `word` in a body line (the body is indented by 4)."""
    return 5 + line.index(word)


# ------------------------------------------------------------------ attributes (AttrSpec constraints)
ATTRIBUTE_CASES = [
    # (stage, the text the span starts at, class, words in the message)
    ("conv(8, kernel=3, stride=0)", "stride=0", D.InvalidValue, "stride must be positive, got 0"),
    ("conv(8, kernel=3, dilation=0)", "dilation=0", D.InvalidValue, "dilation must be positive"),
    ("maxpool(0)", "0", D.InvalidValue, "kernel must be positive"),
    ("avgpool(kernel=(2, 0))", "kernel=", D.InvalidValue, "kernel must be positive"),
    ("conv(8, kernel=none)", "kernel=none", D.WrongType, "kernel must be an int"),
    ("maxpool(kernel=none)", "kernel=none", D.WrongType, "kernel must be an int"),
    ("conv(-8)", "-8", D.InvalidValue, "out must be positive, got -8"),
    ("conv(0)", "0", D.InvalidValue, "out must be positive"),
    ("linear(0)", "0", D.InvalidValue, "out must be positive"),
    ("conv(8, padding=-1)", "padding=-1", D.WrongType, "padding must be"),
    ("conv_t(8, padding=-1)", "padding=-1", D.WrongType, "padding must be"),
    ("adaptive_avgpool(0)", "0", D.InvalidValue, "size must be positive"),
    ("upsample(size=0)", "size=0", D.InvalidValue, "size must be positive"),
    ("upsample(size=(4, -1))", "size=", D.InvalidValue, "size must be positive"),
    ("conv(1000000000000)", "1000000000000", D.InvalidValue, "out must be at most 2,147,483,647"),
    ("conv(8, kernel=(100000, 100000))", "kernel=", D.InvalidValue, "kernel is too large"),
    ("conv(8, kernel=100000)", "kernel=", D.InvalidValue, "kernel is too large"),  # 100000 on each axis
    ('upsample(scale=float("nan"))', "float(", D.InvalidValue, "float() gives nan"),
    ("upsample(scale=1e999)", "1e999", D.InvalidValue, "gives inf"),
    ("upsample(scale=0)", "scale=0", D.InvalidValue, "scale must be positive"),
    ("upsample(scale=-2)", "scale=-2", D.InvalidValue, "scale must be positive"),
    ('upsample(scale="2")', "scale=", D.InvalidValue, "scale must be a number"),
    ("upsample(scale=(2, 2, 2, 2))", "scale=", D.InvalidValue, "scale must have 1 to 3 values"),
    ("upsample(scale=true)", "scale=true", D.InvalidValue, "scale must be a number"),
    ("dropout(p=5)", "p=5", D.InvalidValue, "p must be in [0, 1), got 5"),
    ("dropout(p=-0.1)", "p=-0.1", D.InvalidValue, "p must be in [0, 1)"),
    ("dropout(p=1)", "p=1", D.InvalidValue, "p must be in [0, 1)"),
    ("stochastic_depth(p=2)", "p=2", D.InvalidValue, "p must be in [0, 1)"),
    ("mean(axes=[])", "axes=[]", D.InvalidValue, "axes must have 1 or more values, got 0"),
    ("sum(axes=[])", "axes=[]", D.InvalidValue, "axes must have 1 or more values"),
    ("bn(eps=-1)", "eps=-1", D.InvalidValue, "eps must be 0 or at least 1.18e-38"),
    ("bn(momentum=2)", "momentum=2", D.InvalidValue, "momentum must be in [0, 1]"),
    ("leaky_relu(1e999)", "1e999", D.InvalidValue, "gives inf"),
    ("gelu(approximate=\"erf\")", "approximate=", D.InvalidValue, 'approximate must be one of "none", "tanh"'),
    ("pad(1, mode=\"wrap\")", "mode=", D.InvalidValue, "mode must be one of"),
    ("lppool(0, 2)", "0", D.InvalidValue, "p must be positive"),
    ("chunk(1)", "1", D.InvalidValue, "chunks must be at least 2"),
    ("split([3])", "[3]", D.InvalidValue, "sizes must have 2 or more values"),
    ("split([1, 0, 2])", "[1, 0, 2]", D.InvalidValue, "sizes must be positive"),
    ("reshape([4, -2])", "[4, -2]", D.InvalidValue, "shape must be at least -1"),
    ("channel_shuffle(0)", "0", D.InvalidValue, "groups must be positive"),
    ("norm(p=0)", "p=0", D.InvalidValue, "p must be positive"),
]


@pytest.mark.parametrize("stage,at,cls,words", ATTRIBUTE_CASES, ids=[c[0] for c in ATTRIBUTE_CASES])
def test_attribute_value_is_a_positioned_error(stage, at, cls, words):
    err = err_of(net(stage))
    assert type(err) is cls, err.message
    assert words in err.message
    assert (err.span.line, err.span.col) == (2, col_of(stage, at)), err.message


def test_nan_and_inf_attributes_through_a_let_are_refused_at_the_argument():
    text = net('let s = float("inf")', "upsample(scale=s)")
    err = err_of(text)
    assert type(err) is D.InvalidValue and (err.span.line, err.span.col) == (2, 13)  # float("inf") itself


# ------------------------------------------------------------------ the evaluator's numbers
EVALUATOR_CASES = [
    # (let value, text the span starts at, class, words)
    ("make_div(20, 0)", "make_div", D.InvalidValue, "positive int divisor"),
    ("make_div(20, -8)", "make_div", D.InvalidValue, "positive int divisor"),
    ("range(1, 5, 0)", "range", D.InvalidValue, "step cannot be zero"),
    ("round(10, -1000000000)", "round", D.InvalidValue, "the limit is 400"),
    ("round(10, 1000000000)", "round", D.InvalidValue, "the limit is 400"),
    ("round(1e300)", "round", D.LimitExceeded, "2**63"),
    ("int(1e300)", "int", D.LimitExceeded, "2**63"),
    ('int("9999999999999999999999999")', "int", D.LimitExceeded, "2**63"),
    ("ceil(1e30)", "ceil", D.LimitExceeded, "2**63"),
    ("sum([2 ** 62, 2 ** 62, 2 ** 62])", "sum", D.LimitExceeded, "2**63"),
    ("abs(-9223372036854775807 - 1)", "-9223372036854775807", D.LimitExceeded, "2**63"),
    ("max([2 ** 62, 1]) * 4", "max", D.LimitExceeded, "2**63"),
    ("enumerate([1, 2], 2 ** 62 * 2)", "2 ** 62", D.LimitExceeded, "2**63"),
    ("make_div(2.0 ** 1000)", "make_div", D.LimitExceeded, "2**63"),
    ('float("nan")', "float", D.InvalidValue, "float() gives nan"),
    ('float("1e999")', "float", D.InvalidValue, "float() gives inf"),
    ("10 ** 10 ** 10", "10", D.LimitExceeded, "2**63"),
    ("2.0 ** 100000", "2.0", D.InvalidValue, "out of range"),
    ("1e308 * 10", "1e308", D.InvalidValue, "arithmetic gives inf"),
    ("5.5 % 0", "0", D.InvalidValue, "division by zero"),
    ("7 // (3 - 3)", "3 - 3", D.InvalidValue, "division by zero"),
]


@pytest.mark.parametrize("value,at,cls,words", EVALUATOR_CASES, ids=[c[0] for c in EVALUATOR_CASES])
def test_evaluator_numbers_are_bounded(value, at, cls, words):
    line = f"let r = {value}"
    err = err_of(net(line, "conv(8)"))
    assert type(err) is cls, err.message
    assert words in err.message
    assert (err.span.line, err.span.col) == (2, col_of(line, at)), err.message


@pytest.mark.parametrize("value", ['int(float("nan"))', 'floor(float("inf"))', 'round(float("nan"))'])
def test_nan_where_an_int_is_needed(value):
    line = f"let r = {value}"
    err = err_of(net(line, "conv(8)"))
    assert type(err) is D.InvalidValue and "float() gives" in err.message
    assert (err.span.line, err.span.col) == (2, col_of(line, "float"))


def test_150_chained_lets_evaluate_without_recursion():
    lets = "\n".join(["let a0 = 1"] + [f"let a{i} = a{i - 1} + 1" for i in range(1, 151)])
    g = load_text(lets + "\n" + net("conv(a150)"), "t.cnn")
    assert g.value_shape(g.outputs[0][1])[1] == 151
    lets = "\n".join(["let a0 = 1"] + [f"let a{i} = a{i - 1} + 1" for i in range(1, 2001)])
    g = load_text(lets + "\n" + net("conv(a2000 - 1990)"), "t.cnn")
    assert g.value_shape(g.outputs[0][1])[1] == 11


def test_a_let_cycle_is_still_reported():
    err = err_of("let a = b + 1\nlet b = a + 1\n" + net("conv(a)"))
    assert type(err) is D.InvalidValue and "defined in terms of itself" in err.message


def test_a_broken_let_in_a_branch_not_taken_is_not_evaluated():
    g = load_text("let bad = range(1, 2, 0)\nlet c = 8 if true else len(bad)\n" + net("conv(c)"), "t.cnn")
    assert g.value_shape(g.outputs[0][1])[1] == 8


# ------------------------------------------------------------------ the smaller ones
def test_misspelled_keyword_is_reported_at_the_keyword():
    stage = "conv(8, kernel=3, strdie=2)"
    err = err_of(net(stage))
    assert type(err) is D.UnknownKeyword
    assert (err.span.line, err.span.col) == (2, col_of(stage, "strdie"))
    assert "did you mean 'stride'?" in err.message and "out, kernel, stride, padding" in err.message


def test_chain_from_an_unbound_tensor_says_so():
    err = err_of(net("y -> relu"))
    assert type(err) is D.UnboundTensor and (err.span.line, err.span.col) == (2, 5)
    assert "tensor 'y' is used before it is bound" in err.message
    assert "unknown layer or block" not in err.message
    err = err_of(net("imag -> relu"))
    assert type(err) is D.UnboundTensor and "did you mean 'image'?" in err.message
    err = err_of(net("reluu -> conv(8)"))  # a typo of an op is still an unknown layer
    assert type(err) is D.UnknownOp and "did you mean 'relu'?" in err.message


def test_an_upsample_to_nothing_is_a_positioned_error():
    err = err_of(net("upsample(scale=0.01)"))  # [N, 3, 8, 8] -> [N, 3, 0, 0]: refused, not "ok"
    assert type(err) is D.ShapeMismatch and (err.span.line, err.span.col) == (2, 5) and "empty" in err.message


@pytest.mark.parametrize("dims,col", [("N, 0, 8, 8", 28), ("N, 3, -8, 8", 31)])
def test_zero_and_negative_input_sizes(dims, col):
    err = err_of(f"network T() (image: f32[{dims}]) {{\n    conv(8)\n}}\n")
    assert type(err) is D.WrongType and (err.span.line, err.span.col) == (1, col)
    assert "must be a positive int" in err.message


def test_input_dimensions_are_bounded():
    err = err_of("network T() (image: f32[N, 3, 99999999999, 8]) {\n    conv(8)\n}\n")
    assert type(err) is D.LimitExceeded and (err.span.line, err.span.col) == (1, 31)
    err = err_of(net("conv(8)"), batch=10**12)
    assert type(err) is D.LimitExceeded and "--batch" in err.message


# ------------------------------------------------------------------ CLI options
def _cli(tmp_path, *opts: str) -> subprocess.CompletedProcess:
    src = tmp_path / "t.cnn"
    src.write_text(net("conv(8)"))
    return subprocess.run([sys.executable, "-m", "cnndsl.cli.main", "check", str(src), *opts],
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("opts,words", [
    (("--batch", "-1"), "batch must be a positive int"),
    (("--batch", "0"), "batch must be a positive int"),
    (("--batch", "99999999999999999999"), "--batch is 99,999,999,999,999,999,999"),
    (("--batch", "1e3"), "invalid int value"),
    (("--input-shape", "3x-1x4"), "must be positive"),
    (("--input-shape", "3xax4"), "must look like 3x224x224"),
    (("--input-shape", "3x8"), "--input-shape gives 2 dimensions"),
    (("--input-shape", "3x99999999999x8"), "one dimension holds at most"),
    (("-D", "x"), "-D expects KEY=VALUE"),
    (("-D", "nosuch=3"), "no parameter 'nosuch'"),
    (("-D", "x=1e999"), "gives inf"),
    (("-D", 'x=float("nan")'), "values only"),
    (("-D", "x=2**70"), "2**63"),
    (("-D", "x=("), "error"),
])
def test_cli_options_are_validated(tmp_path, opts, words):
    proc = _cli(tmp_path, *opts)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert words in proc.stderr


# ------------------------------------------------------------------ weight files
def _graph():
    return load_text(net("conv(4, kernel=1)", "bn"), "t.cnn")


def _good(g) -> dict:
    return {k: np.zeros(shape, np.float32) for k, (shape, _t) in expected_params(g).items()}


@pytest.mark.parametrize("bad,words", [
    (np.array([["1.0"] * 3] * 4).reshape(4, 3, 1, 1), "string array"),
    (np.zeros((4, 3, 1, 1), np.complex64), "complex"),
    (np.zeros((4, 3, 1, 1), bool), "bool"),
    (np.zeros((4, 3, 1, 1), "datetime64[s]"), "datetime"),
    (np.zeros((4, 3, 1, 1), np.int32), "integer"),
    (np.full((4, 3, 1, 1), 1e300), "beyond float32's range"),
    (np.full((4, 3, 1, 1), np.nan, np.float32), "12 non-finite values (nan)"),
    (np.array([np.inf, 0, 0, -np.inf] * 3, np.float64).reshape(4, 3, 1, 1), "6 non-finite values (-inf, inf)"),
])
def test_weight_values_are_real_finite_floats(bad, words):
    g = _graph()
    weights = _good(g)
    key = next(k for k in weights if k.endswith("weight") and weights[k].ndim == 4)
    weights[key] = bad
    with pytest.raises(WeightsMismatch) as info:
        validate(g, weights)
    assert info.value.bad_values and info.value.bad_values[0][0] == key
    assert f"{key}: " in info.value.message and words in info.value.message


def test_integer_buffers_take_counts():
    g = _graph()
    weights = _good(g)
    key = next(k for k in weights if k.endswith("num_batches_tracked"))
    weights[key] = np.array(7, np.int64)
    assert int(validate(g, weights)[key]) == 7
    weights[key] = np.array(7.0)  # a float holding a whole number is a count too
    assert int(validate(g, weights)[key]) == 7
    weights[key] = np.array(0.5)
    with pytest.raises(WeightsMismatch, match="integer count"):
        validate(g, weights)
    weights[key] = np.array(True)
    with pytest.raises(WeightsMismatch, match="integer count"):
        validate(g, weights)


@pytest.mark.parametrize("stage, shown", [("conv(8, bias=a)", True), ("upsample(scale=a)", True),
                                           ("conv(a)", True), ("reshape(a)", False)])
def test_a_deeply_nested_value_is_a_short_positioned_message(stage, shown):
    """A list nested 5,000 deep in an attribute: the message shows a shortened value; no RecursionError."""
    err = err_of(net("let a = [1]", "for i in range(5000) {", "    let a = [a]", "}", stage))
    assert type(err) in (D.WrongType, D.InvalidValue) and err.span.line == 6
    assert ("(...)" in err.message) == shown and len(err.message) < 200
