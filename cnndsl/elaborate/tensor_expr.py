"""Tensor arithmetic in expressions: `x * 0.17 + y`, `-x`, `x / s`, `sqrt(x)`, `x[:, :a]`, `sum(xs)`.

The evaluator computes numbers itself and hands every operation with a tensor operand to
`TensorOps`, which makes one registry op node per operation through the elaborator (so
names, shapes, positions and the block-instance chain work as for any stage). Nodes made
here are named after their op, like merges (`sub`, `mul_scalar_1`), and take no position index.

Operators map to ops: tensor OP tensor -> `add`, `sub`, `mul`, `div`, `pow` (the shape rules
say what broadcasts); tensor OP number -> `add_scalar` (`+`, and `-` with the number negated),
`mul_scalar` (`*`), `div(scalar=...)`, `pow(scalar=...)`; number OP tensor -> the same with
`reverse=true` where order matters; `-x` -> `neg`.
"""

from __future__ import annotations

from typing import Any

from cnndsl.diagnostics import InvalidValue, Span, WrongType
from cnndsl.elaborate.values import Builtin, Layer, Tensor, type_name
from cnndsl.ops.registry import REGISTRY

_TENSOR_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow"}
# builtins that, given tensors, apply the op of the same name (`sum` of a list adds its tensors)
TENSOR_BUILTINS = {"sqrt": "sqrt", "log": "log", "exp": "exp", "abs": "abs", "sum": "sum", "max": "max"}


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class TensorOps:
    """Makes op nodes for tensor expressions in one block instance (`ctx`)."""

    def __init__(self, elaborator, ctx):
        self.elab = elaborator
        self.ctx = ctx

    def apply(self, op: str, inputs: list[Tensor], args: tuple, kwargs: tuple, span: Span,
              rename: str | None = None) -> Any:
        layer = Layer("op", op, REGISTRY[op])
        outs = self.elab.make_op_outputs(self.ctx, layer, args, kwargs, inputs, rename, span, span,
                                         merge_name=rename is None)
        return outs[0] if len(outs) == 1 else outs

    def binary(self, op: str, a: Any, b: Any, span: Span) -> Tensor:
        if op not in _TENSOR_OPS:
            raise WrongType(f"'{op}' is not defined on tensors (use + - * / **)", span)
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            return self.apply(_TENSOR_OPS[op], [a, b], (), (), span)
        t, c, reverse = (a, b, False) if isinstance(a, Tensor) else (b, a, True)
        if not _is_num(c):
            raise WrongType(f"'{op}' needs tensors or numbers, got {type_name(a)} and {type_name(b)}", span)
        c = float(c)
        if op == "*":
            return self.apply("mul_scalar", [t], (c,), (), span)
        if op == "+":
            return self.apply("add_scalar", [t], (c,), (), span)
        if op == "-" and not reverse:
            return self.apply("add_scalar", [t], (-c,), (), span)
        if op == "/" and not reverse and c == 0.0:
            raise InvalidValue("division by zero", span)
        return self.apply(_TENSOR_OPS[op], [t], (), (("scalar", c), ("reverse", reverse)), span)

    def index(self, t: Tensor, subs: list, spans: list[Span], span: Span) -> Tensor:
        """`x[:, a:b]`: one `slice` node per axis whose slice is not `:`; an int index is refused."""
        if len(subs) > len(t.shape):
            raise WrongType(f"{len(subs)} subscripts for a rank-{len(t.shape)} tensor", span)
        for axis, (sub, sp) in enumerate(zip(subs, spans)):
            if not isinstance(sub, tuple):
                raise WrongType(f"index a tensor with slices (x[:, {sub}:{sub}+1] keeps the axis); "
                                f"an int index would drop axis {axis}", sp)
            if sub == (None, None, None):
                continue
            if axis == 0:
                raise WrongType("the batch axis cannot be sliced", sp)
            start, stop, step = sub
            kwargs = (("axis", axis), ("start", 0 if start is None else start), ("stop", stop),
                      ("step", 1 if step is None else step))
            t = self.apply("slice", [t], (), kwargs, span)
        return t

    def call(self, fn: Any, args: tuple, kwargs: tuple, span: Span, rename: str | None = None) -> Any:
        """`sqrt(x)`, `clamp(x, 0, 6)`, `concat(xs, axis=1)`, `sum(xs)`: an op applied to the first argument."""
        first, rest = args[0], args[1:]
        inputs = [first] if isinstance(first, Tensor) else list(first)
        if isinstance(fn, Builtin):
            op = TENSOR_BUILTINS.get(fn.name)
            if fn.name == "sum" and not isinstance(first, Tensor):
                op = "add"  # sum of a list of tensors, as Python's sum
            if op is None:
                raise WrongType(f"{fn.name}() does not take tensors", span)
            return self.apply(op, inputs, rest, kwargs, span, rename)
        merged = {**dict(fn.kwargs), **dict(kwargs)}
        return self.apply(fn.name, inputs, fn.args + rest, tuple(merged.items()), span, rename)
