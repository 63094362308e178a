"""Tensor arithmetic, slicing and lists of tensors in `.cnn` (issue 12 items 3 and 4): the nodes
they make, and what those compute (the interpreter against numpy on the same weights)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from cnndsl import diagnostics as D
from cnndsl.api import load_text
from cnndsl.interp import run
from cnndsl.weights_init import init_weights


def el(text: str, **kw):
    return load_text(textwrap.dedent(text).lstrip("\n"), "t.cnn", **kw)


def ops(g):
    return [(n.name, n.op) for n in g.topo() if n.op != "input"]


def err_of(text: str, **kw) -> D.CnnError:
    with pytest.raises(D.CnnError) as info:
        el(text, **kw)
    return info.value


def outputs(g, *xs):
    w = init_weights(g, seed=0, randomize_buffers=True)
    return run(g, w, list(xs), dtype=np.float64), w


def test_scaled_residual_and_scalar_arithmetic():
    g = el("""
        network Net() (x: f32[N, 4, 6, 6]) {
            b = x -> conv(4, kernel=3) as branch
            y = x + b * 0.17
            z = -y / 2 - 1
            w = 1 - z ** 2
            return w
        }
    """)
    assert ops(g) == [("branch", "conv"), ("mul_scalar", "mul_scalar"), ("add", "add"), ("neg", "neg"), ("div", "div"),
                      ("add_scalar", "add_scalar"), ("pow", "pow"), ("sub", "sub")]
    assert g.nodes["div"].attrs["scalar"] == 2.0 and not g.nodes["div"].attrs["reverse"]
    assert g.nodes["sub"].attrs == {"scalar": 1.0, "reverse": True}
    assert g.nodes["add_scalar"].attrs["offset"] == -1.0
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 6))
    (got,), w = outputs(g, x)
    b = run(el("network B() (x: f32[N, 4, 6, 6]) { conv(4, kernel=3) as branch }"), w, [x], dtype=np.float64)[0]
    y = x + b * 0.17
    np.testing.assert_allclose(got, 1 - (-y / 2 - 1) ** 2, rtol=1e-12)


def test_tensor_by_tensor_broadcasts_and_l2_normalize_by_hand():
    g = el("""
        network Net() (x: f32[N, 8, 5, 5]) {
            n = x -> norm(keepdims=true)
            y = x / clamp(n, 1e-12) * 20
            return y
        }
    """)
    assert [op for _n, op in ops(g)] == ["norm", "clamp", "div", "mul_scalar"]
    assert g.nodes["div"].meta["shape"] == ("N", 8, 5, 5)
    x = np.random.default_rng(1).standard_normal((2, 8, 5, 5))
    (got,), _ = outputs(g, x)
    np.testing.assert_allclose(got, 20 * x / np.linalg.norm(x, axis=1, keepdims=True), rtol=1e-12)


def test_slices_make_slice_nodes_dpn_style():
    g = el("""
        network Net(a=6) (x: f32[N, 10, 4, 4]) {
            left = x[:, :a]
            right = x[:, a:]
            odd = x[:, :, 1::2, -3:]
            return left, right, odd
        }
    """)
    assert [n.attrs for n in g.topo() if n.op == "slice"] == [
        {"axis": 1, "start": 0, "stop": 6, "step": 1}, {"axis": 1, "start": 6, "stop": 10, "step": 1},
        {"axis": 2, "start": 1, "stop": 4, "step": 2}, {"axis": 3, "start": 1, "stop": 4, "step": 1}]
    x = np.random.default_rng(2).standard_normal((1, 10, 4, 4))
    got, _ = outputs(g, x)
    for a, b in zip(got, (x[:, :6], x[:, 6:], x[:, :, 1::2, -3:])):
        np.testing.assert_array_equal(a, b)


def test_chunk_and_split_bind_lists():
    g = el("""
        network Net() (x: f32[N, 12, 4, 4]) {
            parts = x -> chunk(2)
            pieces = x -> split((2, 3, 7))
            a = parts[1] -> relu
            return concat(pieces[1:] + [a]), sum(parts)
        }
    """)
    assert g.output_shapes() == [("N", 16, 4, 4), ("N", 6, 4, 4)]
    x = np.random.default_rng(3).standard_normal((1, 12, 4, 4))
    (cat, total), _ = outputs(g, x)
    np.testing.assert_array_equal(cat, np.concatenate([x[:, 2:5], x[:, 5:], np.maximum(x[:, 6:], 0)], axis=1))
    np.testing.assert_array_equal(total, x[:, :6] + x[:, 6:])


PYRAMID = """
    block Pyramid(c) (feats: list) {
        let laterals = [f -> conv(c, kernel=1) as ("inner" + str(i)) for (i, f) in enumerate(feats)]
        let outs = []
        for (i, l) in enumerate(laterals) {
            p = l -> conv(c, kernel=3) as ("layer" + str(i))
            let outs = outs + [p]
        }
        return outs
    }

    network Net(levels=3) (x: f32[N, 3, 64, 64]) {
        conv(8, kernel=3, stride=2) as stem
        let feats = []
        repeat levels as i {
            conv(8 * 2 ** i, kernel=3, stride=2) as ("down" + str(i))
            f = relu
            let feats = feats + [f]
        }
        ps = feats -> Pyramid(16) as fpn
        ys = [p -> gap for p in ps]
        return ys
    }
"""


def test_pyramid_of_any_depth_written_once():
    with pytest.raises(D.CnnSyntaxError):  # chains are statements, not expressions: a comprehension cannot hold one
        el(PYRAMID)
    text = PYRAMID.replace(
        '        let laterals = [f -> conv(c, kernel=1) as ("inner" + str(i)) for (i, f) in enumerate(feats)]\n',
        '        let laterals = []\n'
        '        for (i, f) in enumerate(feats) {\n'
        '            l = f -> conv(c, kernel=1) as ("inner" + str(i))\n'
        '            let laterals = laterals + [l]\n'
        '        }\n').replace(
        '        ys = [p -> gap for p in ps]\n        return ys\n', '        return ps\n')
    for levels in (2, 3, 5):
        g = el(text, defines={"levels": levels})
        assert len(g.outputs) == levels
        convs = [n.name for n in g.topo() if n.name.startswith("fpn.")]
        assert convs == [f"fpn.inner{i}" for i in range(levels)] + [f"fpn.layer{i}" for i in range(levels)]
        assert [s[1:] for s in g.output_shapes()] == [(16, 16 >> i, 16 >> i) for i in range(levels)]


def test_expression_helpers_lists():
    g = el("""
        network Net(widths=[4, 8, 16, 32]) (x: f32[N, 3, 8, 8]) {
            let big = [w * 2 for w in widths[1:] if w != 16]
            let reps = [1] * 3 + widths[-2:]
            let r = sqrt(16) + log(1) + len(reps)
            assert big == [16, 64] and reps == [1, 1, 1, 16, 32] and r == 9.0, "helpers"
            conv(big[-1], kernel=1)
        }
    """)
    assert g.output_shapes() == [("N", 64, 8, 8)]


@pytest.mark.parametrize("body, pos, words", [
    ('    assert channels(x) % 5 == 0, "channels must divide by 5"', (2, 12), "channels must divide by 5"),
    ("    assert 1 > 2", (2, 12), "assertion failed"),
    ("    y = x[:, 1]", (2, 14), "int index would drop axis 1"),
    ("    y = x[0:1]", (2, 11), "batch axis cannot be sliced"),
    ("    y = x[:, 4:2]", (2, 9), "selects nothing"),
    ("    y = x + x[:, :1]", (2, 9), "shapes differ"),
    ("    y = x // 2", (2, 9), "'//' is not defined on tensors"),
    ("    y = x -> split((1, 1))", (2, 14), "add up to 2"),
])
def test_positioned_errors(body, pos, words):
    err = err_of(f"network Net() (x: f32[N, 3, 4, 4]) {{\n{body}\n}}\n")
    assert (err.span.line, err.span.col) == pos, (err.span, err.message)
    assert words in err.message


def test_assert_is_its_own_error_class_and_resnet_checks_its_depth():
    from cnndsl.api import load

    err = err_of("network Net() (x: f32[N, 3, 4, 4]) {\n    assert false, \"no\"\n}\n")
    assert type(err) is D.AssertionFailed and err.message == "no"
    with pytest.raises(D.AssertionFailed, match="depth must be 18, 34, 50, 101 or 152"):
        load("resnet", defines={"depth": 51})


def test_builtin_names_stay_numbers_in_expressions_and_ops_in_chains():
    g = el("""
        network Net() (x: f32[N, 3, 4, 4]) {
            conv(max(2, 4) + sum([1, 2]) + abs(-1))
            m = max(axes=(2, 3), keepdims=true)
            s = x -> sum(axes=1)
            return m, s, abs(x), exp(x), sqrt(abs(x)), log(exp(x))
        }
    """)
    assert g.output_shapes()[:2] == [("N", 8, 1, 1), ("N", 4, 4)]
    assert {"abs", "exp", "sqrt", "log", "max", "sum"} <= {n.op for n in g.topo()}


def test_nested_comprehensions_are_bounded():
    err = err_of("""
        let big = [[i for i in range(100000)] for j in range(100000)]
        network Net() (x: f32[N, 3, 4, 4]) {
            assert len(big) > 0
        }
    """)
    assert type(err) is D.LimitExceeded and "steps" in err.message


def test_assignment_keeps_a_tensor_a_tensor_and_a_list_a_list():
    g = el("""
        network Net() (x: f32[N, 8, 4, 4]) {
            parts = x -> chunk(4)
            one = parts[1]
            some = parts[1:3]
            also = [parts[0]]
            assert len(some) == 2 and len(also) == 1 and channels(one) == 2, "types"
            return concat(some + also + [one])
        }
    """)
    assert g.output_shapes() == [("N", 8, 4, 4)]


@pytest.mark.parametrize("levels", [2, 3, 4])
def test_library_fpn_is_written_once_for_any_number_of_levels(levels):
    g = el(f"""
        from retinanet import FPN

        network Net(levels={levels}) (x: f32[N, 8, 64, 64]) {{
            let feats = []
            repeat levels as i {{
                conv(8 * 2 ** i, kernel=3, stride=2) as ("c" + str(i))
                f = relu
                let feats = feats + [f]
            }}
            outs = feats -> FPN(16) as fpn
            return outs
        }}
    """)
    assert len(g.outputs) == levels + 2  # P3.. plus P6, P7
    assert [s[2] for s in g.output_shapes()] == [32 >> i for i in range(levels)] + [(32 >> (levels - 1)) // 2,
                                                                                    (32 >> (levels - 1)) // 4]
    assert sum(n.op == "add" for n in g.nodes.values()) == levels - 1
    assert {f"fpn.inner_blocks.{i}.0" for i in range(levels)} <= set(g.nodes)


def test_a_list_fed_to_a_one_input_op_says_how_to_pick_or_merge():
    err = err_of("network N() (x: f32[N, 4, 8, 8]) {\n    y = x -> chunk(2)\n    y -> relu\n}\n")
    assert (err.span.line, err.span.col) == (3, 10)
    assert "'y' holds 2 tensors and relu takes 1; pick one (y[0]) or merge them (concat, add)" in err.message
