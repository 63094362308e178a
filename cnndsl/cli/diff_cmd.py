"""`cnndsl diff A B`: what changed between two networks (structure, params, MACs, RF)."""

from __future__ import annotations

import argparse
import json
import sys

HELP = ("compare two networks: structure, parameters, MACs, FLOPs, memory and receptive fields "
        "(exit 0 identical, 1 different)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from cnndsl.cli.common import add_source_arguments
    from cnndsl.cli.report_cmd import add_convention_arguments

    add_source_arguments(p)  # A, with the shared options (applied to both A and B)
    p.add_argument("other", metavar="B", help="the second .cnn file or library name")
    p.add_argument("--network-b", help="which network of B's file (default: --network)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or json")
    p.add_argument("--optimize", action="store_true", help="compare the inference graphs (after cleanups)")
    add_convention_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the networks are identical, 1 when they differ (as diff(1)), 2 on errors."""
    from cnndsl.cli.common import model_from_args
    from cnndsl.cli.report_cmd import convention_from_args
    from cnndsl.report.diff import render_diff

    models = []
    for source, network in ((args.source, args.network), (args.other, args.network_b or args.network)):
        one = argparse.Namespace(**vars(args))
        one.source, one.network = source, network
        models.append(model_from_args(one))
    d = models[0].diff(models[1], optimize=args.optimize, convention=convention_from_args(args))
    if args.format == "json":
        print(json.dumps(d, indent=2))
    else:
        sys.stdout.write(render_diff(d))
    return 0 if d["identical"] else 1
