"""Sliding-window kernels for the reference interpreter: conv (im2col + matmul), conv_t,
max/avg/lp pooling and adaptive pooling, over any number of spatial axes (NCL, NCHW,
NCDHW). Arrays are float64 here. Window attributes hold one value per spatial axis;
padding is the begins of every spatial axis, then the ends ((top, left, bottom, right)
in 2-D)."""

from __future__ import annotations

import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _out_len(size: int, k: int, s: int, p0: int, p1: int, d: int, ceil_mode: bool) -> int:
    span = size + p0 + p1 - (d * (k - 1) + 1)
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= size + p0 else out


def windows(x: np.ndarray, kernel, stride, padding, dilation=None, ceil_mode=False, fill=0.0):
    """Padded sliding windows: a view [N, C, *out, *kernel].

    With ceil_mode the end of each axis is padded further (with `fill`) so the last,
    overhanging window exists.
    """
    nd = len(kernel)
    dilation = dilation or (1,) * nd
    axes = tuple(range(2, 2 + nd))
    sizes = x.shape[2:]
    outs = [_out_len(sizes[i], kernel[i], stride[i], padding[i], padding[nd + i], dilation[i], ceil_mode)
            for i in range(nd)]
    effs = [dilation[i] * (kernel[i] - 1) + 1 for i in range(nd)]
    ends = [max((outs[i] - 1) * stride[i] + effs[i] - (sizes[i] + padding[i]), 0) for i in range(nd)]
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((padding[i], ends[i]) for i in range(nd)), constant_values=fill)
    v = sliding_window_view(xp, tuple(effs), axis=axes)
    index = (slice(None), slice(None))
    index += tuple(slice(None, (outs[i] - 1) * stride[i] + 1, stride[i]) for i in range(nd))
    index += tuple(slice(None, None, dilation[i]) for i in range(nd))
    return v[index]


def _window_axes(nd: int) -> tuple[int, ...]:
    return tuple(range(2 + nd, 2 + 2 * nd))


def conv(x, weight, bias, stride, padding, dilation, groups):
    """Grouped convolution as one batched matmul per group (im2col), any number of spatial axes."""
    n = x.shape[0]
    o, cg = weight.shape[:2]
    kernel = weight.shape[2:]
    nd = len(kernel)
    taps = math.prod(kernel)
    v = windows(x, kernel, stride, padding, dilation)
    outs = v.shape[2 : 2 + nd]
    positions = math.prod(outs)
    v = v.reshape((n, groups, cg) + outs + tuple(kernel))
    # [N, G, *out, Cg, *kernel]
    v = v.transpose((0, 1) + tuple(range(3, 3 + nd)) + (2,) + tuple(range(3 + nd, 3 + 2 * nd)))
    cols = v.reshape(n, groups, positions, cg * taps)
    wmat = weight.reshape(groups, o // groups, cg * taps).transpose(0, 2, 1)
    y = np.matmul(cols, wmat)  # [N, G, positions, O/G]
    y = y.transpose(0, 1, 3, 2).reshape((n, o) + outs)
    if bias is not None:
        y = y + bias.reshape((1, -1) + (1,) * nd)
    return y


def conv_transpose(x, weight, bias, stride, padding, output_padding, dilation, groups):
    """The gradient of conv: spread the input by the stride, pad by d*(k-1)-p, and
    convolve with the spatially flipped, in/out-swapped kernel."""
    n, c = x.shape[:2]
    sizes = x.shape[2:]
    og = weight.shape[1]
    kernel = weight.shape[2:]
    nd = len(kernel)
    spread = np.zeros((n, c) + tuple((sizes[i] - 1) * stride[i] + 1 for i in range(nd)), dtype=x.dtype)
    spread[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride)] = x
    begins = [dilation[i] * (kernel[i] - 1) - padding[i] for i in range(nd)]
    pads = begins + [begins[i] + output_padding[i] for i in range(nd)]  # negative means crop
    crop = [max(-p, 0) for p in pads]
    spread = spread[(slice(None), slice(None)) + tuple(slice(crop[i], spread.shape[2 + i] - crop[nd + i])
                                                        for i in range(nd))]
    wk = weight.reshape((groups, c // groups, og) + tuple(kernel)).swapaxes(1, 2)
    wk = wk.reshape((groups * og, c // groups) + tuple(kernel))
    wk = wk[(slice(None), slice(None)) + (slice(None, None, -1),) * nd]
    return conv(spread, wk, bias, (1,) * nd, tuple(max(p, 0) for p in pads), dilation, groups)


def maxpool(x, kernel, stride, padding, dilation, ceil_mode):
    nd = len(kernel)
    return windows(x, kernel, stride, padding, dilation, ceil_mode, fill=-np.inf).max(axis=_window_axes(nd))


def _divisor(shape, kernel, stride, padding, ceil_mode, count_include_pad):
    """Per-output divisor as PyTorch's avg_pool counts it: window taps inside the padded
    input (count_include_pad) or inside the input itself; overhang never counts."""
    nd = len(kernel)
    padded = tuple(shape[i] + padding[i] + padding[nd + i] for i in range(nd))
    region = np.zeros((1, 1) + padded)
    if count_include_pad:
        region[:] = 1.0
    else:
        region[(0, 0) + tuple(slice(padding[i], padding[i] + shape[i]) for i in range(nd))] = 1.0
    ones = windows(region, kernel, stride, (0,) * (2 * nd), None, ceil_mode)
    if ceil_mode:  # the overhang must not produce windows that the unpadded form would not
        outs = [_out_len(shape[i], kernel[i], stride[i], padding[i], padding[nd + i], 1, True) for i in range(nd)]
        ones = ones[(slice(None), slice(None)) + tuple(slice(None, o) for o in outs)]
    return ones.sum(axis=_window_axes(nd))


def avgpool(x, kernel, stride, padding, ceil_mode, count_include_pad):
    nd = len(kernel)
    total = windows(x, kernel, stride, padding, None, ceil_mode).sum(axis=_window_axes(nd))
    return total / _divisor(x.shape[2:], kernel, stride, padding, ceil_mode, count_include_pad)


def lppool(x, p, kernel, stride, ceil_mode):
    """PyTorch's LPPool: avg_pool(x**p) * prod(kernel), then the p-th root (the average's
    divisor shrinks at a ceil_mode overhang, so there the sum is rescaled as in PyTorch)."""
    avg = avgpool(np.power(x, p), kernel, stride, (0,) * (2 * len(kernel)), ceil_mode, True)
    with np.errstate(invalid="ignore"):  # a negative sum (odd p) has no real root: NaN, as in PyTorch
        return np.power(avg * math.prod(kernel), 1.0 / p)


def adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """Window i covers floor(i*in/out) .. ceil((i+1)*in/out), as PyTorch computes it."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def adaptive_pool(x, size, reduce):
    """One reduction per output position over its box of per-axis adaptive windows."""
    nd = len(size)
    spans = [adaptive_windows(x.shape[2 + i], size[i]) for i in range(nd)]
    out = np.empty(x.shape[:2] + tuple(size), dtype=x.dtype)
    axes = tuple(range(2, 2 + nd))
    for pos in itertools.product(*(range(s) for s in size)):
        box = tuple(slice(*spans[i][pos[i]]) for i in range(nd))
        out[(slice(None), slice(None)) + pos] = reduce(x[(slice(None), slice(None)) + box], axis=axes)
    return out
