"""What the default CPU schedules need to know about the target: a small table keyed by ISA.

The packed layout (`packed.py`) and its schedule (`cpu_schedule.py`) are register-blocked: a
tile of output columns x one channel block is accumulated in vector registers. Its sizes are
derived from the target here, not fixed for one machine:

- `block`: the channel block of the packed layout, one vector register of fp32 lanes
  (16 on AVX-512, 8 on AVX2; 8 = two 4-lane registers on SSE2 and NEON, so that a block of 8
  and its weights stay a whole number of registers);
- `max_columns(vectors)`: output columns per register tile, so that the accumulators
  (columns x vectors per block) plus the weight vectors of one tap and one broadcast input
  fit the register file, capped at 16 columns;
- `lanes`: the vector width of the elementwise and matmul kernels.

The ISA is read from the TVM target's CPU features (LLVM's `llvm_cpu_has_features`; note that
`llvm_get_vector_width` answers 512 for every x86 CPU in TVM 0.27, so it is not used).
For experiments: `CNNDSL_TVM_ISA=avx2|avx512|sse|neon` overrides the detection,
`CNNDSL_TVM_CHUNKS=k` / `CNNDSL_TVM_COLS=c` force the register tile of dense packed convs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# registers left for LLVM beyond accumulators, weights and the broadcast (addresses of padded
# taps, loop-carried temporaries): with none, AVX2's 14-column tile spilled one accumulator
# and shuffled the rest every tap (49 vs 71 GFLOP/s on ResNet-18's 64->64 3x3, one core).
HEADROOM = 2
# The core the register tile is chosen for (tile_value): FMA units, FMA latency in cycles, vector
# loads per cycle (Zen 3, Skylake, Zen 4; Haswell has latency 5). Fewer accumulators than
# units x latency leave the FMA units waiting on their own results.
FMA_UNITS, FMA_LATENCY, LOAD_UNITS = 2, 4, 2
GUARD_CYCLES = 0.5  # the guarded last tile of a width the tile does not divide (a tie goes to a divisor)
# Most columns of a conv (dense or depthwise) that reads its padding inline (a condition per tap): with 16, LLVM
# keeps the accumulators in memory across the conditions, a store per FMA (Zen 5, AVX-512, 1 core:
# 3x3 64->64 at 112x112 32 % of the FMA peak with 16 columns, 83 % with 14; depthwise 3x3 at 112x112
# 0.34 -> 0.30 ms; 1x1 convs, with no conditions, keep 16)
INLINE_PAD_COLUMNS = 14


@dataclass(frozen=True)
class CpuProfile:
    isa: str          # "avx512", "avx2", "sse", "neon"
    lanes: int        # fp32 lanes per vector register
    registers: int    # architectural vector registers
    block: int        # channel block of the packed layout (a whole number of registers)
    fma: bool         # fused multiply-add instructions
    broadcast_fma: bool = False  # the FMA takes a broadcast memory operand (AVX-512's {1toN})
    inline_padding: bool = False  # dense convs read padding inline (a condition per tap), not a copy

    def vectors(self, block: int) -> int:
        """Vector registers per channel block of `block` channels."""
        return max(1, block // self.lanes)

    def max_columns(self, block: int, weights: bool = True) -> int:
        """Most output columns of a register tile for a `block`-channel vector: accumulators
        (columns x vectors) + one tap's weight vectors + one broadcast input <= registers."""
        v = self.vectors(block)
        spare = (v + 1 if weights else 1) + HEADROOM
        return max(1, min(16, (self.registers - spare) // v))


    def conv_tile(self, width: int, chunks: int, block: int, dense: bool = True,
                  max_cols: int = 16) -> tuple[int, int]:
        """(channel chunks, output columns) of a packed conv's register tile.

        Dense convs: each tap of the reduction loads one weight vector per chunk and
        broadcasts one input value per column, for chunks x columns FMAs; the tile with the
        best `tile_value` along the width wins (the last tile of a width it does not divide
        is guarded). Where the FMA cannot take the broadcast as a memory operand (AVX2, SSE,
        NEON) 1 or 2 chunks: on AVX2 2 x 4 at widths 56 and 28, 2 x 5 at 14 (96 % of the FMA
        peak on Zen 3, where 1 x 7 -- 7 accumulators for 8 FMAs in flight -- got 77 % and
        4 x 2, four weight streams, 82 %). On AVX-512 the broadcast is an FMA memory operand:
        one chunk, as many columns as fit and divide the width; where those are fewer than the
        FMAs in flight (width 7: 7 accumulators for 2 units x latency 4) two chunks of them if
        the chunks pair (Zen 5, 1 core: 7x7 1x1 and 3x3 convs 74-81 -> 98-100 % of the FMA
        peak). The one-chunk rule also covers
        depthwise convs and pools (no broadcast): one chunk, the columns dividing the width,
        else a guarded tile of min(8, cap). `max_cols`: INLINE_PAD_COLUMNS where the conv reads
        its padding inline."""
        v = self.vectors(block)
        budget = self.registers - 1 - HEADROOM  # less one broadcast input
        forced = os.environ.get("CNNDSL_TVM_CHUNKS")
        options = [1, 2] if width >= 4 else [1, 2, 4]  # 4 chunks: only where columns are too few for 8 accumulators
        options = [int(forced)] if forced else (options if dense and not self.broadcast_fma else [1])
        best = None
        for vo in options:
            if chunks % vo:
                continue
            cap = min(max_cols, (budget - vo * v) // (vo * v) if dense else self.max_columns(block, weights=False))
            if os.environ.get("CNNDSL_TVM_COLS"):
                cap = int(os.environ["CNNDSL_TVM_COLS"])
            if cap < 1:
                continue
            if not dense or self.broadcast_fma:
                cols = _divisor(width, cap)
                cols = cols if cols >= 4 or width < 4 else min(8, cap)
                pair = 2 * cols * v + 2 * v <= budget and chunks % 2 == 0 and not forced
                if dense and cols * v < FMA_UNITS * FMA_LATENCY and pair:
                    return (2, cols)  # 7 columns: 14 accumulators, not 7 waiting on their own FMAs
                return (1, cols)
            for cols in range(1, min(cap, width) + 1):
                # ties go to the tile with the most FMAs per load
                score = (round(self.tile_value(width, vo, cols, block), 6), self.tile_score(vo, cols, block))
                if best is None or score > best[0]:
                    best = (score, vo, cols)
        return (best[1], best[2]) if best else (1, 1)

    def tile_value(self, width: int, chunks: int, cols: int, block: int) -> float:
        """Share of the FMA peak a dense conv tile of `chunks` x `cols` reaches along `width`
        output columns, by a cycle count per reduction step of each tile: the most of its
        FMAs / FMA_UNITS, the FMA latency (fewer accumulators than FMA_UNITS x FMA_LATENCY
        wait on their own results) and its loads / LOAD_UNITS; a guarded last tile costs
        GUARD_CYCLES more. Predicts 1 x 7 at 87.5 %, 2 x 4 at 100 %."""
        v = self.vectors(block)

        def cycles(k: int) -> float:
            fmas = chunks * v * k
            loads = chunks * v + (0 if self.broadcast_fma else k)
            return max(fmas / FMA_UNITS, FMA_LATENCY, loads / LOAD_UNITS)

        full, rest = divmod(width, cols)
        spent = full * cycles(cols) + (cycles(rest) + GUARD_CYCLES if rest else 0.0)
        return chunks * v * width / FMA_UNITS / spent

    def tile_score(self, chunks: int, cols: int, block: int) -> float:
        """FMAs per load of a dense conv's register tile of `chunks` channel chunks x `cols`
        columns: each reduction step loads chunks x vectors weight vectors and broadcasts
        `cols` inputs (as FMA memory operands on AVX-512, which then cost no load of their own)."""
        v = self.vectors(block)
        fmas = chunks * v * cols
        return fmas / (chunks * v + (0 if self.broadcast_fma else cols))


def _divisor(n: int, limit: int) -> int:
    for f in range(min(n, limit), 0, -1):
        if n % f == 0:
            return f
    return 1


PROFILES = {
    "avx512": CpuProfile("avx512", lanes=16, registers=32, block=16, fma=True, broadcast_fma=True,
                         inline_padding=True),
    "avx2": CpuProfile("avx2", lanes=8, registers=16, block=8, fma=True),
    "sse": CpuProfile("sse", lanes=4, registers=16, block=8, fma=False),
    "neon": CpuProfile("neon", lanes=4, registers=32, block=8, fma=True),
}


def isa_of(tgt) -> str:
    """The vector ISA of an llvm target: avx512, avx2, sse (x86 without AVX2) or neon (aarch64)."""
    forced = os.environ.get("CNNDSL_TVM_ISA")
    if forced:
        if forced not in PROFILES:
            raise ValueError(f"CNNDSL_TVM_ISA={forced}: expected one of {', '.join(PROFILES)}")
        return forced
    from tvm.target import codegen

    triple = str(tgt.attrs.get("mtriple") or "") if tgt is not None else ""
    if triple.startswith(("aarch64", "arm64")):
        return "neon"

    def has(feature: str) -> bool:
        try:
            return bool(codegen.llvm_cpu_has_features(feature, tgt))
        except Exception:  # noqa: BLE001 - an LLVM without this query: assume the feature is absent
            return False

    if has("avx512f"):
        return "avx512"
    if has("avx2") and has("fma"):
        return "avx2"
    return "sse"


def profile_of(tgt) -> CpuProfile:
    """The schedule profile of an llvm target (None: the host CPU's)."""
    if tgt is None:
        from .build import make_target

        tgt = make_target("llvm")
    return PROFILES[isa_of(tgt)]
