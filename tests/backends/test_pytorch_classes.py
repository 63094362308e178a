"""Structurally identical blocks share one generated class; numbered classes (`Foo2`) only where structure differs.

Oracles: torchvision's class layout (one `BasicConv2d` for every Inception conv, whatever its
kernel; one `InvertedResidual` with `use_res_connect = stride == 1 and inp == oup`), and the
numbers: the library numeric tests run these modules against the interpreter.
"""

from __future__ import annotations

import re

from _pytorch_util import tiny_res
from cnndsl.backends.pytorch.runtime import load_module

from cnndsl.api import load
from cnndsl.backend import CompileOptions, get_backend


def _generate(graph):
    return get_backend("pytorch").generate(graph, CompileOptions(opt_level=0))


def test_one_class_when_a_kind_has_one_structure():
    _text, info = _generate(tiny_res())
    assert "Block" in info["classes"] and "Block2" not in info["classes"]
    _text, info = _generate(load("resnet50"))
    assert not [c for c in info["classes"] if re.search(r"\d$", c)]


def test_tuple_windows_are_parameters():
    text, info = _generate(load("inception_v3"))
    assert [c for c in info["classes"] if c.startswith("BasicConv")] == ["BasicConv"]
    assert "kernel_size: int | tuple[int, int]" in text
    assert "in_channels=c7, c=c7, kernel_size=(1, 7), stride=1, padding=(0, 3)" in text  # InceptionC


def test_a_residual_add_is_a_flag(tmp_path):
    import torch

    text, info = _generate(load("mobilenet_v2"))
    # the first block has no expansion conv: a structure of its own; the other 16 share a class
    assert [c for c in info["classes"] if c.startswith("InvertedResidual")] == ["InvertedResidual",
                                                                               "InvertedResidual2"]
    assert ("        out = self.conv(x)  # architectures/mobilenetv2.cnn:19\n"
            "        if self.use_res_connect:\n"
            "            out = out + x  # architectures/mobilenetv2.cnn:18\n"
            "        return out\n") in text
    path = tmp_path / "m.py"
    path.write_text(text)
    model = load_module(path).mobilenet_v2()
    blocks = [m for m in model.modules() if type(m).__name__ == "InvertedResidual2"]
    assert len(blocks) == 16
    for block in blocks:
        depthwise = block.conv[1][0]
        inp, oup = block.conv[0][0].in_channels, block.conv[2].out_channels
        assert block.use_res_connect == (depthwise.stride == (1, 1) and inp == oup)
    # MNASNet and EfficientNet: blocks with and without the skip are one class
    for name, kind in (("mnasnet0_5", "MBConv"), ("efficientnet_b0", "MBConv")):
        _text, info = _generate(load(name))
        assert len([c for c in info["classes"] if c.startswith(kind)]) <= 2, info["classes"]
    x = torch.randn(1, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (1, 1000)


def test_the_flag_does_not_break_the_graph(tmp_path):
    """torch.compile traces `if self.use_res_connect:` as a constant: one FX graph, no graph break."""
    import torch
    import torch._dynamo as dynamo

    text, _info = _generate(load("mobilenet_v2", input_shape=(3, 32, 32)))
    path = tmp_path / "m.py"
    path.write_text(text)
    model = load_module(path).mobilenet_v2().eval()
    explained = dynamo.explain(model)(torch.randn(2, 3, 32, 32))
    assert (explained.graph_count, explained.graph_break_count) == (1, 0)
