"""Fold inference batch-norm into the preceding conv, conv_t or linear.

Pattern: bn(x) where x = producer(...) is a conv / conv_t / linear output whose only
reader is the bn (and which is not itself a graph output).

Algebra, per output channel o, with the producer computing z = W * x + b and
bn computing y = gamma (z - mean) / sqrt(var + eps) + beta (gamma = 1, beta = 0 when
the bn is not affine):

    scale_o = gamma_o / sqrt(var_o + eps)
    W'_o    = W_o * scale_o                    (every weight feeding output channel o)
    b'_o    = (b_o - mean_o) * scale_o + beta_o  (b_o = 0 when the producer had no bias)

so y = W' * x + b' exactly (up to float rounding). The producer gains a bias, keeps
its name (its weight keys stay `<name>.weight`, `<name>.bias`), and records the bn in
`meta["folded"]`; the bn node and its five tensors disappear.

Weight layouts (PyTorch's): conv OIHW (output channel = axis 0), linear [out, in]
(axis 0), conv_t IOHW with groups g: output channel o = group * (C_out/g) + j lives on
axis 1 of the group's slice. Without weights the fold is structural only.
"""

from __future__ import annotations

import numpy as np

from cnndsl.ir.graph import Graph, Node
from cnndsl.ops.registry import get, param_key
from cnndsl.passes.common import new_weights
from cnndsl.passes.manager import Pass, PassContext, PassResult


def _scale_oihw(w: np.ndarray, scale: np.ndarray, _attrs: dict) -> np.ndarray:
    return w * scale.reshape((-1,) + (1,) * (w.ndim - 1))


def _scale_iohw(w: np.ndarray, scale: np.ndarray, attrs: dict) -> np.ndarray:
    g = attrs["groups"]
    c_in, c_out_g = w.shape[0], w.shape[1]
    grouped = w.reshape(g, c_in // g, c_out_g, *w.shape[2:])
    return (grouped * scale.reshape((g, 1, c_out_g) + (1,) * (w.ndim - 2))).reshape(w.shape)  # 1-, 2-, 3-D


# producer op -> how to scale its weight per output channel
FOLDABLE = {"conv": _scale_oihw, "linear": _scale_oihw, "conv_t": _scale_iohw}
BN_OPS = ("bn",)


def match(graph: Graph, bn: Node) -> tuple[Node | None, str]:
    """The producer to fold `bn` into, or None and the reason the rule declines."""
    if len(bn.inputs) != 1:
        return None, "bn has several inputs"
    src, idx = bn.inputs[0]
    producer = graph.nodes[src]
    if producer.op not in FOLDABLE:
        return None, f"its input comes from '{producer.name}' ({producer.op}), not a conv, conv_t or linear"
    if idx != 0:
        return None, f"it reads output {idx} of '{producer.name}'"
    if graph.users(producer.name) != [bn.name]:
        return None, f"'{producer.name}' has other readers, which need its unnormalized output"
    if any(ref[0] == producer.name for _n, ref in graph.outputs):
        return None, f"'{producer.name}' is a graph output"
    return producer, ""


def fold(w: np.ndarray, b: np.ndarray | None, bn: dict[str, np.ndarray], eps: float, scale_weight, attrs: dict):
    """The algebra above on arrays: returns (W', b')."""
    dtype = w.dtype
    var = bn["running_var"].astype(np.float64)
    gamma = bn["weight"].astype(np.float64) if "weight" in bn else np.ones_like(var)
    beta = bn["bias"].astype(np.float64) if "bias" in bn else np.zeros_like(var)
    scale = gamma / np.sqrt(var + eps)
    bias = np.zeros_like(var) if b is None else b.astype(np.float64)
    new_w = scale_weight(w.astype(np.float64), scale, attrs)
    new_b = (bias - bn["running_mean"].astype(np.float64)) * scale + beta
    return new_w.astype(dtype), new_b.astype(dtype)


def _shared_plans(graph: Graph, plans: list[tuple[Node, Node]], declined: list[str]) -> list[list[tuple[Node, Node]]]:
    """The matched (bn, producer) pairs grouped by the producer's parameter set (shared modules,
    docs/internals.md). A set folds only when every node using it is matched to a bn of one parameter
    set: the weights are rewritten once for all of them. Otherwise none of the pairs folds."""
    users: dict[str, list[str]] = {}
    for node in graph.nodes.values():
        users.setdefault(node.params_of, []).append(node.name)
    groups: dict[str, list[tuple[Node, Node]]] = {}
    for bn, producer in plans:
        groups.setdefault(producer.params_of, []).append((bn, producer))
    out = []
    for pset, pairs in groups.items():
        folded = sorted(p.name for _bn, p in pairs)
        if folded != sorted(users[pset]) or len({bn.params_of for bn, _p in pairs}) != 1:
            for bn, _p in pairs:
                declined.append(f"fold_bn: {bn.name} not folded: '{pset}' shares its parameters with applications "
                                "that are not all followed by the same batch norm")
            continue
        out.append(pairs)
    return out


def fold_bn(graph: Graph, ctx: PassContext) -> PassResult:
    graph = graph.copy()
    weights = None if ctx.weights is None else new_weights(ctx.weights, ctx.weights.items())
    plans = []
    for bn in graph.topo():
        if bn.op not in BN_OPS:
            continue
        producer, reason = match(graph, bn)
        if producer is None:
            ctx.declined.append(f"fold_bn: {bn.name} not folded: {reason}")
            continue
        plans.append((bn, producer))
    modified = False
    bn_keys: set[str] = set()
    for pairs in _shared_plans(graph, plans, ctx.declined):
        bn, producer = pairs[0]
        if weights is not None:
            keys = ("running_mean", "running_var") + (("weight", "bias") if bn.attrs.get("affine", True) else ())
            w_key, b_key = param_key(producer.params_of, "weight"), param_key(producer.params_of, "bias")
            missing = [param_key(bn.params_of, k) for k in keys if param_key(bn.params_of, k) not in weights]
            missing += [w_key] if w_key not in weights else []
            if missing:
                for b, _p in pairs:
                    ctx.declined.append(f"fold_bn: {b.name} not folded: weights missing ({', '.join(missing)})")
                continue
            stats = {k: weights[param_key(bn.params_of, k)] for k in keys}
            old_b = weights.get(b_key) if producer.attrs.get("bias") else None
            new_w, new_b = fold(weights[w_key], old_b, stats, bn.attrs["eps"], FOLDABLE[producer.op], producer.attrs)
            weights[w_key], weights[b_key] = new_w, new_b
            bn_keys |= {param_key(bn.params_of, k)
                        for k in get(bn.op).params(bn.attrs, [graph.value_shape(r) for r in bn.inputs])}
        for b, p in pairs:  # every application of the parameter set: the same structural rewrite
            p.attrs["bias"] = True
            p.meta = dict(p.meta, folded=list(p.meta.get("folded", ())) + [b.name])
            graph.replace_uses((b.name, 0), (p.name, 0))
            graph.remove_node(b.name)
        modified = True
    if weights is not None and bn_keys:  # a bn parameter set is dropped once no remaining node reads it
        still = {n.params_of for n in graph.nodes.values() if n.op in BN_OPS}
        for key in bn_keys:
            if key.rsplit(".", 1)[0] not in still:
                weights.pop(key, None)
    return PassResult(graph, modified, weights if modified else None)


FOLD_BN = Pass("fold_bn", fold_bn, "transform", "fold inference batch-norm into the preceding conv/conv_t/linear")
