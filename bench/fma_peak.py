"""Per-core fp32 FMA peak of this CPU, for each vector ISA it runs: a register-resident loop of
independent FMA chains (no loads or stores), compiled by the system C compiler for that ISA.

    .venv/bin/python bench/fma_peak.py            # every ISA this CPU supports
    .venv/bin/python bench/fma_peak.py --json

Peak = FMAs per second x lanes x 2. The loop keeps `chains` accumulators (more than the FMA
latency x FMA units, fewer than the vector registers), so it measures throughput, not latency.
One thread: the per-core number that docs/performance.md's "% of peak" columns divide by.
Not a test.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# ISA name -> (compiler flags, vector type, lanes, intrinsic prefix, chains, CPU flag that must be present)
ISAS = {
    "avx2": ("-mavx2 -mfma", "__m256", 8, "_mm256", 12, "avx2"),
    "avx512": ("-mavx512f -mfma", "__m512", 16, "_mm512", 24, "avx512f"),
}

SOURCE = """
#include <immintrin.h>
#include <stdint.h>
float fma_loop_{isa}(int64_t iters, float seed) {{
    {vt} acc[{chains}];
    {vt} a = {pre}_set1_ps(seed), b = {pre}_set1_ps(0.999999f);
    for (int i = 0; i < {chains}; ++i) acc[i] = {pre}_set1_ps((float)i);
    for (int64_t it = 0; it < iters; ++it) {{
#pragma GCC unroll 64
        for (int i = 0; i < {chains}; ++i) acc[i] = {pre}_fmadd_ps(acc[i], b, a);
    }}
    {vt} s = acc[0];
    for (int i = 1; i < {chains}; ++i) s = {pre}_add_ps(s, acc[i]);
    float out[{lanes}];
    {pre}_storeu_ps(out, s);
    return out[0];
}}
"""


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def build(isa: str, workdir: Path):
    flags, vt, lanes, pre, chains, _ = ISAS[isa]
    src = workdir / f"fma_{isa}.c"
    lib = workdir / f"fma_{isa}.so"
    src.write_text(SOURCE.format(isa=isa, vt=vt, lanes=lanes, pre=pre, chains=chains))
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", *flags.split(), str(src), "-o", str(lib)], check=True)
    fn = getattr(ctypes.CDLL(str(lib)), f"fma_loop_{isa}")
    fn.restype = ctypes.c_float
    fn.argtypes = [ctypes.c_int64, ctypes.c_float]
    return fn, lanes, chains


def peak(isa: str, seconds: float = 0.2, repeat: int = 7) -> float:
    """Per-core fp32 GFLOP/s of `isa`'s FMA: best of `repeat` timed loops of about `seconds` each."""
    with tempfile.TemporaryDirectory() as tmp:
        fn, lanes, chains = build(isa, Path(tmp))
        iters = 1 << 16
        while True:  # size the loop to about `seconds`
            t0 = time.process_time()
            fn(iters, 1e-3)
            dt = time.process_time() - t0
            if dt > seconds / 4:
                break
            iters *= 4
        iters = int(iters * seconds / dt)
        best = float("inf")
        for _ in range(repeat):
            t0 = time.process_time()
            fn(iters, 1e-3)
            best = min(best, time.process_time() - t0)
    return iters * chains * lanes * 2 / best / 1e9


def supported() -> list[str]:
    flags = cpu_flags()
    return [isa for isa, spec in ISAS.items() if spec[5] in flags]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = {isa: round(peak(isa), 1) for isa in supported()}
    if args.json:
        print(json.dumps(res))
    else:
        for isa, g in res.items():
            print(f"{isa}: {g:.1f} GFLOP/s per core (fp32 FMA)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
