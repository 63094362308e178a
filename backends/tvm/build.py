"""Targets, the Relax pipeline, export, manifest and loading. TVM is imported lazily.

Pipeline (llvm): DecomposeOpsForInference + CanonicalizeBindings (so BN becomes
arithmetic and conv+BN+act fuse), then TVM's CPU pipeline (LegalizeOps, FoldConstant,
FuseOps, FuseTIR), then -- untuned -- cnndsl's default CPU schedule
(`cpu_schedule.py`: parallel outer loops, vectorized inner loops) or -- tuned -- the
MetaSchedule database, then lowering to the VM.

CUDA uses TVM's GPU pipeline (DLight GPU rules after FuseTIR); the kernels are checked to
land in the CUDA module.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from cnndsl.backend import BackendError

log = logging.getLogger("cnndsl.tvm")

LIB_NAME = "model.so"
PARAMS_NAME = "weights.params"
MANIFEST = "manifest.json"
DEFAULT_CUDA_ARCH = "sm_90"


# --------------------------------------------------------------------------- targets
def host_cpu() -> tuple[str, bool]:
    """(mcpu, detected): LLVM's name for this CPU, or ("generic", False) when unknown."""
    from tvm.target import codegen

    try:
        cpu = str(codegen.llvm_get_system_cpu())
    except Exception:  # noqa: BLE001 - any failure means no detection
        cpu = ""
    if not cpu or cpu == "generic":
        return "generic", False
    return cpu, True


def make_target(kind: str, *, mcpu: str | None = None, arch: str | None = None, num_cores: int | None = None,
                mtriple: str | None = None):
    """A `tvm.target.Target` for "llvm" (host CPU detected) or "cuda" (arch, default sm_90).
    mtriple (llvm): cross-compile, e.g. "aarch64-linux-gnu" (mcpu then defaults to generic)."""
    import tvm

    host = {"kind": "llvm", "mtriple": "x86_64-linux-gnu"}
    if kind == "llvm" and mtriple and mtriple != host["mtriple"]:
        spec = dict(host, mtriple=mtriple, mcpu=mcpu or "generic", **{"num-cores": int(num_cores or 1)})
        return tvm.target.Target(spec)
    if kind == "llvm":
        if mcpu is None:
            mcpu, ok = host_cpu()
            if not ok:
                msg = ("cnndsl: WARNING: LLVM could not detect the host CPU; compiling for the GENERIC x86-64 CPU "
                       "(no AVX2/AVX-512 code). Pass -X mcpu=NAME (or set CNNDSL_LLVM_MCPU) to choose one.")
                warnings.warn(msg, stacklevel=2)
                print(msg, file=sys.stderr)
        spec = dict(host, mcpu=mcpu, **{"num-cores": int(num_cores or os.cpu_count() or 1)})
        return tvm.target.Target(spec)
    if kind == "cuda":
        spec = {"kind": "cuda", "arch": arch or DEFAULT_CUDA_ARCH, "max_shared_memory_per_block": 49152,
                "max_threads_per_block": 1024, "thread_warp_size": 32, "host": host}
        return tvm.target.Target(spec)
    raise BackendError(f"unknown TVM target kind '{kind}'")


def target_summary(tgt) -> dict:
    out = {"kind": str(tgt.kind.name)}
    for key in ("mcpu", "arch", "mtriple", "num-cores"):
        try:
            v = tgt.attrs.get(key) if hasattr(tgt.attrs, "get") else None
        except Exception:  # noqa: BLE001
            v = None
        if v is not None:
            out[key] = v if isinstance(v, (int, float)) else str(v)
    return out


# --------------------------------------------------------------------------- pipeline
def inference_prepasses(mod):
    """BN -> arithmetic and tuple-get-item cleanup, so conv+BN+activation fuse."""
    from tvm import relax

    return relax.transform.CanonicalizeBindings()(relax.transform.DecomposeOpsForInference()(mod))


def fuse_cpu(mod, tgt):
    """TVM's CPU legalization and fusion: one PrimFunc per fused kernel (what tuning sees)."""
    import tvm
    from tvm.relax.backend.cpu_generic import pipeline as cpu

    with tgt:
        return tvm.transform.Sequential(cpu.library_dispatch_passes(tgt) + cpu.legalize_passes(tgt))(mod)


def prepare_cpu(mod):
    """Shapes the default CPU schedule vectorizes (see cpu_layout.py). Applied before tuning
    too, so that tuned and default kernels are the same workloads and compete per kernel."""
    from cnndsl.backends.tvm.cpu_layout import pad_conv_width

    return pad_conv_width(mod)


def lower_cpu(mod, tgt):
    """After scheduling: the rest of TVM's CPU pipeline, to a VM-ready module."""
    import tvm
    from tvm.relax.backend.cpu_generic import pipeline as cpu

    with tgt:
        return tvm.transform.Sequential(cpu.dataflow_lower_passes(tgt) + cpu.finalize_passes(tgt))(mod)


def compile_module(mod, tgt, *, schedule: str = "default", tuning_db: str | None = None):
    """IRModule -> relax.VMExecutable. schedule: "default" (cnndsl CPU schedule), "naive" (TVM's
    legalized loops), or "tuned" (apply the MetaSchedule database `tuning_db`)."""
    import tvm
    from tvm import relax

    mod = inference_prepasses(mod)
    if tgt.kind.name == "cuda":
        with tgt:
            return tvm.compile(cuda_pipeline(tgt, tuning_db if schedule == "tuned" else None)(mod), target=tgt,
                               relax_pipeline=None)
    if schedule in ("default", "tuned"):
        mod = prepare_cpu(mod)
    fused = fuse_cpu(mod, tgt)
    if schedule == "tuned":
        from cnndsl.backends.tvm.tune import tuned_database

        db, _tuned, _default = tuned_database(tuning_db)  # per kernel the faster of tuned and default
        with tgt, tvm.transform.PassContext(opt_level=3), db:
            fused = relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(fused)
    if schedule in ("default", "tuned"):
        from cnndsl.backends.tvm.cpu_schedule import schedule_module

        fused = schedule_module(fused, tgt, only_unscheduled=(schedule == "tuned"))
    lowered = lower_cpu(fused, tgt)
    with tgt:
        return tvm.compile(lowered, target=tgt, relax_pipeline=None)


def _safe_rules():
    """TVM's default GPU DLight rules, each made safe: a rule that raises (dlight's Matmul asserts on
    some 1x1 convolutions) counts as "not applicable", so the next rule (in the end Fallback) runs."""
    from tvm.s_tir import dlight as dl

    class Safe(dl.base.ScheduleRule):
        def __init__(self, rule):
            self.rule = rule

        def apply(self, func, target, tunable):
            try:
                return self.rule.apply(func, target, tunable)
            except Exception as err:  # noqa: BLE001
                log.debug("dlight %s declined after an error: %s", type(self.rule).__name__, str(err)[:200])
                return None

    return [Safe(r) for r in (dl.gpu.Matmul(), dl.gpu.GEMV(), dl.gpu.Reduction(), dl.gpu.GeneralReduction(),
                              dl.gpu.Fallback())]


def _cuda_fusion(tgt) -> list:
    """The CUDA pipeline up to fused TIR kernels (what MetaSchedule's tasks are extracted from)."""
    from tvm import relax
    from tvm.relax.backend.cuda import pipeline as cu

    return cu.library_dispatch_passes(tgt) + [relax.transform.LegalizeOps(), relax.transform.AnnotateTIROpPattern(),
                                              relax.transform.FoldConstant(), relax.transform.FuseOps(),
                                              relax.transform.FuseTIR()]


def fuse_cuda(mod, tgt):
    """The fused CUDA module whose kernels a GPU tuning run measures (the tasks of `tune.tune`)."""
    import tvm

    with tgt:
        return tvm.transform.Sequential(_cuda_fusion(tgt))(inference_prepasses(mod))


def _apply_tuned(tuning_db: str):
    """A pass applying the tuned records of `tuning_db` (tune.tuned_database) to the fused kernels; the
    kernels without one keep no schedule, and DLight's default GPU rules schedule them next."""
    import tvm
    from tvm import relax

    @tvm.transform.module_pass(opt_level=0, name="cnndsl.ApplyTunedDatabase")
    def apply(mod, _ctx):
        from cnndsl.backends.tvm.tune import tuned_database

        db, _tuned, _default = tuned_database(tuning_db)
        with db:
            return relax.transform.MetaScheduleApplyDatabase(enable_warning=False)(mod)

    return apply


def cuda_pipeline(tgt, tuning_db: str | None = None):
    """TVM's CUDA pipeline with the exception-safe DLight rules (kernels land on the GPU); with a
    tuning database, its tuned kernels first (DLight then schedules only the others)."""
    import tvm
    from tvm.relax.backend.cuda import pipeline as cu
    from tvm.s_tir import dlight as dl

    tuned = [_apply_tuned(tuning_db)] if tuning_db else []
    return tvm.transform.Sequential(_cuda_fusion(tgt) + tuned + [dl.ApplyDefaultSchedule(*_safe_rules())]
                                    + cu.dataflow_lower_passes(tgt) + cu.finalize_passes(tgt))


def cuda_kernel_count(ex) -> int:
    """Number of __global__ kernels in the executable's CUDA module (0: they fell to the host)."""
    src = cuda_source(ex)
    return src.count("__global__") if src else 0


def cuda_source(ex) -> str:
    stack = [ex.mod]
    seen = set()
    while stack:
        m = stack.pop()
        if id(m) in seen:
            continue
        seen.add(id(m))
        if str(m.kind) == "cuda":
            return m.inspect_source("")
        stack.extend(list(m.imports))
    return ""


# --------------------------------------------------------------------------- artefact
def tvm_version() -> str:
    import tvm

    return str(tvm.__version__)


def write_artefact(out_dir: str | Path, ex, manifest: dict, params: dict[str, np.ndarray] | None,
                   force: bool = False) -> Path:
    """Fill a temporary sibling directory, then swap it into place (cnndsl.output: an existing
    directory is replaced only when it is a cnndsl artefact)."""
    import tvm

    from cnndsl.output import new_directory

    triple = str((manifest.get("target_detail") or {}).get("mtriple") or "")
    cc = cross_linker(triple) if is_cross(triple) else None  # before any file is written
    with new_directory(out_dir, force=force) as tmp:
        if cc:
            ex.export_library(str(tmp / LIB_NAME), cc=cc)
        else:
            ex.export_library(str(tmp / LIB_NAME))
        if params:
            tvm.runtime.save_param_dict_to_file({k: tvm.runtime.tensor(np.ascontiguousarray(v))
                                                 for k, v in params.items()}, str(tmp / PARAMS_NAME))
        manifest = {**manifest, "library_sha256": file_sha256(tmp / LIB_NAME)}  # checked before `run` loads it
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return Path(out_dir)


def _arch(triple: str) -> str:
    arch = triple.split("-", 1)[0]
    return {"arm64": "aarch64", "amd64": "x86_64"}.get(arch, arch)


def is_cross(triple: str) -> bool:
    """Whether an llvm target triple names another machine than this one (x86_64 host)."""
    return bool(triple) and _arch(triple) != _arch(platform.machine().lower())


def cross_linker(triple: str) -> str:
    """The C compiler that links a library cross-compiled for `triple`: $CC when it targets that
    architecture, else `<triple>-gcc` (Debian: `apt-get install gcc-aarch64-linux-gnu`),
    `<triple>-g++` or `<triple>-clang` on PATH. TVM's default would link with the host's g++."""
    import shutil
    import subprocess

    tried = []
    for cand in [os.environ.get("CC") or "", f"{triple}-gcc", f"{triple}-g++", f"{triple}-clang"]:
        path = shutil.which(cand) if cand else None
        if not path:
            if cand:
                tried.append(cand)
            continue
        try:
            machine = subprocess.run([path, "-dumpmachine"], check=False, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            machine = ""
        if _arch(machine.strip()) == _arch(triple):
            return path
        tried.append(f"{cand} (targets {machine.strip() or 'unknown'})")
    raise BackendError(f"cross-compiling for {triple}: the exported library must be linked by a C compiler for "
                       f"that platform, and none was found (tried {', '.join(tried)}); install one (Debian: "
                       f"apt-get install gcc-{triple}) or set CC to it")


def file_sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ensure_threads() -> int:
    """TVM's runtime defaults to 1 thread on these VMs (ORT and torch use every core): use the CPUs this
    process may run on, unless TVM_NUM_THREADS says otherwise. Must run before the first parallel kernel."""
    if not os.environ.get("TVM_NUM_THREADS"):
        try:
            n = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            n = os.cpu_count() or 1
        os.environ["TVM_NUM_THREADS"] = str(n)
    return int(os.environ["TVM_NUM_THREADS"])


class Loaded:
    """A loaded artefact: `__call__(inputs) -> outputs` with numpy in and out."""

    def __init__(self, path: str | Path):
        import tvm
        from tvm import relax

        ensure_threads()
        self.path = Path(path)
        self.manifest = json.loads((self.path / MANIFEST).read_text())
        kind = self.manifest.get("target_kind", "llvm")
        triple = str((self.manifest.get("target_detail") or {}).get("mtriple") or "")
        if kind == "llvm" and is_cross(triple):
            raise BackendError(f"{path} was cross-compiled for {triple}; this machine is {platform.machine()} "
                               "(run it on that platform, e.g. under qemu: scripts/check_aarch64.py)")
        self.dev = tvm.cuda(0) if kind == "cuda" else tvm.cpu()
        if kind == "cuda" and not tvm.runtime.enabled("cuda"):
            raise BackendError(f"{path} was compiled for CUDA, but this TVM has no CUDA runtime or no GPU")
        lib_path = self.path / LIB_NAME
        if not lib_path.is_file() or self.manifest.get("library_sha256") != file_sha256(lib_path):
            raise BackendError(f"{lib_path} is not the library cnndsl built for this artefact (its SHA-256 does not "
                               "match manifest.json's library_sha256); recompile it — cnndsl loads only the "
                               "native code it wrote")
        lib = tvm.runtime.load_module(str(lib_path))
        self.vm = relax.VirtualMachine(lib, self.dev)
        self.params: list[Any] = []
        keys = self.manifest.get("param_order") or []
        if keys:
            store = tvm.runtime.load_param_dict_from_file(str(self.path / PARAMS_NAME))
            self.params = [tvm.runtime.tensor(store[k].numpy(), self.dev) for k in keys]

    def to_device(self, inputs: list[np.ndarray]) -> list:
        import tvm

        specs = self.manifest["inputs"]
        if len(inputs) != len(specs):
            raise BackendError(f"expected {len(specs)} input(s) ({', '.join(s['name'] for s in specs)}), "
                               f"got {len(inputs)}")
        out = []
        for arr, spec in zip(inputs, specs):
            arr = np.ascontiguousarray(np.asarray(arr, dtype=spec["dtype"]))
            want = spec["shape"]
            if len(arr.shape) != len(want) or any(not isinstance(w, str) and w != g for g, w in zip(arr.shape, want)):
                raise BackendError(f"input '{spec['name']}' has shape {list(arr.shape)}, expected {want}")
            out.append(tvm.runtime.tensor(arr, self.dev))
        return out

    def run_device(self, dev_inputs: list):
        return self.vm["main"](*dev_inputs, *self.params)

    def __call__(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        res = self.run_device(self.to_device(inputs))
        if hasattr(res, "numpy"):
            return [res.numpy()]
        return [r.numpy() for r in res]
