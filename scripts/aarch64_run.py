"""Run a cnndsl llvm artefact cross-compiled for aarch64, inside an aarch64 Python (under qemu-aarch64).

Started by `scripts/check_aarch64.py`; needs only numpy and TVM's runtime (`TVM_USE_RUNTIME_LIB=1`),
not cnndsl (which is not installed in the aarch64 environment). It does what `backends/tvm/build.py`'s
`Loaded` does -- manifest, SHA-256 of the library, weights in `param_order` -- then runs `main` once
on the saved input, for each artefact given:

    python3 aarch64_run.py ARTEFACT_DIR INPUT.npy OUTPUT.npz [ARTEFACT_DIR INPUT.npy OUTPUT.npz ...]

and prints one JSON line per artefact: its error, or the machine, the TVM version, load and run
seconds (emulated: not a speed).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run_one(art: str, xin: str, yout: str) -> dict:
    import numpy as np
    import tvm
    from tvm.runtime.vm import VirtualMachine

    with open(os.path.join(art, "manifest.json")) as f:
        manifest = json.load(f)
    lib_path = os.path.join(art, manifest.get("library", "model.so"))
    if manifest.get("library_sha256") != _sha256(lib_path):
        return {"error": f"{lib_path}: SHA-256 does not match manifest.json's library_sha256"}
    dev = tvm.cpu()
    t0 = time.perf_counter()
    vm = VirtualMachine(tvm.runtime.load_module(lib_path), dev)
    params = []
    if manifest.get("param_order"):
        store = tvm.runtime.load_param_dict_from_file(os.path.join(art, "weights.params"))
        params = [tvm.runtime.tensor(store[k].numpy(), dev) for k in manifest["param_order"]]
    x = np.ascontiguousarray(np.load(xin), dtype=manifest["inputs"][0]["dtype"])
    t1 = time.perf_counter()
    res = vm["main"](tvm.runtime.tensor(x, dev), *params)
    outs = [res.numpy()] if hasattr(res, "numpy") else [r.numpy() for r in res]
    t2 = time.perf_counter()
    np.savez(yout, *outs)
    return {"machine": platform.machine(), "tvm": str(tvm.__version__), "numpy": np.__version__,
            "threads": os.environ.get("TVM_NUM_THREADS"), "load_s": round(t1 - t0, 3), "run_s": round(t2 - t1, 3)}


def main(argv: list[str]) -> int:
    if not argv or len(argv) % 3:
        print("usage: aarch64_run.py (ARTEFACT_DIR INPUT.npy OUTPUT.npz)...", file=sys.stderr)
        return 2
    for i in range(0, len(argv), 3):
        try:
            line = run_one(*argv[i:i + 3])
        except Exception as err:  # noqa: BLE001 - one line per artefact; the next ones still run
            line = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
