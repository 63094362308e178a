"""Helpers shared by the op families: spatial arithmetic and attribute shaping."""

from __future__ import annotations

import math
from typing import Any

from cnndsl.ops.registry import ShapeError


def pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ShapeError(f"expected one value or a pair, got {len(v)} values")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _same_total(size: Any, k: int, s: int, d: int) -> int:
    """TF-style SAME: total padding so that out = ceil(size / stride)."""
    eff = d * (k - 1) + 1
    if isinstance(size, str) or size is None:
        return eff - 1  # size unknown: exact at stride 1
    return max((-(-size // s) - 1) * s + eff - size, 0)


def pad4(v: Any, kernel: tuple[int, int], dilation: tuple[int, int], stride: tuple[int, int],
         size: tuple | None = None) -> tuple[int, int, int, int]:
    """Normalize padding to (top, left, bottom, right).

    None means "same-ish" `dilation*(kernel-1)//2`; "same" means TF-style SAME
    (output = ceil(input / stride), the odd pixel at the bottom/right), exact for any
    stride when the spatial `size` (h, w) is given.
    """
    if v is None:
        ph, pw = (dilation[0] * (kernel[0] - 1)) // 2, (dilation[1] * (kernel[1] - 1)) // 2
        return ph, pw, ph, pw
    if isinstance(v, str):
        if v == "same":
            h, w = size if size is not None else (None, None)
            th = _same_total(h, kernel[0], stride[0], dilation[0])
            tw = _same_total(w, kernel[1], stride[1], dilation[1])
            return th // 2, tw // 2, th - th // 2, tw - tw // 2
        if v == "valid":
            return 0, 0, 0, 0
        raise ShapeError(f"padding must be an int, a pair, four ints, \"same\" or \"valid\", not {v!r}")
    if isinstance(v, (tuple, list)):
        if len(v) == 2:
            return int(v[0]), int(v[1]), int(v[0]), int(v[1])
        if len(v) == 4:
            return tuple(int(x) for x in v)  # type: ignore[return-value]
        if len(v) == 1:
            return (int(v[0]),) * 4  # type: ignore[return-value]
        raise ShapeError(f"padding takes 1, 2 or 4 values, got {len(v)}")
    return int(v), int(v), int(v), int(v)


def window_out(size: Any, k: int, s: int, p0: int, p1: int, d: int = 1, ceil_mode: bool = False) -> Any:
    """Output length of a sliding window; follows PyTorch's ceil_mode rule."""
    if isinstance(size, str):
        return size
    eff = d * (k - 1) + 1
    span = size + p0 + p1 - eff
    if span < 0:
        raise ShapeError(f"window {eff} (kernel {k}, dilation {d}) is larger than the padded input {size + p0 + p1}")
    if ceil_mode:
        out = math.ceil(span / s) + 1
        if (out - 1) * s >= size + p0:
            out -= 1
    else:
        out = span // s + 1
    return out


SPATIAL_RANKS = {3: "NCL", 4: "NCHW", 5: "NCDHW"}


def spatial_dims(shapes: list, what: str) -> int:
    """How many spatial axes the first input has (1, 2 or 3: NCL, NCHW, NCDHW); a ShapeError otherwise."""
    x = shapes[0] if shapes else None
    if x is None or len(x) not in SPATIAL_RANKS:
        got = "no input" if x is None else fmt_shape(x)
        raise ShapeError(f"{what} expects an NCL, NCHW or NCDHW tensor (rank 3, 4 or 5), got {got}")
    return len(x) - 2


def ntuple(v: Any, nd: int, what: str = "value") -> tuple[int, ...]:
    """One int per spatial axis: an int means the same on every axis; a tuple must have `nd` values
    (or one)."""
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return (int(v[0]),) * nd
        if len(v) != nd:
            raise ShapeError(f"{what} has {len(v)} values but the input has {nd} spatial "
                             f"ax{'is' if nd == 1 else 'es'}: give " + ("one int" if nd == 1 else f"one int or {nd}"))
        return tuple(int(x) for x in v)
    return (int(v),) * nd


def pad_nd(v: Any, kernel: tuple, dilation: tuple, stride: tuple, size: tuple | None = None,
           what: str = "padding") -> tuple[int, ...]:
    """Normalize padding to 2*nd ints: the begins of every spatial axis, then the ends (ONNX's
    order; (top, left, bottom, right) in 2-D).

    None means "same-ish" `dilation*(kernel-1)//2`; "same" means TF-style SAME (output =
    ceil(input / stride), the odd pixel at the end), exact for any stride when the spatial
    `size` is given; one int pads every side; nd ints pad both sides of each axis; 2*nd ints
    are begins then ends.
    """
    nd = len(kernel)
    if v is None:
        b = tuple((d * (k - 1)) // 2 for k, d in zip(kernel, dilation))
        return b + b
    if isinstance(v, str):
        if v == "same":
            sizes = size if size is not None and len(size) == nd else (None,) * nd
            tot = [_same_total(n, k, s, d) for n, k, s, d in zip(sizes, kernel, stride, dilation)]
            return tuple(t // 2 for t in tot) + tuple(t - t // 2 for t in tot)
        if v == "valid":
            return (0,) * (2 * nd)
        raise ShapeError(f"{what} must be an int, {nd} or {2 * nd} ints, \"same\" or \"valid\", not {v!r}")
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            return (int(v[0]),) * (2 * nd)
        if len(v) == 2 * nd:
            return tuple(int(x) for x in v)
        if len(v) == nd:
            b = tuple(int(x) for x in v)
            return b + b
        what_nd = {1: "1 value or 2 (begin, end)", 2: "1, 2 or 4 values",
                   3: "1, 3 or 6 values"}[nd]
        raise ShapeError(f"{what} takes {what_nd} for {nd} spatial ax{'is' if nd == 1 else 'es'}, got {len(v)}")
    return (int(v),) * (2 * nd)


def fmt_shape(shape: Any) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def need_rank(shape: Any, rank: int, what: str) -> None:
    if len(shape) != rank:
        raise ShapeError(f"{what} expects a rank-{rank} tensor, got {fmt_shape(shape)}")


def numel(shape: Any, batch: int = 1) -> int:
    n = 1
    for d in shape:
        n *= batch if isinstance(d, str) else int(d)
    return n


def per_sample(shape: Any) -> int:
    """Elements per batch item (the batch dimension counted as 1)."""
    return numel(shape[1:]) if shape else 1


def spatial(shapes: list) -> tuple | None:
    """The spatial extents ((l), (h, w) or (d, h, w)) of the first input when it is rank 3, 4 or 5,
    for rules that need the input size."""
    return tuple(shapes[0][2:]) if shapes and len(shapes[0]) in SPATIAL_RANKS else None
