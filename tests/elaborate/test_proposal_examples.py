"""The proposal's example programs (copied from shared/language/examples, plus a network
per spelling where a file had none) elaborate, and each piece of sugar gives exactly the
graph of its explicit spelling."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnndsl.api import load

HERE = Path(__file__).parent / "examples"


def structure(g):
    """Ops, attributes, shapes and edges, keyed by topological position (names may differ)."""
    order = {n.name: i for i, n in enumerate(g.topo())}
    return [(n.op, sorted(n.attrs.items()), n.meta["shape"], sorted(order[s] for s, _ in n.inputs))
            for n in g.topo()]


@pytest.mark.parametrize("name, kw, out", [
    ("resnet50.cnn", {}, ("N", 1000)),
    ("resnet50_explicit.cnn", {}, ("N", 1000)),
    ("densenet.cnn", {}, ("N", 1000)),
    ("mobilenetv2_se.cnn", {}, ("N", 1000)),
    ("unet.cnn", {"input_shape": (1, 64, 64)}, ("N", 2, 64, 64)),
    ("inception.cnn", {"network": "InceptionNamed"}, ("N", 256, 28, 28)),
])
def test_examples_elaborate(name, kw, out):
    g = load(str(HERE / name), **kw)
    g.lint()
    assert g.output_shapes() == [out]


def test_residual_sugar_equals_explicit_merge():
    sugar = load(str(HERE / "resnet50.cnn"))
    explicit = load(str(HERE / "resnet50_explicit.cnn"))
    assert structure(sugar) == structure(explicit)


def test_branches_sugar_equals_named_tensors():
    named = load(str(HERE / "inception.cnn"), network="InceptionNamed")
    sugar = load(str(HERE / "inception.cnn"), network="InceptionSugar")
    assert structure(named) == structure(sugar)


def test_densenet_channels_grow_by_growth():
    g = load(str(HERE / "densenet.cnn"))
    cats = [n for n in g.topo() if n.op == "concat"]
    assert len(cats) == 6 + 12 + 24 + 16
    assert cats[0].meta["shape"][1] == 64 + 32 and cats[5].meta["shape"][1] == 64 + 6 * 32
