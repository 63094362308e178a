"""Elementwise activations. Each costs FLOPs per element (stated in docs/reports.md)."""

from __future__ import annotations

from cnndsl.ops.common import fmt_shape, per_sample
from cnndsl.ops.constraints import one_of, positive
from cnndsl.ops.registry import NO_MACS, NO_PARAMS, RF_POINTWISE, AttrSpec, OpDef, ShapeError


def _same(_attrs: dict, shapes: list):
    return tuple(shapes[0])


def _flops_per_element(n: int):
    def flops(_attrs: dict, _shapes: list, out) -> int:
        return n * per_sample(out)

    return flops


def _act(name: str, flops: int, attrs: tuple = (), doc: str = "", **kw) -> OpDef:
    return OpDef(name=name, attrs=attrs, shape=_same, category="activation", params=NO_PARAMS, macs=NO_MACS,
                 flops=_flops_per_element(flops), rf=RF_POINTWISE, doc=doc, **kw)


def _prelu_shape(attrs: dict, shapes: list):
    (x,) = shapes
    n = attrs["num_parameters"]
    if n != 1 and (len(x) < 2 or x[1] != n):
        raise ShapeError(f"prelu: num_parameters must be 1 or the channel count, got {n} for {fmt_shape(x)}")
    return tuple(x)


def _prelu_params(attrs: dict, _shapes: list) -> dict:
    return {"weight": ((attrs["num_parameters"],), True)}


OPS = (
    _act("relu", 1, doc="max(x, 0)"),
    _act("relu6", 1, doc="min(max(x, 0), 6)"),
    _act("leaky_relu", 1, (AttrSpec("slope", "float", 0.01),), doc="x if x > 0 else slope * x"),
    _act("elu", 1, (AttrSpec("alpha", "float", 1.0),), doc="x if x > 0 else alpha * (exp(x) - 1)"),
    _act("sigmoid", 1, doc="1 / (1 + exp(-x))"),
    _act("tanh", 1, doc="tanh(x)"),
    _act("hsigmoid", 1, doc="relu6(x + 3) / 6 (PyTorch's Hardsigmoid)"),
    _act("hswish", 1, doc="x * relu6(x + 3) / 6"),
    _act("silu", 1, doc="x * sigmoid(x), a.k.a. swish"),
    _act("gelu", 1, (AttrSpec("approximate", "str", "none", constraints=(one_of("none", "tanh"),)),), doc="Gaussian error linear unit"),
    _act("identity", 0, doc="returns its input; removed by cleanup passes"),
    OpDef(name="prelu", attrs=(AttrSpec("num_parameters", "int", 1, doc="1 (shared) or the channel count",
                                        constraints=(positive(),)),),
          shape=_prelu_shape, category="activation", params=_prelu_params, macs=NO_MACS, flops=_flops_per_element(1),
          rf=RF_POINTWISE,
          doc="x if x > 0 else weight[c] * x; weight [num_parameters] (PyTorch's PReLU, init 0.25)"),
)
