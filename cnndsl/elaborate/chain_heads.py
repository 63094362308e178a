"""Chain heads that are not a layer on the flow: a call on tensors (`sqrt(x)`, `concat(xs)`,
`clamp(x, 0, 1) as c`), a value holding tensors, and the checks on lists of tensors. A mixin of
`Elaborator` (it uses the elaborator's lookup, naming and node making)."""

from __future__ import annotations

from typing import Any

from cnndsl.diagnostics import Span, UnknownName, UnknownOp, WrongArity, WrongType
from cnndsl.elaborate.tensor_expr import TensorOps
from cnndsl.elaborate.values import Builtin, Layer, Tensor, type_name
from cnndsl.ops.registry import REGISTRY
from cnndsl.syntax import ast as A


def tensor_list(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and bool(v) and all(isinstance(t, Tensor) for t in v)


def is_tensors(v: Any) -> bool:
    return isinstance(v, Tensor) or tensor_list(v)


class ChainHeads:
    def check_fan_in(self, ctx, name: str, n: int, stage: A.Stage) -> None:
        """A list of tensors fed to an op that takes fewer: say which list, and how to pick or merge."""
        layer = self.resolve_callee(ctx, stage)
        if isinstance(layer, Layer) and layer.kind == "op" and layer.target.inputs[1] is not None \
                and n > layer.target.inputs[1]:
            raise WrongArity(f"'{name}' holds {n} tensors and {layer.name} takes {layer.target.inputs[1]}; "
                             f"pick one ({name}[0]) or merge them (concat, add)", stage.callee_span)

    def head_call(self, ctx, head: A.Stage) -> list[Tensor] | None:
        """The tensors of a head written as a call on tensors (`sqrt(x)`, `concat(xs)`, `clamp(x, 0, 1)
        as c`); None when the head is a layer applied to the flow (`conv(64)`)."""
        if head.args is None or head.expr is None:
            return None
        try:
            layer = self.lookup(ctx, ctx.module, head.callee[0], head.callee_span) if len(head.callee) == 1 else None
        except UnknownName as err:  # `Conv2d(8)`: a head written as a call names a layer, or a tensor function
            raise UnknownOp(err.message.replace("unknown name", "unknown layer or block", 1), err.span) from None
        if isinstance(layer, Builtin) and layer.name not in REGISTRY:  # `len(xs)`: not a tensor; says so
            return self.tensor_value(self.evaluator(ctx, ctx.module).eval(head.expr), head.span)
        if not isinstance(layer, (Builtin, Layer)) or isinstance(layer, Layer) and layer.kind != "op":
            return None
        if not head.args or head.args[0].name is not None:
            return None  # `max(axes=1)`, `conv(64)`: the op applied to the flow
        ev = self.evaluator(ctx, ctx.module)
        first = ev.eval(head.args[0].value)
        if not is_tensors(first):
            return None
        args, kwargs = ev.eval_args(head.args[1:])
        out = TensorOps(self, ctx).call(layer, (first,) + args, kwargs, head.span, self.rename(ctx, head))
        return [out] if isinstance(out, Tensor) else list(out)

    def tensor_value(self, value: Any, span: Span) -> list[Tensor]:
        if isinstance(value, Tensor):
            return [value]
        if tensor_list(value):
            return list(value)
        raise WrongType(f"a chain starts from a tensor or a list of tensors, got {type_name(value)}", span)

    def gives_list(self, ctx, chain: A.Chain) -> bool:
        """Whether a chain without stages is a name or expression holding a list of tensors (`ys = feats`)."""
        head = chain.head
        if chain.stages:
            return False
        if isinstance(head, A.Stage) and head.args is None and len(head.callee) == 1:
            return tensor_list(ctx.env.get(head.callee[0]))
        return False
