"""The `cnndsl` command line. Verbs live in their own modules, listed in one table.

Each verb module exposes `HELP`, `add_arguments(parser)` and `run(args) -> int`, and
imports nothing heavy at module level (TVM, ONNX and torch load inside backends).
Every `CnnError` is rendered with its position and the process exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from cnndsl import __version__

VERBS: dict[str, str] = {
    "check": "cnndsl.cli.check_cmd",
    "ir": "cnndsl.cli.ir_cmd",
    "list": "cnndsl.cli.list_cmd",
    "report": "cnndsl.cli.report_cmd",
    "rf": "cnndsl.cli.rf_cmd",
    "diff": "cnndsl.cli.diff_cmd",
    "compile": "cnndsl.cli.compile_cmd",
    "run": "cnndsl.cli.run_cmd",
    "bench": "cnndsl.cli.bench_cmd",
    "ops": "cnndsl.cli.ops_cmd",
    "import": "cnndsl.cli.import_cmd",
    "fmt": "cnndsl.cli.fmt_cmd",
    "view": "cnndsl.cli.view_cmd",
    "show": "cnndsl.cli.show_cmd",
    "completion": "cnndsl.cli.completion_cmd",
}

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnndsl", description="A declarative graph compiler for CNNs.")
    parser.add_argument("--version", action="version", version=f"cnndsl {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, module_name in VERBS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name == module_name:
                continue  # verb not built yet
            raise
        p = sub.add_parser(verb, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    from cnndsl.diagnostics import CnnError, render

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):  # no verb: usage on stderr (stdout stays clean for pipes), exit 2
        parser.print_usage(sys.stderr)
        print("cnndsl: error: a verb is required; `cnndsl --help` lists them", file=sys.stderr)
        return EXIT_USER_ERROR
    from cnndsl.output import install_signal_handlers

    install_signal_handlers()  # SIGTERM cleans up temporaries as Ctrl-C does
    try:
        return int(args._run(args) or 0)
    except CnnError as err:
        print(render(err), file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("cnndsl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
