"""Statements that unroll or choose at compile time: `repeat`, `for`, `if`, and the sugar
`residual` and `branches` (which add no scope: named tensors and one merge node). A mixin of
`Elaborator` (it uses the elaborator's statement runner, flow and op making)."""

from __future__ import annotations

from cnndsl.diagnostics import InvalidValue, LimitExceeded, WrongArity, WrongType
from cnndsl.elaborate.evaluator import truthy
from cnndsl.elaborate.values import Layer, type_name
from cnndsl.ops.registry import REGISTRY
from cnndsl.syntax import ast as A

MAX_REPEAT = 10_000  # iterations of one repeat or for loop


class ControlFlow:
    def s_RepeatStmt(self, ctx, s: A.RepeatStmt) -> None:
        n = self.evaluator(ctx, ctx.module).eval(s.count)
        if not isinstance(n, int) or isinstance(n, bool):
            raise WrongType(f"repeat needs an int count, got {type_name(n)}", s.count.span)
        if n < 0:
            raise InvalidValue(f"repeat count is negative ({n})", s.count.span)
        if n > MAX_REPEAT:
            raise LimitExceeded(f"repeat {n:,} is more than the limit of {MAX_REPEAT:,}", s.count.span)
        for i in range(n):
            if s.var:
                self.bind_local(ctx, s.var, i, s.span)
            self.run_stmts(ctx, s.body)

    def s_ForStmt(self, ctx, s: A.ForStmt) -> None:
        seq = self.evaluator(ctx, ctx.module).eval(s.iterable)
        if not isinstance(seq, (list, tuple)):
            raise WrongType(f"for needs a list or tuple, got {type_name(seq)}", s.iterable.span)
        if len(seq) > MAX_REPEAT:
            raise LimitExceeded(f"for over {len(seq):,} items is more than the limit of {MAX_REPEAT:,}", s.span)
        for item in seq:
            if len(s.targets) == 1:
                self.bind_local(ctx, s.targets[0], item, s.span)
            else:
                if not isinstance(item, (list, tuple)) or len(item) != len(s.targets):
                    raise WrongArity(f"cannot unpack {item!r} into {len(s.targets)} names", s.iterable.span)
                for name, v in zip(s.targets, item):
                    self.bind_local(ctx, name, v, s.span)
            self.run_stmts(ctx, s.body)

    def s_IfStmt(self, ctx, s: A.IfStmt) -> None:
        ev = self.evaluator(ctx, ctx.module)
        for cond, body in s.branches:
            if truthy(ev.eval(cond), cond.span):
                self.run_stmts(ctx, body)
                return
        if s.otherwise is not None:
            self.run_stmts(ctx, s.otherwise)

    def s_ResidualStmt(self, ctx, s: A.ResidualStmt) -> None:
        x = self.need_flow(ctx, s.span)
        enabled = s.cond is None or truthy(self.evaluator(ctx, ctx.module).eval(s.cond), s.cond.span)
        self.run_stmts(ctx, s.body)
        if not enabled:
            return
        y = self.need_flow(ctx, s.span)
        ctx.flow = x
        if s.shortcut is not None:
            self.run_stmts(ctx, s.shortcut)
        sc = ctx.flow
        ctx.flow = self.make_op(ctx, Layer("op", "add", REGISTRY["add"]), (), (), [y, sc], None, s.span, s.span)

    def s_BranchesStmt(self, ctx, s: A.BranchesStmt) -> None:
        x = self.need_flow(ctx, s.span)
        outs = []
        for stmt in s.body:
            if not isinstance(stmt, A.ChainStmt):
                raise WrongType("each line of 'branches' must be a chain (one branch per line)", stmt.span)
            ctx.flow = x
            self.s_ChainStmt(ctx, stmt)
            outs.append(ctx.flow)
        ctx.flow = self.apply_stage(ctx, s.merge, outs)[0]
