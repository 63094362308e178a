"""Single convolution kernels of cnndsl's llvm backend: time, GFLOP/s and % of the ISA's FMA peak.

Each kernel is one packed convolution + bias + ReLU (the fused kernel the networks run),
built through the backend's real pipeline (packed lowering, default schedule derived from
the target) and timed (best of `--repeat`; at 1 thread by the process's CPU time, as the peak,
so that other jobs on the machine do not count; else TVM's time_evaluator), at 1 thread
unless `--threads` says otherwise. The peak is measured in the same process
(bench/fma_peak.py). At 1 thread the kernel's time excludes the layout changes at its ends
(packing the plain input, unpacking the output; column "layout ms"), which a network does once,
not per layer. "GFLOP/s" is effective: 2 x direct MACs / time (Winograd can exceed the peak).

    .venv/bin/python bench/tvm_kernels.py                       # the host CPU
    .venv/bin/python bench/tvm_kernels.py --mcpu haswell --threads 2
    .venv/bin/python bench/tvm_kernels.py --mcpu znver4 --compile-only   # on a CPU without AVX-512

Not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# (name, in channels, out channels, kernel, stride, input size) -- ResNet/VGG/MobileNet shapes
SHAPES = [
    ("r18 3x3 64->64 @56", 64, 64, 3, 1, 56),
    ("r18 3x3 128->128 @28", 128, 128, 3, 1, 28),
    ("r18 3x3 256->256 @14", 256, 256, 3, 1, 14),
    ("r18 3x3 512->512 @7", 512, 512, 3, 1, 7),
    ("r18 3x3/2 128->256 @28", 128, 256, 3, 2, 28),
    ("r50 1x1 256->64 @56", 256, 64, 1, 1, 56),
    ("r50 1x1 1024->256 @14", 1024, 256, 1, 1, 14),
    ("vgg 3x3 128->128 @112", 128, 128, 3, 1, 112),
    ("mbv2 1x1 96->576 @14", 96, 576, 1, 1, 14),
    ("mbv2 1x1 160->960 @7", 160, 960, 1, 1, 7),
    ("mbv2 stem 3x3/2 3->32 @224", 3, 32, 3, 2, 224),
    ("r18 stem 7x7/2 3->64 @224", 3, 64, 7, 2, 224),
]

# every distinct 1x1 convolution of ResNet-50 (torchvision v1.5: the stride on the 3x3 conv;
# the shortcut's 1x1 downsample strided), with how many times the network runs it
R50_1X1 = [
    ("r50 1x1 64->64 @56 x1", 64, 64, 1, 1, 56),
    ("r50 1x1 64->256 @56 x4", 64, 256, 1, 1, 56),
    ("r50 1x1 256->64 @56 x2", 256, 64, 1, 1, 56),
    ("r50 1x1 256->128 @56 x1", 256, 128, 1, 1, 56),
    ("r50 1x1/2 256->512 @56 x1", 256, 512, 1, 2, 56),
    ("r50 1x1 128->512 @28 x4", 128, 512, 1, 1, 28),
    ("r50 1x1 512->128 @28 x3", 512, 128, 1, 1, 28),
    ("r50 1x1 512->256 @28 x1", 512, 256, 1, 1, 28),
    ("r50 1x1/2 512->1024 @28 x1", 512, 1024, 1, 2, 28),
    ("r50 1x1 256->1024 @14 x6", 256, 1024, 1, 1, 14),
    ("r50 1x1 1024->256 @14 x5", 1024, 256, 1, 1, 14),
    ("r50 1x1 1024->512 @14 x1", 1024, 512, 1, 1, 14),
    ("r50 1x1/2 1024->2048 @14 x1", 1024, 2048, 1, 2, 14),
    ("r50 1x1 512->2048 @7 x3", 512, 2048, 1, 1, 7),
    ("r50 1x1 2048->512 @7 x2", 2048, 512, 1, 1, 7),
]
SETS = {"default": SHAPES, "r50_1x1": R50_1X1}


def build_kernel(cin, cout, k, stride, size, batch, tgt, winograd=None):
    """A Relax module: x [N, cin, H, W] -> relu(conv(x) + b), lowered as the backend lowers it."""
    import numpy as np
    from cnndsl.backends.tvm.lower import build_module

    from cnndsl.backend import optimize_for_inference
    from cnndsl.ir.builder import GraphBuilder
    from cnndsl.weights import Weights
    from cnndsl.weights_init import init_weights

    b = GraphBuilder("kernel")
    y = b.input("x", (batch, cin, size, size))
    y = b.add("conv", [y], name="conv", out=cout, kernel=k, stride=stride, padding=k // 2, bias=True)
    b.output("y", b.add("relu", [y], name="relu"))
    graph = b.graph
    graph, weights = optimize_for_inference(graph, Weights(init_weights(graph, 0)))
    kw = {} if winograd is None else {"winograd": winograd}
    mod, _ = build_module(graph, weights, batch=batch, layout="NCHWc", target=tgt, **kw)
    x = np.random.default_rng(0).standard_normal((batch, cin, size, size)).astype("float32")
    return mod, x


LAYOUT_KERNELS = ("transpose", "reshape")  # packing the plain input, unpacking the output


def layout_ms(vm, xt, repeat: int) -> float:
    """CPU time per run of the layout changes around the kernel (the input packed into NCHW[b]c,
    the output unpacked): in a network they happen once at the ends, not per layer, so the
    kernel's ms excludes them. Timed with the VM's instrument hook (CPU time, best of `repeat`)."""
    spent = [0.0]
    started: list[float] = []

    def instrument(_func, symbol, before_run, _ret, *_args):
        if not any(k in str(symbol) for k in LAYOUT_KERNELS):
            return 0
        if before_run:
            started.append(time.process_time())
        else:
            spent[0] += time.process_time() - started.pop()
        return 0

    vm.set_instrument(instrument)
    best = float("inf")
    for _ in range(repeat):
        spent[0] = 0.0
        for _ in range(10):
            vm["main"](xt)
        best = min(best, spent[0] / 10 * 1e3)
    vm.set_instrument(None)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mcpu", default=None, help="LLVM CPU name (default: the host's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--set", default="default", choices=sorted(SETS), help="which list of shapes (default: %(default)s)")
    ap.add_argument("--only", default=None, help="run the shapes whose name contains this text")
    ap.add_argument("--compile-only", action="store_true", help="build each kernel, do not run it")
    ap.add_argument("--winograd", default=None, help="-X winograd value (default: the backend's rule)")
    args = ap.parse_args(argv)
    os.environ["TVM_NUM_THREADS"] = str(args.threads)

    import tvm
    from cnndsl.backends.tvm import build as B
    from cnndsl.backends.tvm.cpu_target import profile_of
    from tvm import relax

    tgt = B.make_target("llvm", mcpu=args.mcpu, num_cores=args.threads)
    prof = profile_of(tgt)
    peak = None
    if not args.compile_only:
        import fma_peak

        isa = "avx512" if prof.isa == "avx512" else "avx2"
        peak = fma_peak.peak(isa) * args.threads if isa in fma_peak.supported() else None
    print(f"target mcpu={tgt.attrs.get('mcpu')} isa={prof.isa} lanes={prof.lanes} registers={prof.registers} "
          f"block={prof.block}; threads {args.threads}; FMA peak "
          + (f"{peak:.1f} GFLOP/s" if peak else "not measured"))
    print(f"{'kernel':<28} {'ms':>8} {'GFLOP/s':>8} {'% peak':>7} {'layout ms':>9} {'compile s':>9}")
    dev = tvm.cpu()
    for name, cin, cout, k, stride, size in SETS[args.set]:
        if args.only and args.only not in name:
            continue
        mod, x = build_kernel(cin, cout, k, stride, size, args.batch, tgt, args.winograd)
        t0 = time.time()
        ex = B.compile_module(mod, tgt)
        ct = time.time() - t0
        if args.compile_only:
            print(f"{name:<28} {'-':>8} {'-':>8} {'-':>7} {'-':>9} {ct:>9.2f}")
            continue
        vm = relax.VirtualMachine(ex, dev)
        xt = tvm.runtime.tensor(x, dev)
        vm["main"](xt)
        if args.threads == 1:  # CPU time: what another job on the machine takes is not counted
            ms = float("inf")
            for _ in range(args.repeat):
                t = time.process_time()
                for _ in range(10):
                    vm["main"](xt)
                ms = min(ms, (time.process_time() - t) / 10 * 1e3)
        else:
            ms = min(vm.time_evaluator("main", dev, number=10, repeat=args.repeat)(xt).results) * 1e3
        layout = layout_ms(vm, xt, args.repeat) if args.threads == 1 else 0.0
        whole, ms = ms, ms - layout
        out = (size + 2 * (k // 2) - k) // stride + 1
        flops = 2 * args.batch * cin * cout * k * k * out * out
        g = flops / ms / 1e6
        pct = f"{100 * g / peak:.0f}%" if peak else "-"
        print(f"{name:<28} {ms:>8.3f} {g:>8.1f} {pct:>7} {whole - ms:>9.3f} {ct:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
