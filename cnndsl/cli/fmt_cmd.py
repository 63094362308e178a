"""`cnndsl fmt`: rewrite `.cnn` files in the one canonical layout (as black does for Python)."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from pathlib import Path

from cnndsl.diagnostics import CnnError, InputError, render

HELP = "format .cnn files in place in the canonical layout (--check: only report)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="a .cnn file, a directory (every .cnn below it), or - (standard input to standard output)")
    p.add_argument("--check", action="store_true",
                   help="change nothing; list the files that would be reformatted and exit 1 if there are any")
    p.add_argument("--diff", action="store_true", help="change nothing; print what would change as a unified diff")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")


def _expand(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        path = Path(name)
        if name != "-" and path.is_dir():
            found = sorted(str(p) for p in path.rglob("*.cnn") if p.is_file() and not p.is_symlink())
            out += found
        else:
            out.append(name)
    return out


def _read(name: str) -> str:
    from cnndsl.syntax.parser import decode_source

    if name == "-":
        return decode_source(sys.stdin.buffer.read(), "<stdin>")
    path = Path(name)
    if not path.is_file():
        raise InputError(f"{name}: no such file" if not path.exists() else f"{name}: not a regular file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {name}: {err.strerror or err}") from None
    return decode_source(data, name)


def _write(name: str, text: str) -> None:
    from cnndsl.output import write_file

    mode = os.stat(name).st_mode & 0o7777
    write_file(name, text, force=True)  # the user's own source, rewritten atomically (never through a link)
    os.chmod(name, mode)


def run(args: argparse.Namespace) -> int:
    from cnndsl.syntax.format import format_source

    files = _expand(args.files)
    if not files:
        raise InputError("no .cnn files found in " + ", ".join(args.files))
    changed: list[str] = []
    unchanged = errors = 0
    for name in files:
        try:
            text = _read(name)
            result = format_source(text, "<stdin>" if name == "-" else name)
        except CnnError as err:
            print(render(err), file=sys.stderr)
            errors += 1
            continue
        if name == "-" and not (args.check or args.diff):
            sys.stdout.write(result)
            continue
        if result == text:
            unchanged += 1
            continue
        changed.append(name)
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), result.splitlines(True),
                                                       f"{name}\t(original)", f"{name}\t(formatted)"))
        if args.check or args.diff:
            if not args.quiet:
                print(f"would reformat {name}", file=sys.stderr)
            continue
        try:
            _write(name, result)
        except CnnError as err:
            print(render(err), file=sys.stderr)
            errors += 1
            changed.pop()
            continue
        if not args.quiet:
            print(f"reformatted {name}", file=sys.stderr)
    if not args.quiet and (len(files) > 1 or args.check or errors):
        verb = "would be reformatted" if args.check or args.diff else "reformatted"
        parts = []
        if changed:
            parts.append(f"{_count(len(changed))} {verb}")
        if unchanged:
            parts.append(f"{_count(unchanged)} {'would be left' if args.check or args.diff else 'left'} unchanged")
        if errors:
            parts.append(f"{_count(errors)} failed to format")
        if parts:
            print(", ".join(parts) + ".", file=sys.stderr)
    if errors:
        return 2
    return 1 if args.check and changed else 0


def _count(n: int) -> str:
    return f"{n} file" + ("" if n == 1 else "s")
