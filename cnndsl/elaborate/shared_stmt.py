"""Shared modules (`shared NAME = stage`, docs/language.md): declaring an instance, and each
application of it as its own nodes sharing one parameter set (the IR rule in docs/internals.md).
A mixin of `Elaborator` (it uses the elaborator's callee resolution, op and block making)."""

from __future__ import annotations

from cnndsl.diagnostics import DuplicateDefinition, InvalidValue, ShapeMismatch, WrongArity, WrongType
from cnndsl.elaborate.hints import arg_spans
from cnndsl.elaborate.values import NAME_RE, Shared, Tensor
from cnndsl.ops.registry import REGISTRY
from cnndsl.syntax import ast as A


class SharedModules:
    def s_SharedStmt(self, ctx, s: A.SharedStmt) -> None:
        """`shared NAME = stage`: bind an instance; nothing is made until it is applied (`x -> NAME`)."""
        layer = self.resolve_callee(ctx, s.stage)
        if isinstance(layer, Shared):
            raise WrongType(f"'{s.stage.dotted}' is already a shared instance; apply it by name instead",
                            s.stage.callee_span)
        if s.stage.rename is not None:
            raise WrongType(f"a shared instance is named by 'shared {s.name} = ...', not by 'as'",
                            s.stage.rename_span or s.stage.span)
        if layer.kind == "block" and layer.target.is_network:
            raise WrongType(f"'{layer.name}' is a network; networks cannot be used as blocks", s.stage.callee_span)
        args, kwargs = ((), ()) if s.stage.args is None else self.evaluator(ctx, ctx.module).eval_args(s.stage.args)
        bound = self.partial(layer, args, kwargs, s.stage.span)
        if layer.kind == "op":  # its attributes, checked now
            self.op_attrs(layer.target, bound.args, bound.kwargs, s.stage.span, arg_spans(s.stage, len(layer.args)))
        if not NAME_RE.match(s.name) or "@" in s.name:
            raise InvalidValue(f"'{s.name}' cannot name a shared instance", s.name_span)
        if s.name in ctx.used_names:
            raise DuplicateDefinition(f"name '{s.name}' is already used in this block (at {ctx.used_names[s.name]})",
                                      s.name_span)
        ctx.used_names[s.name] = s.name_span
        self.bind_local(ctx, s.name, Shared(s.name, bound, ".".join(ctx.scope + (s.name,)), ctx.scope),
                        s.name_span)

    def apply_shared(self, ctx, sh: Shared, stage: A.Stage, inputs: list[Tensor]) -> list[Tensor]:
        """One application of a shared instance: its own nodes (`NAME` for the first, `NAME@k` after), each
        recording the instance and application in `meta["shared"]`; later applications point at the first's
        nodes for their parameters (`meta["params_of"]`, docs/internals.md)."""
        if stage.args is not None:
            raise WrongArity(f"'{sh.name}' is a shared instance with its arguments bound where it was declared; "
                             f"apply it as '-> {sh.name}'", stage.span)
        if stage.rename is not None:
            raise WrongType(f"an application of the shared instance '{sh.name}' cannot be renamed",
                            stage.rename_span or stage.span)
        if sh.scope != ctx.scope:
            raise WrongType(f"the shared instance '{sh.name}' belongs to {'.'.join(sh.scope) or 'the network'}; "
                            "it can only be applied there", stage.callee_span)
        k = sh.applications
        local = sh.name if k == 0 else f"{sh.name}@{k}"
        if k:
            ctx.used_names[local] = stage.span
        sh.applications += 1
        graph = self.builder.graph
        before = len(graph.nodes)
        layer = sh.layer
        if layer.kind == "op":
            outs = self.make_op_outputs(ctx, layer, layer.args, layer.kwargs, inputs, None, stage.span,
                                        stage.callee_span, local=local)
        else:
            outs = self.call_block(ctx, layer, layer.args, layer.kwargs, inputs, None, stage, local=local)
        prefix = ".".join(ctx.scope + (local,))
        made = list(graph.nodes)[before:]
        seen = set()
        for name in made:
            node = graph.nodes[name]
            rel = name[len(prefix):]
            seen.add(rel)
            node.meta["shared"] = (sh.path, k)
            opdef = REGISTRY[node.op]
            sig = (node.op, tuple(sorted((p, tuple(s)) for p, (s, _t) in opdef.params(
                node.attrs, [graph.value_shape(r) for r in node.inputs]).items())))
            if k == 0:
                sh.first[rel] = sig
                continue
            node.meta["params_of"] = sh.path + rel
            want = sh.first.get(rel)
            if want != sig:
                what = (f"makes '{sh.path + rel}' ({node.op}), which its first application did not" if want is None
                        else f"gives '{sh.path + rel}' parameters {dict(sig[1]) or 'none'} where its first "
                             f"application had {dict(want[1]) or 'none'}" if want[0] == sig[0]
                        else f"makes '{sh.path + rel}' a {sig[0]} where its first application made a {want[0]}")
                raise ShapeMismatch(f"application {k + 1} of the shared instance '{sh.name}' {what}; "
                                    "shared applications must match, since they use one parameter set", stage.span)
        missing = sorted(set(sh.first) - seen)
        if k and missing:
            raise ShapeMismatch(f"application {k + 1} of the shared instance '{sh.name}' does not make "
                                f"'{sh.path + missing[0]}', which its first application made", stage.span)
        return outs
