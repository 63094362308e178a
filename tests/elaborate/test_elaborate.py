"""Elaboration: the language's constructs become the right Graph IR (names, edges, shapes)."""

from __future__ import annotations

import textwrap

import pytest

from cnndsl.api import load, load_text
from cnndsl.diagnostics import UnknownKeyword


def el(text: str, **kw):
    return load_text(textwrap.dedent(text).lstrip("\n"), "t.cnn", **kw)


def ops(g):
    return [(n.name, n.op) for n in g.topo() if n.op != "input"]


def test_chain_names_by_position_and_shapes():
    g = el("""
        network Net() (x: f32[N, 3, 32, 32]) {
            conv(8, kernel=3, stride=2) -> bn -> relu
            maxpool(2)
            conv(16, kernel=1) as head
        }
    """)
    assert ops(g) == [("0", "conv"), ("1", "bn"), ("2", "relu"), ("3", "maxpool"), ("head", "conv")]
    assert g.nodes["0"].meta["shape"] == ("N", 8, 16, 16)
    assert g.nodes["3"].meta["shape"] == ("N", 8, 8, 8)
    assert g.nodes["head"].attrs["padding"] == (0, 0, 0, 0)
    assert g.nodes["0"].attrs["padding"] == (1, 1, 1, 1)  # dilation*(kernel-1)//2
    assert g.outputs == [("output", ("head", 0))]


def test_blocks_scope_names_like_torchvision():
    g = el("""
        block Bottleneck(c, stride=1) (x) {
            residual {
                conv(c, kernel=1, bias=false) as conv1 -> bn as bn1 -> relu as relu
                conv(c, stride=stride, bias=false) as conv2 -> bn as bn2
            } shortcut {
                if stride != 1 or channels(x) != c {
                    Down(c, stride) as downsample
                }
            }
            relu as relu2
        }
        block Down(c, stride) {
            conv(c, kernel=1, stride=stride, bias=false) -> bn
        }
        block Layer(c, n, stride) {
            Bottleneck(c, stride)
            repeat n - 1 {
                Bottleneck(c)
            }
        }
        network Net() (x: f32[N, 3, 32, 32]) {
            conv(8) as conv1
            for (i, c, s) in [(0, 8, 1), (1, 16, 2)] {
                Layer(c, 2, s) as ("layer" + str(i + 1))
            }
        }
    """)
    names = [n for n, _ in ops(g)]
    assert "layer1.0.conv1" in names and "layer1.1.bn2" in names
    assert "layer2.0.downsample.0" in names and "layer2.0.downsample.1" in names
    assert "layer1.0.downsample.0" not in names  # identity shortcut: no node
    add = g.nodes["layer2.0.add"]
    assert add.op == "add" and add.inputs == [("layer2.0.bn2", 0), ("layer2.0.downsample.1", 0)]
    assert g.nodes["layer2.1.relu2"].meta["shape"] == ("N", 16, 16, 16)
    scope = g.nodes["layer2.0.conv1"].meta["scope"]
    assert scope == ("Layer(c=16, n=2, stride=2)", "Bottleneck(c=16, stride=2)")


def test_named_tensors_merges_and_same_tensor_twice():
    g = el("""
        network Net() (x: f32[N, 4, 8, 8]) {
            y = x -> conv(4)
            z = x -> conv(4, kernel=1)
            (y, z, y) -> add
            (x, x) -> concat(axis=1)
        }
    """)
    assert g.nodes["add"].inputs == [("0", 0), ("1", 0), ("0", 0)]
    cat = g.nodes["concat"]
    assert cat.inputs == [("add", 0), ("add", 0)] or cat.inputs == [("x", 0), ("x", 0)]
    assert cat.inputs == [("x", 0), ("x", 0)]  # a chain headed by sources starts from them
    assert cat.meta["shape"] == ("N", 8, 8, 8)
    ports = sorted(d["port"] for _s, _d, d in g.nx.in_edges("concat", data=True))
    assert ports == [0, 1]  # two edges from the same producer, one per port
    g.lint()


def test_branches_sugar_is_concat_of_branches():
    g = el("""
        network Net() (x: f32[N, 4, 8, 8]) {
            branches concat(axis=1) {
                conv(2, kernel=1)
                conv(3, kernel=1) -> conv(5, kernel=3)
                maxpool(3, stride=1, padding=1)
            }
        }
    """)
    cat = g.nodes["concat"]
    assert cat.inputs == [("0", 0), ("2", 0), ("3", 0)]
    assert cat.meta["shape"] == ("N", 2 + 5 + 4, 8, 8)


def test_residual_if_false_has_no_add():
    g = el("""
        block R(c) {
            residual if c == 4 {
                conv(c)
            }
        }
        network Net() (x: f32[N, 4, 8, 8]) {
            R(4)
            R(8)
        }
    """)
    assert [n for n, op in ops(g) if op == "add"] == ["0.add"]


def test_multiple_returns_and_recursion():
    g = el("""
        block Split(c) (x) {
            a = x -> conv(c)
            b = x -> conv(c, kernel=1)
            return a, b
        }
        block Level(c, depth) (x) {
            skip = x -> conv(c)
            if depth == 0 {
                return skip
            }
            up = skip -> maxpool(2) -> Level(c * 2, depth - 1) -> conv_t(c, kernel=2, stride=2)
            (skip, up) -> concat(axis=1)
        }
        network Net() (x: f32[N, 1, 16, 16]) {
            p, q = x -> Split(4)
            (p, q) -> add
            Level(4, 2)
        }
    """)
    assert g.nodes["add"].inputs == [("0.0", 0), ("0.1", 0)]
    assert g.output_shapes() == [("N", 8, 16, 16)]
    assert "1.2.2.0" in g.nodes  # depth-2 recursion: scopes nest


def test_layer_values_and_defaults():
    g = el("""
        block ConvAct(c, act=relu) {
            conv(c)
            act
        }
        network Net() (x: f32[N, 3, 8, 8]) {
            ConvAct(4, act=leaky_relu(0.2))
            ConvAct(4, act=identity)
            ConvAct(4)
        }
    """)
    assert g.nodes["0.1"].op == "leaky_relu" and g.nodes["0.1"].attrs["slope"] == 0.2
    assert "1.1" not in g.nodes  # identity makes no node
    assert g.nodes["2.1"].op == "relu"


def test_expressions_and_builtins():
    g = el("""
        let widths = [make_div(32 * 0.75, 8), max(1, 2), round(2.5), floor(7 / 2), ceil(7 / 2), len(range(3))]
        network Net() (x: f32[N, 3, 8, 8]) {
            for w in widths {
                conv(w)
            }
            conv(channels(x) * 2 if shape(x)[2] == 8 else 1)
        }
    """)
    outs = [g.nodes[str(i)].attrs["out"] for i in range(7)]
    assert outs == [24, 2, 2, 3, 4, 3, 6]


def test_imports_std_relative_and_include(cnn_file, tmp_path):
    cnn_file("""
        block Stem(c) {
            conv(c, kernel=3) -> relu
        }
    """, "lib/stems.cnn")
    cnn_file("""
        block Twice(c) {
            conv(c) -> conv(c)
        }
    """, "inc/extra.cnn")
    main = cnn_file("""
        from lib.stems import Stem
        import extra as ex
        from std.layers import ConvBN
        network Net() (x: f32[N, 3, 8, 8]) {
            Stem(4)
            ex.Twice(4)
            ConvBN(8)
        }
    """)
    g = load(str(main), include_dirs=(str(tmp_path / "inc"),))
    assert [op for _n, op in ops(g)] == ["conv", "relu", "conv", "conv", "conv", "bn", "relu"]


def test_defines_input_shape_and_batch():
    text = """
        network Net(width=4, depths=[1, 1]) (x: f32[N, 3, 32, 32]) {
            for d in depths {
                conv(width)
            }
        }
    """
    g = el(text, defines={"width": 16, "depths": [1, 1, 1]}, input_shape=(3, 64, 48), batch=2)
    assert g.output_shapes() == [(2, 16, 64, 48)]
    assert len(g) == 4
    with pytest.raises(UnknownKeyword):
        el(text, defines={"widht": 3})


def test_library_resnet50_exact_counts():
    from cnndsl.ops import get

    g = load("resnet50")
    params = macs = 0
    for node in g.topo():
        op = get(node.op)
        ins = [g.value_shape(r) for r in node.inputs]
        for shape, trainable in op.params(node.attrs, ins).values():
            if trainable:
                n = 1
                for d in shape:
                    n *= d
                params += n
        macs += op.macs(node.attrs, ins, node.meta["shape"])
    assert params == 25_557_032
    assert macs == 4_089_184_256


def test_multi_output_op_binds_several_tensors():
    g = el("""
        network Net() (x: f32[N, 8, 4, 4]) {
            a, b = x -> chunk(2)
            c = b -> conv(4, kernel=1)
            (a, c) -> concat(axis=1) -> channel_shuffle(2)
        }
    """)
    assert g.nodes["1"].inputs == [("0", 1)]
    assert g.nodes["concat"].inputs == [("0", 0), ("1", 0)]
    assert g.value_shape(("0", 1)) == ("N", 4, 4, 4)
    from cnndsl.diagnostics import WrongArity

    with pytest.raises(WrongArity):
        el("network Net() (x: f32[N, 8, 4, 4]) {\n    chunk(2)\n}\n")
