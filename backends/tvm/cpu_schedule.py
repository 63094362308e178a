"""cnndsl's default CPU schedule for untuned kernels.

TVM's legalized kernels are naive scalar loops. This pass gives every fused PrimFunc a
simple, always-valid schedule:

1. (DLight's CPU rules, GEMV and Reduction, are not used: on these kernels they only
   normalize the loops and mark the function scheduled, leaving it scalar.)
2. for the main block of each function (the reduction block when there is one:
   conv, pooling), producers such as padding are inlined, the innermost spatial loop is
   split by the largest divisor <= the vector lanes and moved inside the reduction loops
   (a register-blocked direct convolution along W), reductions are decomposed, the outer
   spatial loops are fused and parallelized, and the inner loop vectorized;
3. elementwise blocks: all loops fused, parallel outer, vectorized inner.

Two kinds of kernel get a schedule of their own: the packed (NCHW[b]c) convolutions and
pooling windows of `packed.py` (`_schedule_packed_conv`: a register tile of output columns
x one channel vector, padding read inline), and a classifier's row matmul
(`_schedule_row_matmul`: panels of columns with independent FMA chains).

Any step TVM refuses leaves that function as legalized (correct, slower); never an error.
"""

from __future__ import annotations

import logging
import os

from .cpu_target import INLINE_PAD_COLUMNS

log = logging.getLogger("cnndsl.tvm")

SCHEDULED_KEYS = ("tirx.is_scheduled", "tir.is_scheduled")


def _divisor(n: int, limit: int) -> int:
    for f in range(min(n, limit), 0, -1):
        if n % f == 0:
            return f
    return 1


def _iter_types(sch, block) -> list[int]:
    return [int(iv.iter_type) for iv in sch.get(block).iter_vars]


def _schedule_func(func, prof):
    import tvm

    sch = tvm.s_tir.Schedule(func)
    return sch.mod["main"] if apply_default(sch, prof) else None


def apply_default(sch, prof) -> bool:
    """Apply the default schedule to `sch` (whose function is "main"), in place; False when
    nothing could be scheduled. `prof`: the target's cpu_target.CpuProfile (vector lanes,
    registers). Every step is a traced schedule primitive, so `sch.trace` replays it: tuning
    stores it as one more candidate record (tune.py)."""
    lanes = prof.lanes
    root = sch.get_sblock("root") if _has_root(sch) else None
    blocks = sch.get_child_blocks(root) if root is not None else []
    if not blocks:
        return False
    from . import winograd

    kind = winograd.kernel_kind(sch)
    if kind is not None:
        try:
            winograd.schedule(sch, kind, prof)
        except Exception as err:  # noqa: BLE001
            log.debug("cpu schedule: %s left naive: %s", kind, str(err)[:300])
            return False
        return True
    # inline what can be inlined (padding, casts), keep reductions and the last block
    keep_pad = os.environ.get("CNNDSL_TVM_INLINE_PAD", "0") != "1"
    for b in blocks[:-1]:
        if any(t != 0 for t in _iter_types(sch, b)):
            continue
        if keep_pad and any(any(t == 2 for t in _iter_types(sch, c)) for c in sch.get_consumers(b)):
            continue  # padding stays a separate (vectorized) pass: the conv loop reads without conditions
        try:
            sch.compute_inline(b)
        except Exception as err:  # noqa: BLE001
            log.debug("cpu schedule: %s not inlined: %s", sch.get(b).name_hint, str(err)[:200])
    blocks = sch.get_child_blocks(sch.get_sblock("root"))
    reductions = [b for b in blocks if any(t == 2 for t in _iter_types(sch, b))]
    if len(reductions) == 1 and _is_row_matmul(sch, reductions[0]):
        try:
            _schedule_row_matmul(sch, reductions[0], prof)
        except Exception as err:  # noqa: BLE001
            log.debug("cpu schedule: matmul left naive: %s", str(err)[:300])
            return False
    elif len(reductions) == 1 and _is_packed_window(sch, reductions[0]):
        red = reductions[0]
        try:
            _schedule_packed_conv(sch, red, prof)
        except Exception as err:  # noqa: BLE001
            log.debug("cpu schedule: packed %s left naive: %s", sch.get(red).name_hint, str(err)[:300])
            return False
    elif len(reductions) == 1:
        # one reduction (conv, pool, mean): the epilogue is computed per output vector right after it
        red = reductions[0]
        name = sch.get(red).name_hint
        try:
            _split_stride2_phases(sch, red)
        except Exception as err:  # noqa: BLE001
            log.debug("cpu schedule: %s keeps its strided reads: %s", name, str(err)[:200])
        try:
            _schedule_reduction(sch, red, lanes, epilogue=True)
        except Exception as err:  # noqa: BLE001
            log.debug("cpu schedule: %s left naive: %s", name, err)
            return False
    else:
        for b in blocks:
            try:
                if any(t == 2 for t in _iter_types(sch, b)):
                    _schedule_reduction(sch, b, lanes)
                else:
                    _schedule_elementwise(sch, b, lanes)
            except Exception as err:  # noqa: BLE001
                log.debug("cpu schedule: block %s left naive: %s", sch.get(b).name_hint, err)
    return True


# parallel tasks a flattened 1x1 conv keeps at least (when its positions divide so): with a
# few channel chunks alone (64 channels on AVX-512: 4) a many-core CPU would idle
MIN_TASKS = 64
PACKED_BLOCKS = ("conv2d_nchwc", "depthwise_nchwc")  # packed.CONV_BLOCK, packed.DEPTHWISE_BLOCK
PACKED_POOLS = ("pool_max", "pool_sum")
SUBSAMPLE_BLOCK = "subsample_nchwc"  # packed.SUBSAMPLE_BLOCK: a strided 1x1 conv's dense input copy  # TOPI's pool2d blocks, on NCHW[b]c values in packed.py


def _is_packed_window(sch, block) -> bool:
    """A packed conv, or a pooling window over a channel-blocked value (5 spatial axes)."""
    name = sch.get(block).name_hint
    if name in PACKED_BLOCKS:
        return True
    return name in PACKED_POOLS and _iter_types(sch, block).count(0) == 5


def _schedule_packed_conv(sch, block, prof) -> None:
    """The NCHWc convolution (packed.py): for each (batch, channel chunk, output row, run of
    columns) -- parallel over the first three -- accumulate a register tile of `cols` output
    columns x one vector of channels over the reduction (input chunk, kh, kw, input channel),
    each step one broadcast input value times one weight vector; then the epilogue (bias,
    activation, residual add) on that tile while it is hot. Depthwise convs and pooling: the
    same tile, reduced over (kh, kw) only."""
    loops = sch.get_loops(block)
    types = _iter_types(sch, block)
    spatial = [lp for lp, t in zip(loops, types) if t == 0]
    reduce = [lp for lp, t in zip(loops, types) if t == 2]
    if len(spatial) != 5 or not reduce:
        raise ValueError("not a packed convolution nest")
    n, chunk, row, col, lane = spatial
    width = _extent(sch, col)
    if width is None:
        raise ValueError("symbolic output width")
    vector = _extent(sch, lane) or prof.lanes
    dense = sch.get(block).name_hint == "conv2d_nchwc"
    chunks = _extent(sch, chunk) or 1
    blocks = sch.get_child_blocks(sch.get_sblock("root"))
    idx = next(i for i, b in enumerate(blocks) if sch.get(b).same_as(sch.get(block)))
    # Padding is read inline (a condition per window tap) rather than from a padded copy of the
    # input, which costs a write and a read of the whole input: on AVX-512 (Zen 4) MobileNetV2's
    # depthwise kernels 1.0 -> 0.6 ms, ResNet-50 38.9 -> 37.7 ms. Not for a dense conv where the
    # target says so (AVX2: the conditions cost registers the 16-register tile needs; ResNet-18's
    # 64->64 3x3 at 56: 75 -> 88 GFLOP/s, 1 core), nor for a conv reading a plain input (the RGB
    # stem: 3 channels per tap, so the condition is checked once per 3 FMAs, 1.1 vs 2.0 ms).
    inline = len(sch.get(block).reads[0].source.shape) == 5 and (prof.inline_padding or not dense)
    pads_inline = inline and any(sch.get(b).name_hint != SUBSAMPLE_BLOCK for b in blocks[:idx])
    vo, cols = prof.conv_tile(width, chunks, vector, dense, max_cols=INLINE_PAD_COLUMNS if pads_inline else 16)
    rows = [row]
    height = _extent(sch, row)
    if dense and height and all(_extent(sch, r) == 1 for r in reduce[1:-1]):
        # a 1x1 conv is a matmul over the output positions: tiling the flattened rows x columns
        # lets the tile fit them where a row does not (14: 2 chunks x 4 of
        # 196 positions rather than 1 x 7 of a row: 76-79 -> 95-99 % of the FMA peak on AVX2)
        fvo, fcols = prof.conv_tile(height * width, chunks, vector, dense)
        if (prof.tile_value(height * width, fvo, fcols, vector)
                > prof.tile_value(width, vo, cols, vector) + 1e-9) and _flattenable(sch, block):
            _flatten_positions(sch, block, width)
            loops = sch.get_loops(block)
            n, chunk, col, lane = loops[:4]
            reduce = loops[4:]
            rows, (vo, cols) = [], (fvo, fcols)
    co, ci = sch.split(col, [None, cols])
    if vo > 1:  # vo channel chunks x cols columns: each broadcast input feeds vo FMAs
        chunk, cki = sch.split(chunk, [None, vo])
        sch.reorder(n, chunk, *rows, co, *reduce, ci, cki, lane)
        sch.unroll(cki)
    else:
        sch.reorder(n, chunk, *rows, co, *reduce, ci, lane)
    if not rows:  # flattened positions: split them among tasks where the chunks alone are few
        tasks = (_extent(sch, n) or 1) * (_extent(sch, chunk) or 1)
        pieces = _divisor(_extent(sch, co) or 1, -(-MIN_TASKS // tasks))
        if pieces > 1:
            rows, co = sch.split(co, [pieces, None])
            rows = [rows]
    outer = sch.fuse(n, chunk, *rows)
    blocks = sch.get_child_blocks(sch.get_sblock("root"))
    idx = next(i for i, b in enumerate(blocks) if sch.get(b).same_as(sch.get(block)))
    for b in blocks[:idx]:
        if inline and sch.get(b).name_hint != SUBSAMPLE_BLOCK:
            sch.compute_inline(b)
            continue
        _schedule_elementwise(sch, b, _extent(sch, sch.get_loops(b)[-1]) or 16)  # the padding copy
    for b in blocks[idx + 1:]:
        sch.reverse_compute_at(b, co)
        sch.vectorize(sch.get_loops(b)[-1])
    sch.parallel(outer)
    sch.vectorize(lane)
    sch.unroll(ci)
    sch.decompose_reduction(block, reduce[0])


def _epilogue(sch, block) -> list:
    """The blocks after the conv in its function (bias, activation, residual add: its epilogue)."""
    blocks = sch.get_child_blocks(sch.get_sblock("root"))
    idx = next(i for i, b in enumerate(blocks) if sch.get(b).same_as(sch.get(block)))
    return blocks[idx + 1:]


def _flattenable(sch, block) -> bool:
    """Whether _flatten_positions applies: a dense packed conv (5 spatial + 4 reduction axes) whose
    epilogue blocks are elementwise over its 5-D shape, and at least one of them: the last block
    writes the function's output, whose 5-D layout the caller's tensors have, so a conv that writes
    the output itself (no bias, no activation: DenseNet's transition conv) cannot be re-indexed."""
    after = _epilogue(sch, block)
    shape = [int(d) for d in sch.get(block).writes[0].source.shape]
    return bool(after) and len(sch.get(block).iter_vars) == 9 and all(
        [int(iv.iter_type) for iv in sch.get(b).iter_vars] == [0] * 5
        and [int(iv.dom.extent) for iv in sch.get(b).iter_vars] == shape for b in after)


def _flatten_positions(sch, block, width: int) -> None:
    """Index the conv's result and its epilogue by output position (h * width + w) instead of
    (h, w), so that a tile of consecutive positions crossing a row end is one exact region: the
    epilogue then runs once per tile, not over every whole row the tile touches. Only where
    _flattenable says so. The conv block then has the loops (batch, chunk, position, lane,
    *reduction)."""
    after = _epilogue(sch, block)

    def flat(n, c, h, w, k):
        return (n, c, h * width + w, k)

    for b in [block, *after[:-1]]:  # every intermediate value (the last block writes the output)
        sch.transform_layout(b, ("write", 0), flat)
    sch.transform_block_layout(block, lambda n, c, h, w, k, r0, r1, r2, r3: (*flat(n, c, h, w, k), r0, r1, r2, r3))
    for b in after:
        sch.transform_block_layout(b, flat)


def _matmul_tile(n: int) -> int:
    """Output columns per task of a row matmul: the largest multiple of 8 dividing n, up to 64."""
    return next((t for t in range(64, 7, -8) if n % t == 0), 0)


def _is_row_matmul(sch, block) -> bool:
    """y[i, j] = sum_k x[i, k] * w[k, j] (a classifier's linear: relax folds w's transpose)."""
    blk = sch.get(block)
    if blk.name_hint != "matmul" or [int(iv.iter_type) for iv in blk.iter_vars] != [0, 0, 2]:
        return False
    _i, j, k = (iv.var for iv in blk.iter_vars)
    if len(blk.reads) != 2 or len(blk.reads[1].region) != 2:
        return False
    rows, cols = blk.reads[1].region
    return rows.min.same_as(k) and cols.min.same_as(j) and _matmul_tile(int(blk.iter_vars[1].dom.extent)) > 0


def _schedule_row_matmul(sch, block, prof) -> None:
    """Each parallel task owns a panel of `tile` output columns: it streams its panel of w row by
    row (k outer), accumulating `tile` columns in vector registers (several independent
    FMA chains, not one); the bias epilogue runs on the panel afterwards. TVM's generic path
    kept one 8-lane accumulator per column block: latency-bound, 12 GFLOP/s on MobileNetV2's
    1280x1000 classifier."""
    i, j, k = sch.get_loops(block)
    tile = _matmul_tile(_extent(sch, j))
    lanes = prof.lanes if tile % prof.lanes == 0 else 8
    jo, ji = sch.split(j, [None, tile])
    ju, jv = sch.split(ji, [None, lanes])
    sch.reorder(jo, i, k, ju, jv)
    for b in sch.get_child_blocks(sch.get_sblock("root"))[1:]:
        sch.reverse_compute_at(b, i)
        sch.vectorize(sch.get_loops(b)[-1])
    sch.parallel(jo)
    sch.vectorize(jv)
    sch.unroll(ju)
    sch.decompose_reduction(block, k)


def _split_stride2_phases(sch, block) -> None:
    """A stride-2 window (conv, pool) reads every other input column, which the W-vectorized
    loop turns into shuffles. Store its input (the padding block, or a copy of a function
    argument) as [.., H, 2, W/2] instead -- even columns, then odd ones -- so that the window's
    column (2*x + k) becomes (k % 2, x + k // 2): contiguous in x. 4-5x on ResNet's and
    MobileNetV2's stride-2 convs."""
    import re

    blk = sch.get(block)
    spatial = [iv.var.name for iv in blk.iter_vars if int(iv.iter_type) == 0]
    if not spatial:
        return
    # the output column times 2 (a stride), not a window offset times 2 (a dilation)
    strided = re.compile(rf"\b{re.escape(spatial[-1])} \* T\.int64\(2\)")
    for i, r in enumerate(blk.reads):
        if len(r.region) != 4 or not strided.search(str(r.region[3].min)):
            continue
        buf = r.source
        ext = int(buf.shape[3])
        if ext % 2:
            continue
        producers = [p for p in sch.get_producers(block) if sch.get(p).writes[0].source.same_as(buf)]
        prod = producers[0] if producers else sch.cache_read(block, i, "global")
        sch.transform_layout(prod, ("write", 0), lambda n, c, h, w: (n, c, h, w % 2, w // 2))
        sch.transform_block_layout(prod, lambda n, c, h, w: (n, c, h, w % 2, w // 2))


def _has_root(sch) -> bool:
    try:
        sch.get_sblock("root")
        return True
    except Exception:  # noqa: BLE001
        return False


def _extent(sch, loop) -> int | None:
    try:
        return int(sch.get(loop).extent)
    except (TypeError, ValueError):
        return None


def _schedule_elementwise(sch, block, lanes: int) -> None:
    loops = sch.get_loops(block)
    if not loops:
        return
    last = _extent(sch, loops[-1])
    if len(loops) >= 3 and last is not None and last >= 4:
        # rows: the outer loops fused and parallel, each row a plain (vectorized) loop. Fusing
        # every loop into one would vectorize across row ends, and a padding copy (whose reads
        # are shifted and guarded) then becomes a div/mod gather per lane: 13x slower on
        # MobileNetV2's 96x112x112 pad.
        outer = sch.fuse(*loops[:-1])
        sch.parallel(outer)
        f = _divisor(last, lanes)
        if f >= 4:
            _, inner = sch.split(loops[-1], [None, f])
            sch.vectorize(inner)
        return
    fused = sch.fuse(*loops) if len(loops) > 1 else loops[0]
    n = _extent(sch, fused)
    if n is None:
        return
    f = _divisor(n, lanes)
    if f > 1:
        outer, inner = sch.split(fused, [None, f])
        sch.parallel(outer)
        sch.vectorize(inner)
    else:
        sch.parallel(fused)


def _channel_tile() -> int:
    """Output channels per register block (measured on znver4: 8 beat 4 and 16)."""

    return int(os.environ.get("CNNDSL_TVM_CHANNEL_TILE", "8"))


def _w_tile() -> int:
    """Output columns per register block (measured on znver4: 8 beat 14 and 16)."""

    return int(os.environ.get("CNNDSL_TVM_W_TILE", "8"))


def _schedule_reduction(sch, block, lanes: int, epilogue: bool = False) -> None:
    loops = sch.get_loops(block)
    types = _iter_types(sch, block)
    if len(loops) != len(types):
        raise ValueError("loops do not match block iterators")
    spatial = [lp for lp, t in zip(loops, types) if t == 0]
    reduce = [lp for lp, t in zip(loops, types) if t == 2]
    if not spatial or not reduce:
        raise ValueError("not a spatial+reduction nest")
    last = spatial[-1]
    n = _extent(sch, last)
    if n is None:
        raise ValueError("symbolic innermost extent")
    f = _divisor(n, min(lanes, _w_tile()))
    wo, wi = sch.split(last, [None, f])
    inner = [wi]
    head = spatial[:-1]
    ct = _channel_tile()
    if len(spatial) == 4 and ct > 1:
        c = _extent(sch, spatial[1])
        t = _divisor(c, ct) if c else 1
        if t > 1:
            co, ci = sch.split(spatial[1], [None, t])
            head = [spatial[0], co, spatial[2]]
            inner = [ci, wi]
    sch.reorder(*head, wo, *reduce, *inner)
    outer = sch.fuse(*head, wo) if head else wo
    if epilogue:
        allb = sch.get_child_blocks(sch.get_sblock("root"))
        idx = next(i for i, b in enumerate(allb) if sch.get(b).same_as(sch.get(block)))
        for b in allb[:idx]:
            _schedule_elementwise(sch, b, lanes)
        others = allb[idx + 1:]
        for b in others:
            sch.reverse_compute_at(b, outer)
    else:
        others = []
    sch.parallel(outer)
    init = sch.decompose_reduction(block, reduce[0])
    if f > 1:
        for lp in sch.get_loops(block)[-len(inner):]:
            sch.unroll(lp)  # a reduction cannot be vectorized; LLVM's SLP packs the unrolled lanes
        for b in [init, *others]:
            try:
                sch.vectorize(sch.get_loops(b)[-1])
            except Exception as err:  # noqa: BLE001
                log.debug("cpu schedule: no vectorize for %s: %s", sch.get(b).name_hint, str(err)[:300])


def schedule_module(mod, tgt, only_unscheduled: bool = False):
    """Schedule every PrimFunc of `mod` not already scheduled (tuned kernels keep theirs)."""
    import tvm

    from .cpu_target import profile_of

    prof = profile_of(tgt)
    updates = {}
    done = 0
    for gv, func in mod.functions_items():
        if not isinstance(func, tvm.tirx.PrimFunc):
            continue
        if func.attrs is not None and any(k in func.attrs for k in SCHEDULED_KEYS):
            continue
        try:
            new = _schedule_func(func, prof)
        except Exception as err:  # noqa: BLE001
            log.debug("cpu schedule: %s left naive: %s", gv, err)
            new = None
        if new is not None:
            updates[gv] = new.with_attr("tirx.is_scheduled", True)
            done += 1
    for gv, func in updates.items():
        mod[gv] = func
    log.info("cpu schedule: %d kernels scheduled", done)
    return mod
