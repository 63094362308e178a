"""Hostile input: a clear, positioned error within seconds, never a traceback or a hang."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

NET_HEAD = "network N() (x: f32[N, 3, 8, 8]) {\n"


def run_check(path, timeout=120):
    """The subprocess timeout is the hang guard; no timing is asserted (a busy CI machine
    would make such an assertion flaky)."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "cnndsl.cli.main", "check", str(path)],
                          check=False, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - start


CASES = {
    "binary": (bytes(range(256)) * 20, "not valid UTF-8"),
    "nul": (b"network N() {\0}\n", "NUL byte"),
    "nested_parens": ((NET_HEAD + "let a = " + "(" * 200_000 + "1" + ")" * 200_000 + "\n}\n").encode(),
                      "nested more than 200 deep"),
    "long_sum": ((NET_HEAD + "let a = " + "+".join(["1"] * 100_000) + "\nrelu\n}\n").encode(), None),
    "deep_unary": ((NET_HEAD + "let a = " + "-" * 100_000 + "1\nrelu\n}\n").encode(), "nested more than 400"),
    "huge_repeat": ((NET_HEAD + "repeat 10**12 {\nrelu\n}\n}\n").encode(), "more than the limit"),
    "nested_repeat": ((NET_HEAD + "repeat 10000 {\nrepeat 10000 {\nlet a = 1\n}\n}\nrelu\n}\n").encode(),
                      "more than 2,000,000 steps"),
    "unbounded_recursion": (b"block R() {\n  relu\n  R()\n}\n" + NET_HEAD.encode() + b"R()\n}\n",
                            "nested more than 64 deep"),
    "huge_power": ((NET_HEAD + "let a = 2**10**10\nrelu\n}\n").encode(), "too large"),
    "huge_file": (b"# " + b"x" * 3_000_000 + b"\n", "the limit is 2,000,000"),
    "node_bomb": ((NET_HEAD + "repeat 10000 {\nrepeat 10000 {\nrelu\n}\n}\n}\n").encode(), "nodes"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_gets_clean_error(tmp_path, name):
    data, words = CASES[name]
    path = tmp_path / f"{name}.cnn"
    path.write_bytes(data)
    proc, _elapsed = run_check(path)
    assert "Traceback" not in proc.stderr
    if words is None:
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode == 2
        assert words in proc.stderr, proc.stderr[:500]
        assert "error:" in proc.stderr


def test_directory_and_missing_file(tmp_path):
    proc, _ = run_check(tmp_path)
    assert proc.returncode == 2 and "is a directory" in proc.stderr and "Traceback" not in proc.stderr
    proc, _ = run_check(tmp_path / "nope.cnn")
    assert proc.returncode == 2 and "no such file" in proc.stderr
