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
    """(h, w) of the first input when it is rank 4, for rules that need the input size."""
    return tuple(shapes[0][2:4]) if shapes and len(shapes[0]) == 4 else None
