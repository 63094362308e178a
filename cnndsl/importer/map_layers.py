"""Mapping rows for layers: convolutions, linear layers, batch/layer/L2 norms, pools and
activations (the `MAPPINGS` table is in mapping.py)."""

from __future__ import annotations

import math

import numpy as np

from .onnx_attrs import momentum, num, pads_attr, pair, spatial, weight
from .stage import Unsupported


def _conv(ctx, node):
    k = spatial(ctx, node, "Conv")
    n = len(k)
    w = weight(ctx, node, 1, "weight")
    stride = node.attrs.get("strides", [1] * n)
    dil = node.attrs.get("dilations", [1] * n)
    pads = node.attrs.get("pads", [0] * (2 * n))
    attrs = {"out": int(w.shape[0]), "kernel": pair(k)}
    if pair(stride) != 1:
        attrs["stride"] = pair(stride)
    default = [d * (kk - 1) // 2 for d, kk in zip(dil, k)]
    if [int(p) for p in pads] != default * 2:
        attrs["padding"] = pads_attr(pads, n)
    if pair(dil) != 1:
        attrs["dilation"] = pair(dil)
    if int(node.attrs.get("group", 1)) != 1:
        attrs["groups"] = int(node.attrs["group"])
    return _weighted_stage(ctx, node, "conv", attrs, w)


def _conv_t(ctx, node):
    k = spatial(ctx, node, "ConvTranspose")
    n = len(k)
    w = weight(ctx, node, 1, "weight")
    if "output_shape" in node.attrs:
        raise Unsupported(node, "output_shape (export with pads and output_padding)")
    pads = [int(p) for p in node.attrs.get("pads", [0] * (2 * n))]
    if pads[:n] != pads[n:]:
        raise Unsupported(node, f"asymmetric pads {pads} (conv_t pads both sides alike)")
    g = int(node.attrs.get("group", 1))
    attrs = {"out": int(w.shape[1]) * g, "kernel": pair(k)}
    for key, onnx_key, dflt in (("stride", "strides", 1), ("padding", None, 0), ("output_padding", "output_padding", 0),
                                ("dilation", "dilations", 1)):
        v = pair(pads[:n]) if onnx_key is None else pair(node.attrs.get(onnx_key, [dflt] * n))
        if v != dflt:
            attrs[key] = v
    if g != 1:
        attrs["groups"] = g
    return _weighted_stage(ctx, node, "conv_t", attrs, w)


def _weighted_stage(ctx, node, op: str, attrs: dict, w):
    """A conv or conv_t stage: its weight (input 1) and its bias (input 2, when given; `bias=false` otherwise)."""
    params = {"weight": w}
    has_bias = len(node.inputs) > 2 and node.inputs[2]
    if has_bias:
        params["bias"] = weight(ctx, node, 2, "bias")
    else:
        attrs["bias"] = False
    return ctx.stage(op, attrs, node, [node.inputs[0]], params,
                     {"weight": node.inputs[1], "bias": node.inputs[2] if has_bias else ""})


def _gemm(ctx, node):
    a = node.attrs
    if a.get("transA", 0) or float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0:
        raise Unsupported(node, "Gemm with transA, alpha or beta (only x @ W^T + b is a linear layer)")
    w = weight(ctx, node, 1, "weight")
    w = w if a.get("transB", 0) else w.T
    params = {"weight": np.ascontiguousarray(w)}
    attrs = {"out": int(w.shape[0])}
    has_bias = len(node.inputs) > 2 and node.inputs[2]
    if has_bias:
        b = weight(ctx, node, 2, "bias")
        if b.size != w.shape[0]:
            raise Unsupported(node, f"bias of shape {list(b.shape)} (a linear layer's bias is [{w.shape[0]}])")
        params["bias"] = b.reshape(-1)
    else:
        attrs["bias"] = False
    return ctx.stage("linear", attrs, node, [node.inputs[0]], params,
                     {"weight": node.inputs[1], "bias": node.inputs[2] if has_bias else ""})


def _matmul(ctx, node):
    if ctx.has_const(node.inputs[1]) and not ctx.has_const(node.inputs[0]):
        w = ctx.const(node.inputs[1])
        if w.ndim != 2:
            raise Unsupported(node, f"MatMul with a constant of rank {w.ndim}")
        params = {"weight": np.ascontiguousarray(w.T)}
        attrs = {"out": int(w.shape[1])}
        bias = node.attrs.get("_bias")
        if bias:
            params["bias"] = ctx.const(bias).reshape(-1)
        else:
            attrs["bias"] = False
        return ctx.stage("linear", attrs, node, [node.inputs[0]], params,
                         {"weight": node.inputs[1], "bias": bias or ""})
    if any(ctx.has_const(i) for i in node.inputs):
        raise Unsupported(node, "MatMul with a constant left operand")
    return ctx.stage("matmul", {}, node, list(node.inputs))


def _bn(ctx, node):
    scale, bias, mean, var = (weight(ctx, node, i, w) for i, w in
                              enumerate(("scale", "bias", "mean", "variance"), start=1))
    if node.attrs.get("training_mode", 0):
        raise Unsupported(node, "BatchNormalization in training mode")
    attrs = {}
    eps = float(np.float32(node.attrs.get("epsilon", 1e-5)))
    if not math.isclose(eps, 1e-5, rel_tol=1e-6):
        attrs["eps"] = num(eps)
    m = momentum(node.attrs.get("momentum", 0.9))
    if not math.isclose(m, 0.1, rel_tol=1e-5):
        attrs["momentum"] = num(m)
    if node.name in ctx.om.frozen_bn:
        attrs["frozen"] = True
    params = {"running_mean": mean, "running_var": var}
    src = {"running_mean": node.inputs[3], "running_var": node.inputs[4]}
    affine = not (node.inputs[1].endswith("/scale") and np.all(scale == 1) and np.all(bias == 0))
    if affine:
        params.update(weight=scale, bias=bias)
        src.update(weight=node.inputs[1], bias=node.inputs[2])
    else:
        attrs["affine"] = False
    return ctx.stage("bn", attrs, node, [node.inputs[0]], params, src)


def _simple(op):
    def fn(ctx, node):
        return ctx.stage(op, {}, node, [node.inputs[0]])
    return fn


def _leaky(ctx, node):
    alpha = num(node.attrs.get("alpha", 0.01))
    return ctx.stage("leaky_relu", {} if alpha == 0.01 else {"slope": alpha}, node, [node.inputs[0]])


def _elu(ctx, node):
    alpha = num(node.attrs.get("alpha", 1.0))
    return ctx.stage("elu", {} if alpha == 1.0 else {"alpha": alpha}, node, [node.inputs[0]])


def _prelu(ctx, node):
    w = weight(ctx, node, 1, "slope").reshape(-1)
    attrs = {} if w.size == 1 else {"num_parameters": int(w.size)}
    return ctx.stage("prelu", attrs, node, [node.inputs[0]], {"weight": w}, {"weight": node.inputs[1]})


def _clip(ctx, node):
    lo = node.attrs.get("min")
    hi = node.attrs.get("max")
    if len(node.inputs) > 1 and node.inputs[1]:
        lo = float(weight(ctx, node, 1, "min"))
    if len(node.inputs) > 2 and node.inputs[2]:
        hi = float(weight(ctx, node, 2, "max"))
    if lo == 0.0 and hi == 6.0:
        return ctx.stage("relu6", {}, node, [node.inputs[0]])
    attrs = {}
    if lo is not None:
        attrs["min"] = num(lo)
    if hi is not None:
        attrs["max"] = num(hi)
    return ctx.stage("clamp", attrs, node, [node.inputs[0]])


def _hsigmoid(ctx, node):
    if not (math.isclose(node.attrs.get("alpha", 0.2), 1 / 6, rel_tol=1e-5)
            and math.isclose(node.attrs.get("beta", 0.5), 0.5)):
        raise Unsupported(node, "HardSigmoid with alpha/beta other than 1/6, 0.5 (PyTorch's Hardsigmoid)")
    return ctx.stage("hsigmoid", {}, node, [node.inputs[0]])


def _gelu(ctx, node):
    approx = node.attrs.get("approximate", "none")
    approx = approx.decode() if isinstance(approx, bytes) else approx
    return ctx.stage("gelu", {} if approx == "none" else {"approximate": approx}, node, [node.inputs[0]])


def _softmax(ctx, node):
    axis = int(node.attrs.get("axis", -1 if ctx.opset >= 13 else 1))
    rank = len(ctx.shape(node.inputs[0]))
    if ctx.opset < 13 and axis != rank - 1:
        raise Unsupported(node, "Softmax before opset 13 flattens from its axis (not a softmax over one axis)")
    axis = axis if axis >= 0 else axis + rank
    return ctx.stage("softmax", {} if axis == 1 else {"axis": axis}, node, [node.inputs[0]])


def _pool(op):
    def fn(ctx, node):
        k = spatial(ctx, node, node.op)
        n = len(k)
        stride = pair(node.attrs.get("strides", [1] * n))
        attrs = {"kernel": pair(k)}
        if stride != attrs["kernel"]:
            attrs["stride"] = stride
        pads = pads_attr(node.attrs.get("pads", [0] * (2 * n)), n)
        if pads != 0:
            attrs["padding"] = pads
        if op == "maxpool" and pair(node.attrs.get("dilations", [1] * n)) != 1:
            attrs["dilation"] = pair(node.attrs["dilations"])
        if node.attrs.get("ceil_mode", 0):
            attrs["ceil_mode"] = True
        if op == "avgpool" and not node.attrs.get("count_include_pad", 0):
            attrs["count_include_pad"] = False
        if op == "maxpool" and len(node.outputs) > 1 and node.outputs[1]:
            raise Unsupported(node, "MaxPool with indices")
        return ctx.stage(op, attrs, node, [node.inputs[0]])
    return fn


def _layernorm(ctx, node):
    rank = len(ctx.shape(node.inputs[0]))
    axis = int(node.attrs.get("axis", -1))
    axis = axis if axis >= 0 else axis + rank
    if axis != rank - 1 and not node.attrs.get("_one_axis"):
        raise Unsupported(node, "LayerNormalization over several trailing axes (cnndsl normalizes one axis)")
    attrs = {}
    eps = num(node.attrs.get("epsilon", 1e-5))
    if eps != 1e-6:
        attrs["eps"] = eps
    attrs["axis"] = -1 if axis == rank - 1 and axis != 1 else axis
    if attrs["axis"] == 1:
        del attrs["axis"]
    params, src = {}, {}
    if len(node.inputs) > 1 and node.inputs[1]:
        params["weight"] = weight(ctx, node, 1, "scale").reshape(-1)
        src["weight"] = node.inputs[1]
    if len(node.inputs) > 2 and node.inputs[2]:
        params["bias"] = weight(ctx, node, 2, "bias").reshape(-1)
        src["bias"] = node.inputs[2]
    elif params:  # a scale without a shift: the shift is zeros
        params["bias"] = np.zeros_like(params["weight"])
    if not params:
        attrs["affine"] = False
    return ctx.stage("layernorm", attrs, node, [node.inputs[0]], params, src)


def _l2norm(ctx, node):
    rank = len(ctx.shape(node.inputs[0]))
    attrs = {}
    if node.attrs["axis"] != 1:
        attrs["axis"] = node.attrs["axis"] if node.attrs["axis"] != rank - 1 else -1
    eps = num(node.attrs["eps"])
    if eps != 1e-12:
        attrs["eps"] = eps
    if len(node.inputs) < 2:
        return ctx.stage("l2norm", attrs, node, [node.inputs[0]])
    w = weight(ctx, node, 1, "scale").reshape(-1)
    attrs["scale"] = num(float(w[0])) if np.all(w == w[0]) else 1.0  # the init value; the weights are loaded
    return ctx.stage("l2norm", attrs, node, [node.inputs[0]], {"": w}, {"": node.inputs[1]})
