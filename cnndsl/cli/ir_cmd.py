"""`cnndsl ir`: the Graph IR at any stage, as text, JSON, DOT or SVG."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys

from cnndsl.cli.common import add_force_argument, add_source_arguments, model_from_args
from cnndsl.diagnostics import CnnError

HELP = "print the Graph IR (text, json, dot or svg), optionally after a pass"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    p.add_argument("--format", choices=("text", "json", "dot", "svg"), default="text")
    p.add_argument("--after", metavar="PASS", help="run the pass pipeline up to and including PASS first")
    p.add_argument("--annotate", default="shape", help="comma-separated node annotations for dot/svg: shape,macs,rf")
    p.add_argument("-o", "--output", help="write to a file instead of standard output")
    add_force_argument(p)


def run(args: argparse.Namespace) -> int:
    graph = model_from_args(args).graph
    if args.after:
        try:
            from cnndsl.passes.manager import run_pipeline
        except ImportError:
            raise CnnError("--after needs the pass pipeline, which this build lacks") from None
        graph = run_pipeline(graph, upto=args.after)
    annotate = tuple(a.strip() for a in args.annotate.split(",") if a.strip())
    if args.format == "text":
        out = graph.to_text()
    elif args.format == "json":
        from cnndsl import __version__

        out = json.dumps({"schema": "cnndsl.ir/1", "cnndsl_version": __version__, **graph.to_json()}, indent=2) + "\n"
    else:
        from cnndsl.ir.printer import to_dot

        if {"macs", "rf"} & set(annotate):
            graph = _annotated(graph)
        out = to_dot(graph, annotate)
        if args.format == "svg":
            out = _svg(out)
    if args.output:
        from cnndsl.output import write_file

        write_file(args.output, out, force=args.force)
    else:
        sys.stdout.write(out)
    return 0


def _annotated(graph):
    try:
        from cnndsl.passes.manager import annotate
    except ImportError:
        raise CnnError("macs/rf annotations need the analysis passes, which this build lacks") from None
    return annotate(graph)


def _svg(dot_text: str) -> str:
    dot = shutil.which("dot")
    if dot is None:
        raise CnnError("--format svg needs Graphviz's `dot` on PATH (e.g. apt-get install graphviz); "
                       "use --format dot to get the source")
    proc = subprocess.run([dot, "-Tsvg"], check=False, input=dot_text, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise CnnError(f"dot failed: {proc.stderr.strip()}")
    return proc.stdout
