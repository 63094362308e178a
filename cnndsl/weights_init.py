"""Deterministic seeded weights following PyTorch's default initialization per layer type.

Each node draws from its own generator, seeded by (seed, crc32 of the node name), so a
node's weights do not change when other nodes are added or removed.

PyTorch's defaults reproduced here:
- conv, conv_t, linear weights: kaiming_uniform(a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in));
  biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)). fan_in is dim 1 times the kernel area — for
  conv_t's IOHW weight that is out_channels/groups * kh * kw, as PyTorch computes it.
- bn: weight 1, bias 0, running_mean 0, running_var 1, num_batches_tracked 0 (int64).
- layernorm: weight 1, bias 0. prelu: 0.25. layer_scale: the node's `init` value.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable

import numpy as np

from cnndsl.ir.graph import Graph
from cnndsl.ops.registry import get, param_key

Init = Callable[[str, tuple, dict, np.random.Generator], np.ndarray]


def _fan_in(shape: tuple) -> int:
    return int(np.prod(shape[1:])) if len(shape) > 1 else int(shape[0])


def _uniform(rng: np.random.Generator, shape: tuple, bound: float) -> np.ndarray:
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def _affine_layer(pname: str, shape: tuple, ctx: dict, rng: np.random.Generator) -> np.ndarray:
    """conv / conv_t / linear: kaiming_uniform(a=sqrt(5)) weight; bias bound from the weight's fan_in."""
    fan_in = _fan_in(ctx["weight_shape"])
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return _uniform(rng, shape, bound)


_NORM_DEFAULTS = {"weight": 1.0, "bias": 0.0, "running_mean": 0.0, "running_var": 1.0}


def _norm(pname: str, shape: tuple, ctx: dict, rng: np.random.Generator) -> np.ndarray:
    if pname == "num_batches_tracked":
        return np.zeros(shape, dtype=np.int64)
    if ctx["randomize"]:
        lo, hi = {"weight": (0.5, 1.5), "bias": (-0.5, 0.5), "running_mean": (-0.5, 0.5),
                  "running_var": (0.5, 2.0)}[pname]
        return rng.uniform(lo, hi, size=shape).astype(np.float32)
    return np.full(shape, _NORM_DEFAULTS[pname], dtype=np.float32)


def _prelu(pname: str, shape: tuple, ctx: dict, rng: np.random.Generator) -> np.ndarray:
    return np.full(shape, 0.25, dtype=np.float32)


def _layer_scale(pname: str, shape: tuple, ctx: dict, rng: np.random.Generator) -> np.ndarray:
    return np.full(shape, ctx["attrs"]["init"], dtype=np.float32)


def _l2_scale(pname: str, shape: tuple, ctx: dict, rng: np.random.Generator) -> np.ndarray:
    scale = ctx["attrs"]["scale"]  # SSD's L2Norm: torch.ones(C) * scale
    if ctx["randomize"]:
        return rng.uniform(0.5 * scale, 1.5 * scale, size=shape).astype(np.float32)
    return np.full(shape, scale, dtype=np.float32)


INITIALIZERS: dict[str, Init] = {
    "conv": _affine_layer,
    "conv_t": _affine_layer,
    "fused_conv": _affine_layer,
    "linear": _affine_layer,
    "bn": _norm,
    "layernorm": _norm,
    "prelu": _prelu,
    "layer_scale": _layer_scale,
    "groupnorm": _norm,
    "instancenorm": _norm,
    "l2norm": _l2_scale,
}


def init_weights(graph: Graph, seed: int = 0, randomize_buffers: bool = False) -> dict[str, np.ndarray]:
    """Weights for every parameter of `graph`, keyed `"<node name>.<param>"` (`param_key`).

    randomize_buffers: give norm layers non-trivial running statistics and affine
    parameters (mean, bias in [-0.5, 0.5], var in [0.5, 2], weight in [0.5, 1.5]) so that
    tests of batch-norm folding and of backends check real arithmetic.
    """
    out: dict[str, np.ndarray] = {}
    for node in graph.topo():
        if node.op == "input" or not node.owns_params:  # a shared instance's later application: its first has them
            continue
        in_shapes = [graph.value_shape(ref) for ref in node.inputs]
        params = get(node.op).params(node.attrs, in_shapes)
        if not params:
            continue
        if node.op not in INITIALIZERS:
            raise KeyError(f"no initializer for op {node.op!r} (node {node.name!r})")
        rng = np.random.default_rng([seed, zlib.crc32(node.params_of.encode())])
        ctx = {"attrs": node.attrs, "weight_shape": params.get("weight", ((1,), True))[0],
               "randomize": randomize_buffers}
        for pname, (shape, _trainable) in params.items():
            out[param_key(node.params_of, pname)] = INITIALIZERS[node.op](pname, tuple(shape), ctx, rng)
    return out
