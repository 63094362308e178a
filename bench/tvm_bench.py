"""Benchmark cnndsl-TVM (untuned, optionally tuned) against ONNX Runtime, PyTorch eager and torch.compile.

Each configuration runs `cnndsl bench NAME --batch B --format json` in a fresh process,
so every runtime in a row was measured in the same run on the same input and weights.
"Effective" GFLOP/s = 2 * direct-convolution MACs / latency (so Winograd rows can exceed the
peak), against the measured per-core FMA peak of the widest ISA this CPU runs
(bench/fma_peak.py) times the threads. One row per thread count; at one thread the runs
are timed by CPU time (`cnndsl bench --clock cpu`), which a machine shared with other jobs
does not inflate; at more threads by the wall clock.

    .venv/bin/python bench/tvm_bench.py                      # resnet18/50, vgg16, mobilenet_v2; batch 1, 8; 1 and all threads
    .venv/bin/python bench/tvm_bench.py -X winograd=0        # direct convolutions only
    .venv/bin/python bench/tvm_bench.py --tune --trials 1000 --tuned-batches 1   # tuned rows from work/tvm_db/NAME_b1
    .venv/bin/python bench/tvm_bench.py --markdown >> docs/performance.md   # rows only

Not a test: the numbers depend on the machine and on whatever else it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CNNDSL = [str(Path(sys.executable).parent / "cnndsl")]


def matmul_peak_gflops(n: int = 2048, repeat: int = 5) -> tuple[float, str]:
    """The best fp32 sgemm rate of this machine's BLAS libraries: numpy's (OpenBLAS) and, when
    installed, torch's (MKL/oneDNN), n^3 each, best of `repeat`. Returns (GFLOP/s, which)."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((n, n)).astype("float32")
    b = np.random.default_rng(1).standard_normal((n, n)).astype("float32")
    mm = {"numpy": lambda: a @ b}
    try:
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        mm["torch"] = lambda: torch.mm(ta, tb)
    except ImportError:
        pass
    rates = {}
    for name, fn in mm.items():
        fn()
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        rates[name] = 2 * n ** 3 / best / 1e9
    which = max(rates, key=rates.get)
    return rates[which], ", ".join(f"{k} {v:.0f}" for k, v in rates.items())


def macs_of(name: str, batch: int) -> int:
    out = subprocess.run(CNNDSL + ["report", name, "--format", "json"], capture_output=True, text=True, check=True)
    return int(json.loads(out.stdout)["totals"]["macs"]) * batch


def bench_one(name: str, batch: int, extra: list[str], repeat: int) -> dict:
    cmd = CNNDSL + ["bench", name, "--batch", str(batch), "--format", "json", "--repeat", str(repeat)] + extra
    t0 = time.time()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc {proc.returncode}",
                "wall_s": time.time() - t0}
    rep = json.loads(proc.stdout)
    rep["wall_s"] = round(time.time() - t0, 1)
    return rep


def cpu_name() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _ratio(v, ort) -> str:
    return f"{v / ort:.2f}" if v and ort else ""


def fma_peak_per_core() -> tuple[float, str]:
    """This CPU's per-core fp32 FMA peak for the widest ISA it runs (bench/fma_peak.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fma_peak

    isas = fma_peak.supported()
    isa = "avx512" if "avx512" in isas else (isas[0] if isas else "")
    return (fma_peak.peak(isa), isa) if isa else (float("nan"), "none")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", default="resnet18,resnet50,vgg16,mobilenet_v2")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", default=f"1,{os.cpu_count()}", help="thread counts, one row each (default 1 and all)")
    ap.add_argument("--clock", default="auto", choices=("auto", "wall", "cpu"),
                    help="auto: CPU time at 1 thread (a shared machine's waiting is not counted), wall otherwise")
    ap.add_argument("--compare", default="onnxruntime,torch,torch-compile")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("-X", dest="extra", action="append", default=[], help="passed to cnndsl bench (e.g. winograd=0)")
    ap.add_argument("--tune", action="store_true")
    ap.add_argument("--trials", type=int, default=256)
    ap.add_argument("--tuning-db", default=str(ROOT / "work" / "tvm_db"),
                    help="one database per network and batch: DIR/NAME_bBATCH (reused: no new tuning for "
                         "tasks it holds)")
    ap.add_argument("--tuned-batches", default=None,
                    help="with --tune: only these batch sizes get a tuned row (default: all)")
    ap.add_argument("--naive", action="store_true", help="also measure TVM's naive legalized kernels")
    ap.add_argument("--json", metavar="FILE", help="also write the raw results here")
    args = ap.parse_args()

    peak, isa = fma_peak_per_core()
    bpeak, rates = matmul_peak_gflops()
    head = (f"Machine: {cpu_name()}, {os.cpu_count()} logical CPUs, ISA {isa}; measured fp32 FMA peak "
            f"{peak:.0f} GFLOP/s per core (bench/fma_peak.py, CPU time); best sgemm 2048^3 {bpeak:.0f} GFLOP/s "
            f"({rates}). Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
            f"Load average at start: {os.getloadavg()[0]:.1f}.")
    print(head, file=sys.stderr)
    rows = []
    raw = []
    others = [c for c in args.compare.split(",") if c]
    xs = [a for x in args.extra for a in ("-X", x)]
    print("| network | batch | threads | clock | cnndsl-TVM untuned ms | tuned ms (trials, tuning time) | "
          + " | ".join(f"{o} ms" for o in others) + " | untuned / ORT | tuned / ORT | torch.compile / ORT | "
          "effective GFLOP/s (% FMA peak) | compile s |")
    print("|" + "---|" * (11 + len(others)))
    for name in args.nets.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            macs = macs_of(name, batch)
            for threads in (int(t) for t in args.threads.split(",")):
                clock = args.clock if args.clock != "auto" else ("cpu" if threads == 1 else "wall")
                common = ["--threads", str(threads), "--clock", clock, "--compare", ",".join(others), *xs]
                un = bench_one(name, batch, common, args.repeat)
                raw.append({"net": name, "batch": batch, "threads": threads, "clock": clock, "untuned": un})
                tuned = None
                tuned_batches = (None if args.tuned_batches is None
                                 else {int(b) for b in args.tuned_batches.split(",")})
                if args.tune and (tuned_batches is None or batch in tuned_batches):
                    # tuned in its own process, measured there against ORT and torch again (same run)
                    tuned = bench_one(name, batch, common + ["--tune", "--trials", str(args.trials), "--tuning-db",
                                                             f"{args.tuning_db}/{name}_b{batch}"], args.repeat)
                    raw[-1]["tuned"] = tuned
                if args.naive:
                    raw[-1]["naive"] = bench_one(name, batch, ["--schedule", "naive", "--compare", ""], 3)
                if "error" in un:
                    print(f"| {name} | {batch} | {threads} | {clock} | error: {un['error']} |")
                    continue
                r = un["runtimes"]
                ours = r["cnndsl-tvm-llvm"]["median_ms"]
                ort = r.get("onnxruntime", {}).get("median_ms")

                def cell(key, r=r):
                    v = r.get(key, {})
                    return f"{v['median_ms']:.2f}" if "median_ms" in v else "skipped"

                gfs = 2 * macs / (ours / 1e3) / 1e9
                tcell, tratio = "not run", ""
                if tuned and "error" not in tuned:
                    tr = tuned["runtimes"]["cnndsl-tvm-llvm"]
                    st = tr.get("tuning", {})
                    trials = st.get("database_trials", args.trials)
                    secs = st.get("database_tuning_seconds", st.get("tuning_seconds", 0))
                    tort = tuned["runtimes"].get("onnxruntime", {}).get("median_ms")
                    tcell = (f"{tr['median_ms']:.2f} ({trials} trials, {secs:.0f} s; ORT in the same run "
                             f"{tort if tort is None else f'{tort:.2f}'} ms)")
                    tratio = f"{tr['median_ms'] / tort:.2f}" if tort else ""
                elif tuned:
                    tcell = f"error: {tuned['error']}"
                tc = r.get("torch-compile", {}).get("median_ms")
                row = (f"| {name} | {batch} | {threads} | {clock} | {ours:.2f} | {tcell} | "
                       + " | ".join(cell(o) for o in others)
                       + f" | {_ratio(ours, ort)} | {tratio} | {_ratio(tc, ort)} | "
                       f"{gfs:.1f} ({100 * gfs / (peak * threads):.0f}%) | "
                       f"{r['cnndsl-tvm-llvm']['compile_seconds']:.1f} |")
                rows.append(row)
                print(row, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"header": head, "fma_peak_per_core": peak, "isa": isa,
                                               "results": raw}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
