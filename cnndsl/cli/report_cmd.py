"""`cnndsl report`: per-layer and total params, MACs, FLOPs, memory and receptive field."""

from __future__ import annotations

import argparse
import sys

HELP = "per-layer and total parameters, MACs, FLOPs, activation memory and receptive field"

CONVENTION_FLAGS = (
    ("bias", "bias adds of conv/linear"),
    ("bn", "batch-norm (2 FLOPs per element)"),
    ("activations", "activation functions"),
    ("pooling", "pooling windows"),
    ("elementwise", "elementwise merges (add, mul) and resampling"),
)


def add_convention_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("counting convention (MACs are always conv + linear multiply-adds)")
    for name, what in CONVENTION_FLAGS:
        g.add_argument(f"--count-{name}", dest=f"count_{name}", action=argparse.BooleanOptionalAction, default=True,
                       help=f"include {what} in FLOPs (default: yes)")


def convention_from_args(args: argparse.Namespace):
    from cnndsl.passes.manager import Convention

    return Convention(**{name: getattr(args, f"count_{name}", True) for name, _w in CONVENTION_FLAGS})


def add_pipeline_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--optimize", action="store_true",
                   help="report the inference graph: drop no-ops, fold BN, fuse conv+activation, remove dead nodes")
    p.add_argument("--print-after", metavar="PASS", action="append", default=[],
                   help="print the IR after PASS to standard error (repeatable; 'all' for every pass)")
    p.add_argument("--time-passes", action="store_true", help="print each pass's run time to standard error")
    p.add_argument("--explain", action="store_true",
                   help="with --optimize: print why each rewrite rule declined where it did not fire")


def run_analyses(model, args: argparse.Namespace):
    """The pipeline a report needs (`Model.analyze`), honouring --optimize/--print-after/--time-passes."""
    return model.analyze(optimize=getattr(args, "optimize", False), convention=convention_from_args(args),
                         print_after=tuple(getattr(args, "print_after", ()) or ()),
                         time_passes=getattr(args, "time_passes", False), stream=sys.stderr)


def stage_name(args: argparse.Namespace) -> str:
    return "inference (after cleanups)" if getattr(args, "optimize", False) else "as written (no rewrites)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from cnndsl.cli.common import add_force_argument, add_source_arguments

    add_source_arguments(p)
    p.add_argument("--depth", type=int, metavar="N", help="collapse layers to blocks of N name components")
    p.add_argument("--format", choices=("table", "markdown", "csv", "json"), default="table",
                   help="table (default), markdown, csv or json (schema cnndsl.report/1; see docs/reports.md)")
    p.add_argument("--convention", choices=("cnndsl", "torchinfo", "fvcore", "ptflops", "thop"), default="cnndsl",
                   help="also count as this tool does (a column and a total; see docs/reports.md)")
    p.add_argument("-o", "--output", help="write to a file instead of standard output")
    add_force_argument(p)
    add_convention_arguments(p)
    add_pipeline_arguments(p)


def run(args: argparse.Namespace) -> int:
    from cnndsl.cli.common import model_from_args
    from cnndsl.diagnostics import CnnError
    from cnndsl.output import write_file
    from cnndsl.report import render

    if args.depth is not None and args.depth < 1:
        raise CnnError(f"--depth must be at least 1, got {args.depth}")
    model = model_from_args(args)
    result = run_analyses(model, args)
    for w in result.warnings:
        print(f"cnndsl: warning: {w}", file=sys.stderr)
    if args.explain:
        for reason in result.declined or ["every rewrite rule fired where it matched"]:
            print(f"cnndsl: note: {reason}", file=sys.stderr)
    rep = model.build_report(depth=args.depth, convention=args.convention, flops=convention_from_args(args),
                             optimize=getattr(args, "optimize", False), result=result)
    text = render(rep, args.format)
    if args.output:
        write_file(args.output, text, force=args.force)
    else:
        sys.stdout.write(text)
    return 0
