"""`cnndsl check`: parse, elaborate, infer shapes; diagnostics only."""

from __future__ import annotations

import argparse

from cnndsl.cli.common import add_source_arguments, model_from_args
from cnndsl.ops.common import fmt_shape

HELP = "parse, elaborate and infer shapes; print diagnostics (exit 0 when clean, 2 on errors)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing when the network is clean")


def run(args: argparse.Namespace) -> int:
    graph = model_from_args(args).graph
    if not args.quiet:
        inputs = ", ".join(f"{n.name}{fmt_shape(n.attrs['shape'])}" for n in graph.input_nodes())
        outputs = ", ".join(f"{name}{fmt_shape(graph.value_shape(ref))}" for name, ref in graph.outputs)
        print(f"{graph.meta.get('display', args.source)}: ok: network {graph.meta.get('network')}, "
              f"{len(graph) - len(graph.input_names)} nodes, {inputs} -> {outputs}")
    return 0
