"""Per-kernel time of a cnndsl-TVM compiled network (Relax VM profiler), largest first.

    .venv/bin/python bench/tvm_profile.py mobilenet_v2 --batch 1 [--schedule default|naive] [--tuning-db DIR] [--top 25]

Shows where the time goes, so that schedule work targets the kernels that matter. Not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--schedule", default="default", choices=("default", "naive"))
    ap.add_argument("--tuning-db", default=None)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)

    import numpy as np
    import tvm
    from cnndsl.backends.tvm.build import ensure_threads

    from cnndsl.api import load
    from cnndsl.backend import CompileOptions, get_backend
    from cnndsl.weights import weights_for

    ensure_threads()
    graph = load(args.name)
    weights = weights_for(graph, None, 0)
    opts = CompileOptions(tuning_db=args.tuning_db, extra={"batch": args.batch, "schedule": args.schedule})
    ex, _manifest, _ = get_backend("llvm").build(graph, weights, opts)
    dev = tvm.cpu()
    vm = tvm.relax.VirtualMachine(ex, dev)
    shape = list(graph.nodes[graph.input_names[0]].attrs["shape"])
    shape[0] = args.batch
    x = tvm.runtime.tensor(np.random.default_rng(0).standard_normal(shape).astype("float32"), dev)
    vm["main"](x)
    t0 = time.perf_counter()
    for _ in range(args.runs):
        vm["main"](x)
    whole = 1e3 * (time.perf_counter() - t0) / args.runs
    # 0.27's VM has no profile=True: time each call instruction with the VM's instrument hook
    # (a Python callback before and after every call; its overhead is a few microseconds per call)
    per: dict[str, list[float]] = defaultdict(list)
    started: list[float] = []

    def instrument(_func, symbol, before_run, _ret, *_args):
        if before_run:
            started.append(time.perf_counter())
        else:
            per[str(symbol)].append(1e6 * (time.perf_counter() - started.pop()))
        return 0

    vm.set_instrument(instrument)
    for _ in range(args.runs):
        vm["main"](x)
    per = {k: [sum(v[i::len(v) // args.runs]) / args.runs for i in range(len(v) // args.runs)]
           for k, v in per.items()}
    total = sum(sum(v) for v in per.values())
    rows = sorted(per.items(), key=lambda kv: -sum(kv[1]))
    print(f"{args.name} batch {args.batch}, schedule {args.schedule}: {total / 1e3:.2f} ms in {len(rows)} kernels "
          f"(whole run without the hook: {whole:.2f} ms)")
    print(f"{'kernel':<60} {'calls':>5} {'ms':>9} {'share':>6}")
    for name, ts in rows[:args.top]:
        print(f"{name[:60]:<60} {len(ts):>5} {sum(ts) / 1e3:>9.3f} {100 * sum(ts) / total:>5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
