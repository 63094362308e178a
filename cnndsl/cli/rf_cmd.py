"""`cnndsl rf`: receptive field (size, effective stride, effective padding) per node."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "receptive field size, effective stride and padding of every node (multi-path aware)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from cnndsl.cli.common import add_source_arguments

    add_source_arguments(p)
    p.add_argument("--node", metavar="NAME", help="only this node, with the input region one output position sees")
    p.add_argument("--at", metavar="I,J", help="with --node: the output position, one index per spatial axis "
                                               "(L in 1-D, D,I,J in 3-D; default: the centre)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
    p.add_argument("--optimize", action="store_true", help="after the inference cleanups (BN folding, fusion, ...)")


def run(args: argparse.Namespace) -> int:
    from cnndsl.cli.common import model_from_args
    from cnndsl.report.rf import parse_position, render_rf_table

    model = model_from_args(args)
    rep = model.rf(node=args.node, at=parse_position(args.at), optimize=args.optimize)
    for w in rep["warnings"]:
        print(f"cnndsl: warning: {w}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(rep, indent=2))
    else:
        sys.stdout.write(render_rf_table(rep))
    return 0
