"""Line layout of the generated module: what `ruff format` (its defaults: 88 columns) leaves as it is.

The generator writes one statement per line; this pass breaks the lines that are too long
the way ruff's formatter does, and in a form it keeps (its "magic trailing comma"):

- a call, subscript or signature that does not fit is split at its outermost bracket, one
  argument per line, each followed by a comma (arguments that still do not fit are split
  the same way, recursively);
- an assignment whose value is a conditional expression (`Block(...) if flag else
  nn.Identity()`) is parenthesized, `if` and `else` on their own lines;
- a `# file.cnn:LINE` span comment that would push its line past the limit moves to its
  own line just above (`source_map` in codegen.py reads both placements).

Strings in generated code never contain brackets that matter here (`repr` of numbers and
short literals), but the scanner skips string literals anyway.
"""

from __future__ import annotations

import keyword
import re

WIDTH = 88
INDENT = "    "
_SPAN = re.compile(r"^(?P<code>.*\S)  (?P<comment># \S+:\d+)$")


def _scan(text: str):
    """Yield (index, char, depth before the char) outside string literals."""
    depth = 0
    quote = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        else:
            if ch in ")]}":
                depth -= 1
            yield i, ch, depth
            if ch in "([{":
                depth += 1
        i += 1


def _top_level_split(inner: str) -> list[str]:
    """`inner` split at its depth-0 commas (a trailing empty part dropped)."""
    parts, start = [], 0
    for i, ch, depth in _scan(inner):
        if ch == "," and depth == 0:
            parts.append(inner[start:i].strip())
            start = i + 1
    last = inner[start:].strip()
    if last:
        parts.append(last)
    return parts


def _outer_bracket(code: str) -> tuple[int, int] | None:
    """(open, close) of the first depth-0 bracket pair with content whose close ends the code
    but for a short tail (`)`, ` -> None:`, `:`, `,`)."""
    opens: dict[int, int] = {}
    pairs = []
    for i, ch, depth in _scan(code):
        if ch in "([{" and depth == 0:
            opens[0] = i
        elif ch in ")]}" and depth == 0 and 0 in opens:
            pairs.append((opens.pop(0), i))
    for start, end in pairs:
        tail = code[end + 1:]
        if code[start + 1:end].strip() and re.fullmatch(r"(\s*->\s*[\w\[\]., |]+)?:?,?", tail):
            return start, end
    return None


def _conditional(code: str) -> tuple[str, str, str, str] | None:
    """`target = value if cond else other` at depth 0 -> its four parts."""
    m = re.match(r"^(\s*[\w.\[\]]+ = )(.*)$", code)
    if not m:
        return None
    rhs = m.group(2)
    cuts = [i for i, ch, depth in _scan(rhs) if depth == 0 and ch == " "]
    if_at = next((i for i in cuts if rhs.startswith(" if ", i)), None)
    else_at = next((i for i in cuts if rhs.startswith(" else ", i)), None)
    if if_at is None or else_at is None or else_at < if_at:
        return None
    return m.group(1), rhs[:if_at], rhs[if_at + 4:else_at], rhs[else_at + 6:]


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" "))]


def break_line(line: str) -> list[str]:
    """`line` as lines of at most WIDTH columns where a split is possible (ruff format's layout)."""
    if line.lstrip().startswith(("#", '"', "'")) or (len(line) <= WIDTH and not _has_magic_comma(line)):
        return [line]  # comments and docstrings are not reflowed by ruff either
    indent = _indent_of(line)
    cond = _conditional(line)
    if cond is not None:
        head, value, test, other = cond
        inner = indent + INDENT
        one = f"{inner}{value.strip()} if {test.strip()} else {other.strip()}"
        if len(one) <= WIDTH:
            return [head + "(", one, indent + ")"]
        return ([head + "("] + break_line(inner + value.strip())
                + [f"{inner}if {test.strip()}", f"{inner}else {other.strip()}", indent + ")"])
    stripped = line.strip()
    if stripped.startswith("return ") and len(_top_level_split(stripped[7:])) > 1:
        return _exploded(indent + "return (", _top_level_split(stripped[7:]), indent, ")")
    pair = _outer_bracket(line)
    if pair is None:
        return [line]
    start, end = pair
    head = line[: start + 1]
    out = [head]
    targets = re.match(r"^(\s*)([\w ,]+?) = (.*)$", head)
    if len(head) > WIDTH and targets and "," in targets.group(2):  # `a, b, ... = call(`: the targets in parens
        out = _exploded(indent + "(", _top_level_split(targets.group(2)), indent, f") = {targets.group(3)}")
    content = line[start + 1:end].strip()
    hugged = indent + INDENT + content
    if len(out) == 1 and len(hugged) <= WIDTH and not _has_magic_comma(line[: end + 1]):
        return [head, hugged, indent + line[end:]]  # the arguments fit on one line of their own
    for arg in _top_level_split(content):
        out += break_line(indent + INDENT + arg + ",")
    out.append(indent + line[end:])
    return out


def _has_magic_comma(code: str) -> bool:
    """Some bracket of `code` ends with a trailing comma that ruff keeps exploded (`f(a,)`, `[a,]`,
    `(a, b,)`; not a 1-tuple `(a,)`): ruff never joins such a bracket onto one line. One pass over `code`."""
    opens: list[int] = []
    last = ""  # the last character that is not a space, string literals included
    quote = None
    i = 0
    while i < len(code):
        ch = code[i]
        if quote:
            if ch == "\\":
                i += 2
                last = "x"
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            opens.append(i)
        elif ch in ")]}":
            start = opens.pop() if opens else 0
            if last == ",":
                before = code[:start].rstrip()
                word = re.search(r"\w+$", before)
                is_call = ch == ")" and bool(before) and (before[-1] in ")]" or (
                    word is not None and not keyword.iskeyword(word.group(0))))
                if ch != ")" or is_call or len(_top_level_split(code[start + 1:i])) > 1:
                    return True
        if not ch.isspace():
            last = ch
        i += 1
    return False


def _join(group: list[str]) -> str:
    """A statement written over several lines as one line (ruff's first try)."""
    parts = [group[0].rstrip()]
    for part in group[1:]:
        part = part.strip()
        if not (parts[-1].endswith(("(", "[", "{")) or part.startswith((")", "]", "}"))):
            parts.append(" ")
        parts.append(part)
    return "".join(parts)


def _exploded(first: str, items: list[str], indent: str, last: str) -> list[str]:
    out = [first]
    for item in items:
        out += break_line(indent + INDENT + item + ",")
    return out + [indent + last]


def _statements(lines: list[str]):
    """Group physical lines into statements (a bracket left open continues the statement)."""
    group: list[str] = []
    depth = 0
    for line in lines:
        group.append(line)
        if not line.lstrip().startswith(("#", '"', "'")):
            m = _SPAN.match(line)
            for _i, ch, _d in _scan(m.group("code") if m else line):
                depth += 1 if ch in "([{" else -1 if ch in ")]}" else 0
        if depth <= 0:
            yield group
            group, depth = [], 0
    if group:
        yield group


def _conditional_block(group: list[str]) -> list[str] | None:
    """`x = Call(\n...\n) if flag else nn.Identity()` (a value over several lines) -> ruff's parenthesized form."""
    m = re.match(r"^(\s*)\) if (\w+) else (.+)$", group[-1])
    head = re.match(r"^(\s*[\w.\[\]]+ = )(.*)$", group[0])
    if not m or not head or len(group) < 2:
        return None
    indent = _indent_of(group[0])
    inner = indent + INDENT
    body = [inner + head.group(2)] + [INDENT + ln for ln in group[1:-1]] + [inner + ")"]
    return [head.group(1) + "("] + body + [f"{inner}if {m.group(2)}", f"{inner}else {m.group(3)}", indent + ")"]


def double_quotes(text: str) -> str:
    """Single-quoted literals (from `repr`) written with double quotes, as ruff does, where no escape changes."""
    import io
    import tokenize

    lines = text.split("\n")
    edits: list[tuple[int, int, int, str]] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type != tokenize.STRING or tok.start[0] != tok.end[0] or not tok.string.startswith("'"):
                continue
            body = tok.string[1:-1]
            if tok.string.startswith("'" * 3) or '"' in body or "\\" in body:
                continue
            edits.append((tok.start[0] - 1, tok.start[1], tok.end[1], '"' + body + '"'))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return text
    for row, start, end, new in reversed(edits):
        lines[row] = lines[row][:start] + new + lines[row][end:]
    return "\n".join(lines)


def layout(text: str) -> str:
    """Every statement of `text` laid out as ruff format would leave it (see the module docstring)."""
    out: list[str] = []
    for group in _statements(double_quotes(text).split("\n")):
        last = _SPAN.match(group[-1]) if len(group) > 1 else None
        if last:  # a span comment after the statement's last line stays after the statement
            group = group[:-1] + [last.group("code")]
        if len(group) > 1 and any("#" in ln for ln in group):  # comments inside: kept where they are
            for line in _conditional_block(group) or group:
                out += break_line(line)
            continue
        line = _join(group) + (f"  {last.group('comment')}" if last else "")
        m = _SPAN.match(line)
        if m and len(line) > WIDTH:
            out.append(_indent_of(line) + m.group("comment"))
            line = m.group("code")
        out += break_line(line)
    return "\n".join(out)


__all__ = ["WIDTH", "break_line", "double_quotes", "layout"]
