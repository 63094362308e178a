"""Reading ONNX attributes and constants for the mapping rows: per-axis values, pads, windows,
weights, and floats written back as the shortest decimal that reads back the same."""

from __future__ import annotations

import numpy as np

from .stage import Unsupported

INT64_MAX = 2**63 - 1


def pair(v):
    v = [int(x) for x in v]
    return v[0] if len(set(v)) == 1 else tuple(v)


def pads_attr(pads, n):
    pads = [int(p) for p in pads] if pads else [0] * (2 * n)
    begin, end = pads[:n], pads[n:]
    if begin == end:
        return pair(begin)
    return tuple(begin + end)


def spatial(ctx, node, what: str):
    k = node.attrs.get("kernel_shape")
    if k is None and len(node.inputs) > 1 and ctx.has_const(node.inputs[1]):
        k = ctx.const(node.inputs[1]).shape[2:]
    if k is None or not 1 <= len(k) <= 3:
        raise Unsupported(node, f"{what} over {len(k) if k is not None else '?'} spatial axes "
                                "(cnndsl's windows are 1-D, 2-D or 3-D)")
    if node.attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise Unsupported(node, f"auto_pad={node.attrs['auto_pad']!r} (export with explicit pads)")
    return [int(x) for x in k]


def weight(ctx, node, i: int, what: str):
    if not ctx.has_const(node.inputs[i]):
        raise Unsupported(node, f"its {what} is computed, not a constant")
    return ctx.const(node.inputs[i])


def momentum(onnx_momentum: float) -> float:
    """PyTorch's momentum m from ONNX's 1 - m (a float32): the shortest decimal m that gives it back."""
    target = np.float32(onnx_momentum)
    for digits in range(1, 18):
        m = float(f"{1.0 - float(target):.{digits}g}")
        if np.float32(1.0 - m) == target:
            return m
    return 1.0 - float(target)


def num(v: float):
    """A float as the shortest decimal that reads back to the same float32."""
    f = float(np.float32(v))
    for digits in range(1, 18):
        s = float(f"{f:.{digits}g}")
        if float(np.float32(s)) == f:
            return s
    return f


__all__ = ["INT64_MAX", "momentum", "num", "pads_attr", "pair", "spatial", "weight"]
