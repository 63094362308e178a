"""PyTorch lowerings, one per registered op, in one table (`LOWERINGS`).

A lowering is `fn(node, in_shapes) -> Ctor`: the `nn.Module` constructor call that
computes the node (a `torch.nn` class, or a small helper class the generated file
defines, listed in `Ctor.helpers`). Merges (add, mul, concat), matmul and chunk are not
modules; they are `Expr`s written straight into `forward`. An op whose parameter is keyed
by the node name itself (`SELF_PARAM`: layer_scale) lowers to a `Param`: the enclosing
module holds an `nn.Parameter` attribute named like the node, as torchvision's CNBlock
holds `self.layer_scale`, so the state_dict key is the node name. Numbers in a constructor's arguments
(ints and floats) are "holes": the code generator turns those that differ between
instances of one block into constructor parameters of the block's class. This module
imports nothing heavy; torch is needed only to run what it writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnndsl.backend import BackendError

from .ctor import Arg, Ctor, Expr, Literal, Param
from .lower_math import ROWS as LOWER_MATH
from .lower_math import frozen_bn


def is_hole(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def square(v: Any) -> Any:
    """(3, 3) -> 3, (3, 3, 3) -> 3, (3,) -> 3: torch accepts an int for a window equal on every axis."""
    if isinstance(v, (tuple, list)) and 1 <= len(v) <= 3 and all(x == v[0] for x in v):
        return v[0]
    return tuple(v) if isinstance(v, list) else v


def nd_name(base: str, node_or_rank) -> str:
    """`nn.Conv2d` for a rank-4 input, `nn.Conv1d` for rank 3, `nn.Conv3d` for rank 5 (`base` holds `{}`)."""
    rank = node_or_rank if isinstance(node_or_rank, int) else len(node_or_rank)
    if rank not in (3, 4, 5):
        raise BackendError(f"no torch module for a rank-{rank} input: {base.format('N')}")
    return base.format(rank - 2)


def _sym_padding(node, pads) -> Any | None:
    """(begins..., ends...) -> torch's symmetric padding, or None when asymmetric."""
    nd = len(pads) // 2
    if tuple(pads[:nd]) == tuple(pads[nd:]):
        return square(tuple(pads[:nd]))
    return None


def torch_pads(pads) -> tuple:
    """Ours (begins, then ends, first spatial axis first) -> F.pad's (last axis first: begin, end, ...)."""
    nd = len(pads) // 2
    out: tuple = ()
    for i in reversed(range(nd)):
        out += (pads[i], pads[nd + i])
    return out


# ------------------------------------------------------------------ convolution, linear


def _conv_args(node, shapes) -> list[Arg]:
    a = node.attrs
    pad = _sym_padding(node, a["padding"])
    args = [Arg("in_channels", shapes[0][1], kw=False), Arg("out_channels", a["out"], kw=False),
            Arg("kernel_size", square(a["kernel"])), Arg("stride", square(a["stride"]), default=1),
            Arg("padding", pad if pad is not None else 0, default=0),
            Arg("dilation", square(a["dilation"]), default=1), Arg("groups", a["groups"], default=1)]
    if not a["bias"]:
        args.append(Arg("bias", False))
    return args


def _pad_arg(node) -> Arg:
    return Arg("pads", torch_pads(node.attrs["padding"]))


def _conv(node, shapes) -> Ctor:
    args = _conv_args(node, shapes)
    if _sym_padding(node, node.attrs["padding"]) is None:  # TF-style "same": pad, then convolve
        helper = nd_name("PadConv{}d", shapes[0])
        return Ctor(helper, args + [_pad_arg(node)], {helper})
    return Ctor(nd_name("nn.Conv{}d", shapes[0]), args)


def _fused_conv(node, shapes) -> Ctor:
    a = node.attrs
    act = LOWERINGS[a["act"]](_ActNode(a["act"], dict(a["act_attrs"] or {})), shapes)
    if not isinstance(act, Ctor):
        raise BackendError(f"{node.name}: activation {a['act']} cannot be fused")
    args = _conv_args(node, shapes)
    if _sym_padding(node, a["padding"]) is None:
        args.append(_pad_arg(node))
    helper = nd_name("FusedConv{}d", shapes[0])
    return Ctor(helper, args + [Arg("act", act)], {helper} | act.helpers)


@dataclass
class _ActNode:
    op: str
    attrs: dict
    name: str = "act"
    meta: dict = field(default_factory=dict)


def _conv_t(node, shapes) -> Ctor:
    a = node.attrs
    args = [Arg("in_channels", shapes[0][1], kw=False), Arg("out_channels", a["out"], kw=False),
            Arg("kernel_size", square(a["kernel"]))]
    if set(a["stride"]) != {1}:
        args.append(Arg("stride", square(a["stride"])))
    if set(a["padding"]) != {0}:
        args.append(Arg("padding", square(a["padding"])))
    if set(a["output_padding"]) != {0}:
        args.append(Arg("output_padding", square(a["output_padding"])))
    if a["groups"] != 1:
        args.append(Arg("groups", a["groups"]))
    if not a["bias"]:
        args.append(Arg("bias", False))
    if set(a["dilation"]) != {1}:
        args.append(Arg("dilation", square(a["dilation"])))
    return Ctor(nd_name("nn.ConvTranspose{}d", shapes[0]), args)


def _linear(node, shapes) -> Ctor:
    args = [Arg("in_features", shapes[0][-1], kw=False), Arg("out_features", node.attrs["out"], kw=False)]
    if not node.attrs["bias"]:
        args.append(Arg("bias", False))
    return Ctor("nn.Linear", args)


# ------------------------------------------------------------------ normalization


def _bn(node, shapes) -> Ctor:
    a = node.attrs
    if a.get("frozen"):
        return frozen_bn(node, shapes)
    rank = len(shapes[0])
    func = {2: "nn.BatchNorm1d", 3: "nn.BatchNorm1d", 4: "nn.BatchNorm2d", 5: "nn.BatchNorm3d"}.get(rank)
    if func is None:
        raise BackendError(f"{node.name}: batch norm over a rank-{rank} tensor has no torch module")
    args = [Arg("num_features", shapes[0][1], kw=False), Arg("eps", float(a["eps"]), default=1e-5),
            Arg("momentum", float(a["momentum"]), default=0.1)]
    if not a["affine"]:
        args.append(Arg("affine", False))
    return Ctor(func, args)


def _layernorm(node, shapes) -> Ctor:
    a = node.attrs
    axis, rank = a["axis"], len(shapes[0])
    if axis == rank - 1:  # nn.LayerNorm: the last axis
        args = [Arg("normalized_shape", shapes[0][axis], kw=False), Arg("eps", float(a["eps"]), default=1e-5)]
        if not a["affine"]:
            args.append(Arg("elementwise_affine", False))
        return Ctor("nn.LayerNorm", args)
    args = [Arg("channels", shapes[0][axis], kw=False), Arg("eps", float(a["eps"]))]
    if not a["affine"]:
        args.append(Arg("affine", False))
    if axis != 1:
        args.append(Arg("dim", Literal(axis)))
    return Ctor("LayerNorm2d", args, {"LayerNorm2d"})


def _layer_scale(node, shapes) -> Param:
    # torchvision's CNBlock: self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)
    size = Ctor("", [Arg("channels", shapes[0][1], kw=False), Arg("", Literal(1), kw=False),
                     Arg("", Literal(1), kw=False)])
    full = Ctor("torch.full", [Arg("size", size, kw=False), Arg("fill_value", float(node.attrs["init"]), kw=False)])
    return Param(Ctor("nn.Parameter", [Arg("data", full, kw=False)]), "{p} * {0}")


# ------------------------------------------------------------------ activations


def _plain(func: str):
    def lower(node, shapes) -> Ctor:
        return Ctor(func)

    lower.__name__ = f"_lower_{func.rsplit('.', 1)[-1]}"
    return lower


def _inplace_act(func: str):
    """ReLU / ReLU6, in place where `inplace.py` found it safe (torchvision's `inplace=True`)."""

    def lower(node, shapes) -> Ctor:
        return Ctor(func, [Arg("inplace", True)] if node.meta.get("inplace") else [])

    lower.__name__ = f"_lower_{func.rsplit('.', 1)[-1]}"
    return lower


def _leaky_relu(node, shapes) -> Ctor:
    return Ctor("nn.LeakyReLU", [Arg("negative_slope", float(node.attrs["slope"]), kw=False)])


def _elu(node, shapes) -> Ctor:
    return Ctor("nn.ELU", [Arg("alpha", float(node.attrs["alpha"]))])


def _gelu(node, shapes) -> Ctor:
    approx = node.attrs["approximate"]
    return Ctor("nn.GELU", [Arg("approximate", approx)] if approx != "none" else [])


def _prelu(node, shapes) -> Ctor:
    n = node.attrs["num_parameters"]
    return Ctor("nn.PReLU", [Arg("num_parameters", n)] if n != 1 else [])


def _softmax(node, shapes) -> Ctor:
    return Ctor("nn.Softmax", [Arg("dim", Literal(node.attrs["axis"]))])


# ------------------------------------------------------------------ pooling


def _window_args(a: dict) -> list:
    """kernel_size, and stride where it differs from the kernel (torch's default)."""
    args = [Arg("kernel_size", square(a["kernel"]), kw=False)]
    if a["stride"] != a["kernel"]:
        args.append(Arg("stride", square(a["stride"])))
    return args


def _maxpool(node, shapes) -> Ctor:
    a = node.attrs
    args = _window_args(a)
    pad = _sym_padding(node, a["padding"])
    if pad is None:
        if a["ceil_mode"]:
            raise BackendError(f"{node.name}: asymmetric max-pool padding with ceil_mode has no torch form")
        args.append(_pad_arg(node))
    elif pad != 0:
        args.append(Arg("padding", pad))
    if set(a["dilation"]) != {1}:
        args.append(Arg("dilation", square(a["dilation"])))
    if a["ceil_mode"]:
        args.append(Arg("ceil_mode", True))
    if pad is None:
        helper = nd_name("PadMaxPool{}d", shapes[0])
        return Ctor(helper, args, {helper})
    return Ctor(nd_name("nn.MaxPool{}d", shapes[0]), args)


def _avgpool(node, shapes) -> Ctor:
    a = node.attrs
    args = _window_args(a)
    pad = _sym_padding(node, a["padding"])
    small_3d = len(shapes[0]) == 5 and any(d < k for d, k in zip(shapes[0][2:], a["kernel"])) and pad != 0
    if pad is None or small_3d:
        return _avgpool_padded_first(node, shapes, args)
    if pad != 0:
        args.append(Arg("padding", pad))
    if a["ceil_mode"]:
        args.append(Arg("ceil_mode", True))
    if not a["count_include_pad"]:
        args.append(Arg("count_include_pad", False))
    return Ctor(nd_name("nn.AvgPool{}d", shapes[0]), args)


def _avgpool_padded_first(node, shapes, args: list) -> Ctor:
    """Average pooling whose padding torch's module cannot take: asymmetric (TF-style "same"), or a 3-D
    input smaller than the window (nn.AvgPool3d refuses it whatever its padding; avg_pool2d does not).
    Zero-pad explicitly, then pool unpadded: the same average when the padding counts
    (`count_include_pad`, the default); otherwise the divisor differs and there is no torch form."""
    a = node.attrs
    if not a["count_include_pad"] or a["ceil_mode"]:
        raise BackendError(f"{node.name}: this average pool's padding (asymmetric, or a 3-D input smaller than "
                           "the window) has a torch form only with count_include_pad=true and ceil_mode=false",
                           node.span)
    pad = Ctor(nd_name("nn.ConstantPad{}d", shapes[0]),
               [Arg("padding", torch_pads(a["padding"]), kw=False), Arg("value", 0.0, kw=False)])
    pool = Ctor(nd_name("nn.AvgPool{}d", shapes[0]), args)
    return Ctor("nn.Sequential", [Arg("pad", pad, kw=False), Arg("pool", pool, kw=False)])


def _lppool(node, shapes) -> Ctor:
    a = node.attrs
    args = [Arg("norm_type", float(a["p"]), kw=False), Arg("kernel_size", square(a["kernel"]), kw=False)]
    if a["stride"] != a["kernel"]:
        args.append(Arg("stride", square(a["stride"])))
    if a["ceil_mode"]:
        args.append(Arg("ceil_mode", True))
    return Ctor(nd_name("nn.LPPool{}d", shapes[0]), args)


def _gap(node, shapes) -> Ctor:
    return Ctor(nd_name("nn.AdaptiveAvgPool{}d", shapes[0]), [Arg("output_size", Literal(1), kw=False)])


def _gmp(node, shapes) -> Ctor:
    return Ctor(nd_name("nn.AdaptiveMaxPool{}d", shapes[0]), [Arg("output_size", Literal(1), kw=False)])


def _adaptive(func: str):
    def lower(node, shapes) -> Ctor:
        return Ctor(nd_name(func, shapes[0]), [Arg("output_size", square(node.attrs["size"]), kw=False)])

    return lower


def _mean(node, shapes) -> Ctor:
    return Ctor("Mean", [Arg("dims", Literal(tuple(node.attrs["axes"])), kw=False),
                         Arg("keepdim", bool(node.attrs["keepdims"]))], {"Mean"})


# ------------------------------------------------------------------ shapes and regularization


def _flatten(node, shapes) -> Ctor:
    start = node.attrs["start"]
    return Ctor("nn.Flatten", [Arg("start_dim", Literal(start))] if start != 1 else [])


def _dropout(node, shapes) -> Ctor:
    return Ctor("nn.Dropout", [Arg("p", float(node.attrs["p"]))])


def _stochastic_depth(node, shapes) -> Ctor:
    return Ctor("StochasticDepth", [Arg("p", float(node.attrs["p"]), kw=False),
                                    Arg("mode", node.attrs["mode"], kw=False)], {"StochasticDepth"})


def _upsample(node, shapes) -> Ctor:
    a = node.attrs
    if a["size"] is not None:
        args = [Arg("size", Literal(square(a["size"])))]
    else:
        s = a["scale"]
        s = square(s) if isinstance(s, (tuple, list)) else s
        args = [Arg("scale_factor", Literal(float(s) if is_hole(s) else tuple(float(v) for v in s)))]
    args.append(Arg("mode", a["mode"]))
    if a["align_corners"]:
        args.append(Arg("align_corners", True))
    return Ctor("nn.Upsample", args)


def _reshape(node, shapes) -> Ctor:
    return Ctor("Reshape", [Arg("shape", Literal(tuple(int(d) for d in node.attrs["shape"])), kw=False)],
                {"Reshape"})


def _channel_shuffle(node, shapes) -> Ctor:
    return Ctor("nn.ChannelShuffle", [Arg("groups", node.attrs["groups"], kw=False)])


def _pad(node, shapes) -> Ctor:
    pads = Literal(torch_pads(node.attrs["padding"]))
    mode = node.attrs["mode"]
    if mode == "constant":
        return Ctor(nd_name("nn.ConstantPad{}d", shapes[0]), [Arg("padding", pads, kw=False),
                                                              Arg("value", float(node.attrs["value"]), kw=False)])
    func = {"reflect": "nn.ReflectionPad{}d", "replicate": "nn.ReplicationPad{}d"}[mode]
    return Ctor(nd_name(func, shapes[0]), [Arg("padding", pads, kw=False)])


# ------------------------------------------------------------------ merges: forward expressions


def _add(node, shapes) -> Expr:
    return Expr(" + ".join(f"{{{i}}}" for i in range(len(node.inputs))))


def _mul(node, shapes) -> Expr:
    return Expr("{0} * {1}")


def _concat(node, shapes) -> Expr:
    return Expr("torch.cat([{all}], dim=" + str(int(node.attrs["axis"])) + ")", uses_torch=True)


def _matmul(node, shapes) -> Expr:
    return Expr("torch.bmm({0}, {1})", uses_torch=True)


def _transpose(node, shapes) -> Ctor:
    return Ctor("Permute", [Arg("dims", Literal([int(a) for a in node.attrs["axes"]]), kw=False)], {"Permute"})


def _chunk(node, shapes) -> Expr:
    return Expr("{0}.chunk(" + f"{int(node.attrs['chunks'])}, dim={int(node.attrs['axis'])})",
                outputs=int(node.attrs["chunks"]))


# ------------------------------------------------------------------ the table

LOWERINGS = {
    # convolution and linear
    "conv": _conv,
    "conv_t": _conv_t,
    "fused_conv": _fused_conv,
    "linear": _linear,
    # normalization
    "bn": _bn,
    "layernorm": _layernorm,
    "layer_scale": _layer_scale,
    # activations
    "relu": _inplace_act("nn.ReLU"),
    "relu6": _inplace_act("nn.ReLU6"),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "sigmoid": _plain("nn.Sigmoid"),
    "tanh": _plain("nn.Tanh"),
    "hsigmoid": _plain("nn.Hardsigmoid"),
    "hswish": _plain("nn.Hardswish"),
    "silu": _plain("nn.SiLU"),
    "gelu": _gelu,
    "identity": _plain("nn.Identity"),
    "prelu": _prelu,
    "softmax": _softmax,
    # pooling and reductions
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "gap": _gap,
    "gmp": _gmp,
    "lppool": _lppool,
    "adaptive_avgpool": _adaptive("nn.AdaptiveAvgPool{}d"),
    "adaptive_maxpool": _adaptive("nn.AdaptiveMaxPool{}d"),
    "mean": _mean,
    # merges and shapes
    "add": _add,
    "mul": _mul,
    "concat": _concat,
    "chunk": _chunk,
    "matmul": _matmul,
    "transpose": _transpose,
    "flatten": _flatten,
    "reshape": _reshape,
    "channel_shuffle": _channel_shuffle,
    "pad": _pad,
    "upsample": _upsample,
    # regularization (active in training, the identity in eval mode)
    "dropout": _dropout,
    "stochastic_depth": _stochastic_depth,
    # arithmetic, reductions, slicing and per-sample norms (issue 12): lower_math.py
    **LOWER_MATH,
}

__all__ = ["LOWERINGS", "Arg", "Ctor", "Expr", "Literal", "Param", "is_hole", "square"]
