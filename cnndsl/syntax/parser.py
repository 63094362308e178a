"""Parse `.cnn` text into the AST, translating Lark's errors into positioned diagnostics.

The LALR parser is built once per process (strict mode: no conflicts, no regex
collisions). Inputs are checked before parsing (size, UTF-8, NUL bytes) and the parse
tree's depth is checked iteratively before conversion, so hostile input gets an error,
never a RecursionError or a hang.
"""

from __future__ import annotations

import functools
from importlib import resources

from lark import Lark, Token, Tree, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from cnndsl.diagnostics import SOURCES, CnnSyntaxError, InputError, LimitExceeded, Span
from cnndsl.syntax import ast as A
from cnndsl.syntax.postlex import NestingTooDeep, NewlinePostLex

MAX_SOURCE_BYTES = 2_000_000
MAX_TREE_DEPTH = 400


_OPTIONS = {"parser": "lalr", "lexer": "basic",  # the postlexer looks one token ahead: not the contextual lexer
            "propagate_positions": True, "maybe_placeholders": True, "strict": True}


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    """The LALR parser; its tables come from `parse_tables` (a JSON cache, never a pickle)."""
    from cnndsl.syntax import parse_tables

    grammar = resources.files("cnndsl.grammars").joinpath("cnn.lark").read_text(encoding="utf-8")
    return parse_tables.load_or_build(grammar, _OPTIONS, NewlinePostLex)


# (offending token type, a terminal the parser would have accepted) -> hint
HINTS = (
    ("NAME", "_ARROW", "missing '->' between two layers on one line"),
    ("LPAR", "_ARROW", "missing '->' between two layers on one line"),
    ("EQUAL", "COMP_OP", "use '==' to compare; '=' only binds names"),
    ("_ARROW", "COMP_OP", ("'->' cannot appear in a compile-time expression; "
                           "'let' binds values, 'name = a -> b' binds tensors")),
    ("_ARROW", "_NL", ("'->' cannot appear in a compile-time expression; "
                       "'let' binds values, 'name = a -> b' binds tensors")),
    ("COLON", "_LBRACE", "blocks and networks use '{ ... }', not ':'"),
    ("$END", "_RBRACE", "missing '}'"),
)

TOKEN_WORDS = {"_NL": "end of line", "$END": "end of file", "_RBRACE": "'}'", "_LBRACE": "'{'", "_ARROW": "'->'"}


def decode_source(data: bytes, name: str) -> str:
    """Bytes to text, with a positioned error for binary or non-UTF-8 input."""
    if len(data) > MAX_SOURCE_BYTES:
        raise InputError(f"{name}: file is {len(data):,} bytes; the limit is {MAX_SOURCE_BYTES:,}")
    nul = data.find(b"\0")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise InputError(f"not valid UTF-8 text (byte 0x{data[err.start]:02x}); is this a binary file?",
                          Span(name, line, col)) from None
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        col = nul - (data.rfind(b"\n", 0, nul) + 1) + 1
        raise InputError("NUL byte in source; is this a binary file?", Span(name, line, col))
    return text


def parse(text: str, file: str = "<string>") -> A.Module:
    if len(text) > MAX_SOURCE_BYTES:
        raise InputError(f"{file}: source is {len(text):,} characters; the limit is {MAX_SOURCE_BYTES:,}")
    SOURCES.add(file, text)
    parser = _parser()
    try:
        tree = parser.parse(text)
    except NestingTooDeep as err:
        tok = err.token
        raise LimitExceeded(f"brackets nested more than {200} deep", Span(file, tok.line, tok.column)) from None
    except UnexpectedInput as err:
        raise _syntax_error(err, text, file, parser.options.postlex) from None
    _check_depth(tree, file)
    return _Converter(file).module(tree)


def _syntax_error(err: UnexpectedInput, text: str, file: str, postlex: NewlinePostLex) -> CnnSyntaxError:
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        return CnnSyntaxError(f"unexpected character {ch!r}", Span(file, err.line, err.column))
    token = getattr(err, "token", None)
    accepts = set(getattr(err, "accepts", None) or getattr(err, "expected", ()) or ())
    if isinstance(err, UnexpectedEOF) or (token is not None and token.type == "$END"):
        line, col = _end_position(text)
        tok_type = "$END"
    else:
        line, col, tok_type = err.line, err.column, token.type
    for kind, accepted, hint in HINTS:
        if tok_type == kind and accepted in accepts:
            if kind == "$END" and postlex.open_braces:
                opener = postlex.open_braces[-1]
                hint += f" for the '{{' opened at {opener.line}:{opener.column}"
                return CnnSyntaxError(hint, Span(file, opener.line, opener.column, opener.line, opener.column + 1))
            end = col + len(str(token)) if token is not None and tok_type != "$END" else None
            return CnnSyntaxError(hint, Span(file, line, col, line, end))
    if tok_type == "$END":
        return CnnSyntaxError("unexpected end of file", Span(file, line, col))
    if tok_type == "_NL":
        return CnnSyntaxError("unexpected end of line", Span(file, line, col))
    shown = TOKEN_WORDS.get(tok_type, repr(str(token)))
    return CnnSyntaxError(f"unexpected {shown}", Span(file, line, col, line, col + max(1, len(str(token)))))


def _end_position(text: str) -> tuple[int, int]:
    lines = text.splitlines() or [""]
    return len(lines), len(lines[-1]) + 1


def _check_depth(tree: Tree, file: str) -> None:
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            meta = node.meta
            raise LimitExceeded(f"expression nested more than {MAX_TREE_DEPTH} deep",
                                Span(file, getattr(meta, "line", 1), getattr(meta, "column", 1)))
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))


class _Converter:
    """Lark parse tree -> AST dataclasses (tree depth already bounded)."""

    def __init__(self, file: str):
        self.file = file

    def span(self, item) -> Span:
        if isinstance(item, Token):
            return Span(self.file, item.line, item.column, item.end_line, item.end_column)
        m = item.meta
        if getattr(m, "empty", True):
            return Span(self.file, 1, 1)
        return Span(self.file, m.line, m.column, m.end_line, m.end_column)

    # ------------------------------------------------------------ top level
    def module(self, tree: Tree) -> A.Module:
        items = []
        for item in tree.children:
            if isinstance(item, Tree):
                items.append(getattr(self, "item_" + item.data)(item))
        return A.Module(self.file, tuple(items))

    def item_import_module(self, t: Tree) -> A.ImportModule:
        dotted, alias = t.children
        return A.ImportModule(tuple(str(n) for n in dotted.children), str(alias) if alias else None, self.span(t))

    def item_import_names(self, t: Tree) -> A.ImportNames:
        dotted, *names = t.children
        return A.ImportNames(tuple(str(n) for n in dotted.children),
                             tuple((str(n), self.span(n)) for n in names), self.span(t))

    def item_let_stmt(self, t: Tree) -> A.LetStmt:
        name, value = t.children
        return A.LetStmt(str(name), self.expr(value), self.span(t), self.span(name))

    def item_block_def(self, t: Tree, is_network: bool = False) -> A.BlockDef:
        name, params, inputs, body = t.children
        return A.BlockDef(
            str(name),
            tuple(self.param(p) for p in params.children) if params else (),
            tuple(self.tensor_in(i) for i in inputs.children) if inputs else None,
            self.body(body),
            self.span(t),
            self.span(name),
            is_network,
        )

    def item_network_def(self, t: Tree) -> A.BlockDef:
        return self.item_block_def(t, is_network=True)

    def param(self, t: Tree) -> A.Param:
        name, default = t.children
        return A.Param(str(name), self.expr(default) if default is not None else None, self.span(t))

    def tensor_in(self, t: Tree) -> A.TensorIn:
        name, ttype = t.children
        if ttype is None:
            return A.TensorIn(str(name), None, None, self.span(t))
        dtype, *dims = ttype.children
        dims = [d for d in dims if d is not None]
        if not dims:  # `feats: list`: a block input holding a list of tensors
            if str(dtype) != "list":
                raise CnnSyntaxError(f"'{dtype}' needs dimensions, e.g. {dtype}[N, 3, 224, 224]; "
                                     "only 'list' stands alone", self.span(ttype))
            return A.TensorIn(str(name), "list", None, self.span(t))
        return A.TensorIn(str(name), str(dtype), tuple(self.expr(d) for d in dims), self.span(t))

    # ------------------------------------------------------------ statements
    def body(self, t: Tree) -> tuple:
        return tuple(self.stmt(s) for s in t.children if isinstance(s, Tree))

    def stmt(self, t: Tree):
        return getattr(self, "stmt_" + t.data)(t)

    def stmt_let_stmt(self, t: Tree) -> A.LetStmt:
        return self.item_let_stmt(t)

    def stmt_chain_stmt(self, t: Tree) -> A.ChainStmt:
        return A.ChainStmt(self.chain(t.children[0]), self.span(t))

    def stmt_assign_stmt(self, t: Tree) -> A.AssignStmt:
        *names, chain = t.children
        return A.AssignStmt(tuple((str(n), self.span(n)) for n in names), self.chain(chain), self.span(t))

    def stmt_return_stmt(self, t: Tree) -> A.ReturnStmt:
        return A.ReturnStmt(tuple(self.chain(c) for c in t.children), self.span(t))

    def stmt_repeat_stmt(self, t: Tree) -> A.RepeatStmt:
        count, var, body = t.children
        return A.RepeatStmt(self.expr(count), str(var) if var else None, self.body(body), self.span(t))

    def stmt_for_stmt(self, t: Tree) -> A.ForStmt:
        target, iterable, body = t.children
        return A.ForStmt(tuple(str(n) for n in target.children), self.expr(iterable), self.body(body), self.span(t))

    def stmt_if_stmt(self, t: Tree) -> A.IfStmt:
        cond, body, *rest = t.children
        otherwise = rest.pop() if rest and (rest[-1] is None or rest[-1].data == "body") else None
        branches = [(self.expr(cond), self.body(body))]
        for clause in rest:
            c, b = clause.children
            branches.append((self.expr(c), self.body(b)))
        return A.IfStmt(tuple(branches), self.body(otherwise) if otherwise is not None else None, self.span(t))

    def stmt_residual_stmt(self, t: Tree) -> A.ResidualStmt:
        cond, body, shortcut = t.children
        return A.ResidualStmt(self.expr(cond) if cond is not None else None, self.body(body),
                              self.body(shortcut) if shortcut is not None else None, self.span(t))

    def stmt_shared_stmt(self, t: Tree) -> A.SharedStmt:
        name, stage = t.children
        return A.SharedStmt(str(name), self.stage(stage), self.span(t), self.span(name))

    def stmt_assert_stmt(self, t: Tree) -> A.AssertStmt:
        cond, message = t.children
        return A.AssertStmt(self.expr(cond), self.expr(message) if message is not None else None, self.span(t))

    def stmt_branches_stmt(self, t: Tree) -> A.BranchesStmt:
        stage, body = t.children
        return A.BranchesStmt(self.stage(stage), self.body(body), self.span(t))

    # ------------------------------------------------------------ chains
    def chain(self, t: Tree) -> A.Chain:
        head, *stages = t.children
        return A.Chain(self.head(head), tuple(self.stage(s) for s in stages), self.span(t))

    def head(self, t: Tree):
        """A chain head: a layer-shaped expression (`conv(64)`, `L.Block(1)`, `x`) becomes a stage, a
        tuple of names the sources `(a, b)`, anything else a tensor expression."""
        expr, rename = t.children
        e = self.expr(expr)
        callee, args = _callee(e)
        if callee is not None:
            new_name, rename_span = self.rename(rename)
            return A.Stage(tuple(n for n, _s in callee), args, new_name, self.span(t),
                           _join(callee[0][1], callee[-1][1]), rename_span, expr=e)
        if rename is not None:
            raise CnnSyntaxError("'as' names a layer; a tensor is named with 'name = ...'", self.span(rename))
        if isinstance(e, A.TupleLit) and len(e.items) > 1 and all(isinstance(i, A.Var) for i in e.items):
            return A.Sources(tuple((i.name, i.span) for i in e.items), e.span)
        return A.TensorExpr(e, e.span)

    def rename(self, rename):
        if rename is None:
            return None, None
        if isinstance(rename.children[0], Token):
            return str(rename.children[0]), self.span(rename)
        return self.expr(rename.children[0]), self.span(rename)  # `as (expr)`: evaluated at elaboration

    def stage(self, t: Tree) -> A.Stage:
        callee, args, rename = t.children
        if rename is not None and isinstance(rename.children[0], Token):
            new_name = str(rename.children[0])
        elif rename is not None:
            new_name = self.expr(rename.children[0])  # `as (expr)`: evaluated at elaboration
        else:
            new_name = None
        return A.Stage(
            tuple(str(n) for n in callee.children),
            None if args is None else tuple(self.arg(a) for a in args.children if a is not None),
            new_name,
            self.span(t),
            self.span(callee),
            self.span(rename) if rename is not None else None,
        )

    def arg(self, t) -> A.Arg:
        if isinstance(t, Tree) and t.data == "kwarg":
            name, value = t.children
            return A.Arg(str(name), self.expr(value), self.span(t))
        return A.Arg(None, self.expr(t), self.span(t))

    # ------------------------------------------------------------ expressions
    def expr(self, t) -> A.Expr:
        if isinstance(t, Token):  # a lone terminal can stand for an inlined rule
            raise CnnSyntaxError(f"unexpected {str(t)!r}", self.span(t))
        return getattr(self, "e_" + t.data)(t)

    def e_number(self, t: Tree) -> A.Num:
        text = str(t.children[0])
        value = float(text) if any(c in text for c in ".eE") else int(text)
        return A.Num(value, self.span(t))

    def e_string(self, t: Tree) -> A.Str:
        return A.Str(str(t.children[0])[1:-1], self.span(t))

    def e_var(self, t: Tree) -> A.Var:
        return A.Var(str(t.children[0]), self.span(t))

    def e_true(self, t: Tree) -> A.Const:
        return A.Const(True, self.span(t))

    def e_false(self, t: Tree) -> A.Const:
        return A.Const(False, self.span(t))

    def e_none(self, t: Tree) -> A.Const:
        return A.Const(None, self.span(t))

    def e_ternary(self, t: Tree) -> A.Ternary:
        then, cond, otherwise = t.children
        return A.Ternary(self.expr(cond), self.expr(then), self.expr(otherwise), self.span(t))

    def e_or_test(self, t: Tree) -> A.BoolOp:
        return A.BoolOp("or", tuple(self.expr(c) for c in t.children), self.span(t))

    def e_and_test(self, t: Tree) -> A.BoolOp:
        return A.BoolOp("and", tuple(self.expr(c) for c in t.children), self.span(t))

    def e_not_(self, t: Tree) -> A.UnOp:
        return A.UnOp("not", self.expr(t.children[0]), self.span(t))

    def e_neg(self, t: Tree) -> A.UnOp:
        return A.UnOp("-", self.expr(t.children[1]), self.span(t))

    def e_comparison(self, t: Tree) -> A.Compare:
        operands = tuple(self.expr(c) for c in t.children[0::2])
        ops = tuple(" ".join(str(tok) for tok in c.children) for c in t.children[1::2])
        return A.Compare(ops, operands, self.span(t))

    def _binop(self, t: Tree) -> A.BinOp:
        operands = tuple(self.expr(c) for c in t.children[0::2])
        ops = tuple(str(c) for c in t.children[1::2])
        return A.BinOp(ops, operands, self.span(t))

    e_sum = _binop
    e_product = _binop

    def e_power(self, t: Tree) -> A.Pow:
        base, _op, exponent = t.children
        return A.Pow(self.expr(base), self.expr(exponent), self.span(t))

    def e_call(self, t: Tree) -> A.Call:
        func, *args = t.children
        return A.Call(self.expr(func), tuple(self.arg(a) for a in args if a is not None), self.span(t))

    def e_index(self, t: Tree) -> A.Index:
        obj, *subs = t.children
        items = tuple(self.subscript(s) for s in subs)
        return A.Index(self.expr(obj), items[0] if len(items) == 1 else items, self.span(t))

    def subscript(self, t):
        if isinstance(t, Tree) and t.data == "slice":
            start, stop, step = (self.expr(c) if c is not None else None for c in t.children)
            return A.Slice(start, stop, step, self.span(t))
        return self.expr(t)

    def e_slice(self, t: Tree):
        raise CnnSyntaxError("a slice 'a:b' is only allowed inside '[...]'", self.span(t))

    def e_listcomp(self, t: Tree) -> A.ListComp:
        elt, comp = t.children
        target, iterable, cond = comp.children
        return A.ListComp(self.expr(elt), tuple(str(n) for n in target.children), self.expr(iterable),
                          self.expr(cond) if cond is not None else None, self.span(t))

    def e_getattr(self, t: Tree) -> A.GetAttr:
        obj, name = t.children
        return A.GetAttr(self.expr(obj), str(name), self.span(t))

    def e_tuple(self, t: Tree) -> A.TupleLit:
        return A.TupleLit(tuple(self.expr(c) for c in t.children if c is not None), self.span(t))

    def e_list(self, t: Tree) -> A.ListLit:
        return A.ListLit(tuple(self.expr(c) for c in t.children if c is not None), self.span(t))

    def e_head(self, t: Tree):  # pragma: no cover - heads are converted by `head`
        raise CnnSyntaxError("unexpected chain", self.span(t))

    def e_kwarg(self, t: Tree):
        raise CnnSyntaxError("keyword arguments are only allowed inside a call", self.span(t))


def _callee(e) -> tuple[list | None, tuple | None]:
    """((name, span) parts, args) when `e` is shaped like a stage: `name`, `a.b`, `name(args)`, `a.b(args)`."""
    args = None
    if isinstance(e, A.Call):
        args, e = e.args, e.func
        if isinstance(e, A.Call):
            return None, None
    parts = []
    while isinstance(e, A.GetAttr):
        parts.append((e.name, e.span))
        e = e.obj
    if not isinstance(e, A.Var):
        return None, None
    parts.append((e.name, e.span))
    return parts[::-1], args


def _join(a: Span, b: Span) -> Span:
    return Span(a.file, a.line, a.col, b.end_line, b.end_col)
