"""How cnndsl's phases scale with graph size: each phase timed (CPU seconds) on a network
of n and of 2n nodes after a warm-up run, and the ratio t(2n) / t(n) printed (2.0 is linear,
4.0 quadratic).

Two shapes of network, both built in the language: a chain (`relu` repeated, one long
path) and a residual stack (conv -> bn -> relu + skip per block, the shape of real
networks). Phases: elaborate (parse + elaborate + shape inference), every analysis pass,
the inference pipeline, the report (build + table render), the ONNX export, the
PyTorch code generator and (with `--tvm`) the TVM lowering to Relax IR.

    .venv/bin/python bench/scaling.py               # 50k and 100k nodes (about 5 minutes on 2 cores)
    .venv/bin/python bench/scaling.py --nodes 10000 # a quick look
    .venv/bin/python bench/scaling.py --markdown    # the table docs/performance.md shows
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnndsl.api import load_text
from cnndsl.passes import ANALYSES, INFERENCE, run_passes


def chain(nodes: int) -> str:
    outer = max(1, nodes // 1000)
    return ("block B() (x) {\n    repeat 1000 { relu }\n}\n"
            f"network Chain() (x: f32[1, 4, 8, 8]) {{\n    repeat {outer} {{ B() }}\n}}\n")


def residual(nodes: int) -> str:
    outer = max(1, nodes // 4000)  # 4 nodes per block (conv, bn, relu, add), 1000 blocks per outer step
    return ("block R(c) (x) {\n    residual { conv(c, kernel=3, padding=1) -> bn -> relu }\n}\n"
            "block S() (x) {\n    repeat 1000 { R(4) }\n}\n"
            f"network Stack() (x: f32[1, 4, 8, 8]) {{\n    repeat {outer} {{ S() }}\n}}\n")


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """CPU seconds of `fn()` (this process's, so other load on the machine counts less than in wall time)."""
    gc.collect()
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def phases(text: str, tvm: bool = False) -> tuple[int, dict[str, float]]:
    from cnndsl.backends.pytorch.codegen import generate

    from cnndsl.backend import CompileOptions, get_backend
    from cnndsl.report import build_report, render
    from cnndsl.weights_init import init_weights

    out: dict[str, float] = {}
    out["elaborate"], graph = timed(lambda: load_text(text, "scaling.cnn"))
    for name in ANALYSES:
        out[f"pass {name}"], _ = timed(lambda n=name: run_passes(graph, [n]))
    out["inference pipeline"], _ = timed(lambda: run_passes(graph, INFERENCE))
    annotated = run_passes(graph, ANALYSES).graph
    out["report (build + table)"], _ = timed(lambda: render(build_report(annotated), "table"))
    backend = get_backend("onnx")
    weights = init_weights(graph, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        out["onnx export"], _ = timed(lambda: backend.compile(graph, weights, Path(tmp) / "m.onnx", CompileOptions()))
    out["pytorch codegen"], _ = timed(lambda: generate(graph))
    if tvm:
        from cnndsl.backends.tvm.lower import build_module

        out["tvm lowering (Relax IR)"], _ = timed(lambda: build_module(graph, weights, embed=False))
    return len(graph), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=100_000, help="the larger size (the smaller is half)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--tvm", action="store_true", help="also time the TVM lowering to Relax IR (not the build)")
    args = ap.parse_args(argv)
    rows = []
    phases(residual(2000), args.tvm)  # imports, template compilation, caches: not part of any size's figure
    for label, make in (("chain", chain), ("residual", residual)):
        n1, small = phases(make(args.nodes // 2), args.tvm)
        n2, big = phases(make(args.nodes), args.tvm)
        for phase in small:
            rows.append((label, phase, n1, small[phase], n2, big[phase]))
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    if args.markdown:
        print("| network | phase | nodes | CPU s | nodes | CPU s | ratio |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for label, phase, n1, t1, n2, t2 in rows:
            print(f"| {label} | {phase} | {n1:,} | {t1:.2f} | {n2:,} | {t2:.2f} | {t2 / max(t1, 1e-9):.2f} |")
    else:
        for label, phase, n1, t1, n2, t2 in rows:
            print(f"{label:9} {phase:26} {n1:>7,} {t1:8.2f} s  {n2:>7,} {t2:8.2f} s  x{t2 / max(t1, 1e-9):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
