"""The parser's LALR tables, cached between runs — as JSON, never as a pickle.

Building the tables from the grammar costs about 0.3 s per process; loading them about
0.03 s. Lark's own `cache=` option stores a pickle, and loading a pickle runs whatever code
it names, so anyone who could write the cache file would run code at the next
`cnndsl check`. cnndsl keeps its own cache instead:

- The tables are Lark's `memo_serialize` data (plain dicts, lists, strings and numbers),
  written as JSON with integer keys and tuples tagged. Loading builds nothing but Lark's
  own `Rule` / `TerminalDef` records.
- The file lives in a per-user folder, `$XDG_CACHE_HOME/cnndsl` (else `~/.cache/cnndsl`),
  that cnndsl creates with mode 0700 and uses only while it is a real directory (not a
  link) owned by this user that no one else can write; the table file must be a regular
  file owned by this user, writable by no one else.
- Its name carries the SHA-256 of the grammar, Lark's version and this format; a second
  file beside it holds the SHA-256 of the JSON, so a truncated or altered table file is
  ignored and rebuilt.

Anything unusual (unsafe folder, missing, corrupt or mismatched file) falls back to
building the tables from the grammar: the cache is an optimisation, never a requirement.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from lark import Lark

FORMAT = "cnndsl-lark-tables/1"
_ITEMS, _TUPLE = "\x00items", "\x00tuple"


# ------------------------------------------------------------------ JSON with int keys and tuples
def _encode(obj: Any) -> Any:
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: _encode(v) for k, v in obj.items()}
        return {_ITEMS: [[_encode(k), _encode(v)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {_TUPLE: [_encode(x) for x in obj]}
    if isinstance(obj, list):
        return [_encode(x) for x in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"parse tables hold a {type(obj).__name__}, which the JSON cache cannot store")


def _hook(d: dict) -> Any:
    if _ITEMS in d:
        return {(tuple(k) if isinstance(k, list) else k): v for k, v in d[_ITEMS]}
    if _TUPLE in d:
        return tuple(d[_TUPLE])
    return d


def dumps(parser: Lark) -> bytes:
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    data, memo = parser.memo_serialize([TerminalDef, Rule])
    data["options"] = {k: v for k, v in data["options"].items() if k != "postlex"}  # an object: given on load
    return json.dumps(_encode({"format": FORMAT, "data": data, "memo": memo}), separators=(",", ":")).encode()


def loads(blob: bytes, postlex) -> Lark:
    obj = json.loads(blob, object_hook=_hook)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ValueError("not a cnndsl parse-table file")
    return Lark._load_from_dict(obj["data"], obj["memo"], postlex=postlex)


# ------------------------------------------------------------------ the private folder
def cache_dir() -> Path | None:
    """This user's cnndsl cache folder, created 0700; None when it is missing and cannot be made, or unsafe."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "cnndsl"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = folder.lstat()
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and st.st_mode & 0o077:
            os.chmod(folder, 0o700)  # our own folder (lstat: not a link), opened up by hand: close it first
            st = folder.lstat()
    except OSError:
        return None
    return folder if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077 else None


def _private(st: os.stat_result) -> bool:
    """A regular file owned by this user that no one else can write."""
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read_private(path: Path) -> bytes | None:
    """The bytes of a regular file owned by this user and writable by no one else (no link followed)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        if not _private(os.fstat(fd)):
            return None
        with os.fdopen(fd, "rb") as f:
            fd = -1
            return f.read()
    finally:
        if fd >= 0:
            os.close(fd)


def _write_private(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def table_paths(grammar: str, folder: Path) -> tuple[Path, Path]:
    import lark

    key = hashlib.sha256(f"{FORMAT}\n{lark.__version__}\n{grammar}".encode()).hexdigest()[:24]
    table = folder / f"cnn-grammar-{key}.json"
    return table, table.with_suffix(".sha256")


# ------------------------------------------------------------------ the one entry point
def load_or_build(grammar: str, options: dict, postlex_class) -> Lark:
    """The parser for `grammar`, from the cache when a trusted, intact copy is there, else built (and cached)."""
    folder = cache_dir()
    if folder is not None:
        table, digest_file = table_paths(grammar, folder)
        blob, digest = _read_private(table), _read_private(digest_file)
        if blob is not None and digest is not None and hashlib.sha256(blob).hexdigest().encode() == digest.strip():
            try:
                return loads(blob, postlex_class())
            except (ValueError, KeyError, TypeError, IndexError):
                pass  # a table file of another Lark version or format: rebuild it
    parser = Lark(grammar, postlex=postlex_class(), **options)
    if folder is not None:
        try:
            blob = dumps(parser)
            _write_private(table, blob)
            _write_private(digest_file, hashlib.sha256(blob).hexdigest().encode() + b"\n")
        except (OSError, TypeError):
            pass  # a read-only or full cache folder: run without the cache
    return parser


__all__ = ["FORMAT", "cache_dir", "dumps", "load_or_build", "loads", "table_paths"]
