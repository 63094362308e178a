"""`cnndsl run`: run a compiled artefact, or compile a FILE|NAME and run it, on .npy inputs."""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

from cnndsl.cli.common import add_source_arguments
from cnndsl.cli.compile_cmd import add_compile_options, compile_source

HELP = "run a compiled artefact (.onnx, a TVM directory, ...) or a FILE|NAME on .npy inputs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    p.add_argument("--input", action="append", required=True, metavar="X.npy",
                   help="an input array (.npy); repeat for networks with several inputs, in order")
    p.add_argument("-o", "--output", required=True, metavar="Y.npy",
                   help="where to write the output (.npy; .npz for networks with several outputs)")
    p.add_argument("--target", metavar="TARGET",
                   help="for FILE|NAME: the target to compile for (default onnx); for an artefact, it must match")
    add_compile_options(p)


def load_input(path: str):
    import numpy as np

    from cnndsl.diagnostics import InputError

    p = Path(path)
    if not p.is_file():
        raise InputError(f"input {path} not found" if not p.exists() else f"input {path} is not a file")
    try:
        arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(f"input {path} is not a .npy array: {err}") from None
    if not isinstance(arr, np.ndarray):
        raise InputError(f"input {path} holds several arrays; give one .npy per input")
    if arr.dtype.kind not in "fiub":
        raise InputError(f"input {path}: expected numbers, got an array of {arr.dtype}")
    return arr.astype(np.float32)


def save_outputs(path: str, outputs: list, names: list[str], force: bool = False) -> str:
    import numpy as np

    from cnndsl.diagnostics import InputError
    from cnndsl.output import npz_bytes, write_file

    if path.endswith(".npz"):
        data = npz_bytes({name: y for name, y in zip(names, outputs)})
    elif len(outputs) == 1:
        buf = io.BytesIO()
        np.save(buf, outputs[0])
        data = buf.getvalue()
    else:
        raise InputError(f"the network has {len(outputs)} outputs ({', '.join(names)}); write them to a .npz")
    write_file(path, data, force=force)
    shapes = ", ".join(f"{n}[{', '.join(str(d) for d in y.shape)}]" for n, y in zip(names, outputs))
    return f"wrote {path} ({shapes})"


def run_backend(backend, path, inputs):
    from cnndsl.backend import missing_dependency

    try:
        return backend.run(path, inputs)
    except ImportError as err:  # a backend's lazy heavy import: the extra is not installed
        raise missing_dependency(backend.name, err) from None


def run(args: argparse.Namespace) -> int:
    from cnndsl.backend import backend_for_artefact
    from cnndsl.diagnostics import CnnError, InputError
    from cnndsl.output import check_destination

    check_destination(args.output, force=args.force)
    inputs = [load_input(p) for p in args.input]
    source = Path(args.source)
    backend = backend_for_artefact(source) if source.exists() and source.suffix != ".cnn" else None
    if backend is None and source.is_file() and source.suffix != ".cnn":
        raise InputError(f"{args.source} is neither a compiled artefact (.onnx, .py, a directory with "
                         "manifest.json) nor a .cnn file")
    if backend is not None:
        if args.target and args.target != backend.name:
            raise CnnError(f"{args.source} was compiled for target {backend.name}, not {args.target}")
        outputs = run_backend(backend, source, inputs)
        names = [f"output{i}" if len(outputs) > 1 else "output" for i in range(len(outputs))]
    else:
        target = args.target or "onnx"
        with tempfile.TemporaryDirectory(prefix="cnndsl-run-") as tmp:
            from cnndsl.backend import get_backend

            suffix = get_backend(target).artefact_suffix
            out = str(Path(tmp) / f"model{suffix}")
            backend, _artefact, graph = compile_source(args, target, out, save_weights=True)  # the seeded weights, as every target
            outputs = run_backend(backend, out, inputs)
        names = [name for name, _ref in graph.outputs]
    print(save_outputs(args.output, outputs, names, args.force))
    return 0
