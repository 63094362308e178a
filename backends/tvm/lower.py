"""IR -> Relax, built straight from the Graph with `relax.BlockBuilder`.

`LOWERINGS` maps every registered op name to `fn(ctx, node, xs) -> Expr | list[Expr]`
(`xs`: the Relax values of the node's inputs, in port order) or to `Refused(reason)`.
Nothing here imports TVM at module level: `ctx.relax` / `ctx.nn` carry the modules, so
`cnndsl check` and the coverage test stay light.

Conventions (docs/backends.md): NCHW, conv weights OIHW, conv_t IOHW, linear [out, in];
parameters are keyed `<node name>.<param>` (`cnndsl.ops.registry.param_key`: layer_scale's
gamma is keyed by the node name itself). Dropout and other inference identities are
never emitted. BatchNorm is emitted with `training=False` (TVM's default is True, which
silently normalizes with batch statistics) and decomposed later so conv+BN+act fuse.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnndsl.backend import BackendError, Refused
from cnndsl.ops.registry import SELF_PARAM, param_key

from . import nd
from .lower_math import ROWS as LOWER_MATH

SKIPPED_PARAMS = ("num_batches_tracked",)


class LowerCtx:
    """What a lowering sees: the BlockBuilder, parameters and the batch expression."""

    def __init__(self, bb, weights, param_vars: dict | None, batch):
        import tvm
        from tvm import relax

        self.tvm = tvm
        self.relax = relax
        self.op = relax.op
        self.nn = relax.op.nn
        self.bb = bb
        self.weights = weights
        self.param_vars = param_vars  # None: embed weights as constants
        self.batch = batch  # int or tirx.Var
        self.consts: dict = {}  # (weight key, form) -> one Relax constant, so a shared parameter set is one constant
        self.cpu = None  # cpu_target.CpuProfile of an llvm build in the packed layout (its channel block)
        self.winograd = "auto"  # 3x3 stride-1 convs: "auto" (winograd.choose_tile's rule), "0" off, "2"/"4" forced

    # -- helpers ------------------------------------------------------------------
    def emit(self, expr):
        return self.bb.emit(expr)

    def f32(self, value: float):
        return self.relax.const(float(value), "float32")

    def param(self, node, name: str, shape: tuple | None = None):
        """The weight `param_key(node, name)`, optionally reshaped (constants are reshaped in numpy)."""
        key = param_key(node.params_of, name)
        if self.param_vars is not None:
            var = self.param_vars[key]
            return self.emit(self.op.reshape(var, shape)) if shape is not None else var
        if key not in self.weights:
            raise BackendError(f"missing weight '{key}' for node {node.name} [{node.op}]")
        if (key, shape) not in self.consts:
            arr = np.asarray(self.weights[key], dtype="float32")
            if shape is not None:
                arr = arr.reshape(shape)
            self.consts[(key, shape)] = self.relax.const(np.ascontiguousarray(arr))
        return self.consts[(key, shape)]

    def dims(self, shape) -> tuple:
        """An IR shape with the batch symbol replaced by the batch expression."""
        return tuple(self.batch if i == 0 else int(d) for i, d in enumerate(shape))


# ----------------------------------------------------------------------- lowerings
def _conv(ctx: LowerCtx, node, xs):
    a = node.attrs
    y = ctx.emit(ctx.nn.conv2d(xs[0], ctx.param(node, "weight"), strides=a["stride"], padding=a["padding"],
                               dilation=a["dilation"], groups=a["groups"]))
    if a["bias"]:
        y = ctx.emit(ctx.op.add(y, ctx.param(node, "bias", (1, a["out"], 1, 1))))
    return y


def _fused_conv(ctx: LowerCtx, node, xs):
    """act(conv(x)) made by the fuse_conv_act pass: conv, then the activation's own lowering."""
    return fused_activation(ctx, node, LOWERINGS["conv"](ctx, node, xs))


def fused_activation(ctx: LowerCtx, node, y):
    """The activation a fused_conv node carries, applied to its conv result `y` (any layout
    for the elementwise activations; packed.py uses it on channel-blocked values)."""
    from types import SimpleNamespace

    act = SimpleNamespace(name=node.name, op=node.attrs["act"], attrs=node.attrs.get("act_attrs") or {},
                          meta=node.meta, inputs=node.inputs)
    low = LOWERINGS.get(act.op)
    if low is None or isinstance(low, Refused):
        raise BackendError(f"{node.name} [fused_conv]: no TVM lowering for activation '{act.op}'")
    return low(ctx, act, [y])


def _conv_t(ctx: LowerCtx, node, xs):
    a = node.attrs
    ph, pw = a["padding"]
    y = ctx.emit(ctx.nn.conv2d_transpose(xs[0], ctx.param(node, "weight"), strides=a["stride"],
                                         padding=(ph, pw, ph, pw), output_padding=a["output_padding"],
                                         dilation=a["dilation"], groups=a["groups"]))
    if a["bias"]:
        y = ctx.emit(ctx.op.add(y, ctx.param(node, "bias", (1, a["out"], 1, 1))))
    return y


def _bn(ctx: LowerCtx, node, xs):
    a = node.attrs
    c = int(node.meta["shape"][1])
    if a["affine"]:
        gamma, beta = ctx.param(node, "weight"), ctx.param(node, "bias")
    else:
        gamma = ctx.relax.const(np.ones(c, "float32"))
        beta = ctx.relax.const(np.zeros(c, "float32"))
    t = ctx.emit(ctx.nn.batch_norm(xs[0], gamma, beta, ctx.param(node, "running_mean"),
                                   ctx.param(node, "running_var"), axis=1, epsilon=a["eps"], training=False))
    return ctx.emit(ctx.relax.TupleGetItem(t, 0))


def _layernorm(ctx: LowerCtx, node, xs):
    a = node.attrs
    x = xs[0]
    axis = a["axis"]
    c = int(node.meta["shape"][axis])
    rank = len(node.meta["shape"])
    # normalize over one axis at each position (channels: ConvNeXt's LayerNorm2d; the last: nn.LayerNorm)
    mean = ctx.emit(ctx.op.mean(x, axis=[axis], keepdims=True))
    d = ctx.emit(ctx.op.subtract(x, mean))
    var = ctx.emit(ctx.op.mean(ctx.op.multiply(d, d), axis=[axis], keepdims=True))
    y = ctx.emit(ctx.op.divide(d, ctx.op.sqrt(ctx.op.add(var, ctx.f32(a["eps"])))))
    if a["affine"]:
        shape = (c,) + (1,) * (rank - 1 - axis)  # [C] broadcast over `axis`
        y = ctx.emit(ctx.op.add(ctx.op.multiply(y, ctx.param(node, "weight", shape)), ctx.param(node, "bias", shape)))
    return y


def _layer_scale(ctx: LowerCtx, node, xs):
    return ctx.emit(ctx.op.multiply(xs[0], ctx.param(node, SELF_PARAM)))


def _unary(opname: str):
    def lower(ctx: LowerCtx, node, xs):
        fn = getattr(ctx.nn, opname, None) or getattr(ctx.op, opname)
        return ctx.emit(fn(xs[0]))

    lower.__name__ = f"_lower_{opname}"
    return lower


def _leaky_relu(ctx: LowerCtx, node, xs):
    return ctx.emit(ctx.nn.leakyrelu(xs[0], node.attrs["slope"]))


def _elu(ctx: LowerCtx, node, xs):
    x = xs[0]
    neg = ctx.op.multiply(ctx.f32(node.attrs["alpha"]), ctx.op.subtract(ctx.op.exp(x), ctx.f32(1.0)))
    return ctx.emit(ctx.op.where(ctx.op.greater(x, ctx.f32(0.0)), x, neg))


def _hsigmoid_expr(ctx: LowerCtx, x):
    # relu6(x + 3) / 6 == clip(x / 6 + 0.5, 0, 1); TVM has no hard_sigmoid op
    return ctx.op.clip(ctx.op.add(ctx.op.divide(x, ctx.f32(6.0)), ctx.f32(0.5)), 0.0, 1.0)


def _hsigmoid(ctx: LowerCtx, node, xs):
    return ctx.emit(_hsigmoid_expr(ctx, xs[0]))


def _hswish(ctx: LowerCtx, node, xs):
    return ctx.emit(ctx.op.multiply(xs[0], _hsigmoid_expr(ctx, xs[0])))


def _gelu(ctx: LowerCtx, node, xs):
    fn = ctx.nn.gelu_tanh if node.attrs["approximate"] == "tanh" else ctx.nn.gelu
    return ctx.emit(fn(xs[0]))


def _identity(ctx: LowerCtx, node, xs):
    return xs[0]  # identity, dropout, stochastic_depth: nothing is emitted


def _prelu(ctx: LowerCtx, node, xs):
    x = xs[0]
    rank = len(node.meta["shape"])
    n = node.attrs["num_parameters"]
    alpha = ctx.param(node, "weight", (1, n) + (1,) * (rank - 2) if n > 1 else (1,) * rank)
    neg = ctx.op.multiply(alpha, ctx.op.minimum(x, ctx.f32(0.0)))
    return ctx.emit(ctx.op.add(ctx.op.maximum(x, ctx.f32(0.0)), neg))


def _maxpool(ctx: LowerCtx, node, xs):
    a = node.attrs
    return ctx.emit(ctx.nn.max_pool2d(xs[0], a["kernel"], a["stride"], a["padding"], a["dilation"],
                                      ceil_mode=a["ceil_mode"]))


def _avgpool(ctx: LowerCtx, node, xs):
    a = node.attrs
    return ctx.emit(ctx.nn.avg_pool2d(xs[0], a["kernel"], a["stride"], a["padding"], ceil_mode=a["ceil_mode"],
                                      count_include_pad=a["count_include_pad"]))


def _lppool(ctx: LowerCtx, node, xs):
    # (sum over the window of x^p)^(1/p), as PyTorch's LPPool2d: avg_pool(x^p) * kh * kw
    a = node.attrs
    p = float(a["p"])
    kh, kw = a["kernel"]
    xp = ctx.op.power(xs[0], ctx.f32(p))
    s = ctx.op.multiply(ctx.nn.avg_pool2d(xp, a["kernel"], a["stride"], (0, 0, 0, 0), ceil_mode=a["ceil_mode"],
                                          count_include_pad=True), ctx.f32(kh * kw))
    s = ctx.op.multiply(ctx.op.sign(s), ctx.nn.relu(ctx.op.abs(s)))
    return ctx.emit(ctx.op.power(s, ctx.f32(1.0 / p)))


def _gap(ctx: LowerCtx, node, xs):
    return ctx.emit(ctx.op.mean(xs[0], axis=[2, 3], keepdims=True))


def _gmp(ctx: LowerCtx, node, xs):
    return ctx.emit(ctx.op.max(xs[0], axis=[2, 3], keepdims=True))


def _adaptive_avgpool(ctx: LowerCtx, node, xs):
    return ctx.emit(ctx.nn.adaptive_avg_pool2d(xs[0], output_size=node.attrs["size"]))


def _adaptive_maxpool(ctx: LowerCtx, node, xs):
    # Relax has no adaptive max pool: one max per PyTorch window, concatenated
    x = xs[0]
    oh, ow = node.attrs["size"]
    h, w = int(x.ty.shape[2]), int(x.ty.shape[3])
    if h % oh == 0 and w % ow == 0:
        k = (h // oh, w // ow)
        return ctx.emit(ctx.nn.max_pool2d(x, k, k))
    rows = []
    for i in range(oh):
        h0, h1 = (i * h) // oh, -(-((i + 1) * h) // oh)
        cols = []
        for j in range(ow):
            w0, w1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            win = ctx.op.strided_slice(x, axes=[2, 3], begin=[h0, w0], end=[h1, w1])
            cols.append(ctx.emit(ctx.op.max(win, axis=[2, 3], keepdims=True)))
        rows.append(ctx.emit(ctx.op.concat(cols, axis=3)) if len(cols) > 1 else cols[0])
    return ctx.emit(ctx.op.concat(rows, axis=2)) if len(rows) > 1 else rows[0]


def _softmax(ctx: LowerCtx, node, xs):
    return ctx.emit(ctx.nn.softmax(xs[0], axis=node.attrs["axis"]))


def _mean(ctx: LowerCtx, node, xs):
    return ctx.emit(ctx.op.mean(xs[0], axis=list(node.attrs["axes"]), keepdims=node.attrs["keepdims"]))


def _add(ctx: LowerCtx, node, xs):
    y = xs[0]
    for x in xs[1:]:
        y = ctx.emit(ctx.op.add(y, x))
    return y


def _mul(ctx: LowerCtx, node, xs):
    return ctx.emit(ctx.op.multiply(xs[0], xs[1]))


def _concat(ctx: LowerCtx, node, xs):
    return ctx.emit(ctx.op.concat(list(xs), axis=node.attrs["axis"]))


def _reshape_to_node(ctx: LowerCtx, node, xs):
    """flatten and reshape: the IR already knows the output shape."""
    return ctx.emit(ctx.op.reshape(xs[0], ctx.dims(node.meta["shape"])))


def _upsample(ctx: LowerCtx, node, xs):
    a = node.attrs
    size = tuple(int(d) for d in node.meta["shape"][2:4])
    if a["mode"] == "nearest":
        # PyTorch's nearest: asymmetric coordinates, floor
        expr = ctx.op.image.resize2d(xs[0], size=size, method="nearest_neighbor",
                                     coordinate_transformation_mode="asymmetric", rounding_method="floor")
    else:
        mode = "align_corners" if a["align_corners"] else "half_pixel"
        expr = ctx.op.image.resize2d(xs[0], size=size, method="linear", coordinate_transformation_mode=mode)
    return ctx.emit(expr)


def _linear(ctx: LowerCtx, node, xs):
    # on the last axis of any rank (relax's linear is a batched matmul with the transposed weight)
    b = ctx.param(node, "bias") if node.attrs["bias"] else None
    return ctx.emit(ctx.op.linear(xs[0], ctx.param(node, "weight"), b))


def _channel_shuffle(ctx: LowerCtx, node, xs):
    n, c, h, w = ctx.dims(node.meta["shape"])
    g = node.attrs["groups"]
    y = ctx.op.reshape(xs[0], (n, g, c // g, h, w))
    y = ctx.op.permute_dims(y, [0, 2, 1, 3, 4])
    return ctx.emit(ctx.op.reshape(y, (n, c, h, w)))


def _matmul(ctx: LowerCtx, node, xs):
    return ctx.emit(ctx.op.matmul(xs[0], xs[1]))


def _transpose(ctx: LowerCtx, node, xs):
    return ctx.emit(ctx.op.permute_dims(xs[0], [int(a) for a in node.attrs["axes"]]))


def _chunk(ctx: LowerCtx, node, xs):
    t = ctx.emit(ctx.op.split(xs[0], node.attrs["chunks"], axis=node.attrs["axis"]))
    return [ctx.emit(ctx.relax.TupleGetItem(t, i)) for i in range(node.attrs["chunks"])]


_PAD_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "replicate"}


def _pad(ctx: LowerCtx, node, xs):
    pt, pl, pb, pr = node.attrs["padding"]
    return ctx.emit(ctx.nn.pad(xs[0], [0, 0, 0, 0, pt, pb, pl, pr], pad_mode=_PAD_MODE[node.attrs["mode"]],
                               pad_value=float(node.attrs["value"])))


# One literal table: every registered op (tests/backends/test_tvm_lower.py checks coverage).
LOWERINGS: dict[str, Any] = {
    "input": Refused("graph inputs are function parameters, not lowered"),
    # spatial ops: 1-D and 3-D (NCL, NCDHW) values lower through nd.py
    "conv": nd.by_rank(_conv, nd.conv),
    "fused_conv": nd.by_rank(_fused_conv, nd.fused_conv),
    "conv_t": nd.by_rank(_conv_t, nd.conv_t),
    "bn": _bn,
    "layernorm": _layernorm,
    "layer_scale": _layer_scale,
    "relu": _unary("relu"),
    "relu6": _unary("relu6"),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "sigmoid": _unary("sigmoid"),
    "tanh": _unary("tanh"),
    "hsigmoid": _hsigmoid,
    "hswish": _hswish,
    "silu": _unary("silu"),
    "gelu": _gelu,
    "identity": _identity,
    "prelu": _prelu,
    "maxpool": nd.by_rank(_maxpool, nd.maxpool),
    "avgpool": nd.by_rank(_avgpool, nd.avgpool),
    "lppool": nd.by_rank(_lppool, nd.lppool),
    "gap": nd.by_rank(_gap, nd.gap),
    "gmp": nd.by_rank(_gmp, nd.gmp),
    "adaptive_avgpool": nd.by_rank(_adaptive_avgpool, nd.adaptive_avgpool),
    "adaptive_maxpool": nd.by_rank(_adaptive_maxpool, nd.adaptive_maxpool),
    "softmax": _softmax,
    "mean": _mean,
    "add": _add,
    "mul": _mul,
    "concat": _concat,
    "flatten": _reshape_to_node,
    "reshape": _reshape_to_node,
    "dropout": _identity,
    "stochastic_depth": _identity,
    "upsample": nd.by_rank(_upsample, nd.upsample),
    "linear": _linear,
    "channel_shuffle": _channel_shuffle,
    "chunk": _chunk,
    "pad": nd.by_rank(_pad, nd.pad),
    "matmul": _matmul,
    "transpose": _transpose,
    # arithmetic, reductions, slicing and per-sample norms (issue 12): lower_math.py
    **LOWER_MATH,
}


def _graph_batch(graph) -> Any:
    """The batch size the graph fixes, or "N" when symbolic."""
    for name in graph.input_names:
        shape = graph.nodes[name].attrs["shape"]
        if shape and isinstance(shape[0], str):
            return "N"
        if shape:
            return int(shape[0])
    return "N"


def param_keys(graph, weights) -> list[str]:
    """Weight keys in topological order, each node's in its op's order (the order of `main`'s extra params)."""
    from cnndsl.ops.registry import get

    keys = []
    for node in graph.topo():
        if node.op == "input" or not node.owns_params:  # a shared parameter set is one parameter of `main`
            continue
        in_shapes = [graph.value_shape(ref) for ref in node.inputs]
        for name in get(node.op).params(node.attrs, in_shapes):
            key = param_key(node.params_of, name)
            if name not in SKIPPED_PARAMS and key in weights:
                keys.append(key)
    return keys


def build_module(graph, weights, *, batch: int | str | None = None, embed: bool = True, layout: str = "NCHW",
                 target=None, winograd: str = "auto", fuse_ir: str = "auto"):
    """Lower `graph` to an IRModule with one function `main`.

    batch: None (as the graph says), "N" (symbolic `tirx.Var("N")`) or an int (fixed).
    embed: True puts weights in the module as constants; False makes them parameters of
    `main` after the inputs (attribute `num_input`), in the order of `param_keys`.
    layout: "NCHW" (every value plain) or "NCHWc" (convolutions and the ops around them on
    channel-blocked values, `packed.py`; inputs and outputs stay NCHW).
    target: the llvm target the packed layout is for (its ISA sets the channel block,
    cpu_target.py); None: the host CPU.
    winograd: "auto" (3x3 stride-1 convs by winograd.choose_tile's rule), "0" (never), "2" or
    "4" (F(m x m, 3 x 3) for every such conv that can take it); packed layout only.
    fuse_ir: depthwise -> 1x1 projection (-> residual add) chains as one kernel (fused_block.py):
    "auto" (the expansion 1x1 too where fused_block.expand_pays), "tail", "full" or "0" (off);
    packed layout only.
    Returns (mod, param_keys).
    """
    if layout not in ("NCHW", "NCHWc"):
        raise BackendError(f"unknown TVM layout '{layout}' (NCHW or NCHWc)")
    import tvm
    from tvm import relax

    if batch is None:
        batch = _graph_batch(graph)
    bexpr = tvm.tirx.Var("N", "int64") if isinstance(batch, str) else int(batch)

    bb = relax.BlockBuilder()
    inputs = []
    for name in graph.input_names:
        node = graph.nodes[name]
        shape = tuple(bexpr if i == 0 else int(d) for i, d in enumerate(node.attrs["shape"]))
        inputs.append(relax.Var(name, relax.TensorType(shape, node.attrs.get("dtype", "float32"))))
    keys = [] if embed else param_keys(graph, weights)
    pvars = None
    if not embed:
        pvars = {k: relax.Var(k, relax.TensorType(tuple(np.shape(weights[k])), "float32")) for k in keys}
    attrs = None if embed else {"num_input": len(inputs)}
    with bb.function("main", inputs + [pvars[k] for k in keys], attrs=attrs):
        ctx = LowerCtx(bb, weights, pvars, bexpr)
        values: dict[tuple[str, int], Any] = {}
        pk = None
        if layout == "NCHWc":
            from .cpu_target import profile_of
            from .packed import Packing
            from .winograd import parse_mode

            ctx.cpu = profile_of(target)
            ctx.winograd = parse_mode(winograd)
            pk = Packing(ctx)
        fusion = None
        if pk is not None and fuse_ir != "0":
            from .fused_block import Fusion, parse_mode

            cores = target.attrs.get("num-cores") if target is not None else None
            fusion = Fusion(graph, pk, cores=int(cores or 1), mode=parse_mode(fuse_ir))
        with bb.dataflow():
            for node in graph.topo():
                if node.op == "input":
                    values[(node.name, 0)] = inputs[graph.input_names.index(node.name)]
                    continue
                low = LOWERINGS.get(node.op)
                if low is None or isinstance(low, Refused):
                    reason = low.reason if isinstance(low, Refused) else "no lowering"
                    raise BackendError(f"{node.name} [{node.op}]: {reason}")
                refs = [tuple(ref) for ref in node.inputs]
                try:
                    fused = fusion.lower(node, refs, values) if fusion is not None else None
                    if fused is not None and not isinstance(fused, tuple):
                        continue  # part of a fused chain (fused_block.DEFERRED): its last node computes it
                    out, block = fused or (_lower_packed(pk, node, refs, values) if pk is not None else (None, None))
                    if out is None:
                        xs = [pk.plain(k, values[k]) if pk is not None else values[k] for k in refs]
                        out = low(ctx, node, xs)
                except BackendError:
                    raise
                except Exception as err:  # noqa: BLE001 - TVM's own errors, reported with the node
                    raise BackendError(f"TVM rejected {node.name} [{node.op}]: {err}") from None
                outs = out if isinstance(out, list) else [out]
                shapes = node.meta.get("shapes") or [node.meta.get("shape")]
                for i, v in enumerate(outs):
                    _check_shape(node, v, shapes[i] if i < len(shapes) else None, block)
                    values[(node.name, i)] = v
                    if block is not None:
                        pk.block[(node.name, i)] = block
            results = [values[tuple(ref)] for _name, ref in graph.outputs]
            if pk is not None:
                results = [pk.plain(tuple(ref), r) for (_name, ref), r in zip(graph.outputs, results)]
            outs = [bb.emit_output(r) for r in results]
        bb.emit_func_output(outs[0] if len(outs) == 1 else relax.Tuple(outs))
    return bb.get(), keys


def _lower_packed(pk, node, keys, values):
    """(expr, block) when `packed.py` lowers the node in the packed layout, else (None, None)."""
    from .packed import PACKED_LOWERINGS

    low = PACKED_LOWERINGS.get(node.op)
    if low is None or (node.op not in ("conv", "fused_conv") and not any(k in pk.block for k in keys)):
        return None, None
    res = low(pk, node, keys, [values[k] for k in keys])
    return res if res is not None else (None, None)


def _check_shape(node, value, want, block: int | None = None) -> None:
    """TVM's inferred shape must agree with the IR's (batch excluded when symbolic); a packed
    value [N, C/b, H, W, b] is compared as [N, C, H, W]."""
    if want is None or value.ty is None or getattr(value.ty, "shape", None) is None:
        return
    got = list(value.ty.shape)
    if block is not None and len(got) == 5 and int(got[4]) == block:
        got = [got[0], int(got[1]) * block, got[2], got[3]]
    if len(got) != len(want):
        raise BackendError(f"{node.name} [{node.op}]: TVM infers rank {len(got)}, the IR says {tuple(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if i == 0 or isinstance(w, str):
            continue
        try:
            gv = int(g)
        except (TypeError, ValueError):
            continue
        if gv != int(w):
            raise BackendError(f"{node.name} [{node.op}]: TVM infers shape {[str(d) for d in got]}, "
                               f"the IR says {list(want)}")
