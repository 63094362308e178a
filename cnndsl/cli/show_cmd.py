"""`cnndsl show NAME`: print the `.cnn` source of a library network (or library module)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cnndsl.diagnostics import UnknownName, did_you_mean

HELP = "print the .cnn source file of a library network (e.g. resnet50) or module (e.g. std.resnet)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="a library network (see `cnndsl list`) or module (resnet, std.layers)")
    p.add_argument("--path", action="store_true", help="print only the file's path")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="highlight the source (auto: only when standard output is a terminal)")


def find(name: str) -> tuple[Path, str | None]:
    """NAME -> (the library file, the network it names or None for a whole module)."""
    from cnndsl.elaborate.modules import library_dir, library_index

    index = library_index()
    entry = index.get(name) or next((e for k, e in index.items() if k.lower() == name.lower()), None)
    if entry is not None:
        return entry.path, entry.name
    root = library_dir()
    modules = {str(p.relative_to(root).with_suffix("")).replace("/", "."): p for p in sorted(root.rglob("*.cnn"))}
    key = name.removesuffix(".cnn")
    path = modules.get(key.replace("/", "."))
    if path is not None:
        return path, None
    raise UnknownName(f"no library network or module named '{name}'{did_you_mean(name, [*index, *modules])}"
                      " (see `cnndsl list`)")


def run(args: argparse.Namespace) -> int:
    from cnndsl.elaborate.modules import read_source

    path, _network = find(args.name)
    if args.path:
        print(path)
        return 0
    text = read_source(path)
    if args.color == "always" or (args.color == "auto" and sys.stdout.isatty()):
        text = highlight(text)
    sys.stdout.write(text)
    return 0


def highlight(text: str) -> str:
    """ANSI-coloured `.cnn` source through the Pygments lexer (plain text when Pygments is not installed)."""
    try:
        from pygments import highlight as pyg_highlight
        from pygments.formatters import TerminalFormatter
    except ImportError:
        return text
    from cnndsl.syntax.pygments_lexer import CnnLexer

    return pyg_highlight(text, CnnLexer(), TerminalFormatter())
