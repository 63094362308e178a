"""A Pygments lexer for `.cnn` source, registered as the `cnn` lexer through the
`pygments.lexers` entry point (so `pygmentize -l cnn`, Sphinx/MkDocs code blocks and
`cnndsl show` highlight `.cnn` files). Keywords follow grammars/cnn.lark; names of
registered ops (`conv`, `bn`, `relu`, ...) are shown as builtins.
"""

from __future__ import annotations

import functools
from typing import ClassVar

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

KEYWORDS = ("import", "from", "as", "let", "residual", "shortcut", "branches", "repeat", "for", "in", "if", "elif",
            "else", "return", "shared", "assert")
OPERATOR_WORDS = ("and", "or", "not")
CONSTANTS = ("true", "false", "none")
DTYPES = ("f32", "f16", "bf16", "f64", "i8", "i32", "i64", "u8", "list")


@functools.lru_cache(maxsize=1)
def _op_names() -> frozenset[str]:
    try:
        from cnndsl.ops.registry import all_ops
    except ImportError:  # the lexer alone, without cnndsl's op registry
        return frozenset()
    return frozenset(all_ops())


class CnnLexer(RegexLexer):
    """`.cnn` network descriptions (cnndsl)."""

    name = "cnndsl"
    aliases: ClassVar[list[str]] = ["cnn", "cnndsl"]
    filenames: ClassVar[list[str]] = ["*.cnn"]
    mimetypes: ClassVar[list[str]] = ["text/x-cnndsl"]
    url = "https://github.com/cnndsl/cnndsl"

    tokens: ClassVar[dict] = {
        "root": [
            (r"[ \t\f]+", Whitespace),
            (r"\r?\n", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r"(block|network)(\s+)([A-Za-z_][A-Za-z0-9_]*)", bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (r'"[^"\n]*"', String.Double),
            (r"'[^'\n]*'", String.Single),
            (r"\d+\.\d+([eE][+-]?\d+)?|\d+[eE][+-]?\d+", Number.Float),
            (r"\d+", Number.Integer),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (words(OPERATOR_WORDS, suffix=r"\b"), Operator.Word),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(DTYPES, suffix=r"(?=\s*\[|\s*[,)])"), Keyword.Type),
            (r"[A-Za-z_][A-Za-z0-9_]*(?=\s*\()", Name.Function),
            (r"[A-Za-z_][A-Za-z0-9_]*", Name),
            (r"->", Operator),
            (r"\*\*|//|==|!=|<=|>=|[-+*/%<>=]", Operator),
            (r"[()\[\]{},.:]", Punctuation),
        ],
    }

    def get_tokens_unprocessed(self, text, stack=("root",)):
        ops = _op_names()
        for index, token, value in super().get_tokens_unprocessed(text, stack):
            if token in (Name, Name.Function) and value in ops:
                yield index, Name.Builtin, value
            else:
                yield index, token, value


__all__ = ["CnnLexer"]
