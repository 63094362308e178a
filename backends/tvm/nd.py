"""TVM lowerings of the 1-D and 3-D spatial ops (NCL and NCDHW values): conv, conv_t, the
pools, global and adaptive pooling, upsample and pad. `lower.py`'s table picks these by the
rank of the node's output (`by_rank`); 2-D nodes keep their own lowerings (and the packed
NCHWc path of `packed.py`).

Convolutions (`conv`, `fused_conv`; dense, groups 1) run on the packed 2-D kernel of
`packed.py` (`conv2d_nchwc`, which the default CPU schedule register-tiles over output
columns x one channel vector): a 3-D conv with kernel (kd, kh, kw) is a 2-D conv over
frames whose input channels are the kd frames its window spans -- X'[n*Do + t, i*C + c] =
X[n, c, t*sd + i*dd - pd] with the weight [O, kd*C, kh, kw] -- and a 1-D conv is a 2-D conv
over [N, C, 1, L]. The copy of the input (kd frames per output frame, packed in channel
blocks) costs memory traffic, not FLOPs; bias and a fused activation are applied in the
packed layout, so they fuse into the conv kernel. Convolutions whose channels have no block
(and grouped ones) use Relax's conv1d/conv3d with the default CPU schedule's generic
reduction schedule (parallel, register-blocked along the innermost axis).

The pools and the rest are Relax's 1-D and 3-D ops. Two ops have no Relax form in 1-D or
3-D and are composed: adaptive max pooling (one max per window, as in 2-D) and 1-D
resizing (a 2-D resize of [N, C, L, 2]).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from cnndsl.backend import BackendError


def by_rank(two_d: Callable, nd: Callable) -> Callable:
    """A lowering that is `two_d` on NCHW values and `nd` on NCL and NCDHW ones."""

    def lower(ctx, node, xs):
        shape = node.meta["shape"]
        if len(shape) == 4:
            return two_d(ctx, node, xs)
        if len(shape) not in (3, 5):
            raise BackendError(f"{node.name} [{node.op}]: a rank-{len(shape)} value has no spatial lowering")
        return nd(ctx, node, xs)

    lower.__name__ = f"{getattr(two_d, '__name__', 'lower')}_nd"
    return lower


def _nd(node) -> int:
    return len(node.meta["shape"]) - 2


def _bias(ctx, node, y):
    if node.attrs["bias"]:
        y = ctx.emit(ctx.op.add(y, ctx.param(node, "bias", (1, node.attrs["out"]) + (1,) * _nd(node))))
    return y


def conv(ctx, node, xs):
    folded = _folded_conv(ctx, node, xs[0], act=False)
    if folded is not None:
        return folded
    a = node.attrs
    fn = ctx.nn.conv1d if _nd(node) == 1 else ctx.nn.conv3d
    y = ctx.emit(fn(xs[0], ctx.param(node, "weight"), strides=tuple(a["stride"]), padding=tuple(a["padding"]),
                    dilation=tuple(a["dilation"]), groups=a["groups"]))
    return _bias(ctx, node, y)


def fused_conv(ctx, node, xs):
    """act(conv(x)) (-O1's fuse_conv_act): the activation in the packed layout, inside the conv kernel."""
    from .lower import fused_activation

    folded = _folded_conv(ctx, node, xs[0], act=True)
    return folded if folded is not None else fused_activation(ctx, node, conv(ctx, node, xs))


def _as_3d(a: dict, nd: int) -> tuple:
    """(kernel, stride, dilation, begins, ends) as three axes (d, h, w): 1-D is [N, C, 1, 1, L]."""
    p = tuple(a["padding"])
    if nd == 3:
        return tuple(a["kernel"]), tuple(a["stride"]), tuple(a["dilation"]), p[:3], p[3:]
    return ((1, 1) + tuple(a["kernel"]), (1, 1) + tuple(a["stride"]), (1, 1) + tuple(a["dilation"]),
            (0, 0, p[0]), (0, 0, p[1]))


def _folded_conv(ctx, node, x, act: bool):
    """The conv as the packed 2-D conv over output frames (module docstring); None when its
    channels have no block or it is grouped (the caller lowers it natively)."""
    from .packed import CONV_BLOCK, MAX_ODD_INPUT, block_of, conv2d_nchwc, preferred_block

    a = node.attrs
    nd = _nd(node)
    op = ctx.op
    c_in, c_out = int(x.ty.shape[1]), int(a["out"])
    kernel, stride, dilation, begins, ends = _as_3d(a, nd)
    kd, kh, kw = kernel
    prefer = preferred_block(ctx)
    ob, cols = block_of(c_out, prefer), kd * c_in
    ib = block_of(cols, prefer) or (cols if cols <= MAX_ODD_INPUT else None)
    if a["groups"] != 1 or ob is None or ib is None:
        return None
    n = x.ty.shape[0]  # may be symbolic
    if nd == 1:
        x = ctx.emit(op.reshape(x, (n, c_in, 1, 1, int(x.ty.shape[2]))))
    out = tuple(node.meta["shape"][2:]) if nd == 3 else (1, 1, int(node.meta["shape"][2]))
    frames, (d_in, h, w) = out[0], (int(x.ty.shape[2]) if nd == 3 else 1, *_hw(x, nd))
    # the kd input frames of every output frame, side by side as channels: [N, kd*C, Do, H, W]
    if begins[0] or ends[0]:
        x = op.nn.pad(x, [0, 0, 0, 0, begins[0], ends[0], 0, 0, 0, 0])
        d_in += begins[0] + ends[0]
    taps = []
    for i in range(kd):
        first = i * dilation[0]
        if first == 0 and stride[0] == 1 and frames == d_in:
            taps.append(x)
        else:
            taps.append(op.strided_slice(x, axes=[2], begin=[first], end=[first + (frames - 1) * stride[0] + 1],
                                         strides=[stride[0]]))
    x = op.concat(taps, axis=1) if kd > 1 else taps[0]
    # [N, kd*C, Do, H, W] -> [N*Do, kd*C/ib, H, W, ib] (or plain [N*Do, kd*C, H, W] for one odd chunk)
    if block_of(cols, prefer) is not None:
        x = op.reshape(x, (n, cols // ib, ib, frames, h, w))
        xin = ctx.emit(op.reshape(op.permute_dims(x, [0, 3, 1, 4, 5, 2]), (n * frames, cols // ib, h, w, ib)))
    else:
        xin = ctx.emit(op.reshape(op.permute_dims(x, [0, 2, 1, 3, 4]), (n * frames, cols, h, w)))
    oc, cc = c_out // ob, cols // ib

    def np_pack(wt):  # [O, C, (kd,) (kh,) kw] -> [Oc, Cc, KH, KW, ib, ob] over the kd*C input channels
        wt = wt.reshape(c_out, c_in, kd, kh, kw).transpose(0, 2, 1, 3, 4).reshape(c_out, cols, kh, kw)
        return wt.reshape(oc, ob, cc, ib, kh, kw).transpose(0, 2, 4, 5, 3, 1)

    def relax_pack(rop, wt):
        wt = rop.reshape(rop.permute_dims(rop.reshape(wt, (c_out, c_in, kd, kh, kw)), [0, 2, 1, 3, 4]),
                         (oc, ob, cc, ib, kh, kw))
        return rop.permute_dims(wt, [0, 2, 4, 5, 3, 1])

    weight = _packed_param(ctx, node, "weight", np_pack, relax_pack)
    y = ctx.bb.emit_te(conv2d_nchwc, xin, weight, stride[1:], (begins[1], begins[2], ends[1], ends[2]), dilation[1:],
                       primfunc_name_hint=CONV_BLOCK)
    if a["bias"]:
        bias = _packed_param(ctx, node, "bias", lambda v: v.reshape(1, oc, 1, 1, ob),
                             lambda rop, v: rop.reshape(v, (1, oc, 1, 1, ob)))
        y = ctx.emit(op.add(y, bias))
    if act:
        from .lower import fused_activation

        y = fused_activation(ctx, node, y)
    # [N*Do, Oc, Ho, Wo, ob] -> [N, O, Do, Ho, Wo]
    ho, wo = out[1], out[2]
    y = op.permute_dims(op.reshape(y, (n, frames, oc, ho, wo, ob)), [0, 2, 5, 1, 3, 4])
    return ctx.emit(op.reshape(y, ctx.dims(node.meta["shape"])))


def _hw(x, nd: int) -> tuple[int, int]:
    return int(x.ty.shape[3]), int(x.ty.shape[4])


def _packed_param(ctx, node, name: str, pack_np, pack_relax):
    """A parameter in the folded, packed form: a numpy-packed constant, or a Relax transform of `main`'s
    parameter (as packed.Packing.weight)."""
    import numpy as np

    from cnndsl.ops.registry import param_key

    key = param_key(node.params_of, name)
    if ctx.param_vars is not None:
        return ctx.emit(pack_relax(ctx.op, ctx.param_vars[key]))
    if key not in ctx.weights:
        raise BackendError(f"missing weight '{key}' for node {node.name} [{node.op}]")
    packed = np.ascontiguousarray(pack_np(np.asarray(ctx.weights[key], dtype="float32")))
    form = (key, "folded", packed.shape)
    if form not in ctx.consts:
        ctx.consts[form] = ctx.relax.const(packed)
    return ctx.consts[form]


def conv_t(ctx, node, xs):
    a = node.attrs
    fn = ctx.nn.conv1d_transpose if _nd(node) == 1 else ctx.nn.conv3d_transpose
    y = ctx.emit(fn(xs[0], ctx.param(node, "weight"), strides=tuple(a["stride"]), padding=tuple(a["padding"]) * 2,
                    output_padding=tuple(a["output_padding"]), dilation=tuple(a["dilation"]), groups=a["groups"]))
    return _bias(ctx, node, y)


def _pool_fn(ctx, node, kind: str):
    return getattr(ctx.nn, f"{kind}_pool{_nd(node)}d")


def maxpool(ctx, node, xs):
    a = node.attrs
    return ctx.emit(_pool_fn(ctx, node, "max")(xs[0], tuple(a["kernel"]), tuple(a["stride"]), tuple(a["padding"]),
                                               tuple(a["dilation"]), ceil_mode=a["ceil_mode"]))


def avgpool(ctx, node, xs):
    a = node.attrs
    nd = _nd(node)
    return ctx.emit(_pool_fn(ctx, node, "avg")(xs[0], tuple(a["kernel"]), tuple(a["stride"]), tuple(a["padding"]),
                                               (1,) * nd, ceil_mode=a["ceil_mode"],
                                               count_include_pad=a["count_include_pad"]))


def lppool(ctx, node, xs):
    # (sum over the window of x^p)^(1/p), as PyTorch's LPPool: avg_pool(x^p) * prod(kernel)
    a = node.attrs
    nd = _nd(node)
    p = float(a["p"])
    area = 1
    for k in a["kernel"]:
        area *= k
    xp = ctx.op.power(xs[0], ctx.f32(p))
    avg = _pool_fn(ctx, node, "avg")(xp, tuple(a["kernel"]), tuple(a["stride"]), (0,) * (2 * nd), (1,) * nd,
                                     ceil_mode=a["ceil_mode"], count_include_pad=True)
    s = ctx.op.multiply(avg, ctx.f32(area))
    s = ctx.op.multiply(ctx.op.sign(s), ctx.nn.relu(ctx.op.abs(s)))
    return ctx.emit(ctx.op.power(s, ctx.f32(1.0 / p)))


def gap(ctx, node, xs):
    return ctx.emit(ctx.op.mean(xs[0], axis=list(range(2, 2 + _nd(node))), keepdims=True))


def gmp(ctx, node, xs):
    return ctx.emit(ctx.op.max(xs[0], axis=list(range(2, 2 + _nd(node))), keepdims=True))


def adaptive_avgpool(ctx, node, xs):
    fn = ctx.nn.adaptive_avg_pool1d if _nd(node) == 1 else ctx.nn.adaptive_avg_pool3d
    return ctx.emit(fn(xs[0], output_size=tuple(node.attrs["size"])))


def adaptive_maxpool(ctx, node, xs):
    """Relax has no adaptive max pool: a max pool when the windows are uniform, else one max per
    PyTorch window (axis after axis: the max over a box is the max of the per-axis maxima)."""
    from cnndsl.interp.windows import adaptive_windows

    x = xs[0]
    nd = _nd(node)
    sizes = [int(x.ty.shape[i]) for i in range(2, 2 + nd)]
    out = tuple(node.attrs["size"])
    if all(n % o == 0 for n, o in zip(sizes, out)):
        k = tuple(n // o for n, o in zip(sizes, out))
        return ctx.emit(_pool_fn(ctx, node, "max")(x, k, k, (0,) * (2 * nd), (1,) * nd))
    for axis, (n, o) in enumerate(zip(sizes, out), start=2):
        parts = [ctx.emit(ctx.op.max(ctx.op.strided_slice(x, axes=[axis], begin=[lo], end=[hi]), axis=[axis],
                                     keepdims=True)) for lo, hi in adaptive_windows(n, o)]
        x = ctx.emit(ctx.op.concat(parts, axis=axis)) if len(parts) > 1 else parts[0]
    return x


def upsample(ctx, node, xs):
    """PyTorch's nearest (asymmetric coordinates, floor) or (tri)linear (half-pixel or
    align_corners), to the IR's output size; 1-D through a 2-D resize of [N, C, L, 2] (the input
    repeated on a second axis that the resize keeps: an axis of one has no align_corners step)."""
    a = node.attrs
    x = xs[0]
    size = tuple(int(d) for d in node.meta["shape"][2:])
    if a["mode"] == "nearest":
        kw = {"method": "nearest_neighbor", "coordinate_transformation_mode": "asymmetric", "rounding_method": "floor"}
    else:
        kw = {"method": "linear",
              "coordinate_transformation_mode": "align_corners" if a["align_corners"] else "half_pixel"}
    if _nd(node) == 3:
        return ctx.emit(ctx.op.image.resize3d(x, size=size, **kw))
    n, c, length = (x.ty.shape[i] for i in range(3))  # the batch may be symbolic
    wide = ctx.op.broadcast_to(ctx.op.reshape(x, (n, c, length, 1)), (n, c, length, 2))
    y = ctx.op.image.resize2d(wide, size=(size[0], 2), **kw)
    y = ctx.op.strided_slice(y, axes=[3], begin=[0], end=[1])
    return ctx.emit(ctx.op.reshape(y, ctx.dims(node.meta["shape"])))


_PAD_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "replicate"}


def pad(ctx, node, xs):
    p = node.attrs["padding"]
    nd = len(p) // 2
    width = [0, 0, 0, 0] + list(itertools.chain.from_iterable((p[i], p[nd + i]) for i in range(nd)))
    return ctx.emit(ctx.nn.pad(xs[0], width, pad_mode=_PAD_MODE[node.attrs["mode"]],
                               pad_value=float(node.attrs["value"])))
