"""The AST: frozen dataclasses, each with the `Span` of the text it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from cnndsl.diagnostics import Span


# ---------------------------------------------------------------- expressions
@dataclass(frozen=True)
class Num:
    value: int | float
    span: Span


@dataclass(frozen=True)
class Str:
    value: str
    span: Span


@dataclass(frozen=True)
class Const:
    value: Any  # True, False, None
    span: Span


@dataclass(frozen=True)
class Var:
    name: str
    span: Span


@dataclass(frozen=True)
class BinOp:
    """A left-associative run `a op1 b op2 c ...`, kept flat so long sums need no recursion."""

    ops: tuple[str, ...]
    operands: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Pow:
    base: Expr
    exponent: Expr
    span: Span


@dataclass(frozen=True)
class UnOp:
    op: str  # "-" or "not"
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Compare:
    ops: tuple[str, ...]
    operands: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" / "or"
    values: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Ternary:
    cond: Expr
    then: Expr
    otherwise: Expr
    span: Span


@dataclass(frozen=True)
class Arg:
    name: str | None
    value: Expr
    span: Span


@dataclass(frozen=True)
class Call:
    func: Expr
    args: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True)
class Slice:
    """`start:stop:step` inside a subscript; a missing part is None."""

    start: Expr | None
    stop: Expr | None
    step: Expr | None
    span: Span


@dataclass(frozen=True)
class Index:
    """`obj[i]`, `obj[a:b]`, or `obj[:, :a]` (several subscripts: a tuple, tensors only)."""

    obj: Expr
    index: Any  # an Expr, a Slice, or a tuple of them
    span: Span


@dataclass(frozen=True)
class GetAttr:
    obj: Expr
    name: str
    span: Span


@dataclass(frozen=True)
class TupleLit:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class ListLit:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class ListComp:
    """`[elt for target in iterable if cond]`."""

    elt: Expr
    targets: tuple[str, ...]
    iterable: Expr
    cond: Expr | None
    span: Span


Expr = Union[  # noqa: UP007 (a runtime alias; `X | Y` of classes needs 3.10 at import time anyway)
    Num, Str, Const, Var, BinOp, Pow, UnOp, Compare, BoolOp, Ternary, Call, Index, GetAttr, TupleLit, ListLit,
    ListComp
]


# ---------------------------------------------------------------- chains
@dataclass(frozen=True)
class Stage:
    """`callee(args) as rename`; `args` is None when written without parentheses."""

    callee: tuple[str, ...]
    args: tuple[Arg, ...] | None
    rename: Any  # a name, an expression (`as ("layer" + str(i))`), or None
    span: Span
    callee_span: Span
    rename_span: Span | None = None
    expr: Any = None  # a chain head: the expression it was parsed from (`sqrt(x)` is a call, not a layer)

    @property
    def dotted(self) -> str:
        return ".".join(self.callee)


@dataclass(frozen=True)
class Sources:
    names: tuple[tuple[str, Span], ...]
    span: Span


@dataclass(frozen=True)
class TensorExpr:
    """A chain head that is tensor arithmetic or indexing (`x * 0.17 + y`, `feats[0]`, `x[:, :a]`)."""

    expr: Expr
    span: Span


@dataclass(frozen=True)
class Chain:
    head: Stage | Sources | TensorExpr
    stages: tuple[Stage, ...]
    span: Span


# ---------------------------------------------------------------- statements
@dataclass(frozen=True)
class ChainStmt:
    chain: Chain
    span: Span


@dataclass(frozen=True)
class AssignStmt:
    names: tuple[tuple[str, Span], ...]
    chain: Chain
    span: Span


@dataclass(frozen=True)
class ReturnStmt:
    chains: tuple[Chain, ...]
    span: Span


@dataclass(frozen=True)
class SharedStmt:
    """`shared NAME = stage`: one layer or block instance whose every application uses one parameter set."""

    name: str
    stage: Stage
    span: Span
    name_span: Span


@dataclass(frozen=True)
class AssertStmt:
    """`assert cond, "message"`: checked at elaboration; failing, an error at the condition."""

    cond: Expr
    message: Expr | None
    span: Span


@dataclass(frozen=True)
class LetStmt:
    name: str
    value: Expr
    span: Span
    name_span: Span


@dataclass(frozen=True)
class RepeatStmt:
    count: Expr
    var: str | None
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class ForStmt:
    targets: tuple[str, ...]
    iterable: Expr
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class IfStmt:
    branches: tuple[tuple[Expr, tuple[Stmt, ...]], ...]
    otherwise: tuple[Stmt, ...] | None
    span: Span


@dataclass(frozen=True)
class ResidualStmt:
    cond: Expr | None
    body: tuple[Stmt, ...]
    shortcut: tuple[Stmt, ...] | None
    span: Span


@dataclass(frozen=True)
class BranchesStmt:
    merge: Stage
    body: tuple[Stmt, ...]
    span: Span


Stmt = Union[  # noqa: UP007
    ChainStmt, AssignStmt, ReturnStmt, LetStmt, RepeatStmt, ForStmt, IfStmt, ResidualStmt, BranchesStmt,
    SharedStmt, AssertStmt
]


# ---------------------------------------------------------------- top level
@dataclass(frozen=True)
class Param:
    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True)
class TensorIn:
    name: str
    dtype: str | None
    dims: tuple[Expr, ...] | None
    span: Span


@dataclass(frozen=True)
class BlockDef:
    name: str
    params: tuple[Param, ...]
    inputs: tuple[TensorIn, ...] | None
    body: tuple[Stmt, ...]
    span: Span
    name_span: Span
    is_network: bool = False


@dataclass(frozen=True)
class ImportModule:
    path: tuple[str, ...]
    alias: str | None
    span: Span


@dataclass(frozen=True)
class ImportNames:
    path: tuple[str, ...]
    names: tuple[tuple[str, Span], ...]
    span: Span


@dataclass(frozen=True)
class Module:
    file: str
    items: tuple[Any, ...]
