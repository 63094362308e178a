"""TVM backends: `llvm` (host CPU) and `cuda`. Relax is built straight from the IR.

Entry points (pyproject.toml): `cnndsl.backends.tvm:LLVM_BACKEND`, `...:CUDA_BACKEND`.
Only cnndsl and the standard library are imported here; TVM loads inside `compile`/`run`.

Backend-specific knobs (`CompileOptions.extra`, also settable from the CLI's `-X key=value`
when present): `batch` ("N" or an int; tuning fixes a symbolic batch to 1), `weights`
("embed", the default: compiled into the library; or "params": a separate
`weights.params` file passed at run time), `mcpu` (llvm, default: detected host CPU),
`mtriple` (llvm: cross-compile, e.g. aarch64-linux-gnu; the exported
library is linked by that platform's C compiler, $CC or `<triple>-gcc`: `build.cross_linker`), `arch` (cuda, default sm_90), `schedule` ("default" or "naive"), `layout` ("NCHWc", llvm's
default: channel-blocked activations around the convolutions, see packed.py; or "NCHW",
cuda's), `winograd` (llvm: "1"/"auto", the default, Winograd F(m x m, 3 x 3) for 3x3
stride-1 convolutions by winograd.rule; "0" off; "2" or "4" that tile wherever it applies),
`fuse_ir` (llvm: "1"/"auto", the default, computes an inverted residual's depthwise conv, 1x1
projection and residual add as one kernel, band of rows by band, and its expansion 1x1 too where
fused_block.expand_pays; "tail" never the expansion, "full" always; "0" off),
`tune_again` ("1" with
--tune: also tune the tasks the database already holds, continuing from their records).
From the command line,
`CNNDSL_CUDA_ARCH=sm_80` and `CNNDSL_LLVM_MCPU=skylake-avx512` set `arch` / `mcpu`.
"""

from __future__ import annotations

import platform
from pathlib import Path

from cnndsl.backend import Artefact, Backend, BackendError, CompileOptions, optimize_for_inference

from .lower import LOWERINGS

_FLAG_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _has_gpu() -> bool:
    """A CUDA device this TVM can run on (tuning CUDA kernels measures them there)."""
    import tvm

    return bool(tvm.runtime.enabled("cuda") and tvm.cuda(0).exist)


def _flag(extra: dict, key: str) -> bool:
    """A yes/no -X option; anything else is an error, not a silent "no"."""
    value = str(extra.get(key, "0")).strip().lower()
    if value not in _FLAG_VALUES:
        raise BackendError(f"-X {key}={extra[key]}: expected 1 or 0 (true/false, yes/no)")
    return _FLAG_VALUES[value]

__all__ = ["CUDA_BACKEND", "LLVM_BACKEND", "LOWERINGS", "TVMBackend"]


class TVMBackend(Backend):
    artefact_suffix = ""
    lowerings = LOWERINGS

    def __init__(self, kind: str):
        self.kind = kind
        self.name = kind
        self.description = ("TVM Relax, compiled for the host CPU (LLVM)" if kind == "llvm"
                            else "TVM Relax, compiled for NVIDIA GPUs (CUDA source, JIT-compiled at load)")

    # ------------------------------------------------------------------ compile
    def build(self, graph, weights, options: CompileOptions | None = None):
        """Lower and compile without writing: (executable, manifest dict, params or None)."""
        import time

        from . import build as B
        from .lower import _graph_batch, build_module

        options = options or CompileOptions()
        self.check(graph)
        # TVM targets are inference-only: the IR's inference pipeline always runs first (no-ops
        # dropped, batch norm folded into the conv weights, conv+activation fused), then TVM's
        # own fusion. A graph that already went through it (-O1) is unchanged by a second run.
        graph, weights = optimize_for_inference(graph, weights)
        extra = dict(options.extra or {})
        batch = extra.get("batch")
        if isinstance(batch, str) and batch.isdigit():
            batch = int(batch)
        if batch is None:
            batch = _graph_batch(graph)
            if options.tune and isinstance(batch, str):
                batch = 1  # MetaSchedule tunes static shapes
        embed = extra.get("weights", "embed") != "params"
        t0 = time.time()
        # llvm: channel-blocked activations around the convolutions (packed.py); cuda: plain NCHW
        layout = extra.get("layout") or ("NCHWc" if self.kind == "llvm" else "NCHW")
        import os

        from .winograd import parse_mode

        winograd = parse_mode(extra.get("winograd", "auto"))  # a bad value fails before any TVM work
        from .fused_block import parse_mode as fuse_mode

        fuse_ir = fuse_mode(extra.get("fuse_ir", "auto"))
        tgt = B.make_target(self.kind, mcpu=extra.get("mcpu") or os.environ.get("CNNDSL_LLVM_MCPU") or None,
                            arch=extra.get("arch") or os.environ.get("CNNDSL_CUDA_ARCH") or None,
                            mtriple=extra.get("mtriple") or None)
        mod, keys = build_module(graph, weights, batch=batch, embed=embed, layout=layout,
                                 target=tgt if self.kind == "llvm" else None,
                                 winograd=winograd, fuse_ir=fuse_ir)
        tuning = {"tuned": False}
        schedule = extra.get("schedule", "default")
        gpu = self.kind == "cuda" and _has_gpu()
        if (self.kind == "llvm" or gpu) and (options.tune or options.tuning_db):
            if options.tune:
                if not options.tuning_db:
                    raise BackendError("--tune needs --tuning-db DIR (where the tuning records are kept)")
                from .tune import tune

                if gpu:  # measured on the GPU; DLight's default schedules are not seeded as records
                    fused = B.fuse_cuda(mod, tgt)
                else:
                    fused = B.fuse_cpu(B.prepare_cpu(B.inference_prepasses(mod)), tgt)
                again = _flag(extra, "tune_again")
                tuning = tune(fused, tgt, options.tuning_db, options.trials or 64, again=again)
            elif Path(options.tuning_db).is_dir():
                from .tune import history

                tuning = {"tuned": True, "database": str(Path(options.tuning_db).resolve()), "tasks_tuned_now": 0,
                          **history(options.tuning_db)}
            if tuning.get("tuned"):
                schedule = "tuned"
        elif options.tune:
            raise BackendError("tuning CUDA kernels needs a GPU to measure on; compile for cuda untuned "
                               "(DLight default GPU schedules) or tune on a GPU machine")
        if self.kind == "cuda":
            schedule = "tuned" if tuning.get("tuned") else "dlight-gpu-default"
        t1 = time.time()
        ex = B.compile_module(mod, tgt, schedule=schedule, tuning_db=options.tuning_db)
        details = {}
        if self.kind == "cuda":
            n = B.cuda_kernel_count(ex)
            if n == 0:
                raise BackendError("CUDA build produced no GPU kernels (every kernel fell back to the host)")
            details["cuda_kernels"] = n
        specs_in = []
        for name in graph.input_names:
            node = graph.nodes[name]
            shape = list(node.attrs["shape"])
            shape[0] = batch if isinstance(batch, (str, int)) else shape[0]
            specs_in.append({"name": name, "shape": shape, "dtype": node.attrs.get("dtype", "float32")})
        specs_out = []
        for out_name, (node_name, idx) in graph.outputs:
            node = graph.nodes[node_name]
            shapes = node.meta.get("shapes") or [node.meta.get("shape")]
            shape = list(shapes[idx])
            shape[0] = batch
            specs_out.append({"name": out_name, "shape": shape, "dtype": node.meta.get("dtype", "float32")})
        from cnndsl import __version__

        manifest = {
            "format": "cnndsl-tvm-artefact/1",
            "target": self.name,
            "target_kind": self.kind,
            "target_detail": B.target_summary(tgt),
            "network": graph.name,
            "inputs": specs_in,
            "outputs": specs_out,
            "batch": batch,
            "library": B.LIB_NAME,
            "weights": "embedded" if embed else B.PARAMS_NAME,
            "weights_source": getattr(weights, "source", ""),
            "param_order": keys,
            "schedule": schedule,
            "layout": layout,
            "tuning": tuning,
            "opt_level": 1,  # always the inference form (see build)
            "seed": options.seed,
            "versions": {"cnndsl": __version__, "tvm": B.tvm_version(), "python": platform.python_version()},
            "host": {"machine": platform.machine(), "cpu": B.host_cpu()[0] if self.kind == "llvm" else None},
            "compile_seconds": round(time.time() - t1, 2),
            "lower_seconds": round(t1 - t0, 2),
            **details,
        }
        params = None if embed else {k: weights[k] for k in keys}
        return ex, manifest, params

    def compile(self, graph, weights, out_path, options: CompileOptions) -> Artefact:
        from . import build as B

        ex, manifest, params = self.build(graph, weights, options)
        out = B.write_artefact(out_path, ex, manifest, params, force=options.force)
        ops = sum(1 for n in graph.nodes.values() if n.op != "input")
        details = {"schedule": manifest["schedule"]}
        if "cuda_kernels" in manifest:
            details["cuda kernels"] = manifest["cuda_kernels"]
        if self.kind == "llvm":
            details["mcpu"] = manifest["target_detail"].get("mcpu")
        return Artefact(Path(out), self.name, ops, details)

    # ------------------------------------------------------------------ run
    def load(self, artefact_path):
        from .build import Loaded

        return Loaded(artefact_path)

    def run(self, artefact_path, inputs):
        return self.load(artefact_path)(inputs)


LLVM_BACKEND = TVMBackend("llvm")
CUDA_BACKEND = TVMBackend("cuda")
