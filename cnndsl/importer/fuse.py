"""Multi-node idioms exporters emit for one layer, fused into pseudo-nodes `cnndsl.*`
before mapping: SiLU (x * sigmoid(x)), HardSwish (x * hardsigmoid(x)), erf GELU
(x * 0.5 * (1 + erf(x / sqrt 2)), either order), channel shuffle
(Reshape -> Transpose(0,2,1,3,4) -> Reshape), linear on the last axis (MatMul + Add bias),
layer norm over one axis spelled out (ReduceMean, Sub, Mul/Pow, ReduceMean, Add eps, Sqrt,
Div, then the affine Mul + Add) and L2 normalization (ReduceL2, Max/Clip eps, Div, then an
optional per-channel scale Mul).
The fused node takes the name of the node that produced the idiom's result."""

from __future__ import annotations

import math

import numpy as np

from .read import OModel, ONode


class _Graph:
    def __init__(self, om: OModel):
        self.om = om
        self.producer = {o: n for n in om.nodes for o in n.outputs}
        self.users: dict[str, list[ONode]] = {}
        for n in om.nodes:
            for i in n.inputs:
                self.users.setdefault(i, []).append(n)

    def only_user(self, value: str) -> ONode | None:
        us = self.users.get(value, [])
        return us[0] if len(us) == 1 and value not in self.om.outputs else None

    def const_scalar(self, name: str) -> float | None:
        v = self.om.consts.get(name)
        return float(v.reshape(-1)[0]) if v is not None and v.size == 1 else None

    def other(self, node: ONode, value: str) -> str | None:
        if len(node.inputs) != 2 or value not in node.inputs:
            return None
        return node.inputs[1] if node.inputs[0] == value else node.inputs[0]


def _replace(om: OModel, dead: list[ONode], new: ONode) -> None:
    ids = {id(n) for n in dead}
    out = []
    placed = False
    for n in om.nodes:
        if id(n) in ids:
            if n is dead[-1] and not placed:
                out.append(new)
                placed = True
            continue
        out.append(n)
    om.nodes = out


def _gate(g: _Graph, om: OModel, gate_op: str, fused: str) -> bool:
    for n in om.nodes:
        if n.op != gate_op or (gate_op == "HardSigmoid" and not math.isclose(n.attrs.get("alpha", 0.2), 1 / 6,
                                                                               rel_tol=1e-5)):
            continue
        x = n.inputs[0]
        m = g.only_user(n.outputs[0])
        if m is None or m.op != "Mul" or g.other(m, n.outputs[0]) != x:
            continue
        _replace(om, [n, m], ONode(fused, m.name, [x], list(m.outputs), {}, m.index))
        return True
    return False


def _gelu(g: _Graph, om: OModel) -> bool:
    for e in om.nodes:
        if e.op != "Erf":
            continue
        d = g.producer.get(e.inputs[0])
        if d is None or d.op not in ("Div", "Mul"):
            continue
        x = d.inputs[0]
        c = g.const_scalar(d.inputs[1])
        if c is None or not (math.isclose(c, math.sqrt(2), rel_tol=1e-4) if d.op == "Div"
                             else math.isclose(c, 1 / math.sqrt(2), rel_tol=1e-4)):
            continue
        a = g.only_user(e.outputs[0])
        if a is None or a.op != "Add" or g.const_scalar(g.other(a, e.outputs[0]) or "") != 1.0:
            continue
        m1 = g.only_user(a.outputs[0])
        if m1 is None or m1.op != "Mul":
            continue
        o = g.other(m1, a.outputs[0])
        chain = [d, e, a, m1]
        if o == x:  # torch: (x * (1 + erf)) * 0.5
            m2 = g.only_user(m1.outputs[0])
            if m2 is None or m2.op != "Mul" or g.const_scalar(g.other(m2, m1.outputs[0]) or "") != 0.5:
                continue
            chain.append(m2)
        else:  # cnndsl: (0.5 * x) * (1 + erf)
            h = g.producer.get(o)
            if h is None or h.op != "Mul" or g.other(h, x) is None or g.const_scalar(g.other(h, x)) != 0.5:
                continue
            chain.insert(0, h)
        last = chain[-1]
        if any(len(g.users.get(n.outputs[0], [])) != 1 for n in chain[:-1] if n is not d) or \
                len(g.users.get(d.outputs[0], [])) != 1:
            continue
        _replace(om, chain, ONode("cnndsl.Gelu", last.name, [x], list(last.outputs), {}, last.index))
        return True
    return False


def _linear_bias(g: _Graph, om: OModel) -> bool:
    for m in om.nodes:
        if m.op != "MatMul" or "_bias" in m.attrs or m.inputs[1] not in om.consts:
            continue
        w = om.consts[m.inputs[1]]
        a = g.only_user(m.outputs[0])
        if a is None or a.op != "Add" or w.ndim != 2:
            continue
        b = g.other(a, m.outputs[0])
        if b not in om.consts or om.consts[b].size != w.shape[1] or om.consts[b].ndim != 1:
            continue
        fused = ONode("MatMul", a.name, list(m.inputs), list(a.outputs), {"_bias": b}, a.index)
        _replace(om, [m, a], fused)
        return True
    return False


def _shuffle(g: _Graph, om: OModel) -> bool:
    for t in om.nodes:
        if t.op != "Transpose" or [int(p) for p in t.attrs.get("perm", [])] != [0, 2, 1, 3, 4]:
            continue
        r1, r2 = g.producer.get(t.inputs[0]), g.only_user(t.outputs[0])
        if r1 is None or r2 is None or r1.op != "Reshape" or r2.op != "Reshape":
            continue
        if g.only_user(r1.outputs[0]) is not t or r1.inputs[1] not in om.consts:
            continue
        groups = int(om.consts[r1.inputs[1]][1])
        x_shape = om.shapes.get(r1.inputs[0])
        if x_shape is None or om.shapes.get(r2.outputs[0], ())[1:] != x_shape[1:]:
            continue
        _replace(om, [r1, t, r2], ONode("cnndsl.ChannelShuffle", r2.name, [r1.inputs[0]], list(r2.outputs),
                                        {"groups": groups}, r2.index))
        return True
    return False


def _axes(om: OModel, n: ONode) -> list[int] | None:
    if len(n.inputs) > 1 and n.inputs[1]:
        v = om.consts.get(n.inputs[1])
        return None if v is None else [int(a) for a in v.reshape(-1)]
    a = n.attrs.get("axes")
    return None if a is None else [int(x) for x in a]


def _affine_tail(g: _Graph, om: OModel, node: ONode, chain: list[ONode]) -> tuple[list[str], ONode]:
    """An optional `* weight + bias` after `node` (constants): the extra inputs and the last node."""
    extra: list[str] = []
    last = node
    m = g.only_user(node.outputs[0])
    if m is not None and m.op == "Mul":
        w = g.other(m, node.outputs[0])
        if w in om.consts and om.consts[w].size > 1:
            extra.append(w)
            chain.append(m)
            last = m
            a = g.only_user(m.outputs[0])
            if a is not None and a.op == "Add":
                b = g.other(a, m.outputs[0])
                if b in om.consts and om.consts[b].size == om.consts[w].size:
                    extra.append(b)
                    chain.append(a)
                    last = a
    return extra, last


def _layernorm(g: _Graph, om: OModel) -> bool:
    for m1 in om.nodes:
        if m1.op != "ReduceMean" or int(m1.attrs.get("keepdims", 1)) != 1:
            continue
        axes = _axes(om, m1)
        x = m1.inputs[0]
        if axes is None or len(axes) != 1:
            continue
        sub = next((u for u in g.users.get(m1.outputs[0], []) if u.op == "Sub" and u.inputs == [x, m1.outputs[0]]),
                   None)
        if sub is None:
            continue
        d = sub.outputs[0]
        users = list({id(u): u for u in g.users.get(d, [])}.values())  # Mul(d, d) lists d twice
        sq = next((u for u in users if u.op == "Mul" and u.inputs == [d, d]
                   or u.op == "Pow" and u.inputs[0] == d and g.const_scalar(u.inputs[1]) == 2.0), None)
        div = next((u for u in users if u.op == "Div" and u.inputs[0] == d), None)
        if sq is None or div is None or len(users) != 2:
            continue
        m2 = g.only_user(sq.outputs[0])
        if m2 is None or m2.op != "ReduceMean" or _axes(om, m2) != axes:
            continue
        add = g.only_user(m2.outputs[0])
        eps = g.const_scalar(g.other(add, m2.outputs[0]) or "") if add is not None and add.op == "Add" else None
        sqrt = g.only_user(add.outputs[0]) if eps is not None else None
        if sqrt is None or sqrt.op != "Sqrt" or div.inputs[1] != sqrt.outputs[0] or g.only_user(sqrt.outputs[0]) is not div:
            continue
        chain = [m1, sub, sq, m2, add, sqrt, div]
        extra, last = _affine_tail(g, om, div, chain)
        rank = len(om.shapes.get(x, ()))
        axis = axes[0] if axes[0] >= 0 else axes[0] + rank
        _replace(om, chain, ONode("cnndsl.LayerNorm", last.name, [x] + extra, list(last.outputs),
                                  {"axis": axis, "epsilon": eps, "_one_axis": True}, last.index))
        return True
    return False


def _moved_layernorm(g: _Graph, om: OModel) -> bool:
    """Transpose(axis a to the end) -> LayerNormalization(last axis) -> Transpose(back): a norm over axis a
    (`F.layer_norm(x.movedim(1, -1), ...)`, ConvNeXt's LayerNorm2d as PyTorch modules write it)."""
    for n in om.nodes:
        if n.op != "LayerNormalization" or int(n.attrs.get("axis", -1)) not in (-1, len(om.shapes.get(n.inputs[0], ())) - 1):
            continue
        t1, t2 = g.producer.get(n.inputs[0]), g.only_user(n.outputs[0])
        if t1 is None or t2 is None or t1.op != "Transpose" or t2.op != "Transpose" or g.only_user(t1.outputs[0]) is not n:
            continue
        rank = len(t1.attrs.get("perm", []))
        p1 = [int(p) % rank for p in t1.attrs["perm"]]
        p2 = [int(p) % rank for p in t2.attrs.get("perm", [])]
        a = p1[-1] if p1 else -1
        if a < 1 or p1 != [i for i in range(rank) if i != a] + [a] or [p1[i] for i in p2] != list(range(rank)):
            continue
        _replace(om, [t1, n, t2], ONode("cnndsl.LayerNorm", t2.name, [t1.inputs[0]] + n.inputs[1:], list(t2.outputs),
                                        {"axis": a, "epsilon": n.attrs.get("epsilon", 1e-5), "_one_axis": True},
                                        t2.index))
        return True
    return False


def _l2norm(g: _Graph, om: OModel) -> bool:
    for r in om.nodes:
        if r.op != "ReduceL2" or int(r.attrs.get("keepdims", 1)) != 1:
            continue
        axes = _axes(om, r)
        x = r.inputs[0]
        mx = g.only_user(r.outputs[0])
        if axes is None or len(axes) != 1 or mx is None:
            continue
        if mx.op == "Max":
            eps = g.const_scalar(g.other(mx, r.outputs[0]) or "")
        elif mx.op == "Clip" and len(mx.inputs) > 1:
            eps = g.const_scalar(mx.inputs[1])
        else:
            continue
        chain = [r, mx]
        nxt = g.only_user(mx.outputs[0])
        if nxt is not None and nxt.op == "Expand":
            chain.append(nxt)
            nxt = g.only_user(nxt.outputs[0])
        if eps is None or nxt is None or nxt.op != "Div" or nxt.inputs != [x, chain[-1].outputs[0]]:
            continue
        chain.append(nxt)
        extra, last = _affine_tail(g, om, nxt, chain)
        if len(extra) > 1:  # a bias after the scale is not part of an L2 norm
            chain, last, extra = chain[:-1], chain[-2], extra[:1]
        rank = len(om.shapes.get(x, ()))
        axis = axes[0] if axes[0] >= 0 else axes[0] + rank
        _replace(om, chain, ONode("cnndsl.L2Norm", last.name, [x] + extra, list(last.outputs),
                                  {"axis": axis, "eps": eps}, last.index))
        return True
    return False


def fuse(om: OModel) -> None:
    for rule in (lambda g: _gate(g, om, "Sigmoid", "cnndsl.SiLU"), lambda g: _gate(g, om, "HardSigmoid",
                                                                                   "cnndsl.HardSwish"),
                 lambda g: _gelu(g, om), lambda g: _linear_bias(g, om), lambda g: _shuffle(g, om),
                 lambda g: _layernorm(g, om), lambda g: _moved_layernorm(g, om), lambda g: _l2norm(g, om)):
        while rule(_Graph(om)):
            pass


__all__ = ["fuse", "np"]
