"""Options every verb that takes `FILE|NAME` shares, and loading a Graph from them."""

from __future__ import annotations

import argparse
import json

from cnndsl.diagnostics import CnnError


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="FILE|NAME", help="a .cnn file or a library network name (e.g. resnet50)")
    p.add_argument("--network", help="which network of a file with several")
    p.add_argument("-D", dest="defines", action="append", default=[], metavar="KEY=VALUE",
                   help="override a network parameter (value is a .cnn expression)")
    p.add_argument("--input-shape", metavar="CxHxW", help="override the input shape, e.g. 3x320x320")
    p.add_argument("--batch", type=int, help="fix the batch size instead of the symbolic N")
    p.add_argument("-I", dest="include", action="append", default=[], metavar="DIR",
                   help="also look for imports in DIR")
    p.add_argument("--verify", action="store_true",
                   help="check the IR contract after every pass (lint, in-place flags); for debugging cnndsl")


def add_force_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--force", action="store_true",
                   help="replace an existing output file that cnndsl did not write (never a directory; "
                        "see docs/security.md)")


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


def model_from_args(args: argparse.Namespace):
    """FILE|NAME plus the shared options -> a `cnndsl.Model` (the Python API every verb is built on)."""
    from cnndsl.model import load

    if getattr(args, "verify", False):
        from cnndsl.passes import contract

        contract.VERIFY = True
    return load(
        args.source,
        network=args.network,
        defines=parse_defines(args.defines),
        input_shape=parse_input_shape(args.input_shape),
        batch=args.batch,
        include_dirs=tuple(args.include),
    )


def load_from_args(args: argparse.Namespace):
    """FILE|NAME plus the shared options -> an elaborated, shape-inferred Graph."""
    return model_from_args(args).graph


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2))
