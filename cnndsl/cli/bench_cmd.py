"""`cnndsl bench`: latency of the TVM-compiled network and of ONNX Runtime / PyTorch eager, in one run.

Every runtime gets the same weights (seeded init or --weights) and the same input. The
output (table or `--format json`) holds per runtime `median_ms`, `p90_ms`, and
`ratio_vs` (runtime -> our median / its median), as in ../shared/DESIGN.md.

Runtimes to compare: `onnxruntime`, `torch` (eager) and `torch-compile` (torch.compile, the
inductor backend; its compile time is reported, not timed). `--clock cpu` times each run by
the process's CPU time instead of the wall clock: at one thread on a machine others share,
that measures the work, not the waiting (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

from cnndsl.cli.common import add_source_arguments, load_from_args

HELP = "measure the compiled model's latency against ONNX Runtime and PyTorch eager"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    p.add_argument("--target", default="llvm", choices=("llvm", "cuda"), help="the TVM target (default llvm)")
    p.add_argument("--compare", default="onnxruntime,torch", metavar="LIST",
                   help="other runtimes, comma-separated: onnxruntime, torch, torch-compile "
                        "(default onnxruntime,torch; '' for none)")
    p.add_argument("--clock", default="wall", choices=("wall", "cpu"),
                   help="time runs by the wall clock (default) or by this process's CPU time (one thread "
                        "on a shared machine)")
    p.add_argument("-X", dest="extra", action="append", default=[], metavar="KEY=VALUE",
                   help="a TVM backend option (docs/backends.md), e.g. -X winograd=0 or -X mcpu=haswell")
    p.add_argument("--format", default="table", choices=("table", "json"), help="table (default) or json")
    p.add_argument("--weights", metavar="FILE", help="weights file (default: seeded init)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input and the default weights (default 0)")
    p.add_argument("--repeat", type=int, default=20, help="timed runs per runtime (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs per runtime before timing (default 3)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every runtime (default: each runtime's own default)")
    p.add_argument("--tune", action="store_true", help="tune with MetaSchedule before measuring")
    p.add_argument("--trials", type=int, default=64, help="MetaSchedule trials in all with --tune (default 64)")
    p.add_argument("--tuning-db", metavar="DIR", help="tuning database (read, and extended with --tune)")
    p.add_argument("--schedule", default="default", choices=("default", "naive"),
                   help="untuned CPU kernels: cnndsl's default schedule, or TVM's naive legalized loops")


def _stats(times_ms: list[float]) -> dict:
    import numpy as np

    arr = np.asarray(times_ms)
    return {"median_ms": round(float(np.median(arr)), 4), "p90_ms": round(float(np.percentile(arr, 90)), 4),
            "min_ms": round(float(arr.min()), 4), "runs": len(times_ms)}


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}


def _time(fn, warmup: int, repeat: int, clock: str = "wall") -> list[float]:
    now = CLOCK[clock]
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t0 = now()
        fn()
        out.append((now() - t0) * 1e3)
    return out


def bench_tvm(graph, weights, x, target: str, args) -> tuple[dict, dict]:
    import tvm

    from cnndsl.backend import CompileOptions, get_backend
    from cnndsl.backends.tvm.build import ensure_threads

    backend = get_backend(target)
    threads = ensure_threads()
    batch = int(x.shape[0])
    from cnndsl.cli.compile_cmd import parse_extra

    opts = CompileOptions(tune=args.tune, trials=args.trials, tuning_db=args.tuning_db,
                          extra={**parse_extra(getattr(args, "extra", [])), "batch": batch, "schedule": args.schedule})
    import contextlib

    t0 = time.time()
    with contextlib.redirect_stdout(sys.stderr):  # MetaSchedule logs to stdout; keep --format json clean
        ex, manifest, _ = backend.build(graph, weights, opts)
    compile_s = time.time() - t0
    dev = tvm.cuda(0) if target == "cuda" else tvm.cpu()
    vm = tvm.relax.VirtualMachine(ex, dev)
    xt = tvm.runtime.tensor(x, dev)
    if target == "cuda":
        def run():
            vm["main"](xt)
            dev.sync()
    else:
        def run():
            vm["main"](xt)
    res = vm["main"](xt)
    y = res.numpy() if hasattr(res, "numpy") else res[0].numpy()
    stats = _stats(_time(run, args.warmup, args.repeat, args.clock))
    stats.update(threads=threads, compile_seconds=round(compile_s, 2), schedule=manifest["schedule"], tuning=manifest["tuning"],
                 target=manifest["target_detail"])
    return stats, {"y": y}


def bench_onnxruntime(graph, weights, x, args) -> tuple[dict, dict]:
    import tempfile
    from pathlib import Path

    import onnxruntime as ort

    from cnndsl.backend import CompileOptions, get_backend

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        get_backend("onnx").compile(graph, weights, path, CompileOptions())
        so = ort.SessionOptions()
        if args.threads:
            so.intra_op_num_threads = args.threads
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    y = sess.run(None, {name: x})[0]
    stats = _stats(_time(lambda: sess.run(None, {name: x}), args.warmup, args.repeat, args.clock))
    stats["version"] = ort.__version__
    return stats, {"y": y}


def bench_torch(graph, weights, x, args, compiled: bool = False) -> tuple[dict, dict]:
    """PyTorch eager (or, `compiled`, torch.compile with inductor) on the generated module."""
    import importlib.util
    import tempfile
    from pathlib import Path

    import torch

    from cnndsl.backend import CompileOptions, get_backend

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.py"
        get_backend("pytorch").compile(graph, weights, path, CompileOptions())
        spec = importlib.util.spec_from_file_location("cnndsl_bench_model", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    model = _torch_model(mod, graph, weights)
    model.eval()
    # against a CUDA build, PyTorch runs on the same GPU (each timed run waits for the device)
    device = "cuda" if getattr(args, "target", "llvm") == "cuda" and torch.cuda.is_available() else "cpu"
    model = model.to(device)
    xt = torch.from_numpy(x).to(device)
    extra = {"device": device}
    if compiled:
        model = torch.compile(model, backend="inductor")

    def run():
        out = model(xt)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    with torch.inference_mode():
        t0 = time.time()
        y = run()  # torch.compile compiles here
        if compiled:
            extra["compile_seconds"] = round(time.time() - t0, 2)
        y = (y[0] if isinstance(y, (tuple, list)) else y).cpu().numpy()
        stats = _stats(_time(run, args.warmup, args.repeat, args.clock))
    stats.update(version=torch.__version__, **extra)
    return stats, {"y": y}


def bench_torch_compile(graph, weights, x, args) -> tuple[dict, dict]:
    return bench_torch(graph, weights, x, args, compiled=True)


def _torch_model(mod, graph, weights):
    """Find the generated nn.Module, build it and load the weights by name."""
    import numpy as np
    import torch

    cls = getattr(mod, graph.name, None)
    if cls is None:
        cands = [v for v in vars(mod).values() if isinstance(v, type) and issubclass(v, torch.nn.Module)
                 and v.__module__ == mod.__name__]
        if not cands:
            raise RuntimeError("the generated PyTorch module defines no nn.Module")
        cls = cands[-1]
    model = cls()
    state = {k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()}
    model.load_state_dict(state, strict=True)  # keys are the IR names: any mismatch is a bug
    return model


def machine() -> dict:
    import os

    cpu = platform.processor() or ""
    try:
        from pathlib import Path

        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from cnndsl.weights import weights_for

    graph = load_from_args(args)
    weights = weights_for(graph, args.weights, args.seed)
    shape = graph.nodes[graph.input_names[0]].attrs["shape"]
    batch = args.batch or 1
    x = np.random.default_rng(args.seed).standard_normal(
        [batch if isinstance(d, str) else int(d) for d in shape]).astype("float32")
    if args.threads:
        import os

        os.environ.setdefault("TVM_NUM_THREADS", str(args.threads))
    name = f"cnndsl-tvm-{args.target}"
    results: dict[str, dict] = {}
    outs: dict[str, object] = {}
    from contextlib import nullcontext

    from cnndsl.progress import status

    with nullcontext() if args.tune else status(f"compiling and timing {name}"):  # a terminal only; tuning draws its own
        results[name], o = bench_tvm(graph, weights, x, args.target, args)
    outs[name] = o["y"]
    others = [c.strip() for c in args.compare.split(",") if c.strip()]
    for other in others:
        fn = {"onnxruntime": bench_onnxruntime, "torch": bench_torch, "torch-compile": bench_torch_compile}.get(other)
        if fn is None:
            results[other] = {"skipped": f"unknown runtime '{other}' (onnxruntime, torch, torch-compile)"}
            continue
        try:
            with status(f"timing {other}"):
                results[other], o = fn(graph, weights, x, args)
            outs[other] = o["y"]
        except Exception as err:  # noqa: BLE001 - a missing or failing runtime is reported, not fatal
            results[other] = {"skipped": f"{type(err).__name__}: {err}"[:300]}
    ours = results[name]["median_ms"]
    ratio = {k: round(ours / v["median_ms"], 3) for k, v in results.items() if "median_ms" in v}
    for k, v in results.items():
        if k in outs and k != name:
            ref = np.asarray(outs[k])
            v["max_abs_diff_vs_ours"] = float(np.abs(ref - np.asarray(outs[name])).max())
    from cnndsl import __version__

    report = {"schema": "cnndsl.bench/1", "cnndsl_version": __version__, "network": graph.name,
              "input_shape": list(x.shape), "machine": machine(), "clock": args.clock, "runtimes": results,
              "ratio_vs": ratio}
    for k, v in results.items():
        if "median_ms" in v:
            v["ratio_vs"] = {o: round(v["median_ms"] / results[o]["median_ms"], 3)
                             for o in results if "median_ms" in results[o]}
    if args.format == "json":
        json.dump(report, sys.stdout, indent=2, default=str)
        print()
        return 0
    print(f"{graph.name} input {list(x.shape)} on {report['machine']['cpu']} ({report['machine']['date']})")
    print(f"{'runtime':<22} {'median ms':>10} {'p90 ms':>10} {'ours / it':>10}")
    for k, v in results.items():
        if "median_ms" in v:
            print(f"{k:<22} {v['median_ms']:>10.3f} {v['p90_ms']:>10.3f} {ratio[k]:>10.3f}")
        else:
            print(f"{k:<22} skipped: {v['skipped']}")
    return 0
