"""The packed channel layout for CPU: activations NCHW[b]c, convolution weights OIHW[i]i[o]o.

A direct convolution in NCHW vectorizes along the output width, which is short (7, 14, 28)
and changes from stage to stage. Packing channels into blocks of `b` (16 = one AVX-512
register, 8 when 16 does not divide) makes the innermost axis of every activation a channel
block: the convolution broadcasts one input value and multiplies it by a vector of `b` output
channels' weights, register-blocked over a run of output columns (`cpu_schedule.py`). That is
the layout of oneDNN and TVM's old x86 `conv2d_NCHWc` schedule, and it reaches the machine's
FMA peak on every ResNet and MobileNet convolution shape (docs/performance.md).

This module decides per IR value whether it is packed, and lowers the ops that keep a packed
layout: convolutions (dense and depthwise, any stride, padding, dilation), the activations,
`add`/`mul`, unfolded batch norm, max/avg pooling, global average pooling and channel `concat`. Every other op sees
plain NCHW: its packed inputs are unpacked first (once per value), and graph outputs are
unpacked at the end. Values whose channel count has no block of 8 or 16 stay plain.

Weights are packed in numpy when embedded, by Relax reshape/transpose when they are `main`'s
parameters. The compute definitions are TE, emitted with `BlockBuilder.emit_te`; the block
names `conv2d_nchwc` / `depthwise_nchwc` are what the default schedule recognizes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from cnndsl.ops.registry import param_key

CONV_BLOCK = "conv2d_nchwc"
DEPTHWISE_BLOCK = "depthwise_nchwc"
PAD_BLOCK = "pad_nchwc"
SUBSAMPLE_BLOCK = "subsample_nchwc"  # a strided 1x1 conv's input positions (never inlined again)

# Elementwise ops that act the same on any layout (the activation of a fused conv included).
LAYOUT_FREE = frozenset({"relu", "relu6", "sigmoid", "tanh", "hsigmoid", "hswish", "silu", "gelu",
                         "leaky_relu", "elu", "identity", "dropout", "stochastic_depth"})
# Largest input-channel count a packed conv reads in place, as one chunk, when it has no block
# of 8 (RGB stems, SE excitation convs); more channels than that and the conv stays plain.
MAX_ODD_INPUT = 64


def block_of(channels: int, prefer: int = 16) -> int | None:
    """The channel block of a tensor with `channels` channels: `prefer` (the target's block,
    cpu_target.py: 16 on AVX-512, 8 on AVX2/SSE/NEON), else 8, else None (plain)."""
    for b in (prefer, 8):
        if b <= prefer and channels % b == 0:
            return b
    return None


def preferred_block(ctx) -> int:
    """The channel block of the lowering's target (16 when no target profile is set)."""
    return ctx.cpu.block if getattr(ctx, "cpu", None) is not None else 16


# ----------------------------------------------------------------------- TE computes
def _padded(te, tirx, data, pads):
    """data [N, Cc, H, W, b] (or plain [N, C, H, W]) zero-padded by (top, left, bottom, right);
    itself when unpadded."""
    pt, pl, pb, pr = pads
    if not any(pads):
        return data
    shape = list(data.shape)
    h, w = shape[2], shape[3]

    def value(i, c, y, x, *k):
        inside = tirx.all(y >= pt, y < h + pt, x >= pl, x < w + pl)
        return tirx.if_then_else(inside, data[(i, c, y - pt, x - pl, *k)], tirx.const(0.0, data.dtype))

    shape[2], shape[3] = h + pt + pb, w + pl + pr
    return te.compute(tuple(shape), value, name=PAD_BLOCK)


def _subsampled(te, data, stride):
    """The input positions a strided 1x1 conv reads, copied densely ([N, Cc, H/sh, W/sw, b] or
    plain [N, C, H/sh, W/sw]). Read in place, a stride-2 conv uses one pixel of each cache line
    and one row in two, and streams the whole input again for every block of output channels;
    the copy is a quarter of the input and stays in cache (ResNet-50's 1024->2048 downsample on
    AVX2: 57 -> 78 % of the FMA peak, 512->1024: 82 -> 93 %)."""
    sh, sw = stride
    shape = list(data.shape)
    shape[2], shape[3] = (int(shape[2]) - 1) // sh + 1, (int(shape[3]) - 1) // sw + 1
    return te.compute(tuple(shape), lambda i, c, y, x, *k: data[(i, c, y * sh, x * sw, *k)], name=SUBSAMPLE_BLOCK)


class _Window:
    """What a sliding window over `data` needs: the padded input, the output size, the
    (kh, kw) reduction axes, and `at(oy, ox)`: the input row and column of a window tap."""

    def __init__(self, data, kernel, stride, padding, dilation):
        from tvm import te, tirx

        (self.sh, self.sw), (self.dh, self.dw) = stride, dilation
        kh, kw = kernel
        self.xp = _padded(te, tirx, data, padding)
        hp, wp = int(self.xp.shape[2]), int(self.xp.shape[3])
        self.out_hw = ((hp - self.dh * (kh - 1) - 1) // self.sh + 1, (wp - self.dw * (kw - 1) - 1) // self.sw + 1)
        self.kh, self.kw = te.reduce_axis((0, kh), "kh"), te.reduce_axis((0, kw), "kw")

    def at(self, oy, ox):
        return oy * self.sh + self.kh * self.dh, ox * self.sw + self.kw * self.dw


def conv2d_nchwc(data, weight, stride, padding, dilation):
    """y[n, o, h, w, ob] = sum over (ic chunk, kh, kw, ic in chunk) of x * w, in that reduction order.

    data [N, Cc, H, W, ib], or plain [N, C, H, W] read as one chunk of C channels (an RGB
    input, which is then not copied into the packed layout first); weight [Oc, Cc, KH, KW, ib, ob];
    padding (top, left, bottom, right)."""
    from tvm import te

    oc, cc, kh, kw, ib, ob = (int(d) for d in weight.shape)
    if (kh, kw) == (1, 1) and tuple(stride) != (1, 1) and not any(padding):
        data, stride = _subsampled(te, data, stride), (1, 1)
    win = _Window(data, (kh, kw), stride, padding, dilation)
    xp = win.xp
    icc = te.reduce_axis((0, cc), "icc")
    icb = te.reduce_axis((0, ib), "icb")
    plain = len(data.shape) == 4

    def tap(i, o, y, x, k):
        r, c = win.at(y, x)
        v = xp[i, icb, r, c] if plain else xp[i, icc, r, c, icb]
        return v * weight[o, icc, win.kh, win.kw, icb, k]

    return te.compute((data.shape[0], oc, *win.out_hw, ob),
                      lambda *idx: te.sum(tap(*idx), axis=[icc, win.kh, win.kw, icb]), name=CONV_BLOCK)


def depthwise_nchwc(data, weight, stride, padding, dilation):
    """Depthwise: y[n, c, h, w, b] = sum over (kh, kw) of x[n, c, ., ., b] * w[c, kh, kw, b].

    data [N, Cc, H, W, b]; weight [Cc, KH, KW, b]."""
    from tvm import te

    cc, kh, kw, b = (int(d) for d in weight.shape)
    win = _Window(data, (kh, kw), stride, padding, dilation)

    def tap(i, c, y, x, k):
        r, col = win.at(y, x)
        return win.xp[i, c, r, col, k] * weight[c, win.kh, win.kw, k]

    return te.compute((data.shape[0], cc, *win.out_hw, b),
                      lambda *idx: te.sum(tap(*idx), axis=[win.kh, win.kw]), name=DEPTHWISE_BLOCK)


# ----------------------------------------------------------------------- lowering state
class Packing:
    """The packed values of one lowering: block size per value, and cached pack/unpack."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.block: dict[tuple[str, int], int] = {}  # value -> channel block (absent: plain)
        self._plain: dict[tuple[str, int], Any] = {}
        self._packed: dict[tuple[tuple[str, int], int], Any] = {}

    # -- layout changes ---------------------------------------------------------------
    def pack(self, x, b: int):
        """[N, C, H, W] -> [N, C/b, H, W, b]."""
        op = self.ctx.op
        n, c, h, w = x.ty.shape
        y = op.reshape(x, (n, int(c) // b, b, h, w))
        return self.ctx.emit(op.permute_dims(y, [0, 1, 3, 4, 2]))

    def unpack(self, x):
        """[N, Cc, H, W, b] -> [N, Cc*b, H, W]."""
        op = self.ctx.op
        n, cc, h, w, b = x.ty.shape
        y = op.permute_dims(x, [0, 1, 4, 2, 3])
        return self.ctx.emit(op.reshape(y, (n, int(cc) * int(b), h, w)))

    def plain(self, key, value):
        """The NCHW form of a value (unpacked once, however many plain consumers it has)."""
        if key not in self.block:
            return value
        if key not in self._plain:
            self._plain[key] = self.unpack(value)
        return self._plain[key]

    def packed(self, key, value, b: int):
        """The value packed with block b (from plain, once per (value, b))."""
        if self.block.get(key) == b:
            return value
        if (key, b) not in self._packed:
            self._packed[(key, b)] = self.pack(self.plain(key, value), b)
        return self._packed[(key, b)]

    # -- weights ----------------------------------------------------------------------
    def weight(self, node, name: str, pack_np: Callable, pack_relax: Callable):
        """A parameter in packed form: numpy-packed constant, or a Relax transform of `main`'s parameter."""
        ctx = self.ctx
        key = param_key(node.params_of, name)
        if ctx.param_vars is not None:
            return ctx.emit(pack_relax(ctx.op, ctx.param_vars[key]))
        packed = np.ascontiguousarray(pack_np(np.asarray(ctx.weights[key], dtype="float32")))
        form = (key, "packed", packed.shape)  # one weight, one block layout: one constant, shared or not
        if form not in ctx.consts:
            ctx.consts[form] = ctx.relax.const(packed)
        return ctx.consts[form]


# ----------------------------------------------------------------------- packed lowerings
# Each takes (pk, node, keys, xs) -- keys: the input value keys, xs: their current exprs --
# and returns (expr, block) for a packed result, or None to decline (the node is lowered plain).

def _in_channels(pk: Packing, key, x) -> int:
    shape = x.ty.shape
    return int(shape[1]) * int(shape[4]) if key in pk.block else int(shape[1])


def _conv_packed(pk: Packing, node, keys, xs):
    a = node.attrs
    x = xs[0]
    c_in = _in_channels(pk, keys[0], x)
    c_out, groups = int(a["out"]), int(a["groups"])
    ob = block_of(c_out, preferred_block(pk.ctx))
    if ob is None or len(node.meta["shape"]) != 4:
        return None
    ctx = pk.ctx
    kh, kw = a["kernel"]
    if groups == 1:
        ib = pk.block.get(keys[0]) or block_of(c_in, preferred_block(ctx))
        plain = ib is None
        if ib is not None:
            xin = pk.packed(keys[0], x, ib)
        elif c_in <= MAX_ODD_INPUT:
            ib, xin = c_in, pk.plain(keys[0], x)  # read in place, all channels one chunk
        else:
            return None
        cc, oc = c_in // ib, c_out // ob

        def np_pack(w):  # [O, I, KH, KW] -> [Oc, Ic, KH, KW, ib, ob]
            return w.reshape(oc, ob, cc, ib, kh, kw).transpose(0, 2, 4, 5, 3, 1)

        def relax_pack(op, w):
            return op.permute_dims(op.reshape(w, (oc, ob, cc, ib, kh, kw)), [0, 2, 4, 5, 3, 1])

        from .winograd import choose_tile, lower_packed

        m = choose_tile(ctx, node, c_in, c_out, plain_input=plain)
        if m:
            y = lower_packed(pk, node, xin, m, ib, ob)
        else:
            wt = pk.weight(node, "weight", np_pack, relax_pack)
            y = ctx.bb.emit_te(conv2d_nchwc, xin, wt, tuple(a["stride"]), tuple(a["padding"]),
                               tuple(a["dilation"]), primfunc_name_hint="conv2d_nchwc")
    elif groups == c_in == c_out:
        b = pk.block.get(keys[0]) or ob
        if c_in % b:
            return None
        ob = b
        xin = pk.packed(keys[0], x, b)

        def np_pack(w):  # [C, 1, KH, KW] -> [Cc, KH, KW, b]
            return w.reshape(c_in // b, b, kh, kw).transpose(0, 2, 3, 1)

        def relax_pack(op, w):
            return op.permute_dims(op.reshape(w, (c_in // b, b, kh, kw)), [0, 2, 3, 1])

        wt = pk.weight(node, "weight", np_pack, relax_pack)
        y = ctx.bb.emit_te(depthwise_nchwc, xin, wt, tuple(a["stride"]), tuple(a["padding"]),
                           tuple(a["dilation"]), primfunc_name_hint="depthwise_nchwc")
    else:
        return None  # grouped (not depthwise) convolutions stay plain
    if a["bias"]:
        bias = pk.weight(node, "bias", lambda v: v.reshape(1, c_out // ob, 1, 1, ob),
                         lambda op, v: op.reshape(v, (1, c_out // ob, 1, 1, ob)))
        y = ctx.emit(ctx.op.add(y, bias))
    return y, ob


def _fused_conv_packed(pk: Packing, node, keys, xs):
    from .lower import fused_activation

    if node.attrs["act"] not in LAYOUT_FREE:
        return None
    out = _conv_packed(pk, node, keys, xs)
    if out is None:
        return None
    y, b = out
    return fused_activation(pk.ctx, node, y), b


def _bn_packed(pk: Packing, node, keys, xs):
    """Inference batch norm left unfolded (pre-activation, as in DenseNet): x * scale + shift with
    scale = gamma / sqrt(var + eps), shift = beta - mean * scale, per channel of the block."""
    b = pk.block.get(keys[0])
    if b is None:
        return None
    ctx = pk.ctx
    a = node.attrs
    c = int(node.meta["shape"][1])
    shape = (1, c // b, 1, 1, b)
    eps = float(a["eps"])
    if ctx.param_vars is None:  # embedded: scale and shift folded in numpy
        def get(name, default):
            if name.startswith("running") or a["affine"]:
                return np.asarray(ctx.weights[param_key(node.params_of, name)], "float64")
            return np.full(c, default)

        scale = get("weight", 1.0) / np.sqrt(get("running_var", 0.0) + eps)
        shift = get("bias", 0.0) - get("running_mean", 0.0) * scale
        scale, shift = (ctx.relax.const(v.astype("float32").reshape(shape)) for v in (scale, shift))
    else:  # `main`'s parameters: the same arithmetic in Relax
        op = ctx.op

        def var(name):
            return op.reshape(ctx.param_vars[param_key(node.params_of, name)], shape)

        gamma = var("weight") if a["affine"] else ctx.f32(1.0)
        scale = ctx.emit(op.divide(gamma, op.sqrt(op.add(var("running_var"), ctx.f32(eps)))))
        shift = op.negative(op.multiply(var("running_mean"), scale))
        shift = ctx.emit(op.add(var("bias"), shift) if a["affine"] else shift)
    return ctx.emit(ctx.op.add(ctx.op.multiply(xs[0], scale), shift)), b


def _same_blocks(pk: Packing, keys) -> int | None:
    blocks = {pk.block.get(k) for k in keys}
    return blocks.pop() if len(blocks) == 1 and None not in blocks else None


def _elementwise_packed(pk: Packing, node, keys, xs):
    """Layout-free ops (activations, identities) and add/mul on inputs packed alike."""
    from .lower import LOWERINGS

    b = _same_blocks(pk, keys)
    if b is None:
        return None
    return LOWERINGS[node.op](pk.ctx, node, xs), b


def _pool_packed(pk: Packing, node, keys, xs):
    from tvm import topi

    b = pk.block.get(keys[0])
    if b is None:
        return None
    a = node.attrs
    kind = "max" if node.op == "maxpool" else "avg"
    dilation = a.get("dilation", (1, 1))
    y = pk.ctx.bb.emit_te(topi.nn.pool2d, xs[0], list(a["kernel"]), list(a["stride"]), list(dilation),
                          list(a["padding"]), kind, bool(a["ceil_mode"]), f"NCHW{b}c",
                          bool(a.get("count_include_pad", True)), primfunc_name_hint=f"{kind}_pool2d_nchwc")
    return y, b


def _global_avg_packed(pk: Packing, node, keys, xs):
    b = pk.block.get(keys[0])
    if b is None:
        return None
    if node.op == "adaptive_avgpool" and tuple(node.attrs["size"]) != (1, 1):
        return None
    ctx = pk.ctx
    return ctx.emit(ctx.op.mean(xs[0], axis=[2, 3], keepdims=True)), b


def _concat_packed(pk: Packing, node, keys, xs):
    b = _same_blocks(pk, keys)
    if b is None or node.attrs["axis"] not in (1, -3):
        return None
    ctx = pk.ctx
    return ctx.emit(ctx.op.concat(list(xs), axis=1)), b


PACKED_LOWERINGS: dict[str, Callable] = {
    "conv": _conv_packed,
    "fused_conv": _fused_conv_packed,
    **{op: _elementwise_packed for op in sorted(LAYOUT_FREE)},
    "bn": _bn_packed,
    "add": _elementwise_packed,
    "mul": _elementwise_packed,
    "maxpool": _pool_packed,
    "avgpool": _pool_packed,
    "gap": _global_avg_packed,
    "adaptive_avgpool": _global_avg_packed,
    "concat": _concat_packed,
}
