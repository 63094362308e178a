"""Fused inverted-residual tail: depthwise kxk (+ bias, activation) -> projection 1x1 (+ bias,
activation, residual add) in ONE kernel, band of output rows by band, so that the expanded
depthwise output (6x the block's channels in MobileNetV2) is never written to memory in full.

Pattern (on the inference graph, after BN folding and conv+activation fusion; `Fusion`):

    D: depthwise conv (groups == in == out channels), square odd kernel, any stride, dilation 1,
       activation relu / relu6 / hswish / none, its only user P;
    P: 1x1 conv, stride 1, unpadded, groups 1, activation as above or none;
    A: optional -- `add` of P and one other value of P's shape (the residual), P's only user.

Both D's input and the result are in the packed layout (`packed.py`, [N, C/b, H, W, b]); where
they cannot be (channels without a block), the nodes are lowered one by one as before.

Compute (TE, `inverted_tail`): the padded input, the depthwise sum, its bias + activation
(`fused_dw_act`), the pointwise sum over all hidden channels and the epilogue (bias,
activation, residual). It is emitted as a PrimFunc already scheduled for the target (`kernel`;
marked scheduled and opaque, so TVM's fusion and the default CPU schedule leave it alone).
Schedule (`schedule`): for each band of `rows` output rows (parallel over batch x bands), the
depthwise output of the band, all channel blocks, into a band buffer (L2-sized: `band_rows`),
each register tile of columns x one channel vector accumulated over the window taps with
padding read inline; then per output channel chunk and run of columns the projection's
register tile (`pw_tile`: on AVX2 3 chunks x 3 columns or 2 x 4 / 2 x 5, the computed width
rounded up to a multiple of the columns; on AVX-512 the dense conv tile), each step one
broadcast band value times `vo` weight vectors, with the epilogue on the tile while it is in
registers.

With a stride-2 block whose expanded tensor would not stay in the caches (`expand_pays`), the
expansion 1x1 before D is computed in the same kernel too: per band and group of channel
chunks, the expansion's register tile over the rows the window needs (halo rows recomputed),
then their depthwise; the expanded tensor is never written out.

`-X fuse_ir=0` turns it off (each layer its own kernel, as before); `tail` never fuses the
expansion, `full` always does (experiments); `1`/`auto` (the default) by the rule.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

log = logging.getLogger("cnndsl.tvm")

EXP_BLOCK = "fused_expand"
EXP_ACT_BLOCK = "fused_expand_act"
PAD_BLOCK = "fused_pad"
DW_BLOCK = "fused_dw"
DW_ACT_BLOCK = "fused_dw_act"
PW_BLOCK = "fused_pw"
OUT_BLOCK = "fused_out"

# bytes of the band buffer (depthwise output of `rows` rows, all hidden channels): about half
# of a Zen 3 / Zen 4 / Skylake core's L2, so that the weights of one projection chunk stay in L1
# while the band is re-read from L2 once per chunk.
BAND_BYTES = 256 * 1024


def _act_relu(x, dt):
    from tvm import tirx

    return tirx.max(x, tirx.const(0.0, dt))


def _act_relu6(x, dt):
    from tvm import tirx

    return tirx.min(tirx.max(x, tirx.const(0.0, dt)), tirx.const(6.0, dt))


def _act_hswish(x, dt):
    from tvm import tirx

    r6 = tirx.min(tirx.max(x + tirx.const(3.0, dt), tirx.const(0.0, dt)), tirx.const(6.0, dt))
    return x * r6 / tirx.const(6.0, dt)


def _act_none(x, _dt):
    return x


# activations of D and P the fused kernel computes itself (keyed by op name; None: a plain conv)
ACTS: dict[str | None, Callable] = {None: _act_none, "identity": _act_none, "relu": _act_relu,
                                    "relu6": _act_relu6, "hswish": _act_hswish}


# ----------------------------------------------------------------------- TE compute
def inverted_tail(data, *tensors, stride: int, padding: tuple, act_dw, act_pw, width: int = 0,
                  expand: bool = False, act_e=None):
    """y = act_pw(conv1x1(act_dw(depthwise(x) + bd)) + bp) [+ residual], with
    x = act_e(conv1x1(data) + be) when `expand`, else data.

    tensors: [we, be,] wd, bd, wp, bp [, residual]; data [N, Cc, H, W, ib] (expand) or
    [N, Hc, H, W, hb]; we [Hc, Cc, ib, hb]; be [Hc, hb]; wd [Hc, K, K, hb]; bd [Hc, hb];
    wp [Oc, Hc, hb, ob]; bp [Oc, ob]; residual [N, Oc, Ho, Wo, ob]; padding (top, left, bottom,
    right). width: the columns the depthwise and projection sums compute (>= Wo: extra columns
    see only padding and are cropped, so that a register tile of a better shape divides them;
    `pw_tile`)."""
    from tvm import te, tirx

    dt = data.dtype
    if expand:
        we, be, *tensors = tensors
        hc, cc, ib, hb = (int(d) for d in we.shape)
        ec, eb = te.reduce_axis((0, cc), "ec"), te.reduce_axis((0, ib), "eb")
        e = te.compute((data.shape[0], hc, data.shape[2], data.shape[3], hb),
                       lambda i, c, y, x, b: te.sum(data[i, ec, y, x, eb] * we[c, ec, eb, b], axis=[ec, eb]),
                       name=EXP_BLOCK)
        data = te.compute(e.shape, lambda i, c, y, x, b: ACTS[act_e](e[i, c, y, x, b] + be[c, b], dt),
                          name=EXP_ACT_BLOCK)
    wd, bd, wp, bp, *residual = tensors
    n, hc, h, w, hb = data.shape
    k = int(wd.shape[1])
    oc, ob = int(wp.shape[0]), int(wp.shape[3])
    pt, pl, pb, pr = padding
    ho = (int(h) + pt + pb - k) // stride + 1
    wo_out = (int(w) + pl + pr - k) // stride + 1
    wo = max(width, wo_out)
    pr += (wo - wo_out) * stride
    xp = data
    if any(padding) or wo > wo_out:
        def pad(i, c, y, x, b):
            inside = tirx.all(y >= pt, y < int(h) + pt, x >= pl, x < int(w) + pl)
            return tirx.if_then_else(inside, data[i, c, y - pt, x - pl, b], tirx.const(0.0, dt))

        xp = te.compute((n, hc, int(h) + pt + pb, int(w) + pl + pr, hb), pad, name=PAD_BLOCK)
    kh, kw = te.reduce_axis((0, k), "kh"), te.reduce_axis((0, k), "kw")
    dw = te.compute((n, hc, ho, wo, hb),
                    lambda i, c, y, x, b: te.sum(xp[i, c, y * stride + kh, x * stride + kw, b] * wd[c, kh, kw, b],
                                                 axis=[kh, kw]), name=DW_BLOCK)
    dwa = te.compute(dw.shape, lambda i, c, y, x, b: ACTS[act_dw](dw[i, c, y, x, b] + bd[c, b], dt), name=DW_ACT_BLOCK)
    rc, rb = te.reduce_axis((0, int(hc)), "rc"), te.reduce_axis((0, int(hb)), "rb")
    pw = te.compute((n, oc, ho, wo, ob),
                    lambda i, o, y, x, b: te.sum(dwa[i, rc, y, x, rb] * wp[o, rc, rb, b], axis=[rc, rb]),
                    name=PW_BLOCK)

    def out(i, o, y, x, b):
        v = ACTS[act_pw](pw[i, o, y, x, b] + bp[o, b], dt)
        return v + residual[0][i, o, y, x, b] if residual else v

    return te.compute((n, oc, ho, wo_out, ob), out, name=OUT_BLOCK)


def pw_tile(prof, wo: int, chunks: int, ob: int) -> tuple[int, int, int]:
    """(channel chunks, columns, computed width) of the projection's register tile for an output
    width `wo`. The kernel computes its own band, so it may compute a few extra columns (they see
    only padding and are cropped) to get a better tile: the width is `wo` rounded up to a
    multiple of the columns. Where the FMA cannot take a broadcast operand (AVX2, SSE, NEON),
    each step loads `vo` weight vectors and broadcasts `cols` band values for vo x cols FMAs,
    vo x cols accumulators + vo weights + one broadcast + the target's headroom fitting the
    registers: the tile with the most FMAs per load, discounted by the extra columns, wins
    (AVX2: 3 x 3 for 24 or 96 output channels, 2 x 5 for 16, 32, 64, 160, 320; at width 7 the
    3 x 3 / 2 x 4 tiles over 9 / 8 columns, not 1 x 7). With a broadcast operand (AVX-512):
    the dense conv tile of cpu_target.CpuProfile.conv_tile."""
    from .cpu_target import HEADROOM

    if prof.broadcast_fma:
        vo, cols = prof.conv_tile(wo, chunks, ob, dense=True)
        return vo, cols, wo
    v = prof.vectors(ob)
    budget = prof.registers - 1 - HEADROOM
    best = (0.0, 1, 1, wo)
    for vo in (1, 2, 3, 4):
        if chunks % vo:
            continue
        cap = min(16, (budget - vo * v) // (vo * v), wo)
        for cols in range(1, cap + 1):
            width = -(-wo // cols) * cols
            score = vo * cols / (vo * v + cols) * wo / width
            if score > best[0] + 1e-9:
                best = (score, vo, cols, width)
    return best[1], best[2], best[3]


# ----------------------------------------------------------------------- schedule
def kernel(types, *, prof, cores: int, **attrs):
    """(PrimFunc, output shape, dtype) of one fused chain, for inputs of Relax types `types` (attrs:
    inverted_tail's). Scheduled here, where the lowering knows the target (prof: its
    cpu_target.CpuProfile; None: left to TVM), and marked scheduled and opaque, so that TVM's
    fusion leaves it whole and the default CPU schedule (cpu_schedule.py) skips it."""
    import tvm
    from tvm import te

    phs = [te.placeholder(tuple(t.shape), str(t.dtype), name=f"t{i}") for i, t in enumerate(types)]
    out = inverted_tail(*phs, **attrs)
    func = te.create_prim_func([*phs, out], "int64").without_attr("global_symbol")
    if prof is not None:
        sch = tvm.s_tir.Schedule(func)
        try:
            schedule(sch, prof, cores)
            func = sch.mod["main"].with_attr("tirx.is_scheduled", True)
        except Exception as err:  # noqa: BLE001 - a schedule TVM refuses: the kernel stays as legalized
            log.debug("fused inverted residual left unscheduled: %s", str(err)[:300])
    return func.with_attr("op_pattern", 8), [int(v) if not hasattr(v, "name") else v for v in out.shape], out.dtype


def band_rows(ho: int, wo: int, hidden: int, tasks_wanted: int = 1, batch: int = 1) -> int:
    """Output rows per band: the most rows (a divisor of ho) whose depthwise output, all hidden
    channels, fits BAND_BYTES, leaving at least `tasks_wanted` parallel tasks where it can."""
    row = wo * hidden * 4
    best = 1
    for r in range(1, ho + 1):
        if ho % r or r * row > BAND_BYTES:
            continue
        if r > 1 and batch * (ho // r) < tasks_wanted:
            continue
        best = r
    return best


def schedule(sch, prof, cores: int = 1) -> None:
    """The default schedule of an `inverted_tail` kernel for the target `prof`; `cores`: the
    parallel tasks (batch x bands) it should leave where the band size allows."""
    from .cpu_schedule import _extent

    def block(name):
        return sch.get_sblock(name)

    names = {sch.get(b).name_hint for b in sch.get_child_blocks(sch.get_sblock("root"))}
    if PAD_BLOCK in names:
        sch.compute_inline(block(PAD_BLOCK))  # padding read inline: a condition per tap
    pw, out, dwa, dw = block(PW_BLOCK), block(OUT_BLOCK), block(DW_ACT_BLOCK), block(DW_BLOCK)
    n, o, y, x, b, rc, rb = sch.get_loops(pw)
    batch = _extent(sch, n) or 1
    chunks, ho, wo, ob = (_extent(sch, lp) for lp in (o, y, x, b))  # wo: the padded width
    hidden = (_extent(sch, rc) or 1) * (_extent(sch, rb) or 1)
    rows = band_rows(ho, wo, hidden, cores, batch)
    vo, cols, width = pw_tile(prof, _extent(sch, sch.get_loops(out)[3]), chunks, ob)
    if width != wo:
        raise ValueError(f"fused kernel computes {wo} columns, its tile wants {width}")
    yo, yi = sch.split(y, [None, rows])
    xo, xi = sch.split(x, [None, cols])
    oo, oi = sch.split(o, [None, vo])
    sch.reorder(n, yo, oo, yi, xo, rc, rb, xi, oi, b)
    band = sch.fuse(n, yo)
    sch.reverse_compute_at(out, xo)
    sch.vectorize(sch.get_loops(out)[-1])
    # the band's depthwise output: per channel chunk and run of dcols columns, a register tile
    sch.compute_at(dwa, band, preserve_unit_loops=True)
    c, r, dx, db = sch.get_loops(dwa)[-4:]
    dcols = _divisor_or_guard(wo, prof.max_columns(_extent(sch, db) or prof.lanes, weights=False))
    dxo, dxi = sch.split(dx, [None, dcols])
    group = None
    if EXP_BLOCK in names:  # per group of the expansion tile's channel chunks: its rows, then their depthwise
        evo = _expand_tile(sch, prof)[0]
        group, c = sch.split(c, [None, evo])
    sch.reorder(c, r, dxo, dxi, db)
    sch.compute_at(dw, dxo, preserve_unit_loops=True)
    sch.vectorize(db)
    sch.unroll(dxi)
    wx, wb, kh, kw = sch.get_loops(dw)[-4:]
    sch.reorder(kh, kw, wx, wb)
    sch.vectorize(wb)
    sch.unroll(wx)
    # the taps unrolled: LLVM loads each input column once for the kw taps of a row that read it
    # (AVX2, one core: MobileNetV2's first block 0.305 -> 0.255 ms, the 56 x 56 ones 0.40 -> 0.36)
    if (_extent(sch, kh) or 9) <= 5:
        sch.unroll(kh)
    sch.unroll(kw)
    expand = _schedule_expand(sch, group, prof) if group is not None else None
    sch.parallel(band)
    sch.decompose_reduction(dw, kh)
    if expand is not None:
        sch.decompose_reduction(*expand)
    sch.vectorize(b)
    sch.unroll(oi)
    sch.unroll(xi)
    sch.decompose_reduction(pw, rc)


def _expand_tile(sch, prof) -> tuple[int, int]:
    """(channel chunks, columns) of the expansion's register tile: the dense conv tile."""
    from .cpu_schedule import _extent

    _n, c, _y, x, b = sch.get_loops(sch.get_sblock(EXP_ACT_BLOCK))[:5]
    return prof.conv_tile(_extent(sch, x), _extent(sch, c) or 1, _extent(sch, b) or prof.lanes, dense=True)


def _schedule_expand(sch, group, prof):
    """The expansion 1x1 of the band's input rows (the depthwise window's rows, halo included:
    neighbouring bands recompute the rows they share), into a band buffer: per channel chunk
    group, input row and run of columns the dense conv's register tile (cpu_target's conv_tile),
    then its bias and activation on the tile (the group: the tile's channel chunks)."""
    _vo, cols = _expand_tile(sch, prof)
    ea, e = sch.get_sblock(EXP_ACT_BLOCK), sch.get_sblock(EXP_BLOCK)
    sch.compute_at(ea, group, preserve_unit_loops=True)
    ci, r, x, b = sch.get_loops(ea)[-4:]
    xo, xi = sch.split(x, [None, cols])
    sch.reorder(r, xo, xi, ci, b)
    sch.compute_at(e, xo, preserve_unit_loops=True)
    sch.vectorize(b)
    sch.unroll(ci)
    sch.unroll(xi)
    _n, eci, _r, exi, eb, rc, rb = sch.get_loops(e)[-7:]
    sch.reorder(rc, rb, exi, eci, eb)
    sch.vectorize(eb)
    sch.unroll(eci)
    sch.unroll(exi)
    return e, rc  # decomposed after the band loop is made parallel (TVM refuses it the other way)


def _divisor_or_guard(n: int, cap: int) -> int:
    """Columns per depthwise tile: the largest divisor of n up to cap (each tap loads one input
    vector per FMA whatever the tile, so a short tile costs only the weight loads it shares), or
    a guarded min(8, cap) where n has no divisor of 3 or more."""
    for f in range(min(n, cap), 0, -1):
        if n % f == 0:
            return f if f >= 3 or n < 3 else min(8, cap)
    return 1


# ----------------------------------------------------------------------- pattern and lowering
MODES = {"auto": "auto", "1": "auto", "true": "auto", "yes": "auto", "on": "auto", "0": "0", "false": "0",
         "no": "0", "off": "0", "tail": "tail", "full": "full"}


def parse_mode(value) -> str:
    """-X fuse_ir=VALUE: 1/auto (the rule), 0 (off), tail (never the expansion), full (always)."""
    from cnndsl.backend import BackendError

    mode = MODES.get(str(value).strip().lower())
    if mode is None:
        raise BackendError(f"-X fuse_ir={value}: expected 1 or auto (by the rule), 0 (off), tail or full")
    return mode


DEFERRED = object()  # a node of a fused chain whose value only the chain's last node produces


def _is_depthwise(node, graph) -> bool:
    a = node.attrs
    if node.op not in ("conv", "fused_conv") or len(node.meta.get("shape") or ()) != 4:
        return False
    c_in = int(graph.value_shape(tuple(node.inputs[0]))[1])
    k = tuple(a["kernel"])
    return (int(a["groups"]) == c_in == int(a["out"]) and k[0] == k[1] and k[0] % 2 == 1
            and tuple(a["dilation"]) == (1, 1) and a["stride"][0] == a["stride"][1] and _act(node) in ACTS)


def _is_pointwise(node) -> bool:
    a = node.attrs
    return (node.op in ("conv", "fused_conv") and len(node.meta.get("shape") or ()) == 4
            and tuple(a["kernel"]) == (1, 1) and tuple(a["stride"]) == (1, 1) and not any(a["padding"])
            and int(a["groups"]) == 1 and tuple(a["dilation"]) == (1, 1) and _act(node) in ACTS)


def _act(node):
    return node.attrs["act"] if node.op == "fused_conv" else None


def _only_user(graph, name: str, outputs: set[str]):
    """The one node that reads `name`'s value, once; None when several, none, or a graph output."""
    users = graph.users(name)
    if name in outputs or len(users) != 1:
        return None
    user = graph.nodes[users[0]]
    return user if sum(1 for ref in user.inputs if ref[0] == name) == 1 else None


class Fusion:
    """The fused chains of one lowering: `lower(node, refs, values)` answers None (not in a
    chain: lower it as usual), DEFERRED (skip it: the chain's last node computes it) or
    (expr, block) for the chain's last node.

    A chain is (E, D, P, A): E the expansion 1x1 (or None: not fused, see `expand_pays`; mode:
    -X fuse_ir's), D the depthwise conv, P the projection, A the residual add (or None)."""

    def __init__(self, graph, pk, cores: int = 1, mode: str = "auto"):
        self.pk = pk
        self.cores = cores
        self.graph = graph
        self.chains: dict[str, tuple] = {}  # the chain's first node (E or D) -> the chain
        self.active: dict[str, tuple] = {}  # its later nodes -> the chain, once the first is deferred
        outputs = {ref[0] for _name, ref in graph.outputs}
        for node in graph.topo():
            if not _is_depthwise(node, graph):
                continue
            p = _only_user(graph, node.name, outputs)
            if p is None or not _is_pointwise(p):
                continue
            a = _only_user(graph, p.name, outputs)
            if a is not None and (a.op != "add" or len(a.inputs) != 2):
                a = None
            if a is not None:
                other = next(tuple(r) for r in a.inputs if r[0] != p.name)
                if tuple(graph.value_shape(other)) != tuple(p.meta["shape"]):
                    a = None
            e = graph.nodes[node.inputs[0][0]]
            if not (_is_pointwise(e) and _only_user(graph, e.name, outputs) is node
                    and expand_pays(node, pk.ctx.batch, mode)):
                e = None
            self.chains[(e or node).name] = (e, node, p, a)

    def lower(self, node, refs, values):
        chain = self.chains.get(node.name)
        if chain is not None:
            return DEFERRED if self._can_fuse(chain, refs[0]) else None
        chain = self.active.get(node.name)
        if chain is None:
            return None
        if node is not (chain[3] or chain[2]):
            return DEFERRED
        return self._emit(chain, values)

    def _can_fuse(self, chain, xkey) -> bool:
        from .packed import block_of, preferred_block

        e, d, p, a = chain
        pref = preferred_block(self.pk.ctx)
        hb = block_of(int(d.attrs["out"]), pref) if e is not None else self.pk.block.get(xkey)
        ob = block_of(int(p.attrs["out"]), pref)
        ib = self.pk.block.get(xkey)
        if e is not None and ib is None:
            ib = block_of(int(self.graph.value_shape(xkey)[1]), pref)  # a plain input packed first
        if ib is None or hb is None or ob is None or int(d.attrs["out"]) % hb:
            return False
        for node in (d, p, a):
            if node is not None and node is not chain[0]:
                self.active[node.name] = chain
        return True

    def _emit(self, chain, values):
        pk, ctx = self.pk, self.pk.ctx
        e, d, p, a = chain
        from .packed import block_of, preferred_block

        xkey = tuple((e or d).inputs[0])
        x = values[xkey]
        if e is not None:
            cin = int(self.graph.value_shape(xkey)[1])
            x = pk.packed(xkey, x, pk.block.get(xkey) or block_of(cin, preferred_block(ctx)))
        hidden, c_out = int(d.attrs["out"]), int(p.attrs["out"])
        hb = block_of(hidden, preferred_block(ctx)) if e is not None else pk.block[xkey]
        ob = block_of(c_out, preferred_block(ctx))
        hc, oc = hidden // hb, c_out // ob
        k = int(d.attrs["kernel"][0])
        args = [x]
        if e is not None:
            cc, ib = int(x.ty.shape[1]), int(x.ty.shape[4])
            args.append(pk.weight(e, "weight", lambda w: w.reshape(hc, hb, cc, ib).transpose(0, 2, 3, 1),
                                  lambda op, w: op.permute_dims(op.reshape(w, (hc, hb, cc, ib)), [0, 2, 3, 1])))
            args.append(self._bias(e, hc, hb))
        args.append(pk.weight(d, "weight", lambda w: w.reshape(hc, hb, k, k).transpose(0, 2, 3, 1),
                              lambda op, w: op.permute_dims(op.reshape(w, (hc, hb, k, k)), [0, 2, 3, 1])))
        args.append(self._bias(d, hc, hb))
        args.append(pk.weight(p, "weight", lambda w: w.reshape(oc, ob, hc, hb).transpose(0, 2, 3, 1),
                              lambda op, w: op.permute_dims(op.reshape(w, (oc, ob, hc, hb)), [0, 2, 3, 1])))
        args.append(self._bias(p, oc, ob))
        if a is not None:
            other = next(tuple(r) for r in a.inputs if r[0] != p.name)
            args.append(pk.packed(other, values[other], ob))
        wo = int(p.meta["shape"][3])
        width = pw_tile(ctx.cpu, wo, oc, ob)[2] if ctx.cpu is not None else wo
        func, shape, dtype = kernel([v.ty for v in args], stride=int(d.attrs["stride"][0]),
                                    padding=tuple(int(v) for v in d.attrs["padding"]), act_dw=_act(d),
                                    act_pw=_act(p), width=width, expand=e is not None,
                                    act_e=_act(e) if e is not None else None, prof=ctx.cpu, cores=self.cores)
        gv = ctx.bb.add_func(func, "fused_inverted_residual")
        y = ctx.emit(ctx.relax.call_tir(gv, args, ctx.relax.TensorType(shape, str(dtype))))
        return y, ob

    def _bias(self, node, chunks: int, b: int):
        pk, ctx = self.pk, self.pk.ctx
        if node.attrs["bias"]:
            return pk.weight(node, "bias", lambda v: v.reshape(chunks, b), lambda op, v: op.reshape(v, (chunks, b)))
        form = ("zeros", chunks, b)
        if form not in ctx.consts:
            ctx.consts[form] = ctx.relax.const(np.zeros((chunks, b), "float32"))
        return ctx.consts[form]


# The expansion is fused where its output, for the whole batch, would not stay in the caches
# between the kernels: a stride-2 block whose expanded tensor is at least this many bytes.
EXPAND_BYTES = 4 << 20


def expand_pays(d, batch, mode: str = "auto") -> bool:
    """Whether the chain of depthwise conv `d` also computes its expansion 1x1, band by band,
    recomputing the halo rows the bands share ((rows x stride + k - stride) / (rows x stride) of
    the expansion's work). "auto": stride 2 and an expanded tensor (batch x channels x the
    depthwise input's size x 4 bytes) of at least EXPAND_BYTES. Measured on Zen 3, one core, CPU
    time (docs/performance.md): MobileNetV2 batch 8 58.0 -> 55.6 ms with the stride-2 blocks
    fused, batch 1 unchanged for its 112 x 112 block (4.8 MB) and 1 % slower with every stride-2
    block (their expanded tensors stay in L2/L3 between kernels at batch 1); stride-1 blocks and
    the 14 x 14 ones lose (44-56 % of peak: a 1 x 7 expansion tile and 2 halo rows per band).
    "full": every chain (experiments); "tail": none."""
    if mode in ("full", "tail"):
        return mode == "full"
    _n, c, ho, wo = d.meta["shape"]
    s = int(d.attrs["stride"][0])
    images = batch if isinstance(batch, int) else 1
    return s == 2 and images * int(c) * int(ho) * int(wo) * s * s * 4 >= EXPAND_BYTES
