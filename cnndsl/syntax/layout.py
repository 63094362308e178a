"""A small Wadler/Prettier-style layout engine for the `.cnn` formatter (`cnndsl fmt`).

A document is built from `Text` (with the source line it came from, for blank-line
decisions), `Group` (printed flat when it fits the width, else broken), `Indent`, `Line`
(a space or nothing when flat, a newline when broken), `Hard` (always a newline) and
`Suffix` (a trailing comment, written just before the next newline). Newlines are written
lazily so that two line breaks in a row merge into one; whether one blank line is kept
there is the break's `blank` mode:

- "weak"  a newline with no blank line, replaced by any other break that follows;
- "none"  never a blank line here (after `{`, before `}`);
- "keep"  one blank line when the source had at least one between the two texts;
- "force" always one blank line (around top-level definitions).
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 120
INDENT = 4


@dataclass
class Text:
    text: str
    line: int | None = None  # the source line where it starts (None: layout text, e.g. a space)
    end_line: int | None = None


@dataclass
class Suffix:
    text: str
    line: int | None = None


@dataclass
class Line:
    soft: bool = False  # flat: "" when soft, " " otherwise


@dataclass
class Hard:
    blank: str = "weak"


@dataclass
class IfBreak:
    """`broken` when the enclosing group breaks, else `flat` (e.g. parentheses only when split)."""

    broken: list
    flat: list


@dataclass
class Indent:
    parts: list


@dataclass
class Group:
    parts: list
    must_break: bool = False
    flat_only: bool = False  # never split by width (a comment inside still splits it)


def text(s: str, token=None) -> Text:
    if token is None:
        return Text(s)
    return Text(s, token.line, token.end_line)


def propagate_breaks(doc) -> None:
    """A group must break when a hard line has text before and after it inside the group."""
    _scan(doc)


def _scan(doc) -> tuple[bool, bool, bool]:
    """-> (has text, a hard line comes after the first text, text comes after such a hard line)."""
    if isinstance(doc, (Text,)):
        return bool(doc.text), False, False
    if isinstance(doc, Hard):
        return False, False, False
    if isinstance(doc, (Line, Suffix)):
        return False, False, False
    parts = doc.parts if isinstance(doc, (Group, Indent)) else doc.broken if isinstance(doc, IfBreak) else doc
    seen_text = hard_after_text = text_after_hard = False
    for part in parts:
        if isinstance(part, Hard):
            if seen_text:
                hard_after_text = True
            continue
        has_text, inner_hard, inner_text_after = _scan(part)
        if has_text and hard_after_text:
            text_after_hard = True
        if inner_text_after:
            text_after_hard = True
        if has_text:
            seen_text = True
        if inner_hard:
            hard_after_text = True
    if isinstance(doc, Group) and text_after_hard:
        doc.must_break = True
    return seen_text, hard_after_text, text_after_hard


def render(doc, width: int = WIDTH) -> str:
    propagate_breaks(doc)
    return _Printer(width).run(doc)


class _Printer:
    def __init__(self, width: int):
        self.width = width
        self.out: list[str] = []
        self.col = 0
        self.pending: tuple[int, str] | None = (0, "none")  # (indent, blank mode) of a newline not yet written
        self.suffixes: list[str] = []
        self.last_line: int | None = None  # source line where the last written text ended
        self.started = False

    # ------------------------------------------------------------ output
    def newline(self, indent: int, blank: str) -> None:
        """Ask for a line break; one already pending merges with it (the latest indent wins)."""
        if self.pending is None or self.pending[1] == "weak":
            self.pending = (indent, blank)
            return
        old = self.pending[1]
        if blank == "weak":
            merged = old
        elif "none" in (old, blank):
            merged = "none"
        elif "force" in (old, blank):
            merged = "force"
        else:
            merged = "keep"
        self.pending = (indent, merged)

    def write(self, t: Text) -> None:
        if not t.text or (self.pending is not None and t.text.isspace()):
            return
        if self.pending is not None:
            indent, blank = self.pending
            self.pending = None
            if self.started:
                self.flush_suffixes()
                keep = blank == "force" or (blank == "keep" and t.line is not None and self.last_line is not None
                                            and t.line - self.last_line > 1)
                self.out.append("\n\n" if keep else "\n")
            self.out.append(" " * indent)
            self.col = indent
        self.out.append(t.text)
        self.col += len(t.text)
        self.started = True
        if t.end_line is not None:
            self.last_line = t.end_line

    def flush_suffixes(self) -> None:
        for s in self.suffixes:
            self.out.append(s)
        self.suffixes.clear()

    # ------------------------------------------------------------ the layout loop
    def run(self, doc) -> str:
        stack: list[tuple[int, bool, object]] = [(0, False, doc)]  # (indent, flat, doc), top is last
        while stack:
            indent, flat, d = stack.pop()
            if isinstance(d, Text):
                self.write(d)
            elif isinstance(d, Suffix):
                self.suffixes.append(d.text)
                if d.line is not None:
                    self.last_line = d.line
            elif isinstance(d, Hard):
                self.newline(indent, d.blank)
            elif isinstance(d, Line):
                if flat:
                    self.write(Text("" if d.soft else " "))
                else:
                    self.newline(indent, "weak")
            elif isinstance(d, Indent):
                stack.extend((indent + INDENT, flat, p) for p in reversed(d.parts))
            elif isinstance(d, IfBreak):
                stack.append((indent, flat, d.flat if flat else d.broken))
            elif isinstance(d, Group):
                fits = flat or (not d.must_break and (d.flat_only or self.fits(d, indent, stack)))
                stack.extend((indent, fits, p) for p in reversed(d.parts))
            else:  # a list
                stack.extend((indent, flat, p) for p in reversed(d))
        self.flush_suffixes()
        return "".join(self.out).rstrip() + "\n" if self.started else ""

    def fits(self, group: Group, indent: int, rest: list) -> bool:
        col = self.pending[0] if self.pending is not None else self.col
        remaining = self.width - col
        todo: list[tuple[bool, object]] = [(True, group)]
        rest_index = len(rest)
        while remaining >= 0:
            if not todo:
                if rest_index == 0:
                    return True
                rest_index -= 1
                _, flat, d = rest[rest_index]
                todo.append((flat, d))
                continue
            flat, d = todo.pop()
            if isinstance(d, Text):
                remaining -= len(d.text)
            elif isinstance(d, Hard):
                return True
            elif isinstance(d, Line):
                if not flat:
                    return True
                remaining -= 0 if d.soft else 1
            elif isinstance(d, Suffix):
                remaining -= len(d.text)  # as black: a trailing comment counts towards the width
            elif isinstance(d, Group):
                todo.extend(((flat or d.flat_only) and not d.must_break, p) for p in reversed(d.parts))
            elif isinstance(d, Indent):
                todo.extend((flat, p) for p in reversed(d.parts))
            elif isinstance(d, IfBreak):
                todo.append((flat, d.flat if flat else d.broken))
            else:
                todo.extend((flat, p) for p in reversed(d))
        return False
