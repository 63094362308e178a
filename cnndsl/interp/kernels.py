"""One numpy function per registered op, in one table (`KERNELS`).

A kernel takes (attrs, inputs, params) — normalized attributes, the input arrays in port
order (float64) and the node's parameters by short name (`weight`, `running_mean`) — and
returns one array, or a list of arrays for multi-output ops. A parameter keyed by the node
name itself (layer_scale's gamma) is under `SELF_PARAM`. Inference semantics:
batch norm uses running statistics; dropout and stochastic depth are the identity.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from cnndsl.interp import windows as W
from cnndsl.ops.registry import SELF_PARAM
from cnndsl.ops.tensor import per_axis

Kernel = Callable[[dict, list, dict], "np.ndarray | list[np.ndarray]"]

_erf = np.frompyfunc(math.erf, 1, 1)


def _channel(v: np.ndarray, rank: int) -> np.ndarray:
    """A per-channel vector [C] shaped to broadcast over axis 1 of a rank-`rank` tensor."""
    return v.reshape((1, -1) + (1,) * (rank - 2))


# --------------------------------------------------------------------------- conv / linear
def conv(a, xs, p):
    return W.conv(xs[0], p["weight"], p.get("bias"), a["stride"], a["padding"], a["dilation"], a["groups"])


def fused_conv(a, xs, p):
    """act(conv(x)): the conv, then the activation's own kernel on its output."""
    return KERNELS[a["act"]](a["act_attrs"], [conv(a, xs, p)], {})


def conv_t(a, xs, p):
    return W.conv_transpose(xs[0], p["weight"], p.get("bias"), a["stride"], a["padding"],
                              a["output_padding"], a["dilation"], a["groups"])


def linear(a, xs, p):
    y = xs[0] @ p["weight"].T  # on the last axis, as nn.Linear
    return y + p["bias"] if "bias" in p else y


# --------------------------------------------------------------------------- normalization
def bn(a, xs, p):
    x = xs[0]
    scale = 1.0 / np.sqrt(p["running_var"] + a["eps"])
    if "weight" in p:
        scale = scale * p["weight"]
    shift = -p["running_mean"] * scale + p.get("bias", 0.0)
    return x * _channel(scale, x.ndim) + _channel(shift, x.ndim)


def layernorm(a, xs, p):
    x, axis = xs[0], a["axis"]
    mu = x.mean(axis=axis, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axis, keepdims=True)
    y = (x - mu) / np.sqrt(var + a["eps"])
    if "weight" in p:
        along = (-1,) + (1,) * (x.ndim - 1 - axis)  # [C] broadcast over `axis`
        y = y * p["weight"].reshape(along) + p["bias"].reshape(along)
    return y


def layer_scale(a, xs, p):
    return xs[0] * p[SELF_PARAM]


def groupnorm(a, xs, p):
    x = xs[0]
    g = x.reshape((x.shape[0], a["groups"], -1))
    mu = g.mean(axis=2, keepdims=True)
    var = ((g - mu) ** 2).mean(axis=2, keepdims=True)
    y = ((g - mu) / np.sqrt(var + a["eps"])).reshape(x.shape)
    if "weight" in p:
        y = y * _channel(p["weight"], x.ndim) + _channel(p["bias"], x.ndim)
    return y


def instancenorm(a, xs, p):
    x = xs[0]
    axes = tuple(range(2, x.ndim))
    if "running_mean" in p:  # track_running_stats: inference uses the running statistics
        mu, var = _channel(p["running_mean"], x.ndim), _channel(p["running_var"], x.ndim)
    else:
        mu = x.mean(axis=axes, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + a["eps"])
    if "weight" in p:
        y = y * _channel(p["weight"], x.ndim) + _channel(p["bias"], x.ndim)
    return y


def l2norm(a, xs, p):
    x = xs[0]
    norm = np.sqrt((x * x).sum(axis=a["axis"], keepdims=True))
    y = x / np.maximum(norm, a["eps"])  # F.normalize
    return y * _channel(p[SELF_PARAM], x.ndim) if SELF_PARAM in p else y


# --------------------------------------------------------------------------- arithmetic
def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Kernel:
    """Two tensors (numpy broadcasting), or one and `scalar` (on the left with `reverse`)."""

    def kernel(a, xs, p):
        if len(xs) == 2:
            return fn(xs[0], xs[1])
        c = np.float64(a["scalar"])
        return fn(c, xs[0]) if a["reverse"] else fn(xs[0], c)

    return kernel


def _clamp(a, xs, p):
    y = xs[0]
    if a["min"] is not None:
        y = np.maximum(y, a["min"])
    if a["max"] is not None:
        y = np.minimum(y, a["max"])
    return y


def _norm(a, xs, p):
    ax, keep, q = tuple(a["axes"]), a["keepdims"], a["p"]
    if q == 2.0:
        return np.sqrt((xs[0] * xs[0]).sum(axis=ax, keepdims=keep))
    return (np.abs(xs[0]) ** q).sum(axis=ax, keepdims=keep) ** (1.0 / q)


def _slice(a, xs, p):
    index = [slice(None)] * xs[0].ndim
    index[a["axis"]] = slice(a["start"], a["stop"], a["step"])
    return xs[0][tuple(index)]


def _split(a, xs, p):
    return np.split(xs[0], np.cumsum(a["sizes"])[:-1], axis=a["axis"])


# --------------------------------------------------------------------------- activations
def _relu6(x):
    return np.clip(x, 0.0, 6.0)


def _sigmoid(x):
    # 1 / (1 + exp(-x)) without overflow and with relative accuracy for very negative x, where the
    # earlier 0.5 * (1 + tanh(x / 2)) cancelled to 0 (float64: sigmoid(-30) 0.1 % off, sigmoid(-80) 0)
    return np.exp(-np.logaddexp(0.0, -x)).astype(x.dtype, copy=False)


def _gelu(a, xs, p):
    x = xs[0]
    if a["approximate"] == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def prelu(a, xs, p):
    x = xs[0]
    w = p["weight"] if p["weight"].size == 1 else _channel(p["weight"], x.ndim)
    return np.where(x > 0, x, w * x)


def softmax(a, xs, p):
    x = xs[0]
    e = np.exp(x - x.max(axis=a["axis"], keepdims=True))
    return e / e.sum(axis=a["axis"], keepdims=True)


# --------------------------------------------------------------------------- pooling
def maxpool(a, xs, p):
    return W.maxpool(xs[0], a["kernel"], a["stride"], a["padding"], a["dilation"], a["ceil_mode"])


def avgpool(a, xs, p):
    return W.avgpool(xs[0], a["kernel"], a["stride"], a["padding"], a["ceil_mode"], a["count_include_pad"])


def lppool(a, xs, p):
    return W.lppool(xs[0], a["p"], a["kernel"], a["stride"], a["ceil_mode"])


# --------------------------------------------------------------------------- shape and layout
def upsample(a, xs, p):
    """PyTorch's interpolate, one spatial axis at a time: a given scale sets the source step
    (1/scale), a size sets in/out; nearest floors, (bi/tri)linear interpolates."""
    x = xs[0]
    nd = x.ndim - 2
    sizes = x.shape[2:]
    if a["size"] is not None:
        outs = per_axis(a["size"], nd, "size")
        inv = [sizes[i] / outs[i] for i in range(nd)]
    else:
        scale = per_axis(a["scale"], nd, "scale")
        outs = [int(sizes[i] * scale[i]) for i in range(nd)]
        inv = [1.0 / scale[i] for i in range(nd)]
    for i in range(nd):
        if a["mode"] == "nearest":
            idx = np.minimum(np.floor(np.arange(outs[i]) * inv[i]).astype(np.int64), sizes[i] - 1)
            x = np.take(x, idx, axis=2 + i)
        else:
            x = _linear_axis(x, 2 + i, outs[i], inv[i], a["align_corners"])
    return x


def _linear_axis(x, axis, out, inv, align_corners):
    n = x.shape[axis]
    if align_corners:
        src = np.arange(out) * ((n - 1) / (out - 1) if out > 1 else 0.0)
    else:
        src = np.maximum((np.arange(out) + 0.5) * inv - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    t = (src - i0).reshape((-1,) + (1,) * (x.ndim - axis - 1))
    return np.take(x, i0, axis=axis) * (1.0 - t) + np.take(x, i1, axis=axis) * t


def channel_shuffle(a, xs, p):
    x = xs[0]
    n, c, h, w = x.shape
    g = a["groups"]
    return x.reshape(n, g, c // g, h, w).transpose(0, 2, 1, 3, 4).reshape(n, c, h, w)


def pad(a, xs, p):
    pads = a["padding"]
    nd = len(pads) // 2
    widths = ((0, 0), (0, 0)) + tuple((pads[i], pads[nd + i]) for i in range(nd))
    if a["mode"] == "constant":
        return np.pad(xs[0], widths, mode="constant", constant_values=a["value"])
    return np.pad(xs[0], widths, mode={"reflect": "reflect", "replicate": "edge"}[a["mode"]])


def _identity(a, xs, p):
    return xs[0]


def _unary(fn: Callable[[np.ndarray], np.ndarray]) -> Kernel:
    def kernel(a, xs, p):
        return fn(xs[0])

    return kernel


KERNELS: dict[str, Kernel] = {
    "conv": conv,
    "conv_t": conv_t,
    "fused_conv": fused_conv,
    "linear": linear,
    "bn": bn,
    "layernorm": layernorm,
    "layer_scale": layer_scale,
    "relu": _unary(lambda x: np.maximum(x, 0.0)),
    "relu6": _unary(_relu6),
    "leaky_relu": lambda a, xs, p: np.where(xs[0] > 0, xs[0], a["slope"] * xs[0]),
    "elu": lambda a, xs, p: np.where(xs[0] > 0, xs[0], a["alpha"] * np.expm1(np.minimum(xs[0], 0.0))),
    "sigmoid": _unary(_sigmoid),
    "tanh": _unary(np.tanh),
    "hsigmoid": _unary(lambda x: _relu6(x + 3.0) / 6.0),
    "hswish": _unary(lambda x: x * _relu6(x + 3.0) / 6.0),
    "silu": _unary(lambda x: x * _sigmoid(x)),
    "gelu": _gelu,
    "prelu": prelu,
    "softmax": softmax,
    "identity": _identity,
    "maxpool": maxpool,
    "avgpool": avgpool,
    "lppool": lppool,
    "gap": _unary(lambda x: x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)),
    "gmp": _unary(lambda x: x.max(axis=tuple(range(2, x.ndim)), keepdims=True)),
    "adaptive_avgpool": lambda a, xs, p: W.adaptive_pool(xs[0], a["size"], np.mean),
    "adaptive_maxpool": lambda a, xs, p: W.adaptive_pool(xs[0], a["size"], np.max),
    "mean": lambda a, xs, p: xs[0].mean(axis=tuple(a["axes"]), keepdims=a["keepdims"]),
    "add": lambda a, xs, p: sum(xs[1:], xs[0]),
    "mul": lambda a, xs, p: xs[0] * xs[1],
    "concat": lambda a, xs, p: np.concatenate(xs, axis=a["axis"]),
    "flatten": lambda a, xs, p: xs[0].reshape(xs[0].shape[: a["start"]] + (-1,)),
    "reshape": lambda a, xs, p: xs[0].reshape((xs[0].shape[0],) + tuple(a["shape"])),
    "channel_shuffle": channel_shuffle,
    "chunk": lambda a, xs, p: np.split(xs[0], a["chunks"], axis=a["axis"]),
    "pad": pad,
    "groupnorm": groupnorm,
    "instancenorm": instancenorm,
    "l2norm": l2norm,
    "sub": _binary(np.subtract),
    "div": _binary(np.divide),
    "pow": _binary(np.power),
    "mul_scalar": lambda a, xs, p: xs[0] * a["factor"],
    "add_scalar": lambda a, xs, p: xs[0] + a["offset"],
    "neg": _unary(np.negative),
    "sqrt": _unary(np.sqrt),
    "exp": _unary(np.exp),
    "log": _unary(np.log),
    "abs": _unary(np.abs),
    "clamp": _clamp,
    "sum": lambda a, xs, p: xs[0].sum(axis=tuple(a["axes"]), keepdims=a["keepdims"]),
    "max": lambda a, xs, p: xs[0].max(axis=tuple(a["axes"]), keepdims=a["keepdims"]),
    "norm": _norm,
    "slice": _slice,
    "split": _split,
    "upsample": upsample,
    "matmul": lambda a, xs, p: np.matmul(xs[0], xs[1]),
    "transpose": lambda a, xs, p: np.ascontiguousarray(xs[0].transpose(a["axes"])),
    "dropout": _identity,
    "stochastic_depth": _identity,
}
