"""Shared modules (issue 12 item 1): `shared NAME = stage`, applied by name.

The oracle for every numeric check is the same network written with one copy of the
shared module per application, given copies of the shared weights: sharing must change
nothing but where the parameters live. Reports, weight keys, ONNX initializers, the
generated PyTorch state_dict and the TVM constants must hold the parameters once.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnndsl import interp
from cnndsl.api import load_text
from cnndsl.backend import CompileOptions, get_backend
from cnndsl.diagnostics import CnnError, ShapeMismatch, WrongArity, WrongType
from cnndsl.weights import Weights, expected_params
from cnndsl.weights_init import init_weights

HEAD = """
block Head(c, n) {
    conv(c, kernel=3, padding=1, bias=false) as conv
    bn as bn
    relu
    conv(n, kernel=1) as out
}
"""

SHARED = HEAD + """
network Pyr() (image: f32[N, 3, 32, 32]) {
    conv(8, kernel=3, stride=2, padding=1) as stem
    p3 = relu
    p4 = p3 -> conv(8, kernel=3, stride=2, padding=1) as down
    p5 = p4 -> maxpool(2, stride=2)
    shared head = Head(8, 4)
    shared proj = conv(6, kernel=1)
    a = p3 -> head -> proj -> gap -> flatten
    b = p4 -> head -> proj -> gap -> flatten
    c = p5 -> head -> proj -> gap -> flatten
    return a, b, c
}
"""

COPIES = HEAD + """
network Pyr() (image: f32[N, 3, 32, 32]) {
    conv(8, kernel=3, stride=2, padding=1) as stem
    p3 = relu
    p4 = p3 -> conv(8, kernel=3, stride=2, padding=1) as down
    p5 = p4 -> maxpool(2, stride=2)
    a = p3 -> Head(8, 4) as head -> conv(6, kernel=1) as proj -> gap -> flatten
    b = p4 -> Head(8, 4) as head2 -> conv(6, kernel=1) as proj2 -> gap -> flatten
    c = p5 -> Head(8, 4) as head3 -> conv(6, kernel=1) as proj3 -> gap -> flatten
    return a, b, c
}
"""


@pytest.fixture(scope="module")
def nets():
    shared = load_text(SHARED, "pyr.cnn")
    copies = load_text(COPIES, "pyr_copies.cnn")
    w = Weights(init_weights(shared, seed=3, randomize_buffers=True))
    wc = {}
    for key in expected_params(copies):  # copies of the shared weights
        src = key.replace("head2.", "head.").replace("head3.", "head.").replace("proj2.", "proj.").replace(
            "proj3.", "proj.")
        wc[key] = w[src]
    return shared, w, copies, Weights(wc)


X = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)


def test_each_application_is_its_own_nodes_with_one_parameter_set(nets):
    g, w, _copies, _wc = nets
    names = [n.name for n in g.topo()]
    assert {"head.conv", "head@1.conv", "head@2.conv", "proj", "proj@1", "proj@2"} <= set(names)
    assert g.nodes["head@2.conv"].meta["params_of"] == "head.conv"
    assert g.nodes["head@1.out"].params_of == "head.out" and g.nodes["head.out"].owns_params
    assert g.nodes["proj@1"].meta["shared"] == ("proj", 1)
    keys = set(expected_params(g))
    assert {k for k in keys if k.startswith(("head", "proj"))} == {
        "head.conv.weight", "head.bn.weight", "head.bn.bias", "head.bn.running_mean", "head.bn.running_var",
        "head.bn.num_batches_tracked", "head.out.weight", "head.out.bias", "proj.weight", "proj.bias"}
    assert set(w) == keys


def test_parameters_counted_once_macs_per_application(nets):
    from cnndsl.passes import run_pipeline
    from cnndsl.report.model import build_report

    g, _w, copies, _wc = nets
    rs, rc = build_report(run_pipeline(g)), build_report(run_pipeline(copies))
    head = 8 * 8 * 9 + 2 * 8 + 4 * 8 + 4  # conv (no bias) + bn affine + out conv with bias, by hand
    proj = 6 * 4 + 6
    assert rc.totals["params"] - rs.totals["params"] == 2 * (head + proj)
    assert rs.totals["macs"] == rc.totals["macs"]  # every application computes
    assert rs.totals["macs"] > 0


def test_interpreter_equals_the_copies(nets):
    g, w, copies, wc = nets
    for a, b in zip(interp.run(g, w, [X]), interp.run(copies, wc, [X])):
        np.testing.assert_array_equal(a, b)


def test_onnx_one_initializer_and_same_outputs(nets, tmp_path):
    import onnx
    from cnndsl.backends.onnx.runtime import run_onnx

    g, w, _copies, _wc = nets
    want = interp.run(g, w, [X])
    for opt in (0, 1):
        backend = get_backend("onnx")
        gg, ww = backend.prepare(g, w, CompileOptions(opt_level=opt))
        path = tmp_path / f"pyr{opt}.onnx"
        backend.compile(gg, ww, path, CompileOptions(opt_level=opt))
        model = onnx.load(str(path))
        inits = [i.name for i in model.graph.initializer]
        assert len(inits) == len(set(inits))
        assert "proj.weight" in inits and not any("@" in i for i in inits)
        uses = sum(1 for n in model.graph.node for i in n.input if i == "proj.weight")
        assert uses == 3  # one initializer, read by every application
        for a, b in zip(run_onnx(path, [X]), want):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_bn_folding_folds_a_shared_conv_bn_once(nets):
    from cnndsl.passes import INFERENCE, run_passes

    g, w, _copies, _wc = nets
    res = run_passes(g, INFERENCE, weights=w)
    g1, w1 = res.graph, res.weights
    assert not any(n.op == "bn" for n in g1.nodes.values())
    assert "head.bn.running_mean" not in w1 and "head.conv.bias" in w1
    assert g1.nodes["head@2.conv"].params_of == "head.conv"
    for a, b in zip(interp.run(g1, w1, [X]), interp.run(g, w, [X])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_bn_after_a_shared_conv_is_not_folded_when_applications_differ():
    from cnndsl.passes import INFERENCE, run_passes

    g = load_text("""
network N() (image: f32[N, 3, 8, 8]) {
    shared c = conv(4, kernel=3, padding=1, bias=false)
    a = image -> c -> bn as bn_a
    b = image -> c -> bn as bn_b
    return a, b
}
""", "n.cnn")
    w = Weights(init_weights(g, seed=1, randomize_buffers=True))
    res = run_passes(g, INFERENCE, weights=w)
    assert sum(n.op == "bn" for n in res.graph.nodes.values()) == 2
    assert any("shares its parameters" in d for d in res.declined)
    for a, b in zip(interp.run(res.graph, res.weights, [X[:, :, :8, :8]]), interp.run(g, w, [X[:, :, :8, :8]])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_generated_pytorch_has_one_submodule_called_per_application(nets, tmp_path):
    import torch
    from cnndsl.backends.pytorch.runtime import build_model

    g, w, _copies, _wc = nets
    for opt in (0, 1):
        backend = get_backend("pytorch")
        gg, ww = backend.prepare(g, w, CompileOptions(opt_level=opt))
        path = tmp_path / f"pyr{opt}.py"
        backend.compile(gg, ww, path, CompileOptions(opt_level=opt))
        text = path.read_text()
        assert text.count("self.head = Head(") == 1 and text.count("self.head(") == 3
        assert text.count("self.proj(") == 3
        model = build_model(path, ww).eval()
        assert sorted(model.state_dict()) == sorted(ww)  # the reference's one key set
        with torch.no_grad():
            got = model(torch.from_numpy(X))
        for a, b in zip(got, interp.run(gg, ww, [X])):
            np.testing.assert_allclose(a.numpy(), b, rtol=1e-4, atol=1e-5)


def test_tvm_one_constant_and_same_outputs(nets):
    import tvm
    g, w, _copies, _wc = nets
    want = interp.run(g, w, [X])
    backend = get_backend("llvm")
    for extra in ({"batch": 2}, {"batch": 2, "weights": "params"}):
        ex, manifest, params = backend.build(g, w, CompileOptions(extra=extra))
        vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
        args = [tvm.runtime.tensor(X)]
        if params:
            assert len(manifest["param_order"]) == len(set(manifest["param_order"]))
            assert "proj.weight" in manifest["param_order"]
            args += [tvm.runtime.tensor(np.ascontiguousarray(params[k])) for k in manifest["param_order"]]
        outs = vm["main"](*args)
        for a, b in zip(outs, want):
            np.testing.assert_allclose(a.numpy(), b, rtol=1e-4, atol=1e-5)


ERRORS = [
    ("""network N() (image: f32[N, 3, 8, 8]) {
    shared c = conv(4, kernel=3, padding=1)
    a = image -> c
    b = a -> c
    return a, b
}""", ShapeMismatch, "application 2 of the shared instance 'c'", 4),
    ("""network N() (image: f32[N, 3, 8, 8]) {
    shared c = conv(4, kernel=3, padding=1)
    image -> c(8)
}""", WrongArity, "apply it as '-> c'", 3),
    ("""network N() (image: f32[N, 3, 8, 8]) {
    shared c = conv(4, kernel=3, padding=1)
    image -> c as d
}""", WrongType, "cannot be renamed", 3),
    ("""network N() (image: f32[N, 3, 8, 8]) {
    conv(4, kernel=3) as c
    shared c = conv(4, kernel=3, padding=1)
}""", CnnError, "already used", 3),
    ("""block B(s) {
    relu -> s
}
network N() (image: f32[N, 3, 8, 8]) {
    shared c = conv(4, kernel=3, padding=1)
    image -> B(c)
}""", WrongType, "can only be applied there", 2),
]


@pytest.mark.parametrize("text,cls,fragment,line", ERRORS)
def test_misuse_is_a_positioned_error(text, cls, fragment, line):
    with pytest.raises(cls) as info:
        load_text(text, "bad.cnn")
    assert fragment in info.value.message
    assert info.value.span is not None and info.value.span.line == line


def test_report_depth_and_diff_show_the_sharing(nets):
    from cnndsl.passes import run_pipeline
    from cnndsl.report import render
    from cnndsl.report.diff import diff_graphs, render_diff
    from cnndsl.report.model import build_report

    g, _w, copies, _wc = nets
    rep = build_report(run_pipeline(g), depth=1)
    rows = {r.name: r for r in rep.rows}
    assert rows["head"].params == 628 and rows["head"].shares is None
    assert rows["head@1"].shares == "head" and rows["head@2"].params == 0
    assert rows["head@1"].macs == rows["head"].macs // 4  # per application: its input is 2x smaller per side
    assert rep.totals["shared"] == [{"instance": "head", "applications": 3, "params": 628},
                                    {"instance": "proj", "applications": 3, "params": 30}]
    table = render(rep, "table")
    assert "(= head)" in table and "head applied 3x (628 params, counted once)" in table
    d = diff_graphs(run_pipeline(g), run_pipeline(copies))
    assert d["shared"]["a"][0]["instance"] == "head" and d["shared"]["b"] == []
    assert "shared in a (2):" in render_diff(d)
    same = diff_graphs(run_pipeline(g), run_pipeline(load_text(SHARED, "again.cnn")))
    assert same["same_structure"] and not same["changed"]
