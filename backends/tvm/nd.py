"""TVM lowerings of the 1-D and 3-D spatial ops (NCL and NCDHW values): conv, conv_t, the
pools, global and adaptive pooling, upsample and pad. `lower.py`'s table picks these by the
rank of the node's output (`by_rank`); 2-D nodes keep their own lowerings (and the packed
NCHWc path of `packed.py`).

Relax has native 1-D and 3-D convolutions and pools; their legalized kernels get cnndsl's
default CPU schedule (`cpu_schedule.py`: parallel outer loops, the innermost spatial loop
register-blocked and vectorized), the same as 2-D's plain kernels. Two ops have no Relax
form in 1-D or 3-D and are composed: adaptive max pooling (one max per window, as in 2-D)
and 1-D resizing (a 2-D resize of [N, C, L, 2]).
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
    a = node.attrs
    fn = ctx.nn.conv1d if _nd(node) == 1 else ctx.nn.conv3d
    y = ctx.emit(fn(xs[0], ctx.param(node, "weight"), strides=tuple(a["stride"]), padding=tuple(a["padding"]),
                    dilation=tuple(a["dilation"]), groups=a["groups"]))
    return _bias(ctx, node, y)


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
