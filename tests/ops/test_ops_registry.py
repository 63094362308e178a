"""Registry coverage: every op has every rule, a reference kernel, and (if it has
parameters) an initializer; a sample of each op goes through its rules."""

from __future__ import annotations

import pytest

from cnndsl.interp import KERNELS
from cnndsl.ir.builder import GraphBuilder
from cnndsl.ops import RFRule, all_ops
from cnndsl.weights_init import INITIALIZERS

# One small use of every op: (input shapes, attributes). A new op must add a line here.
SAMPLES = {
    "input": None,
    "conv": ([(1, 4, 8, 8)], {"out": 6}),
    "conv_t": ([(1, 4, 8, 8)], {"out": 6, "kernel": 2, "stride": 2}),
    "fused_conv": ([(1, 4, 8, 8)], {"out": 6, "act": "leaky_relu", "act_attrs": {"slope": 0.2}}),
    "linear": ([(1, 4)], {"out": 3}),
    "bn": ([(1, 4, 8, 8)], {}),
    "layernorm": ([(1, 4, 8, 8)], {}),
    "layer_scale": ([(1, 4, 8, 8)], {}),
    "relu": ([(1, 4, 8, 8)], {}),
    "relu6": ([(1, 4, 8, 8)], {}),
    "leaky_relu": ([(1, 4, 8, 8)], {}),
    "elu": ([(1, 4, 8, 8)], {}),
    "sigmoid": ([(1, 4, 8, 8)], {}),
    "tanh": ([(1, 4, 8, 8)], {}),
    "hsigmoid": ([(1, 4, 8, 8)], {}),
    "hswish": ([(1, 4, 8, 8)], {}),
    "silu": ([(1, 4, 8, 8)], {}),
    "gelu": ([(1, 4, 8, 8)], {}),
    "prelu": ([(1, 4, 8, 8)], {"num_parameters": 4}),
    "softmax": ([(1, 4, 8, 8)], {}),
    "identity": ([(1, 4, 8, 8)], {}),
    "maxpool": ([(1, 4, 8, 8)], {"kernel": 2}),
    "avgpool": ([(1, 4, 8, 8)], {"kernel": 2}),
    "lppool": ([(1, 4, 8, 8)], {"p": 2.0, "kernel": 2}),
    "gap": ([(1, 4, 8, 8)], {}),
    "gmp": ([(1, 4, 8, 8)], {}),
    "adaptive_avgpool": ([(1, 4, 8, 8)], {"size": 2}),
    "adaptive_maxpool": ([(1, 4, 8, 8)], {"size": (2, 3)}),
    "mean": ([(1, 4, 8, 8)], {}),
    "add": ([(1, 4, 8, 8)] * 2, {}),
    "mul": ([(1, 4, 8, 8), (1, 4, 1, 1)], {}),
    "concat": ([(1, 4, 8, 8)] * 2, {}),
    "flatten": ([(1, 4, 8, 8)], {}),
    "reshape": ([(1, 4, 8, 8)], {"shape": [16, 16]}),
    "channel_shuffle": ([(1, 4, 8, 8)], {"groups": 2}),
    "chunk": ([(1, 4, 8, 8)], {"chunks": 2}),
    "pad": ([(1, 4, 8, 8)], {"padding": 1}),
    "upsample": ([(1, 4, 8, 8)], {}),
    "dropout": ([(1, 4, 8, 8)], {}),
    "stochastic_depth": ([(1, 4, 8, 8)], {"p": 0.1}),
    "matmul": ([(1, 4, 6), (1, 6, 5)], {}),
    "transpose": ([(1, 4, 6)], {"axes": (0, 2, 1)}),
    "sub": ([(1, 4, 8, 8), (1, 1, 8, 8)], {}),
    "div": ([(1, 4, 8, 8)], {"scalar": 2.0, "reverse": True}),
    "pow": ([(1, 4, 8, 8)], {"scalar": 2.0}),
    "mul_scalar": ([(1, 4, 8, 8)], {"factor": 0.17}),
    "add_scalar": ([(1, 4, 8, 8)], {"offset": 1.0}),
    "neg": ([(1, 4, 8, 8)], {}),
    "sqrt": ([(1, 4, 8, 8)], {}),
    "exp": ([(1, 4, 8, 8)], {}),
    "log": ([(1, 4, 8, 8)], {}),
    "abs": ([(1, 4, 8, 8)], {}),
    "clamp": ([(1, 4, 8, 8)], {"min": 0.0, "max": 6.0}),
    "sum": ([(1, 4, 8, 8)], {"axes": (2, 3)}),
    "max": ([(1, 4, 8, 8)], {"keepdims": True}),
    "norm": ([(1, 4, 8, 8)], {"keepdims": True}),
    "slice": ([(1, 4, 8, 8)], {"axis": 1, "start": 1, "stop": 3}),
    "split": ([(1, 4, 8, 8)], {"sizes": (1, 3)}),
    "groupnorm": ([(1, 4, 8, 8)], {"groups": 2}),
    "instancenorm": ([(1, 4, 8, 8)], {"affine": True}),
    "l2norm": ([(1, 4, 8, 8)], {"scale": 20.0}),
}


def test_every_op_has_a_sample():
    assert set(all_ops()) == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(all_ops()))
def test_every_op_has_every_rule(name):
    """No silent zeros (issue 12): params, MACs, FLOPs and RF are each an explicit choice."""
    op = all_ops()[name]
    missing = op.missing_rules()
    assert not missing, (
        f"op {name!r} does not declare its {', '.join(missing)} rule{'s' if len(missing) > 1 else ''}: give "
        f"OpDef({', '.join(f'{r}=...' for r in missing)}) -- a function of its own, or the declared none "
        "(NO_PARAMS, NO_MACS, NO_FLOPS, RF_POINTWISE / RF_GLOBAL / RF_NONE from cnndsl.ops.registry); "
        "see docs/internals.md, 'Declaring an op'")
    for rule in (op.shape, op.params, op.macs, op.flops, op.rf):
        assert callable(rule), f"{name}: missing rule"
    assert op.doc, f"{name}: no doc"
    assert len(set(op.attr_names)) == len(op.attrs)
    assert 0 <= op.positional


def test_an_undeclared_rule_is_reported_not_zero():
    from cnndsl.ops.registry import NO_PARAMS, MissingRule, OpDef

    op = OpDef(name="probe", attrs=(), shape=lambda a, s: s[0], category="shape", params=NO_PARAMS)
    assert op.missing_rules() == ["macs", "flops", "rf"]
    with pytest.raises(MissingRule, match="'probe' declares no macs rule"):
        op.macs({}, [(1, 2)], (1, 2))


@pytest.mark.parametrize("name", sorted(n for n, s in SAMPLES.items() if s is not None))
def test_every_op_has_a_kernel_and_runs_its_rules(name):
    assert name in KERNELS, f"{name}: no kernel in cnndsl.interp.kernels.KERNELS"
    shapes, attrs = SAMPLES[name]
    b = GraphBuilder()
    refs = [b.input(f"x{i}", s) for i, s in enumerate(shapes)]
    node = b.graph.nodes[b.add(name, refs, name="node", **attrs)[0]]
    op = all_ops()[name]
    out = b.graph.value_shape(("node", 0))
    assert isinstance(out, tuple) and all(isinstance(d, int) for d in out)
    params = op.params(node.attrs, shapes)
    assert all(isinstance(shape, tuple) and isinstance(tr, bool) for shape, tr in params.values())
    if params:
        assert name in INITIALIZERS, f"{name}: has parameters but no initializer in cnndsl.weights_init"
    shape_arg = node.meta.get("shapes", node.meta["shape"])
    assert isinstance(op.macs(node.attrs, shapes, shape_arg), int)
    assert isinstance(op.flops(node.attrs, shapes, shape_arg), int)
    assert isinstance(op.rf(node.attrs), RFRule)
    if op.category not in ("conv", "linear"):
        assert op.macs(node.attrs, shapes, shape_arg) == 0, "MACs are conv and linear multiply-adds only"


def test_kernel_table_has_no_strays():
    assert set(KERNELS) == set(all_ops()) - {"input"}
