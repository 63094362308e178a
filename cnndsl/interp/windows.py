"""Sliding-window kernels for the reference interpreter: conv (im2col + matmul), conv_t,
max/avg/lp pooling and adaptive pooling. Arrays are float64 here; NCHW throughout."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _out_len(size: int, k: int, s: int, p0: int, p1: int, d: int, ceil_mode: bool) -> int:
    span = size + p0 + p1 - (d * (k - 1) + 1)
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= size + p0 else out


def windows(x: np.ndarray, kernel, stride, padding, dilation=(1, 1), ceil_mode=False, fill=0.0):
    """Padded sliding windows: a view [N, C, OH, OW, kh, kw].

    `padding` is (top, left, bottom, right); with ceil_mode the bottom/right is padded
    further (with `fill`) so the last, overhanging window exists.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    pt, pl, pb, pr = padding
    h, w = x.shape[2:]
    oh = _out_len(h, kh, sh, pt, pb, dh, ceil_mode)
    ow = _out_len(w, kw, sw, pl, pr, dw, ceil_mode)
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    need_b = max((oh - 1) * sh + eh - (h + pt), 0)
    need_r = max((ow - 1) * sw + ew - (w + pl), 0)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, need_b), (pl, need_r)), constant_values=fill)
    v = sliding_window_view(xp, (eh, ew), axis=(2, 3))
    return v[:, :, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw, ::dh, ::dw]


def conv2d(x, weight, bias, stride, padding, dilation, groups):
    """Grouped convolution as one batched matmul per group (im2col)."""
    n = x.shape[0]
    o, cg, kh, kw = weight.shape
    v = windows(x, (kh, kw), stride, padding, dilation)
    oh, ow = v.shape[2:4]
    v = v.reshape(n, groups, cg, oh, ow, kh, kw).transpose(0, 1, 3, 4, 2, 5, 6)
    cols = v.reshape(n, groups, oh * ow, cg * kh * kw)
    wmat = weight.reshape(groups, o // groups, cg * kh * kw).transpose(0, 2, 1)
    y = np.matmul(cols, wmat)  # [N, G, OH*OW, O/G]
    y = y.transpose(0, 1, 3, 2).reshape(n, o, oh, ow)
    if bias is not None:
        y = y + bias.reshape(1, -1, 1, 1)
    return y


def conv_transpose2d(x, weight, bias, stride, padding, output_padding, dilation, groups):
    """The gradient of conv: spread the input by the stride, pad by d*(k-1)-p, and
    convolve with the spatially flipped, in/out-swapped kernel."""
    n, c, h, w = x.shape
    _, og, kh, kw = weight.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    spread = np.zeros((n, c, (h - 1) * sh + 1, (w - 1) * sw + 1), dtype=x.dtype)
    spread[:, :, ::sh, ::sw] = x
    eh, ew = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    pads = (eh, ew, eh + oph, ew + opw)  # top, left, bottom, right; negative means crop
    crop = [max(-p, 0) for p in pads]
    hh, ww = spread.shape[2:]
    spread = spread[:, :, crop[0] : hh - crop[2], crop[1] : ww - crop[3]]
    wk = weight.reshape(groups, c // groups, og, kh, kw).transpose(0, 2, 1, 3, 4)
    wk = wk.reshape(groups * og, c // groups, kh, kw)[:, :, ::-1, ::-1]
    return conv2d(spread, wk, bias, (1, 1), tuple(max(p, 0) for p in pads), dilation, groups)


def maxpool(x, kernel, stride, padding, dilation, ceil_mode):
    return windows(x, kernel, stride, padding, dilation, ceil_mode, fill=-np.inf).max(axis=(4, 5))


def _divisor(shape, kernel, stride, padding, ceil_mode, count_include_pad):
    """Per-output divisor as PyTorch's avg_pool2d counts it: window taps inside the padded
    input (count_include_pad) or inside the input itself; overhang never counts."""
    h, w = shape
    pt, pl, pb, pr = padding
    region = np.zeros((1, 1, h + pt + pb, w + pl + pr))
    if count_include_pad:
        region[:] = 1.0
    else:
        region[:, :, pt : pt + h, pl : pl + w] = 1.0
    ones = windows(region, kernel, stride, (0, 0, 0, 0), (1, 1), ceil_mode)
    if ceil_mode:  # the overhang must not produce windows that the unpadded form would not
        oh = _out_len(h, kernel[0], stride[0], pt, pb, 1, True)
        ow = _out_len(w, kernel[1], stride[1], pl, pr, 1, True)
        ones = ones[:, :, :oh, :ow]
    return ones.sum(axis=(4, 5))


def avgpool(x, kernel, stride, padding, ceil_mode, count_include_pad):
    total = windows(x, kernel, stride, padding, (1, 1), ceil_mode).sum(axis=(4, 5))
    return total / _divisor(x.shape[2:], kernel, stride, padding, ceil_mode, count_include_pad)


def lppool(x, p, kernel, stride, ceil_mode):
    """PyTorch's LPPool2d: avg_pool2d(x**p) * kh*kw, then the p-th root (the average's
    divisor shrinks at a ceil_mode overhang, so there the sum is rescaled as in PyTorch)."""
    avg = avgpool(np.power(x, p), kernel, stride, (0, 0, 0, 0), ceil_mode, True)
    with np.errstate(invalid="ignore"):  # a negative sum (odd p) has no real root: NaN, as in PyTorch
        return np.power(avg * (kernel[0] * kernel[1]), 1.0 / p)


def adaptive_pool(x, size, reduce):
    """Window i covers floor(i*in/out) .. ceil((i+1)*in/out), as PyTorch computes it."""
    n, c, h, w = x.shape
    oh, ow = size
    out = np.empty((n, c, oh, ow), dtype=x.dtype)
    for i in range(oh):
        h0, h1 = (i * h) // oh, math.ceil((i + 1) * h / oh)
        for j in range(ow):
            w0, w1 = (j * w) // ow, math.ceil((j + 1) * w / ow)
            out[:, :, i, j] = reduce(x[:, :, h0:h1, w0:w1], axis=(2, 3))
    return out
