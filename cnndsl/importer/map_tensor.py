"""Mapping rows for tensor operations: arithmetic with scalars, concat/flatten/reshape/transpose,
split/slice/pad, reductions, resizing, dropout (the `MAPPINGS` table is in mapping.py)."""

from __future__ import annotations

from .onnx_attrs import INT64_MAX, num, weight
from .stage import Unsupported


def _scalar(ctx, name):
    v = ctx.const(name)
    return num(float(v.reshape(-1)[0])) if v.size == 1 else None


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
            return ctx.stage("add_scalar", {"offset": num(-s)}, node, [x])
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
        sizes = [int(v) for v in weight(ctx, node, 1, "split")]
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
    starts = [int(v) for v in weight(ctx, node, 1, "starts")]
    ends = [int(v) for v in weight(ctx, node, 2, "ends")]
    rank = len(ctx.shape(node.inputs[0]))
    axes = [int(v) for v in weight(ctx, node, 3, "axes")] if len(node.inputs) > 3 and node.inputs[3] \
        else list(range(len(starts)))
    steps = [int(v) for v in weight(ctx, node, 4, "steps")] if len(node.inputs) > 4 and node.inputs[4] \
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
    pads = [int(v) for v in (weight(ctx, node, 1, "pads") if len(node.inputs) > 1 else node.attrs["pads"])]
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
        v = float(weight(ctx, node, 2, "value"))
        if v != 0.0:
            attrs["value"] = num(v)
    return ctx.stage("pad", attrs, node, [node.inputs[0]])


def _reduce(op, default_axes):
    def fn(ctx, node):
        rank = len(ctx.shape(node.inputs[0]))
        if len(node.inputs) > 1 and node.inputs[1]:
            axes = [int(v) for v in weight(ctx, node, 1, "axes")]
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
        return ctx.stage(op, attrs, node, [node.inputs[0]])  # a spatial mean stays `mean` (`gap` exports as
        #                                                      GlobalAveragePool, which maps to `gap`)
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
    axes = [int(a) % (nd + 2) for a in node.attrs.get("axes", range(nd + 2))]  # opset 18: values for these axes
    if axes[-nd:] != list(range(2, nd + 2)) or any(a < 2 for a in axes[:-nd]):
        raise Unsupported(node, f"Resize over axes {axes} (cnndsl resizes the spatial axes)")
    skip = len(axes) - nd
    if scales is not None and scales.size:
        s = [float(v) for v in scales][skip:]
        s = [int(v) if float(v).is_integer() else num(v) for v in s]
        attrs = {"scale": s[0] if len(set(s)) == 1 else tuple(s), **attrs}
    else:
        out = ctx.shape(node.outputs[0])
        if sizes is None and not out:
            raise Unsupported(node, "Resize with computed sizes")
        hw = [int(v) for v in (sizes[skip:] if sizes is not None else out[2:])]
        attrs = {"size": tuple(hw), **attrs}
    return ctx.stage("upsample", attrs, node, [ins[0]])


def _dropout(ctx, node):
    p = node.attrs.get("ratio", 0.5)
    if len(node.inputs) > 1 and node.inputs[1]:
        p = float(weight(ctx, node, 1, "ratio"))
    p = num(p)
    return ctx.stage("dropout", {} if p == 0.5 else {"p": p}, node, [node.inputs[0]])
