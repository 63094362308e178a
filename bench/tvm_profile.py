"""Per-kernel time of a cnndsl-TVM compiled network (Relax VM profiler), largest first.

    .venv/bin/python bench/tvm_profile.py mobilenet_v2 --batch 1 [--schedule default|naive] [--tuning-db DIR] [--top 25]
    TVM_NUM_THREADS=1 taskset -c 1 .venv/bin/python bench/tvm_profile.py mobilenet_v2 --clock cpu -X fuse_ir=0

Shows where the time goes, so that schedule work targets the kernels that matter. Each kernel's
"GFLOP/s" is 2 x its multiply-adds (the iteration space of its reduction blocks, read from the
fused TIR) / its time, and "% peak" that against the per-core FMA peak of the widest ISA this
CPU runs (bench/fma_peak.py) times the threads; `--clock cpu` times by the process's CPU time
(1 thread on a shared machine). Not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--schedule", default="default", choices=("default", "naive"))
    ap.add_argument("--tuning-db", default=None)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clock", default="wall", choices=("wall", "cpu"))
    ap.add_argument("-X", dest="extra", action="append", default=[], help="a TVM backend option, e.g. fuse_ir=0")
    ap.add_argument("--no-peak", action="store_true", help="skip measuring the FMA peak")
    args = ap.parse_args(argv)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    import numpy as np
    import tvm
    from cnndsl.backends.tvm.build import ensure_threads

    from cnndsl.api import load
    from cnndsl.backend import CompileOptions, get_backend
    from cnndsl.weights import weights_for

    ensure_threads()
    graph = load(args.name)
    weights = weights_for(graph, None, 0)
    extra = dict(x.split("=", 1) for x in args.extra)
    opts = CompileOptions(tuning_db=args.tuning_db, extra={**extra, "batch": args.batch, "schedule": args.schedule})
    ex, _manifest, _ = get_backend("llvm").build(graph, weights, opts)
    macs = kernel_macs(graph, weights, {**extra, "batch": args.batch})
    peak = None
    if not args.no_peak:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from fma_peak import peak as fma_peak
        from fma_peak import supported

        isas = supported()
        peak = max(fma_peak(isa) for isa in isas) * ensure_threads() if isas else None
    dev = tvm.cpu()
    vm = tvm.relax.VirtualMachine(ex, dev)
    shape = list(graph.nodes[graph.input_names[0]].attrs["shape"])
    shape[0] = args.batch
    x = tvm.runtime.tensor(np.random.default_rng(0).standard_normal(shape).astype("float32"), dev)
    vm["main"](x)
    t0 = clock()
    for _ in range(args.runs):
        vm["main"](x)
    whole = 1e3 * (clock() - t0) / args.runs
    # 0.27's VM has no profile=True: time each call instruction with the VM's instrument hook
    # (a Python callback before and after every call; its overhead is a few microseconds per call)
    per: dict[str, list[float]] = defaultdict(list)
    started: list[float] = []

    def instrument(_func, symbol, before_run, _ret, *_args):
        if before_run:
            started.append(clock())
        else:
            per[str(symbol)].append(1e6 * (clock() - started.pop()))
        return 0

    vm.set_instrument(instrument)
    for _ in range(args.runs):
        vm["main"](x)
    per = {k: [sum(v[i::len(v) // args.runs]) / args.runs for i in range(len(v) // args.runs)]
           for k, v in per.items()}
    total = sum(sum(v) for v in per.values())
    rows = sorted(per.items(), key=lambda kv: -sum(kv[1]))
    opts_text = " ".join(f"-X {x}" for x in args.extra)
    print(f"{args.name} batch {args.batch}, schedule {args.schedule} {opts_text}: {total / 1e3:.2f} ms in {len(rows)} "
          f"kernels (whole run without the hook: {whole:.2f} ms, {args.clock} clock"
          + (f"; FMA peak {peak:.0f} GFLOP/s)" if peak else ")"))
    print(f"{'kernel':<52} {'calls':>5} {'ms':>8} {'share':>6} {'GFLOP/s':>8} {'% peak':>6}")
    for name, ts in rows[:args.top]:
        ms = sum(ts) / 1e3
        flops = 2 * macs.get(name, 0) * len(ts)
        rate = f"{flops / ms / 1e6:8.1f}" if flops and ms > 0 else f"{'':>8}"
        share = f"{100 * flops / ms / 1e6 / peak:5.0f}%" if flops and ms > 0 and peak else f"{'':>6}"
        print(f"{name[:52]:<52} {len(ts):>5} {ms:>8.3f} {100 * sum(ts) / total:>5.1f}% {rate} {share}")
    return 0


def kernel_macs(graph, weights, extra: dict) -> dict[str, int]:
    """Multiply-adds per call of each fused kernel: the iteration space (spatial x reduction) of
    every block with a reduction axis in its TIR, summed (a fused inverted residual: depthwise +
    projection). Pooling and means count their additions."""
    import tvm
    from cnndsl.backends.tvm import build as B
    from cnndsl.backends.tvm.lower import build_module
    from cnndsl.backends.tvm.winograd import parse_mode

    from cnndsl.backend import optimize_for_inference

    graph, weights = optimize_for_inference(graph, weights)
    tgt = B.make_target("llvm", mcpu=extra.get("mcpu"))
    mod, _ = build_module(graph, weights, batch=int(extra["batch"]), layout="NCHWc", target=tgt,
                          winograd=parse_mode(extra.get("winograd", "auto")), fuse_ir=extra.get("fuse_ir", "auto"))
    fused = B.fuse_cpu(B.prepare_cpu(B.inference_prepasses(mod)), tgt)
    out = {}
    for gv, func in fused.functions_items():
        if not isinstance(func, tvm.tirx.PrimFunc):
            continue
        sch = tvm.s_tir.Schedule(func)
        blocks = [sch.get(b) for b in sch.get_child_blocks(sch.get_sblock("root"))]
        # a fused inverted residual computes its depthwise and projection sums over a few padded
        # columns (fused_block.pw_tile): only the output's columns count
        out_w = next((int(b.iter_vars[3].dom.extent) for b in blocks if b.name_hint == "fused_out"), None)
        total = 0
        for blk in blocks:
            ivs = blk.iter_vars
            if any(int(iv.iter_type) == 2 for iv in ivs):
                n = 1
                for iv in ivs:
                    n *= int(iv.dom.extent)
                if out_w and blk.name_hint.startswith(("fused_dw", "fused_pw")):
                    n = n * out_w // int(ivs[3].dom.extent)
                total += n
        out[gv.name_hint] = total
    return out


if __name__ == "__main__":
    sys.exit(main())
