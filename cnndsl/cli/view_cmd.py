"""`cnndsl view`: write one self-contained interactive HTML page of a network."""

from __future__ import annotations

import argparse

from cnndsl.cli.common import add_force_argument, add_source_arguments, model_from_args

HELP = "write an interactive HTML graph of a network (one self-contained file; open it in any browser)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE.html", help="the HTML file to write")
    add_force_argument(p)


def run(args: argparse.Namespace) -> int:
    from cnndsl.output import check_destination, write_file
    from cnndsl.progress import status
    from cnndsl.view.page import build

    check_destination(args.output, force=args.force)  # before any work: a path that cannot be written is exit 2
    model = model_from_args(args)
    with status(f"counting and laying out {args.source}"):  # a terminal only
        page = build(model)
    write_file(args.output, page, force=args.force)
    return 0
