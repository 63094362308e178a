"""`cnndsl compile`: FILE|NAME -> an artefact for any registered target (cnndsl.backend)."""

from __future__ import annotations

import argparse
from contextlib import nullcontext

from cnndsl.cli.common import add_force_argument, add_source_arguments, model_from_args

HELP = "compile a network for a target (onnx, pytorch, llvm, cuda) with seeded or loaded weights"


def add_compile_options(p: argparse.ArgumentParser) -> None:
    """Weights and optimization options shared by `compile` and `run` (compile-then-run)."""
    p.add_argument("--weights", metavar="FILE",
                   help="weights keyed <node>.<param> (.npz; .safetensors; .pt/.pth state_dict); default: seeded init")
    p.add_argument("--seed", type=int, default=0, help="seed of the default initialization (default 0)")
    p.add_argument("--save-weights", action="store_true",
                   help="pytorch: also write the seeded weights beside the module as .npz (always with --weights)")
    p.add_argument("-O", dest="opt_level", type=int, choices=(0, 1), default=0, metavar="LEVEL",
                   help="-O0: the network as written (default); -O1: inference cleanups first "
                        "(drop no-ops, fold batch norm, fuse conv+activation)")
    p.add_argument("--opset", type=int, help="ONNX opset (default 18)")
    p.add_argument("-X", dest="extra", action="append", default=[], metavar="KEY=VALUE",
                   help="a backend-specific option (see docs/backends.md), e.g. -X mcpu=znver4")
    add_force_argument(p)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    p.add_argument("--target", default="onnx", metavar="TARGET",
                   help="onnx (default), pytorch, llvm or cuda; any installed cnndsl.backends entry point")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="where to write the artefact")
    add_compile_options(p)
    p.add_argument("--tune", action="store_true", help="tvm targets: tune with MetaSchedule")
    p.add_argument("--trials", type=int, default=64, metavar="N", help="tuning trials (default 64)")
    p.add_argument("--tuning-db", metavar="DIR", help="tuning database directory (read and extended)")


def parse_extra(items: list[str]) -> dict:
    """-X KEY=VALUE pairs; integer-looking values become ints."""
    from cnndsl.diagnostics import CnnError

    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CnnError(f"-X expects KEY=VALUE, got {item!r}")
        value = value.strip()
        out[key.strip()] = int(value) if value.lstrip("-").isdigit() else value
    return out


def check_output_path(path: str, target: str, force: bool, save_weights: bool = False) -> None:
    """Refuse an output that cannot or may not be written before any work starts (cnndsl.output)."""
    from cnndsl.backend import CompileOptions, get_backend
    from cnndsl.output import check_destination

    backend = get_backend(target)
    check_destination(path, directory=not backend.artefact_suffix, force=force)
    for extra in backend.extra_outputs(path, CompileOptions(force=force, save_weights=save_weights)):
        check_destination(extra, force=force)


def compile_source(args: argparse.Namespace, target: str, out: str, save_weights: bool | None = None):
    """Load and compile through the API (`Model.compile`); returns (backend, artefact, graph).

    `save_weights` (pytorch): write the weights beside the module; default: when given or asked for.
    """
    from cnndsl.backend import get_backend
    from cnndsl.progress import status

    backend = get_backend(target)  # unknown / uninstalled target: fail before loading anything
    model = model_from_args(args)
    tuning = getattr(args, "tune", False)  # tuning draws its own progress
    with nullcontext() if tuning else status(f"compiling {args.source} for {target}"):  # on a terminal only
        artefact = model.compile(target, out, weights=args.weights, seed=args.seed,
                                 optimize=args.opt_level == 1, opset=args.opset, tune=tuning,
                                 trials=getattr(args, "trials", 64), tuning_db=getattr(args, "tuning_db", None),
                                 options=parse_extra(args.extra), force=args.force,
                                 save_weights=save_weights if save_weights is not None else
                                 bool(args.weights or getattr(args, "save_weights", False)))
    return backend, artefact, model.graph


def run(args: argparse.Namespace) -> int:
    save = bool(args.weights or args.save_weights)
    check_output_path(args.output, args.target, args.force, save)
    _backend, artefact, _graph = compile_source(args, args.target, args.output)
    print(artefact.summary())
    return 0
