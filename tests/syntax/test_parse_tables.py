"""The grammar cache runs no code (issue 17 item 1): JSON tables, a private folder, a content hash."""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
from importlib import resources
from pathlib import Path

import pytest
from lark import Lark

from cnndsl.syntax import parse_tables
from cnndsl.syntax.parser import _OPTIONS
from cnndsl.syntax.postlex import NewlinePostLex

GRAMMAR = resources.files("cnndsl.grammars").joinpath("cnn.lark").read_text(encoding="utf-8")
LIBRARY = sorted(Path(str(resources.files("cnndsl.architectures"))).rglob("*.cnn"))


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "cnndsl"


def build():
    return parse_tables.load_or_build(GRAMMAR, _OPTIONS, NewlinePostLex)


def test_tables_are_cached_privately_and_parse_like_a_fresh_parser(cache_home):
    first = build()
    table, digest = parse_tables.table_paths(GRAMMAR, cache_home)
    assert stat.S_IMODE(cache_home.stat().st_mode) == 0o700
    assert stat.S_IMODE(table.stat().st_mode) == 0o600
    assert digest.read_bytes().strip() == hashlib.sha256(table.read_bytes()).hexdigest().encode()
    assert not table.read_bytes().startswith(b"\x80")  # not a pickle
    cached = build()
    fresh = Lark(GRAMMAR, postlex=NewlinePostLex(), **_OPTIONS)
    for path in LIBRARY:
        text = path.read_text(encoding="utf-8")
        assert cached.parse(text) == fresh.parse(text) == first.parse(text), path


def test_a_planted_pickle_never_runs(cache_home, tmp_path):
    build()
    table, digest = parse_tables.table_paths(GRAMMAR, cache_home)

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "PWNED"), "w"))

    blob = pickle.dumps(Payload())
    table.write_bytes(blob)
    digest.write_bytes(hashlib.sha256(blob).hexdigest().encode() + b"\n")  # even with a matching hash
    parser = build()
    assert not (tmp_path / "PWNED").exists()
    assert parser.parse("let x = 1\n") is not None
    assert not table.read_bytes().startswith(b"\x80")  # rebuilt


def test_altered_tables_are_ignored(cache_home):
    build()
    table, _digest = parse_tables.table_paths(GRAMMAR, cache_home)
    data = bytearray(table.read_bytes())
    data[len(data) // 2] ^= 1
    table.write_bytes(bytes(data))
    build().parse("let x = 1\n")
    assert hashlib.sha256(table.read_bytes()).hexdigest().encode() == _digest.read_bytes().strip()


def test_unsafe_folders_and_files_are_not_used(cache_home, monkeypatch):
    build()
    table, _digest = parse_tables.table_paths(GRAMMAR, cache_home)
    os.chmod(table, 0o666)  # writable by others: not trusted
    assert parse_tables._read_private(table) is None
    os.chmod(table, 0o600)
    assert parse_tables._read_private(table) is not None
    os.chmod(cache_home, 0o777)  # our own folder opened up by hand: closed again before use
    assert parse_tables.cache_dir() == cache_home and stat.S_IMODE(cache_home.stat().st_mode) == 0o700
    real_uid = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: real_uid + 1)  # the folder and file now belong to someone else
    assert parse_tables.cache_dir() is None
    assert parse_tables._read_private(table) is None
    build().parse("let x = 1\n")  # no cache: the tables are built


def test_a_symlinked_table_is_not_followed(cache_home, tmp_path):
    build()
    table, _digest = parse_tables.table_paths(GRAMMAR, cache_home)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes(table.read_bytes())
    table.unlink()
    table.symlink_to(elsewhere)
    assert parse_tables._read_private(table) is None
