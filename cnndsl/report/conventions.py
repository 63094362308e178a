"""Other tools' counting conventions, so a cnndsl report can be lined up with theirs.

`cnndsl report --compare TOOL` adds, per row and in the totals, the figure TOOL prints
for the same network built from torchvision-style modules (nn.Conv2d, nn.BatchNorm2d,
nn.ReLU, nn.AdaptiveAvgPool2d, ...; residual adds written `out += identity`). Each
table is keyed by op name and holds the tool's own rule, per batch item (every one of
these tools scales linearly with the batch). An op not in a tool's table is work the
tool does not count (its hooks or handlers skip it): ReLU in fvcore and thop, `x + y`
in all four, GELU modules in ptflops, ... docs/reports.md lists the rules and the
figures for ResNet-50 and MobileNetV2; tests/report/test_conventions.py checks them
against the tools themselves.

Versions whose source these rules follow: torchinfo 1.8.0 (`Total mult-adds`),
fvcore 0.1.5 (`FlopCountAnalysis(model.eval(), x).total()`), ptflops 0.7.5
(`get_model_complexity_info`, default pytorch backend: per item), thop 0.1.1
(`thop.profile`, model in eval mode).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cnndsl.ir.graph import Node
from cnndsl.ops.common import numel

Shapes = list  # input shapes, batch first
Rule = Callable[[Node, Shapes, tuple], int]


def _items(shape) -> int:
    """Elements per batch item."""
    return numel(tuple(shape)[1:])


def _spatial(shape) -> int:
    return numel(tuple(shape)[2:])


def _macs(node: Node, ins: Shapes, out: tuple) -> int:
    return int(node.meta.get("macs") or 0)


def _out_items(node: Node, ins: Shapes, out: tuple) -> int:
    return _items(out)


def _in_items(node: Node, ins: Shapes, out: tuple) -> int:
    return _items(ins[0])


def _has_bias(node: Node) -> bool:
    return bool(node.attrs.get("bias", False))


def _affine(node: Node) -> bool:
    return bool(node.attrs.get("affine", True))


def _per_affine(plain: int, affine: int) -> Rule:
    def rule(node: Node, ins: Shapes, out: tuple) -> int:
        return _items(ins[0]) * (affine if _affine(node) else plain)

    return rule


def _params(node: Node, ins: Shapes, out: tuple) -> int:
    return int(node.meta.get("params") or 0)


# ------------------------------------------------------------------ torchinfo 1.8.0
# LayerInfo.calculate_macs: for each parameter named weight/bias of a leaf module:
# Conv*: numel * prod(output spatial) (* batch); any other module: numel (* batch).
def _ti_conv(node: Node, ins: Shapes, out: tuple) -> int:
    return _params(node, ins, out) * _spatial(out)


TORCHINFO: dict[str, Rule] = {
    "conv": _ti_conv, "conv_t": _ti_conv, "fused_conv": _ti_conv,
    "linear": _params, "bn": _params, "layernorm": _params, "groupnorm": _params, "instancenorm": _params,
    "prelu": _params, "l2norm": _params,
}


# ------------------------------------------------------------------ fvcore 0.1.5
# FlopCountAnalysis's default handles (eval mode): conv/linear/matmul multiply-adds
# without bias; batch_norm 2 per element (1 without affine); group/layer/instance norm
# 5 per element (4 without affine); upsample nearest 1, bilinear 4 per output element;
# adaptive_avg_pool2d 1 per input element. Nothing else (relu, max_pool, add, ...).
def _fv_upsample(node: Node, ins: Shapes, out: tuple) -> int:
    per = {"nearest": 1, "bilinear": 4}.get(str(node.attrs.get("mode", "nearest")), 0)
    return per * _items(out)


FVCORE: dict[str, Rule] = {
    "conv": _macs, "conv_t": _macs, "fused_conv": _macs, "linear": _macs, "matmul": _macs,
    "bn": _per_affine(1, 2), "groupnorm": _per_affine(4, 5), "layernorm": _per_affine(4, 5),
    "instancenorm": _per_affine(4, 5), "upsample": _fv_upsample, "adaptive_avgpool": _in_items, "gap": _in_items,
}


# ------------------------------------------------------------------ ptflops 0.7.5 (pytorch backend)
# Module hooks: Conv / ConvTranspose / Linear multiply-adds + one per output element for a
# bias; ReLU, ReLU6, PReLU, ELU, LeakyReLU 1 per output element; every pool 1 per input
# element; BatchNorm / InstanceNorm / GroupNorm / LayerNorm 1 per input element, 2 with
# affine; Upsample 1 per output element; torch.matmul its multiply-adds. On top, its
# patched functionals count again when a module calls them: nn.ReLU -> F.relu, nn.PReLU,
# nn.ELU, every pool and nn.Upsample -> F.interpolate count twice; nn.GELU, nn.SiLU and
# nn.Softmax (no module hook) once through F.gelu / F.silu / F.softmax. nn.ReLU6 calls
# F.hardtanh and nn.LeakyReLU F.leaky_relu (not patched): once.
_PT_ACT_TIMES = {"relu": 2, "prelu": 2, "elu": 2, "relu6": 1, "leaky_relu": 1, "gelu": 1, "silu": 1}


def _pt_act(node: Node, ins: Shapes, out: tuple) -> int:
    return _PT_ACT_TIMES[node.op] * _items(out)


def _pt_conv(node: Node, ins: Shapes, out: tuple) -> int:
    extra = _items(out) if _has_bias(node) else 0
    if node.op == "fused_conv":  # the activation module after the conv
        extra += _PT_ACT_TIMES.get(str(node.attrs.get("act", "")), 0) * _items(out)
    return _macs(node, ins, out) + extra


def _pt_pool(node: Node, ins: Shapes, out: tuple) -> int:
    return 2 * _items(ins[0])


def _pt_upsample(node: Node, ins: Shapes, out: tuple) -> int:
    return 2 * _items(out)


PTFLOPS: dict[str, Rule] = {
    "conv": _pt_conv, "conv_t": _pt_conv, "fused_conv": _pt_conv, "linear": _pt_conv, "matmul": _macs,
    **{op: _pt_act for op in _PT_ACT_TIMES},
    **{op: _pt_pool for op in ("maxpool", "avgpool", "adaptive_avgpool", "adaptive_maxpool", "gap", "gmp")},
    "bn": _per_affine(1, 2), "instancenorm": _per_affine(1, 2), "groupnorm": _per_affine(1, 2),
    "layernorm": _per_affine(1, 2), "upsample": _pt_upsample, "softmax": _in_items,
}


# ------------------------------------------------------------------ thop 0.1.1
# register_hooks: ConvNd (also transposed): output elements * C_in/groups * kernel area
# (no bias); BatchNorm / LayerNorm / InstanceNorm 2 per input element, x2 with affine;
# PReLU 1 per element; AvgPool 1 per output element; AdaptiveAvgPool (in/out area + 1)
# per output element; Linear in_features per output element; Upsample per output element
# 1 (nearest), 5 (linear), 11 (bilinear); Softmax 3n-1 per row. ReLU, MaxPool: 0.
def _th_conv(node: Node, ins: Shapes, out: tuple) -> int:
    return _items(out) * (int(ins[0][1]) // int(node.attrs.get("groups", 1))) * numel(tuple(node.attrs["kernel"]))


def _th_adaptive_avg(node: Node, ins: Shapes, out: tuple) -> int:
    kernel = float(_spatial(ins[0])) / float(_spatial(out) or 1)
    return int((kernel + 1) * _items(out))


def _th_linear(node: Node, ins: Shapes, out: tuple) -> int:
    return int(ins[0][-1]) * _items(out)


def _th_upsample(node: Node, ins: Shapes, out: tuple) -> int:
    return {"nearest": 1, "linear": 5, "bilinear": 11}.get(str(node.attrs.get("mode", "nearest")), 0) * _items(out)


def _th_softmax(node: Node, ins: Shapes, out: tuple) -> int:
    axis = int(node.attrs.get("axis", 1)) % len(ins[0])
    n = int(ins[0][axis])
    return _items(ins[0]) // n * (3 * n - 1)


THOP: dict[str, Rule] = {
    "conv": _th_conv, "conv_t": _th_conv, "fused_conv": _th_conv,
    "bn": _per_affine(2, 4), "layernorm": _per_affine(2, 4), "instancenorm": _per_affine(2, 4),
    "prelu": _in_items, "avgpool": _out_items, "adaptive_avgpool": _th_adaptive_avg, "gap": _th_adaptive_avg,
    "linear": _th_linear, "upsample": _th_upsample, "softmax": _th_softmax,
}


@dataclass(frozen=True)
class ToolConvention:
    name: str
    figure: str  # what the tool calls its total
    call: str  # how the figure was obtained
    rules: dict[str, Rule]

    def count(self, node: Node, ins: Shapes) -> int | None:
        """The tool's count for one node, per batch item; None when a shape is unknown."""
        out = node.meta.get("shape")
        rule = self.rules.get(node.op)
        if rule is None:
            return 0
        if out is None or any(s is None for s in ins):
            return None
        return int(rule(node, ins, tuple(out)))


CONVENTIONS: dict[str, ToolConvention] = {
    "torchinfo": ToolConvention("torchinfo", "Total mult-adds", "torchinfo.summary(model, input_size).total_mult_adds",
                                TORCHINFO),
    "fvcore": ToolConvention("fvcore", "flops", "fvcore.nn.FlopCountAnalysis(model.eval(), x).total()", FVCORE),
    "ptflops": ToolConvention("ptflops", "MACs", "ptflops.get_model_complexity_info(model, (C, H, W)) "
                              "(pytorch backend, per item)", PTFLOPS),
    "thop": ToolConvention("thop", "ops", "thop.profile(model, inputs=(x,))[0]", THOP),
}


def tool_counts(graph, tool: str) -> dict[str, int | None]:
    """Node name -> the tool's count per batch item (graph annotated by the analysis passes)."""
    from cnndsl.diagnostics import CnnError, did_you_mean

    conv = CONVENTIONS.get(tool)
    if conv is None:
        raise CnnError(f"unknown convention '{tool}'{did_you_mean(tool, CONVENTIONS)}; "
                       f"choose one of {', '.join(CONVENTIONS)}")
    out = {}
    for node in graph.topo():
        if node.op == "input":
            continue
        out[node.name] = conv.count(node, [graph.value_shape(r) for r in node.inputs])
    return out


__all__ = ["CONVENTIONS", "ToolConvention", "tool_counts"]
