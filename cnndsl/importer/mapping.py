"""ONNX op -> cnndsl op, one row per ONNX op type (`MAPPINGS`).

A row is `fn(ctx, node) -> Stage | None`: it reads constants (`ctx.const`), shapes
(`ctx.shape`), and returns the stage, or None when the node is an alias (Identity). A node
it cannot express raises `Unsupported` with the reason; the importer collects them all.
Multi-node idioms (SiLU, GELU, HardSwish, channel shuffle, MatMul + bias) were fused into
pseudo-nodes by `fuse.py` before this table runs.
"""

from __future__ import annotations

import math

import numpy as np

from .stage import Unsupported

INT64_MAX = 2**63 - 1


def _pair(v):
    v = [int(x) for x in v]
    return v[0] if len(set(v)) == 1 else tuple(v)


def _pads(pads, n):
    pads = [int(p) for p in pads] if pads else [0] * (2 * n)
    begin, end = pads[:n], pads[n:]
    if begin == end:
        return _pair(begin)
    return tuple(begin + end)


def _spatial(ctx, node, what: str):
    k = node.attrs.get("kernel_shape")
    if k is None and len(node.inputs) > 1 and ctx.has_const(node.inputs[1]):
        k = ctx.const(node.inputs[1]).shape[2:]
    if k is None or not 1 <= len(k) <= 3:
        raise Unsupported(node, f"{what} over {len(k) if k is not None else '?'} spatial axes "
                                "(cnndsl's windows are 1-D, 2-D or 3-D)")
    if node.attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise Unsupported(node, f"auto_pad={node.attrs['auto_pad']!r} (export with explicit pads)")
    return [int(x) for x in k]


def _weight(ctx, node, i: int, what: str):
    if not ctx.has_const(node.inputs[i]):
        raise Unsupported(node, f"its {what} is computed, not a constant")
    return ctx.const(node.inputs[i])


def _conv(ctx, node):
    k = _spatial(ctx, node, "Conv")
    n = len(k)
    w = _weight(ctx, node, 1, "weight")
    stride = node.attrs.get("strides", [1] * n)
    dil = node.attrs.get("dilations", [1] * n)
    pads = node.attrs.get("pads", [0] * (2 * n))
    attrs = {"out": int(w.shape[0]), "kernel": _pair(k)}
    if _pair(stride) != 1:
        attrs["stride"] = _pair(stride)
    default = [d * (kk - 1) // 2 for d, kk in zip(dil, k)]
    if [int(p) for p in pads] != default * 2:
        attrs["padding"] = _pads(pads, n)
    if _pair(dil) != 1:
        attrs["dilation"] = _pair(dil)
    if int(node.attrs.get("group", 1)) != 1:
        attrs["groups"] = int(node.attrs["group"])
    params = {"weight": w}
    has_bias = len(node.inputs) > 2 and node.inputs[2]
    if has_bias:
        params["bias"] = _weight(ctx, node, 2, "bias")
    else:
        attrs["bias"] = False
    return ctx.stage("conv", attrs, node, [node.inputs[0]], params,
                     {"weight": node.inputs[1], "bias": node.inputs[2] if has_bias else ""})


def _conv_t(ctx, node):
    k = _spatial(ctx, node, "ConvTranspose")
    n = len(k)
    w = _weight(ctx, node, 1, "weight")
    if "output_shape" in node.attrs:
        raise Unsupported(node, "output_shape (export with pads and output_padding)")
    pads = [int(p) for p in node.attrs.get("pads", [0] * (2 * n))]
    if pads[:n] != pads[n:]:
        raise Unsupported(node, f"asymmetric pads {pads} (conv_t pads both sides alike)")
    g = int(node.attrs.get("group", 1))
    attrs = {"out": int(w.shape[1]) * g, "kernel": _pair(k)}
    for key, onnx_key, dflt in (("stride", "strides", 1), ("padding", None, 0), ("output_padding", "output_padding", 0),
                                ("dilation", "dilations", 1)):
        v = _pair(pads[:n]) if onnx_key is None else _pair(node.attrs.get(onnx_key, [dflt] * n))
        if v != dflt:
            attrs[key] = v
    if g != 1:
        attrs["groups"] = g
    params = {"weight": w}
    has_bias = len(node.inputs) > 2 and node.inputs[2]
    if has_bias:
        params["bias"] = _weight(ctx, node, 2, "bias")
    else:
        attrs["bias"] = False
    return ctx.stage("conv_t", attrs, node, [node.inputs[0]], params,
                     {"weight": node.inputs[1], "bias": node.inputs[2] if has_bias else ""})


def _gemm(ctx, node):
    a = node.attrs
    if a.get("transA", 0) or float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0:
        raise Unsupported(node, "Gemm with transA, alpha or beta (only x @ W^T + b is a linear layer)")
    w = _weight(ctx, node, 1, "weight")
    w = w if a.get("transB", 0) else w.T
    params = {"weight": np.ascontiguousarray(w)}
    attrs = {"out": int(w.shape[0])}
    has_bias = len(node.inputs) > 2 and node.inputs[2]
    if has_bias:
        b = _weight(ctx, node, 2, "bias")
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
    scale, bias, mean, var = (_weight(ctx, node, i, w) for i, w in
                              enumerate(("scale", "bias", "mean", "variance"), start=1))
    if node.attrs.get("training_mode", 0):
        raise Unsupported(node, "BatchNormalization in training mode")
    attrs = {}
    eps = float(np.float32(node.attrs.get("epsilon", 1e-5)))
    if not math.isclose(eps, 1e-5, rel_tol=1e-6):
        attrs["eps"] = _num(eps)
    momentum = _momentum(node.attrs.get("momentum", 0.9))
    if not math.isclose(momentum, 0.1, rel_tol=1e-5):
        attrs["momentum"] = _num(momentum)
    params = {"running_mean": mean, "running_var": var}
    src = {"running_mean": node.inputs[3], "running_var": node.inputs[4]}
    affine = not (node.inputs[1].endswith("/scale") and np.all(scale == 1) and np.all(bias == 0))
    if affine:
        params.update(weight=scale, bias=bias)
        src.update(weight=node.inputs[1], bias=node.inputs[2])
    else:
        attrs["affine"] = False
    return ctx.stage("bn", attrs, node, [node.inputs[0]], params, src)


def _momentum(onnx_momentum: float) -> float:
    """PyTorch's momentum m from ONNX's 1 - m (a float32): the shortest decimal m that gives it back."""
    target = np.float32(onnx_momentum)
    for digits in range(1, 18):
        m = float(f"{1.0 - float(target):.{digits}g}")
        if np.float32(1.0 - m) == target:
            return m
    return 1.0 - float(target)


def _num(v: float):
    """A float as the shortest decimal that reads back to the same float32."""
    f = float(np.float32(v))
    for digits in range(1, 18):
        s = float(f"{f:.{digits}g}")
        if float(np.float32(s)) == f:
            return s
    return f


def _simple(op):
    def fn(ctx, node):
        return ctx.stage(op, {}, node, [node.inputs[0]])
    return fn


def _leaky(ctx, node):
    alpha = _num(node.attrs.get("alpha", 0.01))
    return ctx.stage("leaky_relu", {} if alpha == 0.01 else {"slope": alpha}, node, [node.inputs[0]])


def _elu(ctx, node):
    alpha = _num(node.attrs.get("alpha", 1.0))
    return ctx.stage("elu", {} if alpha == 1.0 else {"alpha": alpha}, node, [node.inputs[0]])


def _prelu(ctx, node):
    w = _weight(ctx, node, 1, "slope").reshape(-1)
    attrs = {} if w.size == 1 else {"num_parameters": int(w.size)}
    return ctx.stage("prelu", attrs, node, [node.inputs[0]], {"weight": w}, {"weight": node.inputs[1]})


def _clip(ctx, node):
    lo = node.attrs.get("min")
    hi = node.attrs.get("max")
    if len(node.inputs) > 1 and node.inputs[1]:
        lo = float(_weight(ctx, node, 1, "min"))
    if len(node.inputs) > 2 and node.inputs[2]:
        hi = float(_weight(ctx, node, 2, "max"))
    if lo == 0.0 and hi == 6.0:
        return ctx.stage("relu6", {}, node, [node.inputs[0]])
    attrs = {}
    if lo is not None:
        attrs["min"] = _num(lo)
    if hi is not None:
        attrs["max"] = _num(hi)
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
        k = _spatial(ctx, node, node.op)
        n = len(k)
        stride = _pair(node.attrs.get("strides", [1] * n))
        attrs = {"kernel": _pair(k)}
        if stride != attrs["kernel"]:
            attrs["stride"] = stride
        pads = _pads(node.attrs.get("pads", [0] * (2 * n)), n)
        if pads != 0:
            attrs["padding"] = pads
        if op == "maxpool" and _pair(node.attrs.get("dilations", [1] * n)) != 1:
            attrs["dilation"] = _pair(node.attrs["dilations"])
        if node.attrs.get("ceil_mode", 0):
            attrs["ceil_mode"] = True
        if op == "avgpool" and not node.attrs.get("count_include_pad", 0):
            attrs["count_include_pad"] = False
        if op == "maxpool" and len(node.outputs) > 1 and node.outputs[1]:
            raise Unsupported(node, "MaxPool with indices")
        return ctx.stage(op, attrs, node, [node.inputs[0]])
    return fn


def _scalar(ctx, name):
    v = ctx.const(name)
    return _num(float(v.reshape(-1)[0])) if v.size == 1 else None


def _binary(op):
    """Add/Mul/Sub/Div/Pow: two tensors -> the merge; one scalar constant -> the scalar form."""
    def fn(ctx, node):
        a, b = node.inputs[:2]
        ca, cb = ctx.has_const(a), ctx.has_const(b)
        if not ca and not cb:
            return ctx.stage(op, {}, node, [a, b])
        if ca and cb:
            raise Unsupported(node, "both operands constant (not folded)")
        x, c, reverse = (b, a, True) if ca else (a, b, False)
        s = _scalar(ctx, c)
        if s is None:
            if op == "mul" and ctx.const(c).squeeze().ndim == 1 and ctx.scope_of_const(c):
                return _layer_scale(ctx, node, x, c)
            raise Unsupported(node, f"{node.op} with a constant tensor of shape {list(ctx.const(c).shape)} "
                                    "(cnndsl has no constant-tensor operand; only scalars and learned layers)")
        if op == "add":
            return ctx.stage("add_scalar", {"offset": s}, node, [x])
        if op == "mul":
            return ctx.stage("mul_scalar", {"factor": s}, node, [x])
        if op == "sub" and not reverse:
            return ctx.stage("add_scalar", {"offset": _num(-s)}, node, [x])
        attrs = {"scalar": s}
        if reverse:
            attrs["reverse"] = True
        return ctx.stage(op, attrs, node, [x])
    return fn


def _layer_scale(ctx, node, x, c):
    w = ctx.const(c)
    shape = ctx.shape(x)
    if w.ndim != 3 or w.shape[1:] != (1, 1) or len(shape) > 1 and shape[1] != w.shape[0]:
        raise Unsupported(node, f"Mul by a constant of shape {list(w.shape)}")
    return ctx.stage("layer_scale", {}, node, [x], {"": w}, {"": c})


def _concat(ctx, node):
    rank = len(ctx.shape(node.inputs[0]))
    axis = int(node.attrs["axis"])
    axis = axis if axis >= 0 else axis + rank
    return ctx.stage("concat", {} if axis == 1 else {"axis": axis}, node, list(node.inputs))


def _flatten(ctx, node):
    axis = int(node.attrs.get("axis", 1))
    if axis < 1:
        raise Unsupported(node, f"Flatten at axis {axis} (would merge the batch)")
    return ctx.stage("flatten", {} if axis == 1 else {"start": axis}, node, [node.inputs[0]])


def _reshape(ctx, node):
    if not ctx.has_const(node.inputs[1]):
        raise Unsupported(node, "its target shape is computed and its output shape is unknown")
    t = [int(v) for v in ctx.const(node.inputs[1])]
    in_shape = ctx.shape(node.inputs[0])
    if not t or t[0] not in (0, -1) and t[0] != in_shape[0]:
        raise Unsupported(node, f"Reshape to {t} changes the batch axis")
    rest = t[1:]
    zeros = 0
    while zeros < len(rest) and rest[zeros] == 0:
        zeros += 1
    if rest[zeros:] == [-1] and rest:
        return ctx.stage("flatten", {} if zeros == 0 else {"start": zeros + 1}, node, [node.inputs[0]])
    rest = [int(in_shape[i + 1]) if v == 0 else v for i, v in enumerate(rest)]
    return ctx.stage("reshape", {"shape": tuple(rest)}, node, [node.inputs[0]])


def _transpose(ctx, node):
    perm = [int(p) for p in node.attrs["perm"]]
    perm = [p % len(perm) for p in perm]  # torch.onnx passes permute(0, -1, 1, 2) through as written
    return ctx.stage("transpose", {"axes": tuple(perm)}, node, [node.inputs[0]])


def _split(ctx, node):
    rank = len(ctx.shape(node.inputs[0]))
    axis = int(node.attrs.get("axis", 0))
    axis = axis if axis >= 0 else axis + rank
    if len(node.inputs) > 1 and node.inputs[1]:
        sizes = [int(v) for v in _weight(ctx, node, 1, "split")]
    elif "split" in node.attrs:
        sizes = [int(v) for v in node.attrs["split"]]
    else:
        n = len(node.outputs)
        sizes = [int(ctx.shape(node.inputs[0])[axis]) // n] * n
    ax = {} if axis == 1 else {"axis": axis}
    if len(set(sizes)) == 1:
        return ctx.stage("chunk", {"chunks": len(sizes), **ax}, node, [node.inputs[0]])
    return ctx.stage("split", {"sizes": tuple(sizes), **ax}, node, [node.inputs[0]])


def _slice(ctx, node):
    starts = [int(v) for v in _weight(ctx, node, 1, "starts")]
    ends = [int(v) for v in _weight(ctx, node, 2, "ends")]
    rank = len(ctx.shape(node.inputs[0]))
    axes = [int(v) for v in _weight(ctx, node, 3, "axes")] if len(node.inputs) > 3 and node.inputs[3] \
        else list(range(len(starts)))
    steps = [int(v) for v in _weight(ctx, node, 4, "steps")] if len(node.inputs) > 4 and node.inputs[4] \
        else [1] * len(starts)
    if len(axes) != 1:
        raise Unsupported(node, f"Slice over {len(axes)} axes at once (one slice stage per axis)")
    axis = axes[0] if axes[0] >= 0 else axes[0] + rank
    size = ctx.shape(node.inputs[0])[axis]
    if axis == 0:
        raise Unsupported(node, "Slice along the batch axis")
    stop = None if ends[0] >= INT64_MAX // 2 or (isinstance(size, int) and ends[0] >= size) else ends[0]
    attrs = {"axis": axis}
    if starts[0]:
        attrs["start"] = starts[0]
    attrs["stop"] = stop
    if steps[0] != 1:
        attrs["step"] = steps[0]
    if stop is None:
        del attrs["stop"]
    return ctx.stage("slice", attrs, node, [node.inputs[0]])


def _pad(ctx, node):
    pads = [int(v) for v in (_weight(ctx, node, 1, "pads") if len(node.inputs) > 1 else node.attrs["pads"])]
    rank = len(pads) // 2
    if not 3 <= rank <= 5 or any(pads[i] or pads[i + rank] for i in (0, 1)):
        raise Unsupported(node, f"Pad {pads} (cnndsl pads the spatial axes of NCL, NCHW or NCDHW)")
    mode = node.attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}.get(mode)
    if mode is None:
        raise Unsupported(node, f"Pad mode {node.attrs.get('mode')!r}")
    attrs = {"padding": tuple(pads[2:rank] + pads[rank + 2:])}
    if mode != "constant":
        attrs["mode"] = mode
    if len(node.inputs) > 2 and node.inputs[2]:
        v = float(_weight(ctx, node, 2, "value"))
        if v != 0.0:
            attrs["value"] = _num(v)
    return ctx.stage("pad", attrs, node, [node.inputs[0]])


def _reduce(op, default_axes):
    def fn(ctx, node):
        rank = len(ctx.shape(node.inputs[0]))
        if len(node.inputs) > 1 and node.inputs[1]:
            axes = [int(v) for v in _weight(ctx, node, 1, "axes")]
        else:
            axes = [int(v) for v in node.attrs.get("axes", range(rank))]
        axes = tuple(sorted(a if a >= 0 else a + rank for a in axes))
        if 0 in axes:
            raise Unsupported(node, f"{node.op} over the batch axis")
        keep = bool(node.attrs.get("keepdims", 1))
        attrs = {}
        if axes != default_axes:
            attrs["axes"] = axes
        if keep:
            attrs["keepdims"] = True
        if op == "gap_or_mean" and axes == tuple(range(2, rank)) and keep and rank >= 3:
            return ctx.stage("gap", {}, node, [node.inputs[0]])
        return ctx.stage("mean" if op == "gap_or_mean" else op, attrs, node, [node.inputs[0]])
    return fn


def _resize(ctx, node):
    mode = node.attrs.get("mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    ctm = node.attrs.get("coordinate_transformation_mode", b"half_pixel")
    ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
    attrs = {}
    nd = len(ctx.shape(node.inputs[0])) - 2
    linear = {1: "linear", 2: "bilinear", 3: "trilinear"}.get(nd)
    if linear is None:
        raise Unsupported(node, f"Resize of a rank-{nd + 2} tensor (cnndsl upsamples NCL, NCHW or NCDHW)")
    if mode == "nearest":
        nm = node.attrs.get("nearest_mode", b"round_prefer_floor")
        nm = nm.decode() if isinstance(nm, bytes) else nm
        if ctm != "asymmetric" or nm != "floor":
            raise Unsupported(node, f"nearest Resize with {ctm}/{nm} (PyTorch's nearest is asymmetric/floor)")
    elif mode == "linear":
        if ctm in ("pytorch_half_pixel", "half_pixel"):
            attrs["mode"] = linear
        elif ctm == "align_corners":
            attrs.update(mode=linear, align_corners=True)
        else:
            raise Unsupported(node, f"linear Resize with coordinate_transformation_mode={ctm}")
    else:
        raise Unsupported(node, f"Resize mode {mode}")
    ins = node.inputs
    scales = ctx.const(ins[2]) if len(ins) > 2 and ins[2] and ctx.has_const(ins[2]) else None
    sizes = ctx.const(ins[3]) if len(ins) > 3 and ins[3] and ctx.has_const(ins[3]) else None
    if node.op == "Upsample":
        scales = ctx.const(ins[1]) if ctx.has_const(ins[1]) else None
    if scales is not None and scales.size:
        s = [float(v) for v in scales][2:]
        s = [int(v) if float(v).is_integer() else _num(v) for v in s]
        attrs = {"scale": s[0] if len(set(s)) == 1 else tuple(s), **attrs}
    else:
        out = ctx.shape(node.outputs[0])
        if sizes is None and not out:
            raise Unsupported(node, "Resize with computed sizes")
        hw = [int(v) for v in (sizes[2:] if sizes is not None else out[2:])]
        attrs = {"size": tuple(hw), **attrs}
    return ctx.stage("upsample", attrs, node, [ins[0]])


def _layernorm(ctx, node):
    rank = len(ctx.shape(node.inputs[0]))
    axis = int(node.attrs.get("axis", -1))
    axis = axis if axis >= 0 else axis + rank
    if axis != rank - 1 and not node.attrs.get("_one_axis"):
        raise Unsupported(node, "LayerNormalization over several trailing axes (cnndsl normalizes one axis)")
    attrs = {}
    eps = _num(node.attrs.get("epsilon", 1e-5))
    if eps != 1e-6:
        attrs["eps"] = eps
    attrs["axis"] = -1 if axis == rank - 1 and axis != 1 else axis
    if attrs["axis"] == 1:
        del attrs["axis"]
    params, src = {}, {}
    if len(node.inputs) > 1 and node.inputs[1]:
        params["weight"] = _weight(ctx, node, 1, "scale").reshape(-1)
        src["weight"] = node.inputs[1]
    if len(node.inputs) > 2 and node.inputs[2]:
        params["bias"] = _weight(ctx, node, 2, "bias").reshape(-1)
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
    eps = _num(node.attrs["eps"])
    if eps != 1e-12:
        attrs["eps"] = eps
    if len(node.inputs) < 2:
        return ctx.stage("l2norm", attrs, node, [node.inputs[0]])
    w = _weight(ctx, node, 1, "scale").reshape(-1)
    attrs["scale"] = _num(float(w[0])) if np.all(w == w[0]) else 1.0  # the init value; the weights are loaded
    return ctx.stage("l2norm", attrs, node, [node.inputs[0]], {"": w}, {"": node.inputs[1]})


def _dropout(ctx, node):
    p = node.attrs.get("ratio", 0.5)
    if len(node.inputs) > 1 and node.inputs[1]:
        p = float(_weight(ctx, node, 1, "ratio"))
    p = _num(p)
    return ctx.stage("dropout", {} if p == 0.5 else {"p": p}, node, [node.inputs[0]])


def _identity(ctx, node):
    return None


def _channel_shuffle(ctx, node):
    return ctx.stage("channel_shuffle", {"groups": int(node.attrs["groups"])}, node, [node.inputs[0]])


MAPPINGS = {
    "Conv": _conv,
    "ConvTranspose": _conv_t,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _bn,
    "Relu": _simple("relu"),
    "Sigmoid": _simple("sigmoid"),
    "Tanh": _simple("tanh"),
    "LeakyRelu": _leaky,
    "Elu": _elu,
    "PRelu": _prelu,
    "Clip": _clip,
    "HardSigmoid": _hsigmoid,
    "HardSwish": _simple("hswish"),
    "Gelu": _gelu,
    "Softmax": _softmax,
    "MaxPool": _pool("maxpool"),
    "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": _simple("gap"),
    "GlobalMaxPool": _simple("gmp"),
    "Add": _binary("add"),
    "Sum": lambda ctx, node: ctx.stage("add", {}, node, list(node.inputs)),
    "Mul": _binary("mul"),
    "Sub": _binary("sub"),
    "Div": _binary("div"),
    "Pow": _binary("pow"),
    "Neg": _simple("neg"),
    "Sqrt": _simple("sqrt"),
    "Exp": _simple("exp"),
    "Log": _simple("log"),
    "Abs": _simple("abs"),
    "Concat": _concat,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Split": _split,
    "Slice": _slice,
    "Pad": _pad,
    "ReduceMean": _reduce("gap_or_mean", (2, 3)),
    "ReduceSum": _reduce("sum", (1,)),
    "ReduceMax": _reduce("max", (1,)),
    "ReduceL2": _reduce("norm", (1,)),
    "Resize": _resize,
    "Upsample": _resize,
    "LayerNormalization": _layernorm,
    "Dropout": _dropout,
    "Identity": _identity,
    # pseudo-ops made by fuse.py
    "cnndsl.SiLU": _simple("silu"),
    "cnndsl.HardSwish": _simple("hswish"),
    "cnndsl.Gelu": _gelu,
    "cnndsl.ChannelShuffle": _channel_shuffle,
    "cnndsl.LayerNorm": _layernorm,
    "cnndsl.L2Norm": _l2norm,
}

__all__ = ["MAPPINGS"]
