"""Winograd minimal filtering F(m x m, 3 x 3) for 3x3 stride-1 convolutions in the packed layout.

A 3x3 convolution computes each m x m output tile from an (m+2) x (m+2) input tile d as
Y = A^T [ U . V ] A with U = G g G^T (the filter, transformed once, at compile time) and
V = B^T d B (the input tile); the elementwise product, summed over input channels, is one
matrix product per point of the (m+2)^2 transformed tile. F(2x2, 3x3) does 2.25x fewer
multiplies than the direct convolution, F(4x4, 3x3) 4x, at the price of the transforms
(memory-bound) and a larger rounding error (docs/backends.md states it and
tests/backends/test_tvm_winograd.py checks it against float64).

Three kernels per convolution, in the packed layout (`packed.py`: activations [N, C/b, H, W, b]):

1. `winograd_input`: V[e, n, icc, p, icb], p = the tile index (image, tile row, tile column),
   from the zero-padded input; the B^T d B sums are written out term by term, zero
   coefficients skipped, one vector of `b` channels at a time;
2. `winograd_matmul`: M[e, n, oc, p, ob] = sum over input channels of V * U: per transformed
   point a matrix product, scheduled like the packed direct conv (a register tile of output
   channel vectors x tiles, each step one broadcast V value times one U vector);
3. `winograd_output`: Y = A^T M A for each output tile, cropped to the output size; bias,
   activation and residual add fuse onto it (TVM's FuseOps), as on the direct conv.

Which convolutions take it (`choose_tile`) is a rule from measurements (docs/performance.md):
3x3, stride 1, dilation 1, groups 1, a packed input, embedded weights, and enough channels
for the matrix products to dominate the transforms. `-X winograd=0` turns it off.
"""

from __future__ import annotations

import numpy as np

INPUT_BLOCK = "winograd_input"
MATMUL_BLOCK = "winograd_matmul"
OUTPUT_BLOCK = "winograd_output"
PAD_BLOCK = "winograd_pad"

# Lavin & Gray 2016: interpolation points 0, +-1 (F(2)) and 0, +-1, +-2 (F(4)), plus infinity.
MATRICES = {
    2: (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64),   # B^T
        np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64),     # G
        np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)),                               # A^T
    4: (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=np.float64),
        np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=np.float64),
        np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                  [0, 1, -1, 8, -8, 1]], dtype=np.float64)),
}
TILES = tuple(sorted(MATRICES))


def transform_weight(w: np.ndarray, m: int, ib: int, ob: int) -> np.ndarray:
    """[O, I, 3, 3] -> U packed [a, a, O/ob, I/ib, ib, ob] (a = m + 2), G g G^T in float64."""
    _bt, g, _at = MATRICES[m]
    o, i = w.shape[:2]
    u = np.einsum("ak,oikl,bl->abio", g, np.asarray(w, dtype=np.float64), g)  # [a, a, I, O]
    a = m + 2
    u = u.reshape(a, a, i // ib, ib, o // ob, ob).transpose(0, 1, 4, 2, 3, 5)
    return np.ascontiguousarray(u.astype(np.float32))


def transform_weight_relax(op, w, m: int, ib: int, ob: int, o: int, i: int):
    """The same transform in Relax (weights that are `main`'s parameters): G g G^T as two
    broadcast matmuls, then the packing."""
    from tvm import relax

    _bt, g, _at = MATRICES[m]
    a = m + 2
    gc = relax.const(g.astype(np.float32))
    gt = relax.const(np.ascontiguousarray(g.T).astype(np.float32))
    u = op.matmul(op.matmul(gc, w), gt)                       # [O, I, a, a]
    u = op.reshape(u, (o // ob, ob, i // ib, ib, a, a))
    return op.permute_dims(u, [4, 5, 0, 2, 3, 1])             # [a, a, Oc, Ic, ib, ob]


def _select(idx, values: list):
    """values[idx] for a loop variable idx, as a Select chain (folded once idx is unrolled)."""
    from tvm import tirx

    out = values[-1]
    for k in range(len(values) - 2, -1, -1):
        out = tirx.Select(idx == k, values[k], out)
    return out


def _sparse_sum(terms, dtype):
    """sum of coef * value over (coef, value) pairs, zero coefficients dropped, +-1 unmultiplied."""
    from tvm import tirx

    acc = None
    for coef, val in terms:
        if coef == 0:
            continue
        term = val if coef == 1 else (-val if coef == -1 else val * tirx.const(float(coef), dtype))
        acc = term if acc is None else acc + term
    return acc if acc is not None else tirx.const(0.0, dtype)


def input_transform(data, m: int, padding, out_hw):
    """V [a, a, Cc, P, ib] from data [N, Cc, H, W, ib]: B^T d B of every tile of the zero-padded
    input, in two separable passes (rows, then columns), each a Select over the transformed
    index of sparse sums: once the index is unrolled, only that row's nonzero terms remain."""
    from tvm import te, tirx

    bt = MATRICES[m][0]
    a = m + 2
    _n, cc, h, w, ib = data.shape
    h, w = int(h), int(w)
    ho, wo = out_hw
    th, tw = -(-ho // m), -(-wo // m)
    pt, pl = padding[0], padding[1]
    hp, wp = th * m + 2, tw * m + 2  # every tile's rows and columns, zero beyond the image

    def pad_value(i, c, y, x, k):
        inside = tirx.all(y >= pt, y < h + pt, x >= pl, x < w + pl)
        return tirx.if_then_else(inside, data[i, c, y - pt, x - pl, k], tirx.const(0.0, data.dtype))

    xp = te.compute((data.shape[0], cc, hp, wp, ib), pad_value, name=PAD_BLOCK)
    tiles = th * tw
    dt = data.dtype

    def rows(e, j, c, p, k):  # (B^T d)[e, j]
        img, t = p // tiles, p % tiles
        r0, c0 = (t // tw) * m, (t % tw) * m
        return _select(e, [_sparse_sum([(bt[ee, i], xp[img, c, r0 + i, c0 + j, k]) for i in range(a)], dt)
                           for ee in range(a)])

    t1 = te.compute((a, a, cc, data.shape[0] * tiles, ib), rows, name=INPUT_BLOCK + "_rows")

    def cols(e, nu, c, p, k):  # (B^T d B)[e, nu]
        return _select(nu, [_sparse_sum([(bt[nn, j], t1[e, j, c, p, k]) for j in range(a)], dt) for nn in range(a)])

    return te.compute((a, a, cc, data.shape[0] * tiles, ib), cols, name=INPUT_BLOCK)


def batched_matmul(v, u):
    """M [a, a, Oc, P, ob] = sum over (icc, icb) of V[a, a, icc, p, icb] * U[a, a, oc, icc, icb, ob]."""
    from tvm import te

    a, _, cc, p, ib = v.shape
    oc, ob = u.shape[2], u.shape[5]
    icc = te.reduce_axis((0, cc), "icc")
    icb = te.reduce_axis((0, ib), "icb")
    return te.compute((a, a, oc, p, ob),
                      lambda e, nu, o, t, k: te.sum(v[e, nu, icc, t, icb] * u[e, nu, o, icc, icb, k], axis=[icc, icb]),
                      name=MATMUL_BLOCK)


def output_transform(mm, m: int, batch, out_hw):
    """Y [N, Oc, Ho, Wo, ob] = A^T M A per tile, cropped to the output size; two separable
    passes as in input_transform (columns into S [a, m, Oc, P, ob], then rows)."""
    from tvm import te

    at = MATRICES[m][2]
    a = m + 2
    ho, wo = out_hw
    th, tw = -(-ho // m), -(-wo // m)
    oc, ob = mm.shape[2], mm.shape[4]
    dt = mm.dtype

    def cols(e, xi, o, p, k):  # (M A)[e, xi]
        return _select(xi, [_sparse_sum([(at[s, nu], mm[e, nu, o, p, k]) for nu in range(a)], dt) for s in range(m)])

    s1 = te.compute((a, m, oc, mm.shape[3], ob), cols, name=OUTPUT_BLOCK + "_cols")

    def value(img, o, y, x, k):
        p = img * (th * tw) + (y // m) * tw + x // m
        return _select(y % m, [_sparse_sum([(at[r, e], s1[e, x % m, o, p, k]) for e in range(a)], dt)
                               for r in range(m)])

    return te.compute((batch, oc, ho, wo, ob), value, name=OUTPUT_BLOCK)


# ----------------------------------------------------------------------- lowering
MODES = {"auto": "auto", "1": "auto", "true": "auto", "yes": "auto", "on": "auto",
         "0": "0", "false": "0", "no": "0", "off": "0", "2": "2", "4": "4"}


def parse_mode(value) -> str:
    """-X winograd=VALUE: 1/auto (the rule), 0 (off), 2 or 4 (that tile wherever it applies)."""
    from cnndsl.backend import BackendError

    mode = MODES.get(str(value).strip().lower())
    if mode is None:
        raise BackendError(f"-X winograd={value}: expected 1 or auto (by the rule), 0 (off), 2 or 4 (tile size)")
    return mode


def eligible(node, ctx, plain_input: bool) -> bool:
    """3x3, stride 1, dilation 1, groups 1, packed input, static batch."""
    a = node.attrs
    return (tuple(a["kernel"]) == (3, 3) and tuple(a["stride"]) == (1, 1) and tuple(a["dilation"]) == (1, 1)
            and int(a["groups"]) == 1 and not plain_input and isinstance(ctx.batch, int)
            and len(node.meta["shape"]) == 4)


def choose_tile(ctx, node, c_in: int, c_out: int, plain_input: bool) -> int:
    """The Winograd tile m for this conv (0: direct): `rule`, unless -X winograd says otherwise."""
    mode = getattr(ctx, "winograd", "0")
    if mode == "0" or not eligible(node, ctx, plain_input):
        return 0
    if mode in ("2", "4"):
        return int(mode)
    ho, wo = (int(d) for d in node.meta["shape"][2:])
    prof = getattr(ctx, "cpu", None)
    return rule(c_in, c_out, ho, wo, batch=int(ctx.batch), isa=prof.isa if prof is not None else "")


def rule(c_in: int, c_out: int, ho: int, wo: int, batch: int = 1, isa: str = "avx2") -> int:
    """F(4x4) where the output is at least 8 x 8, F(2x2) down to 4 x 4, else direct; and direct
    for thin convs whose matrix products are too small to pay for the transforms. Measured on
    Zen 3 (AVX2), one core, bench/tvm_kernels.py (docs/performance.md): F(4) over direct 2.2x
    at 56 x 56, 2.4x at 28 and 14; at 7 x 7 F(2) 1.55x, F(4) 1.24x. On AVX-512 F(2) also needs
    MIN_F2_ROWS matrix rows (batch x tiles) to reuse each transformed weight over: there the direct
    7 x 7 tile runs at the FMA peak (2 chunks x 7), and at batch 1 (16 rows) F(2)'s 16/9 larger
    weights, streamed from memory for little reuse, cost more than its multiplies save: ResNet-18
    on Zen 5, quiet, F(2) / direct at 7 x 7: batch 1 11.65 / 11.13 ms (1 core), 6.17 / 5.91 ms
    (2 cores); batch 2 22.3 / 23.4 ms; batch 8 86.4 / 85.7 ms (1 core); with another job on
    the other core batch 1 was 12.2 / 10.2 ms."""
    if min(c_in, c_out) < MIN_CHANNELS:
        return 0
    if min(ho, wo) >= 8:
        return 4
    if min(ho, wo) < 4:
        return 0
    rows = batch * -(-ho // 2) * -(-wo // 2)
    return 2 if rows >= MIN_F2_ROWS.get(isa, 0) else 0


# the fewest batch x tiles rows of F(2x2)'s matrix products, per ISA (absent: no minimum)
MIN_F2_ROWS = {"avx512": 32}
MIN_CHANNELS = 32


def lower_packed(pk, node, xin, m: int, ib: int, ob: int):
    """The three Winograd kernels of `node` on the packed input `xin` [N, Cc, H, W, ib]."""
    ctx = pk.ctx
    a = node.attrs
    out_hw = tuple(int(d) for d in node.meta["shape"][2:])
    c_out = int(a["out"])
    c_in = int(xin.ty.shape[1]) * ib

    def np_u(w):
        return transform_weight(w, m, ib, ob)

    def relax_u(op, w):
        return transform_weight_relax(op, w, m, ib, ob, c_out, c_in)

    u = pk.weight(node, "weight", np_u, relax_u)
    v = ctx.bb.emit_te(input_transform, xin, m, tuple(a["padding"]), out_hw,
                       primfunc_name_hint="winograd_input", primfunc_attrs={"op_pattern": 8})
    mm = ctx.bb.emit_te(batched_matmul, v, u, primfunc_name_hint="winograd_matmul")
    return ctx.bb.emit_te(output_transform, mm, m, xin.ty.shape[0], out_hw,
                          primfunc_name_hint="winograd_output", primfunc_attrs={"op_pattern": 4})


# ----------------------------------------------------------------------- default schedules
WINOGRAD_BLOCKS = (INPUT_BLOCK, MATMUL_BLOCK, OUTPUT_BLOCK)


def kernel_kind(sch) -> str | None:
    """Which Winograd kernel `sch`'s function is (a block name of WINOGRAD_BLOCKS), else None."""
    names = {sch.get(b).name_hint for b in sch.get_child_blocks(sch.get_sblock("root"))}
    return next((k for k in WINOGRAD_BLOCKS if k in names), None)


def schedule(sch, kind: str, prof) -> None:
    """The default schedule of one Winograd kernel (cpu_schedule.apply_default dispatches here)."""
    from .cpu_schedule import _extent, _schedule_elementwise

    blocks = sch.get_child_blocks(sch.get_sblock("root"))
    main = next(b for b in blocks if sch.get(b).name_hint == kind)
    if kind == INPUT_BLOCK:
        # the zero-padded copy first (a plain vectorized pass), then per (channel chunk, tile) the
        # row pass and the column pass over the a x a tile, unrolled so each transformed point is
        # its own sparse sum, one channel vector at a time
        for b in blocks:
            if sch.get(b).name_hint == PAD_BLOCK:
                _schedule_elementwise(sch, b, _extent(sch, sch.get_loops(b)[-1]) or prof.lanes)
        e, nu, c, p, k = sch.get_loops(main)
        sch.reorder(c, p, e, nu, k)
        tile = sch.fuse(c, p)
        rows = next(b for b in blocks if sch.get(b).name_hint == INPUT_BLOCK + "_rows")
        sch.compute_at(rows, tile)
        _unroll_tile(sch, rows)
        sch.parallel(tile)
        _unroll_tile(sch, main)
        return
    if kind == MATMUL_BLOCK:
        e, nu, o, t, k, icc, icb = sch.get_loops(main)
        chunks, tiles, ob = _extent(sch, o), _extent(sch, t), _extent(sch, k)
        vo, cols = prof.conv_tile(tiles, chunks, ob, dense=True)
        oo, oi = sch.split(o, [None, vo])
        to, ti = sch.split(t, [None, cols])
        sch.reorder(e, nu, oo, to, icc, icb, ti, oi, k)
        sch.parallel(sch.fuse(e, nu, oo))
        sch.unroll(ti)
        sch.unroll(oi)
        sch.vectorize(k)
        sch.decompose_reduction(main, icc)
        return
    # OUTPUT_BLOCK: per output tile, the column pass then the m x m outputs (unrolled sparse
    # sums), then the fused epilogue (bias, activation, residual) on that tile
    m = _tile_of(sch, main)
    img, o, y, x, k = sch.get_loops(main)
    yo, yi = sch.split(y, [None, m])
    xo, xi = sch.split(x, [None, m])
    sch.reorder(img, o, yo, xo, yi, xi, k)
    after = _after(sch, blocks, main)
    for b in after[:-1]:  # bias add into the activation, ...: one pass over the tile
        sch.compute_inline(b)
    for b in after[-1:]:
        sch.reverse_compute_at(b, xo)
        sch.vectorize(sch.get_loops(b)[-1])
    cols = next(b for b in blocks if sch.get(b).name_hint == OUTPUT_BLOCK + "_cols")
    sch.compute_at(cols, xo)
    _unroll_tile(sch, cols)
    sch.parallel(sch.fuse(img, o, yo))
    sch.unroll(yi)
    sch.unroll(xi)
    sch.vectorize(k)


def _unroll_tile(sch, block) -> None:
    """A block computed at a tile: its innermost loop (the channel vector) vectorized, the tile
    loops around it unrolled (down to the loop it was computed at)."""
    from .cpu_schedule import _extent

    loops = sch.get_loops(block)
    sch.vectorize(loops[-1])
    for lp in loops[-3:-1]:
        ext = _extent(sch, lp)
        if ext is not None and ext > 1:
            sch.unroll(lp)


def _after(sch, blocks, main):
    idx = next(i for i, b in enumerate(blocks) if sch.get(b).same_as(sch.get(main)))
    return blocks[idx + 1:]


def _tile_of(sch, block) -> int:
    """m of an output transform: the second axis of the column pass it reads ([a, m, ...])."""
    return int(sch.get(block).reads[0].source.shape[1])
