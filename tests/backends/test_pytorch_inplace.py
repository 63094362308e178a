"""ReLU in place (`nn.ReLU(inplace=True)`, torchvision's spelling) only where it cannot change a number.

The oracle: the same module generated with every ReLU out of place, the same weights and input,
forward and backward in float64. In-place must give bit-identical outputs and gradients, leave
the caller's input tensor untouched, and never overwrite a tensor that something else reads
(a pre-activation residual's shortcut), a graph input or output, or the output of an op whose
backward needs it (sigmoid).
"""

from __future__ import annotations

import pytest
from _pytorch_util import generate, write_and_build
from cnndsl.backends.pytorch import codegen
from cnndsl.backends.pytorch.inplace import mark_inplace

from cnndsl.api import load, load_text

CASES = """
block PreAct(c) (x) {
    residual {
        relu as act
        conv(c, kernel=3, bias=false) as conv
    } shortcut {
    }
}

network Cases() (image: f32[N, 3, 8, 8]) {
    relu as on_input
    conv(8, kernel=3) as c1
    bn as bn1
    relu as after_bn
    PreAct(8) as pre
    sigmoid as gate
    relu as after_sigmoid
    conv(8, kernel=1) as c2
    relu as after_conv
    feat = conv(4, kernel=1) as c3
    y = feat -> relu as head
    return y, feat
}
"""


def _marks(graph) -> dict[str, bool]:
    g = graph.copy()
    mark_inplace(g)
    return {n.name: n.meta["inplace"] for n in g.nodes.values() if n.op == "relu"}


def test_which_relus_are_in_place():
    marks = _marks(load_text(CASES, "cases.cnn"))
    assert marks == {
        "on_input": False,  # the caller's tensor
        "after_bn": True,  # torchvision's conv -> bn -> relu(inplace=True)
        "pre.act": False,  # its input is also the shortcut: read twice
        "after_sigmoid": False,  # sigmoid's backward reads its output
        "after_conv": True,
        "head": False,  # its input `feat` is a network output
    }


def test_the_callers_graph_is_not_annotated():
    graph = load_text(CASES, "cases.cnn")
    generate(graph)
    assert not any("inplace" in n.meta for n in graph.nodes.values())


def _pair(graph, tmp_path, monkeypatch):
    """(in place, out of place) modules with the same float64 weights."""
    text, _info, _g, weights = generate(graph)
    assert "inplace=True" in text
    fast = write_and_build(text, tmp_path / "inplace.py", weights).double()
    monkeypatch.setattr(codegen, "mark_inplace", lambda g: 0)
    plain_text, *_ = generate(graph)
    assert "inplace=True" not in plain_text
    plain = write_and_build(plain_text, tmp_path / "plain.py", weights).double()
    return fast, plain


@pytest.mark.parametrize("name", ["cases", "resnet18", "mobilenet_v2", "densenet121", "mnasnet0_5"])
def test_same_numbers_and_gradients_as_out_of_place(name, tmp_path, monkeypatch):
    import torch

    graph = load_text(CASES, "cases.cnn") if name == "cases" else load(name, input_shape=(3, 64, 64))
    fast, plain = _pair(graph, tmp_path, monkeypatch)
    size = 8 if name == "cases" else 64
    x = torch.randn(2, 3, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    results = []
    for model in (fast, plain):
        model.train()
        xi = x.clone().requires_grad_(True)
        torch.manual_seed(1)  # the same dropout masks
        out = model(xi)
        outs = out if isinstance(out, tuple) else (out,)
        loss = sum((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).reshape(o.shape)).sum() for o in outs)
        loss.backward()
        assert torch.equal(xi.detach(), x), "the input tensor was overwritten"
        grads = {k: p.grad.clone() for k, p in model.named_parameters()}
        results.append(([o.detach() for o in outs], xi.grad.clone(), grads, model.state_dict()))
    (o1, gx1, g1, s1), (o2, gx2, g2, s2) = results
    assert all(torch.equal(a, b) for a, b in zip(o1, o2))
    assert torch.equal(gx1, gx2)
    assert g1.keys() == g2.keys() and all(torch.equal(g1[k], g2[k]) for k in g1)
    assert all(torch.equal(s1[k], s2[k]) for k in s1)  # running statistics too
