"""Newline bookkeeping between the lexer and the LALR parser.

Newlines terminate statements, except inside () and [], after `->` `,` `{`, and
before `else` `elif` `shortcut` `->`. One is inserted before `}` and at the end.
"""

from __future__ import annotations

from lark import Token
from lark.lark import PostLex

OPENERS, CLOSERS = {"LPAR", "LSQB"}, {"RPAR", "RSQB"}
NO_NL_AFTER = {"_ARROW", "COMMA", "_LBRACE", "_NL"}
NO_NL_BEFORE = {"ELSE", "ELIF", "SHORTCUT", "_ARROW", "AS"}
MAX_NESTING = 200


class NestingTooDeep(Exception):
    def __init__(self, token: Token):
        super().__init__("nesting too deep")
        self.token = token


class NewlinePostLex(PostLex):
    always_accept = ("_NL",)

    def __init__(self) -> None:
        self.open_braces: list[Token] = []

    def process(self, stream):
        depth, prev, pending = 0, None, None
        self.open_braces = []
        for tok in stream:
            if tok.type == "_NL":
                if depth == 0 and prev is not None and prev.type not in NO_NL_AFTER:
                    pending = tok
                continue
            if pending is not None:
                if tok.type not in NO_NL_BEFORE:
                    yield pending
                    prev = pending
                pending = None
            if tok.type == "_RBRACE" and prev is not None and prev.type not in ("_NL", "_LBRACE"):
                prev = Token.new_borrow_pos("_NL", "\n", tok)
                yield prev
            depth += tok.type in OPENERS
            depth -= tok.type in CLOSERS
            if tok.type == "_LBRACE":
                self.open_braces.append(tok)
            elif tok.type == "_RBRACE" and self.open_braces:
                self.open_braces.pop()
            if depth > MAX_NESTING or len(self.open_braces) > MAX_NESTING:
                raise NestingTooDeep(tok)
            yield tok
            prev = tok
        if prev is not None and prev.type != "_NL":
            yield Token.new_borrow_pos("_NL", "\n", prev)
