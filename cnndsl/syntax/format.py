"""`cnndsl fmt`: one canonical layout for `.cnn` source, driven by the Lark parse tree.

The source is parsed with the language's own grammar (tokens kept), comments are taken
from the gaps between tokens, and the tree is printed through `layout` (4-space indents,
120 columns, black-like splitting of long bracketed lists: first all items on one
indented line, else one per line). Comments stay where they were: a trailing comment
after its token, an own-line comment before the next token.

Line breaks go only where the language ignores newlines (inside brackets, before `->`)
or where the source had one between the same two tokens, so every formatted file parses
to the same AST; `format_source` checks that (spans aside) and refuses to return a text
that does not, as black does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import re
import sys
from importlib import resources

from lark import Token, Tree

from cnndsl.diagnostics import CnnError, Span
from cnndsl.syntax import layout as L
from cnndsl.syntax.parser import MAX_TREE_DEPTH

OPEN, CLOSE = {"LPAR", "LSQB"}, {"RPAR", "RSQB"}
_COMMENT = re.compile(r"#[^\r\n]*")
# rules printed with no spaces between their parts
TIGHT = {"dotted", "callee", "getattr", "kwarg", "param", "neg", "slice", "tensor_type"}
DEFINITIONS = {"block_def", "network_def"}
# operator expressions: brackets inside them are never split for width (`len(xs) == 3` stays whole)
OPERATORS = {"or_test", "and_test", "not_", "comparison", "sum", "product", "neg", "power"}
FLAT_BRACKETS = {"index", "rename"}  # `x[:, :a]`, `as ("layer" + str(i))`


class FormatError(CnnError):
    """The formatter's output would not mean what the input did (a bug in the formatter)."""


@functools.lru_cache(maxsize=1)
def _parser():
    """The language's LALR parser, keeping every token (keywords, brackets) in the tree."""
    from cnndsl.syntax import parse_tables
    from cnndsl.syntax.parser import _OPTIONS
    from cnndsl.syntax.postlex import NewlinePostLex

    grammar = resources.files("cnndsl.grammars").joinpath("cnn.lark").read_text(encoding="utf-8")
    # the table cache is keyed on the grammar text: mark this variant so it gets its own file
    grammar += "\n// cnndsl fmt: keep_all_tokens\n"
    return parse_tables.load_or_build(grammar, {**_OPTIONS, "keep_all_tokens": True}, NewlinePostLex)


@dataclasses.dataclass
class Comment:
    text: str
    line: int
    own_line: bool


def format_source(text: str, file: str = "<string>", width: int = L.WIDTH) -> str:
    """The canonical layout of `text`; raises the parser's positioned errors on bad input."""
    from cnndsl.syntax.parser import parse

    before = parse(text, file)  # positioned syntax errors, limits, the same checks as `check`
    tree = _parser().parse(text)
    # the parser bounds the tree's depth (MAX_TREE_DEPTH); the formatter recurses a few frames per level
    with _recursion_limit(MAX_TREE_DEPTH * 8 + 1000):
        out = _Formatter(text, tree, width).document()
        result = L.render(out, width)
        after = parse(result, file)
        same = _shape(before) == _shape(after)
    if not same:
        raise FormatError("the formatted text would parse differently; file left unchanged (please report this)",
                          Span(file, 1, 1))
    return result


@contextlib.contextmanager
def _recursion_limit(limit: int):
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _shape(node):
    """An AST with its spans dropped, for comparing meaning."""
    if isinstance(node, Span):
        return None
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (type(node).__name__,) + tuple(_shape(getattr(node, f.name)) for f in dataclasses.fields(node)
                                              if f.name != "file")
    if isinstance(node, (tuple, list)):
        return tuple(_shape(x) for x in node)
    if isinstance(node, dict):
        return tuple(sorted((k, _shape(v)) for k, v in node.items()))
    return node


class _Formatter:
    def __init__(self, text: str, tree: Tree, width: int = L.WIDTH):
        self.text = text
        self.width = width
        self.tree = tree
        self.tokens = sorted((t for t in tree.scan_values(lambda v: isinstance(v, Token)) if t.type != "_NL"),
                             key=lambda t: t.start_pos)
        self.leading: dict[int, list[Comment]] = {}
        self.trailing: dict[int, Comment] = {}
        self.dangling: list[Comment] = []  # after the last token
        self.flat = 0  # > 0: inside an operator expression, whose brackets are not split for width
        self.depth = 0  # brackets open around the node being laid out: newlines are free inside
        self._collect_comments()

    # ------------------------------------------------------------ comments
    def _collect_comments(self) -> None:
        import bisect

        newlines = [m.start() for m in re.finditer("\n", self.text)]
        prev_end = 0
        prev: Token | None = None
        for tok in [*self.tokens, None]:
            start = tok.start_pos if tok is not None else len(self.text)
            for m in _COMMENT.finditer(self.text, prev_end, start):
                line = bisect.bisect_left(newlines, m.start()) + 1
                line_start = self.text.rfind("\n", 0, m.start()) + 1
                own = not self.text[line_start:m.start()].strip()
                c = Comment(m.group().rstrip(), line, own)
                if not own and prev is not None:
                    self.trailing[prev.start_pos] = c
                elif tok is not None:
                    self.leading.setdefault(tok.start_pos, []).append(c)
                else:
                    self.dangling.append(c)
            if tok is not None:
                prev_end, prev = tok.end_pos, tok

    def comments_before(self, tok: Token) -> list:
        out: list = []
        for c in self.leading.get(tok.start_pos, ()):
            out += [L.Hard("keep"), L.Text(c.text, c.line, c.line), L.Hard("keep")]
        return out

    def tok(self, tok: Token, text: str | None = None, leading: bool = True) -> list:
        out = self.comments_before(tok) if leading else []
        out.append(L.Text(str(tok) if text is None else text, tok.line, tok.end_line))
        c = self.trailing.get(tok.start_pos)
        if c is not None:
            out += [L.Suffix("  " + c.text, c.line), L.Hard("weak")]
        return out

    # ------------------------------------------------------------ dispatch
    def document(self) -> list:
        items = [c for c in self.tree.children if isinstance(c, Tree)]
        out: list = []
        prev = None
        for item in items:
            if prev is not None:
                out.append(L.Hard("force" if {prev.data, item.data} & DEFINITIONS else "keep"))
            out.append(self.node(item))
            prev = item
        for c in self.dangling:
            out += [L.Hard("keep"), L.Text(c.text, c.line, c.line)]
        return out

    def node(self, child):
        if isinstance(child, Token):
            if child.type == "STRING":
                return self.tok(child, _string(str(child)))
            return self.tok(child)
        method = getattr(self, "r_" + child.data, None)
        flat = child.data in OPERATORS or child.data in FLAT_BRACKETS
        self.flat += flat
        try:
            return method(child) if method is not None else self.join(child)
        finally:
            self.flat -= flat

    @staticmethod
    def kids(tree: Tree) -> list:
        return [c for c in tree.children if c is not None and not (isinstance(c, Token) and c.type == "_NL")]

    # ------------------------------------------------------------ the generic joiner
    def join(self, tree: Tree, kids: list | None = None) -> list:
        """Children separated by single spaces; bracketed runs become breakable groups."""
        kids = self.kids(tree) if kids is None else kids
        tight = tree.data in TIGHT
        out: list = []
        i = 0
        prev = None
        while i < len(kids):
            k = kids[i]
            if isinstance(k, Token) and k.type in OPEN:
                doc, i = self.brackets(kids, i)
                if prev is not None and not tight and not (tree.data in ("call", "index", "block_def",
                                                                         "network_def", "tensor_type")):
                    out.append(L.Text(" "))
                out.append(doc)
                prev = "bracket"
                continue
            if prev is not None and not tight and not _no_space_before(k, tree.data):
                out.append(L.Text(" "))
            out.append(self.node(k))
            prev = k
            i += 1
        return out

    def brackets(self, kids: list, i: int) -> tuple[L.Group, int]:
        """kids[i] opens a bracket: -> (its group, the index after the matching close)."""
        open_tok = kids[i]
        depth, j = 0, i
        while True:
            k = kids[j]
            if isinstance(k, Token) and k.type in OPEN:
                depth += 1
            elif isinstance(k, Token) and k.type in CLOSE:
                depth -= 1
                if depth == 0:
                    break
            j += 1
        inner = kids[i + 1:j]
        if len(inner) == 1 and isinstance(inner[0], Tree) and inner[0].data == "params":
            inner = self.kids(inner[0])
        return self.bracket_group(open_tok, inner, kids[j]), j + 1

    def bracket_group(self, open_tok: Token, inner: list, close_tok: Token) -> L.Group:
        items: list[list] = [[]]
        commas: list[Token] = []
        for k in inner:
            if isinstance(k, Token) and k.type == "COMMA":
                commas.append(k)
                items.append([])
            else:
                items[-1].append(k)
        if not items[-1]:
            items.pop()
        if not items:
            return L.Group([self.tok(open_tok), self.tok(close_tok)])
        body: list = []
        self.depth += 1
        for n, item in enumerate(items):
            body.append(self.item(item))
            if n < len(commas):
                body.append(self.tok(commas[n]))
                if n + 1 < len(items):
                    body.append(L.Line())
        self.depth -= 1
        return L.Group([self.tok(open_tok), L.Indent([L.Line(soft=True), L.Group(body)]),
                        L.Line(soft=True), self.tok(close_tok)], flat_only=self.flat > 0)

    def item(self, parts: list) -> list:
        out: list = []
        for n, p in enumerate(parts):
            if n:
                out.append(L.Line())  # `expr for x in xs` of a list comprehension
            out.append(self.node(p))
        return out

    # ------------------------------------------------------------ rules with their own layout
    def r_body(self, tree: Tree) -> list:
        kids = self.kids(tree)
        lbrace, stmts, rbrace = kids[0], kids[1:-1], kids[-1]
        dangling = self.comments_before(rbrace)
        if not stmts and not dangling and lbrace.start_pos not in self.trailing:
            return [self.tok(lbrace), self.tok(rbrace)]
        inner: list = [L.Hard("none")]
        for n, s in enumerate(stmts):
            if n:
                inner.append(L.Hard("keep"))
            inner.append(self.node(s))
        inner += dangling
        return [self.tok(lbrace), L.Indent(inner), L.Hard("none"), self.tok(rbrace, leading=False)]

    def r_chain(self, tree: Tree) -> list:
        kids = self.kids(tree)
        out: list = [self.node(kids[0])]
        rest: list = []
        broken = False
        prev_end = _last_token(kids[0]).end_line
        for arrow, stage in zip(kids[1::2], kids[2::2]):
            broken |= arrow.line > prev_end or _first_token(stage).line > arrow.end_line
            rest += [L.Line(), self.tok(arrow), L.Text(" "), self.node(stage)]
            prev_end = _last_token(stage).end_line
        if not rest:
            return out
        return [L.Group(out + [L.Indent(rest)], must_break=broken)]

    def r_stage(self, tree: Tree) -> list:
        out: list = []
        for k in self.kids(tree):
            if out and not (isinstance(k, Tree) and k.data == "call_args"):
                out.append(L.Text(" "))
            out.append(self.node(k))
        return out

    def r_call_args(self, tree: Tree) -> list:
        kids = self.kids(tree)
        return [self.bracket_group(kids[0], kids[1:-1], kids[-1])]

    def r_block_def(self, tree: Tree) -> list:
        kids = self.kids(tree)
        body = kids[-1]
        header = self.join(tree, kids[:-1])
        if _flat_width(header) + 2 > self.width:  # ` {`: split the parameters first, not the inputs
            for part in header:
                if isinstance(part, L.Group):
                    part.must_break = len(part.parts) > 2
                    break
        return header + [L.Text(" "), self.node(body)]

    r_network_def = r_block_def

    def r_ternary(self, tree: Tree) -> list:
        """`a if c else b`; too long inside brackets, split before each `else`, and before its `if` too
        where `a if c` alone does not fit (black's layout)."""
        return [L.Group(self._ternary(tree))]

    def _ternary(self, tree: Tree) -> list:
        a, if_tok, cond, else_tok, b = self.kids(tree)
        if not self.depth:  # outside brackets a newline would end the statement
            out = [self.node(a), L.Text(" "), self.tok(if_tok), L.Text(" "), self.node(cond), L.Text(" "),
                   self.tok(else_tok), L.Text(" ")]
        else:
            head = [self.node(a), L.Line(), self.tok(if_tok), L.Text(" "), self.node(cond)]
            out = [L.Group(head), L.Line(), self.tok(else_tok), L.Text(" ")]
        if isinstance(b, Tree) and b.data == "ternary":  # `x if a else y if b else z`: one line per `else`
            return out + self._ternary(b)
        return out + [self.node(b)]

    def _operators(self, tree: Tree) -> list:
        """`a + b - c`, `x == 1 and y`: inside brackets, where a newline is free, a group that breaks
        before each operator (black's layout: the operators lead their lines); outside, one line."""
        kids = self.kids(tree)
        out: list = [self.node(kids[0])]
        for op, operand in zip(kids[1::2], kids[2::2]):
            out += [L.Line() if self.depth else L.Text(" "), self.node(op), L.Text(" "), self.node(operand)]
        return [L.Group(out)] if self.depth else out

    r_or_test = r_and_test = r_comparison = r_sum = r_product = _operators

    def _value(self, value) -> list:
        """A statement's value (`let x = ...`, `y = ...`) that can split: a conditional or an operator
        expression, in parentheses added only when it has to be split (the language ignores newlines
        inside them, and they do not change the meaning)."""
        self.depth += 1
        body = self.node(value)
        self.depth -= 1
        return [L.Group([L.IfBreak([L.Text("(")], []), L.Indent([L.Line(soft=True), L.Group(body)]),
                         L.Line(soft=True), L.IfBreak([L.Text(")")], [])])]

    @staticmethod
    def _splittable(value) -> bool:
        return isinstance(value, Tree) and (value.data == "ternary" or value.data in OPERATORS - {"neg", "not_"})

    def r_let_stmt(self, tree: Tree) -> list:
        """`let x = <long expression>`: parentheses around the value, added only when it has to be split."""
        kids = self.kids(tree)
        if not self._splittable(kids[-1]):
            return self.join(tree)
        return self.join(tree, kids[:-1]) + [L.Text(" ")] + self._value(kids[-1])

    def r_assign_stmt(self, tree: Tree) -> list:
        """`y = <long tensor arithmetic>` (a chain that is only its head): split like `let`."""
        kids = self.kids(tree)
        chain = kids[-1]
        head = chain.children[0] if isinstance(chain, Tree) and len(self.kids(chain)) == 1 else None
        value = self.kids(head)[0] if isinstance(head, Tree) and len(self.kids(head)) == 1 else None
        if not self._splittable(value):
            return self.join(tree)
        return self.join(tree, kids[:-1]) + [L.Text(" ")] + self._value(value)

    def r_kwarg(self, tree: Tree) -> list:
        """`stride=<long conditional>` in a call, `width=<long expression>` as a parameter default: the value
        in parentheses added only when it has to be split, indented under its name (black), so its lines
        do not read as the next arguments."""
        kids = self.kids(tree)
        if len(kids) < 3 or not self._splittable(kids[-1]):
            return self.join(tree)
        return self.join(tree, kids[:-1]) + self._value(kids[-1])

    r_param = r_kwarg

    def r_assert_stmt(self, tree: Tree) -> list:
        """`assert cond, "message"`: a long one continues after the comma (the language ignores a newline there)."""
        kids = self.kids(tree)
        if len(kids) < 4:
            return self.join(tree)
        assert_tok, cond, comma, message = kids
        return [L.Group([self.tok(assert_tok), L.Text(" "), self.node(cond), self.tok(comma),
                         L.Indent([L.Line(), self.node(message)])])]

    def r_string(self, tree: Tree) -> list:
        (tok,) = self.kids(tree)
        return self.tok(tok, _string(str(tok)))

    def r_elif_clause(self, tree: Tree) -> list:
        return self.join(tree)


def _no_space_before(k, rule: str) -> bool:
    if isinstance(k, Token):
        return k.type in ("COMMA", "COLON", "DOT") and not (k.type == "COLON" and rule == "slice")
    return False


def _first_token(node) -> Token | None:
    if isinstance(node, Token):
        return node
    for c in node.children:
        t = _first_token(c) if c is not None and not (isinstance(c, Token) and c.type == "_NL") else None
        if t is not None:
            return t
    return None


def _last_token(node) -> Token | None:
    if isinstance(node, Token):
        return node
    for c in reversed(node.children):
        t = _last_token(c) if c is not None and not (isinstance(c, Token) and c.type == "_NL") else None
        if t is not None:
            return t
    return None


def _flat_width(doc) -> int:
    """The width of the last line of `doc` printed flat (comments before it are on lines of their own)."""
    width = 0
    stack = [doc]
    while stack:
        d = stack.pop()
        if isinstance(d, L.Text):
            width += len(d.text)
        elif isinstance(d, L.Line):
            width += 0 if d.soft else 1
        elif isinstance(d, L.Hard):
            width = 0
        elif isinstance(d, L.IfBreak):
            stack.append(d.flat)
        elif not isinstance(d, L.Suffix):
            stack.extend(reversed(d.parts if isinstance(d, (L.Group, L.Indent)) else d))
    return width


def _string(s: str) -> str:
    """Double quotes, as black: `'abc'` -> `"abc"` unless the text holds a double quote."""
    if s.startswith("'") and '"' not in s:
        return '"' + s[1:-1] + '"'
    return s


__all__ = ["FormatError", "format_source"]
