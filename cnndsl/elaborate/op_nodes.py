"""Op nodes: an op call's attributes checked at their own spans (type, then the AttrSpec's
constraints), and the node made in the graph with its shape inferred, every failure a
positioned diagnostic. A mixin of `Elaborator` (it uses the elaborator's naming and builder)."""

from __future__ import annotations

from typing import Any

from cnndsl.diagnostics import (
    DuplicateDefinition,
    InvalidValue,
    LimitExceeded,
    ShapeMismatch,
    Span,
    UnknownKeyword,
    WrongArity,
    WrongType,
)
from cnndsl.elaborate.attrs import check_type
from cnndsl.elaborate.hints import unknown_attribute
from cnndsl.elaborate.values import Layer, Tensor
from cnndsl.ir.budgets import BudgetExceeded
from cnndsl.ir.builder import AttrError, complete_attrs
from cnndsl.ops.registry import ShapeError

MAX_NODES = 100_000


class OpNodes:
    def make_op(self, ctx, layer: Layer, args: tuple, kwargs: tuple, inputs: list[Tensor],
                rename: str | None, span: Span, callee_span: Span) -> Tensor:
        """An op with one output (merges, sugar); see `make_op_outputs`."""
        outs = self.make_op_outputs(ctx, layer, args, kwargs, inputs, rename, span, callee_span)
        if len(outs) != 1:
            raise WrongArity(f"{layer.name} gives {len(outs)} tensors here; bind them with 'a, b = ...'", span)
        return outs[0]

    def make_op_outputs(self, ctx, layer: Layer, args: tuple, kwargs: tuple, inputs: list[Tensor],
                        rename: str | None, span: Span, callee_span: Span, local: str | None = None,
                        merge_name: bool = False, spans: dict | None = None) -> list[Tensor]:
        opdef = layer.target
        if opdef.name == "identity" and rename is None:
            if len(inputs) != 1:
                raise WrongArity(f"identity takes one tensor, got {len(inputs)}", callee_span)
            return [inputs[0]]
        attrs = self.op_attrs(opdef, args, kwargs, span, spans)
        merge = opdef.name if (merge_name or opdef.inputs[1] is None or opdef.inputs[1] > 1) else None
        local = local or self.local_name(ctx, rename, merge, span)
        name = ".".join(ctx.scope + (local,))
        if len(self.builder.graph) >= MAX_NODES:
            raise LimitExceeded(f"the network has more than {MAX_NODES:,} nodes", span)
        if name in self.builder.graph.nodes:
            raise DuplicateDefinition(f"node name '{name}' is already used", span)
        try:
            ref = self.builder.add(opdef.name, [t.ref for t in inputs], name, span=callee_span,
                                   scope=tuple(f.label for f in ctx.chain[1:]),
                                   meta={"scope_spans": tuple(f.span for f in ctx.chain[1:])}, **attrs)
        except BudgetExceeded as err:
            raise LimitExceeded(str(err), callee_span) from None
        except ShapeError as err:
            msg = str(err) if str(err).startswith(f"{opdef.name}:") else f"{opdef.name}: {err}"
            raise ShapeMismatch(msg, callee_span) from None
        except AttrError as err:
            named = {opdef.attrs[k].name if isinstance(k, int) and k < len(opdef.attrs) else k: v
                     for k, v in (spans or {}).items()}
            raise InvalidValue(str(err), named.get(err.attr, span)) from None
        node = self.builder.graph.nodes[ref[0]]
        refs = [(node.name, i) for i in range(opdef.num_outputs(node.attrs))]
        return [Tensor(r, self.builder.graph.value_shape(r)) for r in refs]

    def op_attrs(self, opdef, args: tuple, kwargs: tuple, span: Span, spans: dict | None = None) -> dict[str, Any]:
        """The op's attributes from a call, each checked (type, then the AttrSpec's declared constraints) at
        its own argument's span (`spans`: positional index or keyword -> Span; the call's span otherwise)."""
        spans = spans or {}
        specs = opdef.attrs
        if len(args) > min(opdef.positional, len(specs)):
            allowed = min(opdef.positional, len(specs))
            raise WrongArity(f"{opdef.name} takes at most {allowed} positional argument"
                             f"{'' if allowed == 1 else 's'}, got {len(args)}", spans.get(allowed, span))
        attrs = {spec.name: v for spec, v in zip(specs, args)}
        where = {spec.name: spans.get(i, span) for i, spec in enumerate(specs[:len(args)])}
        for k, v in kwargs:
            if opdef.attr(k) is None:
                raise UnknownKeyword(unknown_attribute(opdef, k), spans.get(k, span))
            if k in attrs:
                raise WrongArity(f"{opdef.name}: '{k}' given twice", spans.get(k, span))
            attrs[k] = v
            where[k] = spans.get(k, span)
        attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in attrs.items()}
        for k, v in attrs.items():
            spec = opdef.attr(k)
            problem = check_type(spec, v)
            if problem:
                raise WrongType(f"{opdef.name}: {k} {problem}", where[k])
            problem = spec.problem(v)  # the declared constraints: a value of the right type out of bounds
            if problem:
                raise InvalidValue(f"{opdef.name}: {k} {problem}", where[k])
        try:
            return complete_attrs(opdef, attrs)
        except AttrError as err:
            raise WrongArity(str(err), span) from None
