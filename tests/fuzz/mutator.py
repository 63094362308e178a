"""Mutants of the library's own `.cnn` files.

A mutant applies one to three token- or line-level edits to a library file: a number
replaced by a hostile one (zero, negative, huge, non-finite, fractional), a name by another
name of the file or an op, a token deleted or duplicated, a line deleted, duplicated or
swapped with another, a random token inserted, the file truncated. Real networks are where
users start from, so their near-misses are the inputs that matter most.
"""

from __future__ import annotations

import functools
import random
import re
from pathlib import Path

from cnndsl.ops.registry import REGISTRY

TOKEN = re.compile(r'\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z_][A-Za-z0-9_]*|"[^"\n]*"|->|\*\*|[=!<>]=|\S')
NUMBERS = ["0", "-1", "2**63", "10**9", "1e309", "0.5", "1e-300", "3", "100000", "-(2**31)", "7"]
INSERTS = ["(", ")", "[", "]", "{", "}", ",", "->", "=", "*", "none", "true", "relu", "repeat", "as", ":", "..",
           "-", "residual", "\n"]


@functools.lru_cache(maxsize=1)
def library_files() -> tuple[tuple[str, str], ...]:
    """(path, text) of every library file that defines a network, in a stable order (the shared
    modules under std/ are reached through the networks that import them)."""
    from cnndsl.elaborate.modules import library_index

    paths = sorted({str(e.path) for e in library_index().values()})
    return tuple((p, Path(p).read_text(encoding="utf-8")) for p in paths)


def mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 3)):
        text = _one(text, rng)
    return text


def _one(text: str, rng: random.Random) -> str:
    tokens = list(TOKEN.finditer(text))
    lines = text.split("\n")
    kind = rng.choice(["number", "number", "name", "delete", "duplicate", "line_delete", "line_dup", "line_swap",
                       "insert", "truncate"])
    if kind == "number":
        nums = [m for m in tokens if m.group()[0].isdigit()]
        if nums:
            m = rng.choice(nums)
            return text[:m.start()] + rng.choice(NUMBERS) + text[m.end():]
    if kind == "name":
        names = [m for m in tokens if m.group()[0].isalpha() or m.group()[0] == "_"]
        if names:
            m = rng.choice(names)
            pool = [n.group() for n in names] + sorted(REGISTRY)
            return text[:m.start()] + rng.choice(pool) + text[m.end():]
    if kind in ("delete", "duplicate") and tokens:
        m = rng.choice(tokens)
        return text[:m.start()] + (m.group() * 2 if kind == "duplicate" else "") + text[m.end():]
    if kind == "insert" and tokens:
        m = rng.choice(tokens)
        return text[:m.start()] + rng.choice(INSERTS) + " " + text[m.start():]
    if kind == "line_delete" and len(lines) > 1:
        del lines[rng.randrange(len(lines))]
        return "\n".join(lines)
    if kind == "line_dup" and lines:
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
        return "\n".join(lines)
    if kind == "line_swap" and len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines)
    if kind == "truncate" and text:
        return text[: rng.randrange(len(text))]
    return text


def mutant(seed: int) -> tuple[str, str]:
    """(the library file it came from, the mutated text) for `seed`."""
    rng = random.Random(seed)
    path, text = rng.choice(library_files())
    return path, mutate(text, rng)


__all__ = ["library_files", "mutant", "mutate"]
