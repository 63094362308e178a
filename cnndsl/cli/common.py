"""Options every verb that takes `FILE|NAME` shares, and loading a Graph from them."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from cnndsl.diagnostics import CnnError, InputError


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="FILE|NAME", help="a .cnn file or a library network name (e.g. resnet50)")
    p.add_argument("--network", help="which network of a file with several")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="KEY=VALUE",
                   help="override a network parameter (value is a .cnn expression)")
    p.add_argument("--input-shape", metavar="CxHxW", help="override the input shape, e.g. 3x320x320")
    p.add_argument("--batch", type=int, help="fix the batch size instead of the symbolic N")
    p.add_argument("-I", dest="include", action="append", default=[], metavar="DIR",
                   help="also look for imports in DIR")


def parse_input_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        raise CnnError(f"--input-shape must look like 3x224x224, got {text!r}") from None
    if not dims or any(d <= 0 for d in dims):
        raise CnnError(f"--input-shape dimensions must be positive, got {text!r}")
    return dims


def parse_defines(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CnnError(f"-D expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def load_from_args(args: argparse.Namespace):
    """FILE|NAME plus the shared options -> an elaborated, shape-inferred Graph."""
    from cnndsl.api import load

    return load(
        args.source,
        network=args.network,
        defines=parse_defines(args.defines),
        input_shape=parse_input_shape(args.input_shape),
        batch=args.batch,
        include_dirs=tuple(args.include),
    )


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Write to a temporary file beside `path`, then rename: never a half-written file."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a directory")
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
