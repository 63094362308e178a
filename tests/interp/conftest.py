"""Graphs built with GraphBuilder for the interpreter tests."""

from __future__ import annotations

import pytest

from cnndsl.ir.builder import GraphBuilder


def build_resnet50(batch=1, size=224):
    """torchvision's resnet50, with its module names (so its parameter names)."""
    b = GraphBuilder("resnet50")
    y = b.input("image", (batch, 3, size, size))
    y = b.add("conv", [y], name="conv1", out=64, kernel=7, stride=2, padding=3, bias=False)
    y = b.add("relu", [b.add("bn", [y], name="bn1")], name="relu")
    y = b.add("maxpool", [y], name="maxpool", kernel=3, stride=2, padding=1)
    for li, (c, n, s) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], start=1):
        for i in range(n):
            p, stride = f"layer{li}.{i}", s if i == 0 else 1
            h = y
            for j, (k, st, co) in enumerate([(1, 1, c), (3, stride, c), (1, 1, 4 * c)], start=1):
                h = b.add("conv", [h], name=f"{p}.conv{j}", out=co, kernel=k, stride=st, bias=False)
                h = b.add("bn", [h], name=f"{p}.bn{j}")
                if j < 3:
                    h = b.add("relu", [h], name=f"{p}.relu{j}")
            sc = y
            if i == 0:
                sc = b.add("conv", [y], name=f"{p}.downsample.0", out=4 * c, kernel=1, stride=stride, bias=False)
                sc = b.add("bn", [sc], name=f"{p}.downsample.1")
            y = b.add("relu", [b.add("add", [h, sc], name=f"{p}.add")], name=f"{p}.relu")
    y = b.add("flatten", [b.add("gap", [y], name="avgpool")], name="flatten")
    b.output("logits", b.add("linear", [y], name="fc", out=1000))
    return b.graph


@pytest.fixture(scope="session")
def resnet50():
    return build_resnet50()
