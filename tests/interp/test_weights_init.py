"""Seeded initialization: PyTorch's default bounds and values, determinism, and the
registry's parameter counts on a full ResNet-50 (torchvision's published figures)."""

from __future__ import annotations

import math

import numpy as np
import torch

from cnndsl.ir.builder import GraphBuilder
from cnndsl.ops import get
from cnndsl.ops.registry import param_key
from cnndsl.weights_init import init_weights


def _layers():
    b = GraphBuilder("layers")
    x = b.input("x", (1, 16, 8, 8))
    y = b.add("conv", [x], name="conv", out=64, kernel=3, groups=2)
    y = b.add("bn", [y], name="bn")
    y = b.add("conv_t", [y], name="up", out=32, kernel=4, stride=2, groups=4)
    y = b.add("layernorm", [y], name="ln")
    y = b.add("prelu", [y], name="act", num_parameters=32)
    y = b.add("layer_scale", [y], name="ls", init=0.1)
    y = b.add("flatten", [b.add("gap", [y])])
    b.output("y", b.add("linear", [y], name="fc", out=300))
    return b.graph


def _torch_bound(shape):
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    return 1.0 / math.sqrt(fan_in)


def test_weight_and_bias_bounds_are_pytorchs():
    w = init_weights(_layers(), seed=3)
    for layer in ("conv", "up", "fc"):
        weight, bias = w[f"{layer}.weight"], w[f"{layer}.bias"]
        bound = _torch_bound(weight.shape)  # kaiming_uniform(a=sqrt(5)) == U(+-1/sqrt(fan_in))
        assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.95 * bound
        assert np.abs(bias).max() <= bound
        assert abs(weight.std() - bound / math.sqrt(3)) < 0.05 * bound  # std of U(-b, b)
    assert w["up.weight"].shape == (64, 8, 4, 4)  # IOHW: fan_in is 8*16, as PyTorch computes it


def test_conv_init_matches_torch_module_statistics():
    torch.manual_seed(0)
    m = torch.nn.Conv2d(16, 64, 3, groups=2)
    ours = init_weights(_layers(), seed=0)["conv.weight"]
    ref = m.weight.detach().numpy()
    assert ours.shape == ref.shape
    assert np.isclose(np.abs(ours).max(), np.abs(ref).max(), rtol=0.02)


def test_norm_defaults_and_other_layers():
    w = init_weights(_layers())
    np.testing.assert_array_equal(w["bn.weight"], 1)
    np.testing.assert_array_equal(w["bn.bias"], 0)
    np.testing.assert_array_equal(w["bn.running_mean"], 0)
    np.testing.assert_array_equal(w["bn.running_var"], 1)
    assert w["bn.num_batches_tracked"].dtype == np.int64 and w["bn.num_batches_tracked"].shape == ()
    np.testing.assert_array_equal(w["ln.weight"], 1)
    np.testing.assert_array_equal(w["ln.bias"], 0)
    np.testing.assert_array_equal(w["act.weight"], 0.25)
    assert w["ls"].shape == (32, 1, 1)  # keyed by the node name itself
    np.testing.assert_allclose(w["ls"], 0.1)
    assert all(v.dtype == np.float32 for k, v in w.items() if not k.endswith("num_batches_tracked"))


def test_every_parameter_is_initialized_with_the_registry_shape():
    g = _layers()
    w = init_weights(g)
    expected = {}
    for node in g.nodes.values():
        if node.op != "input":
            shapes = [g.value_shape(r) for r in node.inputs]
            for p, (shape, _t) in get(node.op).params(node.attrs, shapes).items():
                expected[param_key(node.name, p)] = tuple(shape)
    assert {k: v.shape for k, v in w.items()} == expected


def test_deterministic_per_seed_and_per_node():
    g = _layers()
    a, b, c = init_weights(g, seed=1), init_weights(g, seed=1), init_weights(g, seed=2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv.weight"], c["conv.weight"])
    # a node's weights do not depend on the other nodes of the graph
    bld = GraphBuilder()
    bld.output("y", bld.add("conv", [bld.input("x", (1, 16, 8, 8))], name="conv", out=64, kernel=3, groups=2))
    np.testing.assert_array_equal(init_weights(bld.graph, seed=1)["conv.weight"], a["conv.weight"])


def test_randomize_buffers_gives_nontrivial_norms():
    w = init_weights(_layers(), seed=0, randomize_buffers=True)
    assert w["bn.running_var"].min() >= 0.5 and np.ptp(w["bn.running_var"]) > 0
    assert np.abs(w["bn.running_mean"]).max() > 0 and np.ptp(w["bn.weight"]) > 0
    assert np.ptp(w["ln.bias"]) > 0
    assert w["bn.num_batches_tracked"] == 0


def test_resnet50_figures_are_torchvisions(resnet50):
    g = resnet50
    trainable = macs = 0
    for node in g.topo():
        if node.op == "input":
            continue
        d = get(node.op)
        shapes = [g.value_shape(r) for r in node.inputs]
        trainable += sum(int(np.prod(s)) for s, t in d.params(node.attrs, shapes).values() if t)
        macs += d.macs(node.attrs, shapes, node.meta["shape"])
    assert trainable == 25_557_032  # torchvision.models.resnet50: 25,557,032 parameters
    assert macs == 4_089_184_256  # torchvision's "GFLOPS 4.09" (multiply-adds)
    w = init_weights(g)
    assert sum(v.size for k, v in w.items() if "running" not in k and "num_batches" not in k) == 25_557_032
