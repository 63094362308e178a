"""Positioned errors: every user mistake becomes a `CnnError` with a `Span`.

Rendering follows the compiler convention `file:line:col: error: message`, then the
source line, a caret run under the span, and the block-instance chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    file: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Frame:
    """One block instance on the chain: `Bottleneck(c=64, stride=1)` called at `span`."""

    label: str
    span: Span | None


class CnnError(Exception):
    """Base class for every error a user can cause. Carries a span and instance chain."""

    kind = "error"

    def __init__(self, message: str, span: Span | None = None, chain: tuple[Frame, ...] = ()):
        super().__init__(message)
        self.message = message
        self.span = span
        self.chain = tuple(chain)

    def with_chain(self, chain: tuple[Frame, ...]) -> CnnError:
        if not self.chain:
            self.chain = tuple(chain)
        return self


class CnnSyntaxError(CnnError):
    pass


class UnknownName(CnnError):
    pass


class UnknownOp(UnknownName):
    pass


class UnknownKeyword(CnnError):
    pass


class WrongArity(CnnError):
    pass


class WrongType(CnnError):
    pass


class InvalidValue(CnnError):
    pass


class DuplicateDefinition(CnnError):
    pass


class Shadowing(CnnError):
    pass


class UnboundTensor(CnnError):
    pass


class ImportNotFound(CnnError):
    pass


class ImportCycle(CnnError):
    pass


class RecursionTooDeep(CnnError):
    pass


class LimitExceeded(CnnError):
    pass


class ShapeMismatch(CnnError):
    pass


class AssertionFailed(CnnError):
    """An `assert cond, "message"` in a `.cnn` file whose condition is false."""


class InputError(CnnError):
    """Bad file input: not found, a directory, not UTF-8, binary, too large."""


class MultipleErrors(CnnError):
    """Several independent errors, reported together sorted by position."""

    def __init__(self, errors: list[CnnError]):
        errors = sorted(errors, key=_sort_key)
        super().__init__(errors[0].message, errors[0].span, errors[0].chain)
        self.errors = errors


def _sort_key(err: CnnError) -> tuple:
    s = err.span
    return (s.file, s.line, s.col) if s else ("", 0, 0)


@dataclass
class SourceCache:
    """Source text by file name, so errors can quote the offending line."""

    texts: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, text: str) -> None:
        self.texts[name] = text

    def line(self, name: str, line: int) -> str | None:
        text = self.texts.get(name)
        if text is None:
            return None
        lines = text.splitlines()
        if 1 <= line <= len(lines):
            return lines[line - 1]
        return None


SOURCES = SourceCache()


def did_you_mean(name: str, candidates) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def render(err: CnnError, sources: SourceCache = SOURCES) -> str:
    errors = err.errors if isinstance(err, MultipleErrors) else [err]
    return "\n".join(_render_one(e, sources) for e in errors)


def _render_one(err: CnnError, sources: SourceCache) -> str:
    span = err.span
    if span is None:
        return f"cnndsl: error: {err.message}"
    out = [f"{span}: error: {err.message}"]
    src = sources.line(span.file, span.line)
    if src is not None:
        src = src.expandtabs(1)
        col = span.col
        width = 1
        if span.end_line == span.line and span.end_col and span.end_col > span.col:
            width = span.end_col - span.col
        if len(src) > MAX_QUOTE:  # quote a window around the spot, not a megabyte line
            start = max(0, col - 1 - MAX_QUOTE // 2)
            src = ("..." if start else "") + src[start:start + MAX_QUOTE] + "..."
            col = col - start + (3 if start else 0)
        width = max(1, min(width, len(src) - col + 1))
        out.append("    " + src)
        out.append("    " + " " * (col - 1) + "^" * width)
    frames = list(reversed(err.chain))
    if len(frames) > 2 * MAX_FRAMES:
        skipped = len(frames) - 2 * MAX_FRAMES
        frames = frames[:MAX_FRAMES] + [Frame(f"... {skipped} more block instances ...", None)] + frames[-MAX_FRAMES:]
    for frame in frames:
        if frame.span is None:
            out.append(f"  {frame.label}")
        else:
            out.append(f"  in {frame.label} at {frame.span}")
    return "\n".join(out)


MAX_QUOTE = 120
MAX_FRAMES = 4
