"""`cnndsl ops [NAME]`: the op reference, read from the registry (cnndsl/ops/describe.py)."""

from __future__ import annotations

import argparse
import json

HELP = "list the ops with their attributes, constraints, arity, counts and PyTorch/ONNX equivalents"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", metavar="NAME", help="one op in full (a PyTorch name such as BatchNorm2d is "
                                                          "answered with the cnndsl spelling)")
    p.add_argument("--format", choices=("table", "json", "markdown"), default=None,
                   help="table (default for all ops), text (one op), json, or markdown (docs/ops.md)")


def run(args: argparse.Namespace) -> int:
    from cnndsl.diagnostics import UnknownOp
    from cnndsl.elaborate.hints import name_hint
    from cnndsl.ops.describe import markdown, op_record, records, table, text
    from cnndsl.ops.registry import all_ops

    ops = all_ops()
    if args.name is not None:
        if args.name not in ops:
            raise UnknownOp(f"no op named '{args.name}'{name_hint(args.name, ops)} (`cnndsl ops` lists them all)")
        rec = op_record(ops[args.name])
        if args.format == "json":
            print(json.dumps(rec, indent=2))
        elif args.format == "markdown":
            print(markdown([rec]), end="")
        else:
            print(text(rec))
        return 0
    recs = records()
    if args.format == "json":
        print(json.dumps({"schema": "cnndsl.ops/1", "ops": recs}, indent=2))
    elif args.format == "markdown":
        print(markdown(recs), end="")
    else:
        print(table(recs))
    return 0
