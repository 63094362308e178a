"""Cross-compile networks for aarch64 (NEON) on this x86-64 machine and check them under qemu-aarch64.

    .venv/bin/python scripts/check_aarch64.py                 # set up (once), then small, resnet18, mobilenet_v2
    .venv/bin/python scripts/check_aarch64.py small resnet18 --size 224
    .venv/bin/python scripts/check_aarch64.py --setup-only    # only install the aarch64 environment

Each network is compiled here with `--target llvm -X mtriple=aarch64-linux-gnu` (the NEON profile of
`backends/tvm/cpu_target.py`; the library is linked by `aarch64-linux-gnu-gcc`), loaded and run by an
aarch64 Python with the aarch64 TVM runtime under `qemu-aarch64` (`scripts/aarch64_run.py`), on a fixed
random input, and compared with cnndsl's numpy interpreter in float64 computed here, to the llvm
target's tolerance (docs/backends.md: rtol 1e-4, atol 1e-4 x max(1, max |y|)). Exit status 0 when
every network agrees, 1 when one does not, 2 when the environment cannot be set up.

The aarch64 environment (Debian; `setup()`, idempotent, needs root for apt-get):
- host packages: `qemu-user` (qemu-aarch64) and `gcc-aarch64-linux-gnu` (the linker of the library);
- `dpkg --add-architecture arm64` + `apt-get update`, then `apt-get download` of arm64 packages
  (`DEBS`: libc6, libgcc-s1, libstdc++6, the Python of the release -- python3.11-minimal,
  libpython3.11-minimal, libpython3.11-stdlib on Debian 12 -- and their libraries zlib1g, libexpat1,
  libffi8, libbz2-1.0, liblzma5, libcrypt1, libuuid1, libssl3), unpacked with `dpkg-deb -x` into
  `ROOT/sysroot` (not installed: the arm64 python3.X would replace the host's, the packages conflict);
- `pip install --target ROOT/site --platform manylinux_2_28_aarch64 --only-binary=:all:` of the same
  `apache-tvm`, `apache-tvm-ffi` and `numpy` versions as this venv (plus ml_dtypes, typing_extensions).
ROOT is `$CNNDSL_AARCH64_ROOT`, default `~/.cache/cnndsl/aarch64` (about 400 MB). The aarch64 Python
runs as `qemu-aarch64 -L ROOT/sysroot ROOT/sysroot/usr/bin/python3.X` (no binfmt_misc needed).
Times under emulation are not speeds: qemu translates every instruction.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRIPLE = "aarch64-linux-gnu"
HERE = Path(__file__).resolve().parent
RUNNER = HERE / "aarch64_run.py"
ROOT = Path(os.environ.get("CNNDSL_AARCH64_ROOT") or Path.home() / ".cache" / "cnndsl" / "aarch64")
HOST_PACKAGES = {"qemu-aarch64": "qemu-user", f"{TRIPLE}-gcc": f"gcc-{TRIPLE}"}
# arm64 packages unpacked into the sysroot ({py} = the release's python3 version, e.g. 3.11)
DEBS = ["libc6", "libgcc-s1", "libstdc++6", "zlib1g", "libexpat1", "libffi8", "libbz2-1.0", "liblzma5",
        "libcrypt1", "libuuid1", "libssl3", "python{py}-minimal", "libpython{py}-minimal", "libpython{py}-stdlib"]
STAMP = "environment.json"
RTOL = 1e-4  # docs/backends.md: the llvm target's tolerance against the interpreter
NETWORKS = ("small", "resnet18", "mobilenet_v2")
GROUP = 6  # networks per aarch64 Python (its start, importing TVM, takes ~20 s under qemu)


class SetupError(Exception):
    """The aarch64 environment cannot be installed here (not root, no apt, a package missing)."""


# --------------------------------------------------------------------------- environment
def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        raise SetupError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        raise SetupError(f"{what} needs root (apt-get); run this script as root once, or do it by hand "
                         "(see the docstring of scripts/check_aarch64.py)")


def environment() -> dict | None:
    """The installed environment (ROOT/environment.json), or None when it is not (fully) installed."""
    stamp = ROOT / STAMP
    if not stamp.is_file():
        return None
    env = json.loads(stamp.read_text())
    if not all(shutil.which(tool) for tool in HOST_PACKAGES):
        return None
    return env


def missing_reason() -> str | None:
    """Why the aarch64 check cannot run on this machine (an environment condition), or None."""
    tools = [t for t in HOST_PACKAGES if not shutil.which(t)]
    if tools:
        return (f"{', '.join(tools)} not installed (Debian: apt-get install "
                f"{' '.join(HOST_PACKAGES[t] for t in tools)}); scripts/check_aarch64.py --setup-only installs it")
    if not (ROOT / STAMP).is_file():
        return (f"the aarch64 Python + TVM runtime is not installed in {ROOT}; "
                "scripts/check_aarch64.py --setup-only installs it")
    have = json.loads((ROOT / STAMP).read_text()).get("packages")
    if have != _pins():
        return (f"the aarch64 environment in {ROOT} has {have}, this venv {_pins()}; "
                "scripts/check_aarch64.py --setup-only updates it")
    return None


def _python_version() -> str:
    """The python3.X of the Debian release's arm64 packages (3.11 on Debian 12)."""
    out = _run(["apt-cache", "depends", "python3-minimal:arm64"]).stdout
    for line in out.splitlines():
        part = line.strip().split(":", 1)
        if part[0] in ("PreDepends", "Depends") and "python3." in part[1]:
            name = part[1].strip().split(":")[0]          # python3.11-minimal
            return name.removeprefix("python").removesuffix("-minimal")
    raise SetupError(f"cannot tell the arm64 python3 version from 'apt-cache depends python3-minimal:arm64':\n{out}")


def _pins() -> list[str]:
    """The aarch64 packages: TVM, its FFI and numpy at this venv's versions (the compiler's runtime)."""
    from importlib.metadata import version

    return [f"apache-tvm=={version('apache-tvm')}", f"apache-tvm-ffi=={version('apache-tvm-ffi')}",
            f"numpy=={version('numpy')}", "ml_dtypes", "typing_extensions"]


def setup(verbose: bool = True) -> dict:
    """Install what is missing (idempotent) and return the environment description."""
    say = print if verbose else (lambda *a, **k: None)
    pins = _pins()
    env = environment()
    if env and Path(env["python"]).is_file() and env.get("packages") == pins:
        return env
    missing = [pkg for tool, pkg in HOST_PACKAGES.items() if not shutil.which(tool)]
    if missing:
        _need_root(f"installing {' '.join(missing)}")
        say(f"apt-get install {' '.join(missing)}")
        _run(["apt-get", "update", "-q"])
        _run(["apt-get", "install", "-y", "-q", *missing], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if "arm64" not in _run(["dpkg", "--print-foreign-architectures"]).stdout.split():
        _need_root("dpkg --add-architecture arm64")
        say("dpkg --add-architecture arm64; apt-get update")
        _run(["dpkg", "--add-architecture", "arm64"])
        _run(["apt-get", "update", "-q"])
    py = _python_version()
    sysroot, debs, site = ROOT / "sysroot", ROOT / "debs", ROOT / "site"
    python = sysroot / "usr" / "bin" / f"python{py}"
    if not python.is_file():
        names = [d.format(py=py) + ":arm64" for d in DEBS]
        debs.mkdir(parents=True, exist_ok=True)
        say(f"apt-get download {' '.join(names)}")
        _run(["apt-get", "download", *names], cwd=debs)
        tmp = Path(tempfile.mkdtemp(prefix="sysroot.", dir=ROOT))
        for deb in sorted(debs.glob("*.deb")):
            _run(["dpkg-deb", "-x", str(deb), str(tmp)])
        shutil.rmtree(sysroot, ignore_errors=True)
        tmp.rename(sysroot)
    if not (site / "tvm").is_dir() or (env or {}).get("packages") != pins:
        say(f"pip install --target {site} (aarch64, cp{py.replace('.', '')}) {' '.join(pins)}")
        tmp = Path(tempfile.mkdtemp(prefix="site.", dir=ROOT))
        _run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(tmp),
              "--platform", "manylinux_2_28_aarch64", "--implementation", "cp", "--python-version", py,
              "--abi", "cp" + py.replace(".", ""), "--only-binary=:all:", *pins])
        shutil.rmtree(site, ignore_errors=True)
        tmp.rename(site)
    env = {"root": str(ROOT), "sysroot": str(sysroot), "site": str(site), "python": str(python),
           "python_version": py, "packages": pins, "debs": sorted(p.name for p in debs.glob("*.deb"))}
    probe = run_aarch64(env, ["-c", "import platform, numpy, tvm; print(platform.machine(), tvm.__version__)"])
    if probe.returncode != 0 or "aarch64" not in probe.stdout:
        raise SetupError(f"the aarch64 Python does not start:\n{probe.stdout}{probe.stderr}")
    say(f"aarch64 environment ready in {ROOT}: {probe.stdout.strip()}")
    (ROOT / STAMP).write_text(json.dumps(env, indent=2) + "\n")
    return env


def run_aarch64(env: dict, args: list[str], threads: int = 1, timeout: float = 1800) -> subprocess.CompletedProcess:
    """`python3.X ARGS` of the aarch64 environment under qemu-aarch64 (TVM's runtime library only)."""
    cmd = ["qemu-aarch64", "-L", env["sysroot"],
           "-E", f"PYTHONPATH={env['site']}", "-E", "TVM_USE_RUNTIME_LIB=1", "-E", f"TVM_NUM_THREADS={threads}",
           "-E", "PYTHONDONTWRITEBYTECODE=1", env["python"], *args]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)


# --------------------------------------------------------------------------- networks
def small_net(hw: int = 32):
    """Every kind of kernel the NEON packed path has, at a size qemu runs in a second: a plain RGB stem
    (stride 2, BN), dense 3x3 (direct below 32 channels, Winograd F(4x4) at 16x16 and 8x8, F(2x2) at 4x4),
    depthwise 3x3 (stride 1 and 2), 1x1 convs, a residual add, max and average pooling, global average
    pooling and a linear classifier; channels 24 and 40 are not multiples of 16 (block 8)."""
    from cnndsl.ir.builder import GraphBuilder

    b = GraphBuilder("small_aarch64")
    x = b.input("image", (1, 3, hw, hw))
    y = b.add("conv", [x], name="stem.conv", out=16, kernel=3, stride=2, padding=1, bias=False)
    y = b.add("bn", [y], name="stem.bn")
    y = b.add("relu", [y], name="stem.act")
    y = b.add("conv", [y], name="c1", out=32, kernel=3, padding=1)
    y = b.add("relu", [y], name="c1.act")
    r = y
    y = b.add("conv", [y], name="dw1", out=32, kernel=3, padding=1, groups=32, bias=False)
    y = b.add("bn", [y], name="dw1.bn")
    y = b.add("relu6", [y], name="dw1.act")
    y = b.add("conv", [y], name="pw1", out=32, kernel=1)
    y = b.add("conv", [y], name="c2", out=32, kernel=3, padding=1)
    y = b.add("add", [y, r], name="res")
    y = b.add("relu", [y], name="res.act")
    y = b.add("maxpool", [y], name="pool1", kernel=3, stride=2, padding=1)
    y = b.add("conv", [y], name="c3", out=40, kernel=3, padding=1)
    y = b.add("relu", [y], name="c3.act")
    y = b.add("conv", [y], name="dw2", out=40, kernel=3, stride=2, padding=1, groups=40)
    y = b.add("hswish", [y], name="dw2.act")
    y = b.add("conv", [y], name="pw2", out=48, kernel=1)
    y = b.add("conv", [y], name="c4", out=48, kernel=3, padding=1)
    y = b.add("relu", [y], name="c4.act")
    y = b.add("avgpool", [y], name="pool2", kernel=2, stride=2)
    y = b.add("conv", [y], name="pw3", out=24, kernel=1)
    y = b.add("gap", [y], name="gap")
    y = b.add("flatten", [y], name="flat")
    y = b.add("linear", [y], name="fc", out=10)
    b.output("logits", y)
    return b.graph


def load_network(name: str, size: int | None):
    """'small', or a library network at batch 1: at `size` (every spatial axis) when given, at its
    default size for `size=None`, at the reduced size of the TVM library tests for `size=0`."""
    if name == "small":
        return small_net(size or 32)
    from cnndsl.api import load

    if size == 0:
        sys.path.insert(0, str(HERE.parent / "tests" / "backends"))
        from test_tvm_library import _reduced

        return _reduced(name)
    g = load(name, batch=1)
    if size:
        shape = g.nodes[g.input_names[0]].attrs["shape"]
        g = load(name, batch=1, input_shape=(shape[1],) + (size,) * (len(shape) - 2))
    return g


def library_networks() -> list[str]:
    from cnndsl.elaborate.modules import library_index

    return sorted(k for k, e in library_index().items() if k == k.lower())


def kernels(lib: Path) -> list[str]:
    """The TVM kernels a cross-compiled library exports (from its dynamic symbols)."""
    nm = shutil.which(f"{TRIPLE}-nm") or "nm"
    out = subprocess.run([nm, "-D", "--defined-only", str(lib)], check=True, capture_output=True, text=True).stdout
    names = (line.split()[-1] for line in out.splitlines() if line.strip())
    return sorted(n.removeprefix("__tvm_ffi_") for n in names
                  if n.startswith("__tvm_ffi_") and n != "__tvm_ffi__library_bin")


def _compile(name: str, work: Path, size, mcpu, seed: int) -> dict:
    """Build `name` for aarch64 here; save its input; keep what the comparison needs."""
    import numpy as np

    from cnndsl.backend import CompileOptions, get_backend
    from cnndsl.weights import Weights
    from cnndsl.weights_init import init_weights

    g = load_network(name, size)
    if len(g.input_names) != 1:
        raise ValueError(f"{name} has {len(g.input_names)} inputs; this check feeds one")
    w = Weights(init_weights(g, seed, randomize_buffers=True))  # BN statistics too
    shape = g.nodes[g.input_names[0]].attrs["shape"]
    x = np.random.default_rng(seed).standard_normal(shape).astype("float32")
    art = work / name
    extra = {"mtriple": TRIPLE, "batch": 1}
    if mcpu:
        extra["mcpu"] = mcpu
    t0 = time.perf_counter()
    get_backend("llvm").compile(g, w, art, CompileOptions(extra=extra, force=True))
    np.save(work / f"{name}.x.npy", x)
    return {"network": name, "input": list(shape), "compile_s": round(time.perf_counter() - t0, 1),
            "manifest": json.loads((art / "manifest.json").read_text())["target_detail"],
            "kernels": kernels(art / "model.so"), "_graph": g, "_weights": w, "_x": x,
            "_args": [str(art), str(work / f"{name}.x.npy"), str(work / f"{name}.y.npz")]}


def _compare(res: dict) -> None:
    """Outputs of the aarch64 run against the float64 interpreter (docs/backends.md's llvm tolerance)."""
    import numpy as np

    from cnndsl import interp

    with np.load(res["_args"][2]) as z:
        got = [z[k] for k in sorted(z.files, key=lambda k: int(k.split("_")[1]))]
    want = interp.run(res["_graph"], res["_weights"], [res["_x"]], dtype=np.float64)
    worst = 0.0
    ok = len(got) == len(want)
    for gy, wy in zip(got, want):
        scale = max(1.0, float(np.abs(wy).max()))
        ok = ok and gy.shape == wy.shape and bool(np.allclose(gy, wy, rtol=RTOL, atol=RTOL * scale))
        if gy.shape == wy.shape:  # the error measure of docs/backends.md's accuracy figures
            worst = max(worst, float(np.abs(gy.astype(np.float64) - wy).max() / max(float(np.abs(wy).max()), 1e-30)))
    res.update(ok=ok, max_err_rel_to_max=worst, tolerance=f"rtol {RTOL}, atol {RTOL} x max(1, max|y|)")


def check_networks(env: dict, names: list[str], *, size: int | None = None, mcpu: str | None = None,
                   threads: int = 1, keep: Path | None = None, seed: int = 0, group: int = 0) -> list[dict]:
    """Compile each network for aarch64 here, run them all in one aarch64 Python under qemu (its start,
    importing TVM, takes ~20 s emulated), compare each with the float64 interpreter. A network that
    fails to compile or to run is a result with ok=False and its error, not an exception."""
    group = group or GROUP
    if len(names) > group:  # artefacts of big networks take hundreds of MB: a group at a time
        return [r for i in range(0, len(names), group)
                for r in check_networks(env, names[i:i + group], size=size, mcpu=mcpu, threads=threads, keep=keep,
                                        seed=seed, group=group)]
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="aarch64-check."))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for name in names:
        try:
            results.append(_compile(name, work, size, mcpu, seed))
        except Exception as err:  # noqa: BLE001 - a sweep reports every network's failure and goes on
            results.append({"network": name, "ok": False, "error": f"compile: {type(err).__name__}: {err}"})
    todo = [r for r in results if "_args" in r]
    while todo:  # a crash (signal) ends the process: the networks after it run in a new one
        proc = run_aarch64(env, [str(RUNNER), *[a for r in todo for a in r["_args"]]], threads=threads)
        lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        for r, line in zip(todo, lines):
            r["aarch64"] = line
        done = len(lines)
        if proc.returncode != 0 and done < len(todo):
            todo[done]["error"] = f"run under qemu (exit {proc.returncode}): {(proc.stdout + proc.stderr)[-4000:]}"
            done += 1
        todo = todo[done:]
    for r in results:
        if "_args" in r and "error" not in r and "error" not in r.get("aarch64", {"error": 1}):
            _compare(r)
        elif "_args" in r:
            r.update(ok=False, error=r.get("error") or r.get("aarch64", {}).get("error", "no output"))
        for k in [k for k in r if k.startswith("_")]:
            del r[k]
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return results


def check_network(env: dict, name: str, **kw) -> dict:
    """`check_networks` for one network."""
    return check_networks(env, [name], **kw)[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("networks", nargs="*", default=list(NETWORKS),
                   help=f"'small' or library names (default: {' '.join(NETWORKS)})")
    p.add_argument("--size", type=int, default=None,
                   help="input height/width of the library networks (default: their own, 224; small: 32)")
    p.add_argument("--mcpu", default=None, help="aarch64 CPU for LLVM (default generic: NEON is baseline)")
    p.add_argument("--threads", type=int, default=1, help="TVM_NUM_THREADS inside qemu (default 1)")
    p.add_argument("--keep", type=Path, default=None, help="keep artefacts, inputs and outputs in this directory")
    p.add_argument("--library", action="store_true",
                   help="every library network, at the reduced size of the TVM library tests unless --size")
    p.add_argument("--setup-only", action="store_true", help="install the aarch64 environment and stop")
    p.add_argument("--json", action="store_true", help="print one JSON object per network")
    args = p.parse_args(argv)
    try:
        env = setup()
    except SetupError as err:
        print(f"check_aarch64: cannot set up the aarch64 environment: {err}", file=sys.stderr)
        return 2
    if args.setup_only:
        return 0
    names = library_networks() if args.library else args.networks
    size = 0 if args.library and args.size is None else args.size
    failed = 0
    for i in range(0, len(names), GROUP):  # printed a group at a time
        for res in check_networks(env, names[i:i + GROUP], size=size, mcpu=args.mcpu, threads=args.threads,
                                  keep=args.keep):
            failed += not res["ok"]
            if args.json:
                print(json.dumps(res), flush=True)
            elif "error" in res:
                print(f"{res['network']}: FAILED ({res['error']})", flush=True)
            else:
                a = res["aarch64"]
                print(f"{res['network']} {res['input']}: {'OK' if res['ok'] else 'MISMATCH'} max|y - y64| / max|y64| "
                      f"= {res['max_err_rel_to_max']:.2e} (allclose rtol {RTOL}, atol {RTOL} x max(1, max|y64|)); "
                      f"compiled in {res['compile_s']} s here, {len(res['kernels'])} kernels, ran under qemu "
                      f"({a['machine']}, TVM {a['tvm']}, {a['threads']} thread) in {a['run_s']} s (emulated: not a speed)",
                      flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
