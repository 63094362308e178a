"""Elaboration: blocks, loops, conditionals and sugar unrolled into the Graph IR.

Each block call becomes a scope; node names are block-instance paths. Inside a block
instance every stage (an op or a block call) takes the next position index as its
name, like the children of torch's `nn.Sequential`, unless `as name` names it; merges
(ops with several inputs: add, mul, concat) are named after the op instead and take
no index; `identity` makes no node. Shapes are inferred as nodes are made, so
`channels(x)` works and a shape error points at the stage that caused it.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from cnndsl.diagnostics import (
    AssertionFailed,
    CnnError,
    DuplicateDefinition,
    Frame,
    InvalidValue,
    LimitExceeded,
    RecursionTooDeep,
    Shadowing,
    Span,
    UnboundTensor,
    UnknownKeyword,
    UnknownName,
    UnknownOp,
    WrongArity,
    WrongType,
    did_you_mean,
)
from cnndsl.elaborate.chain_heads import ChainHeads, is_tensors, tensor_list
from cnndsl.elaborate.control_flow import ControlFlow
from cnndsl.elaborate.evaluator import BUILTINS, Evaluator, truthy
from cnndsl.elaborate.hints import arg_spans, dotted_hint, name_hint
from cnndsl.elaborate.modules import Loader, Module
from cnndsl.elaborate.op_nodes import OpNodes
from cnndsl.elaborate.shared_stmt import SharedModules
from cnndsl.elaborate.tensor_expr import TensorOps
from cnndsl.elaborate.values import NAME_RE, Builtin, Layer, Shared, Tensor, type_name
from cnndsl.ir.budgets import BudgetExceeded
from cnndsl.ir.builder import GraphBuilder
from cnndsl.ir.graph import Graph
from cnndsl.ops.constraints import MAX_SIZE
from cnndsl.ops.reference import NAME_SPELLINGS
from cnndsl.ops.registry import REGISTRY
from cnndsl.syntax import ast as A

MAX_BLOCK_DEPTH = 64
MAX_STEPS = 2_000_000
DTYPES = {"f32": "float32", "float32": "float32", "f16": "float16", "float16": "float16",
          "bf16": "bfloat16", "f64": "float64"}


class _Return(Exception):
    def __init__(self, values: list[Tensor]):
        self.values = values


@dataclass
class Ctx:
    """One block instance being elaborated."""

    module: Module
    env: dict[str, Any]
    scope: tuple[str, ...]
    chain: tuple[Frame, ...]
    depth: int
    flow: Tensor | None = None
    index: int = 0
    used_names: dict[str, Span] = field(default_factory=dict)


class Elaborator(ChainHeads, ControlFlow, OpNodes, SharedModules):
    def __init__(self, loader: Loader, graph_name: str):
        self.loader = loader
        self.builder = GraphBuilder(graph_name)
        self.steps = 0

    # ------------------------------------------------------------ names
    def lookup(self, ctx: Ctx | None, module: Module, name: str, span: Span) -> Any:
        if ctx is not None and name in ctx.env:
            return ctx.env[name]
        value = self.module_name(module, name, span)
        if value is not _MISSING:
            return value
        candidates = list(BUILTINS) + list(REGISTRY) + list(module.blocks) + list(module.imported) + list(module.lets)
        if ctx is not None:
            candidates += list(ctx.env)
        raise UnknownName(f"unknown name '{name}'{name_hint(name, candidates)}", span)

    def module_name(self, module: Module, name: str, span: Span) -> Any:
        if name in module.let_defs:
            return self.module_let(module, name)
        if name in module.blocks:
            return Layer("block", name, module.blocks[name], module=module)
        if name in module.imported:
            target = module.imported[name]
            if isinstance(target, Module):
                return target
            mod, real = target
            return self.module_name(mod, real, span)
        if name in BUILTINS:  # `max(a, b)` computes; `x -> max(axes=1)` resolves to the op (resolve_callee)
            return BUILTINS[name]
        if name in REGISTRY and name != "input":
            return Layer("op", name, REGISTRY[name])
        return _MISSING

    def module_let(self, module: Module, name: str) -> Any:
        if name not in module.lets:
            self.lets_first(module, name)
            let = module.let_defs[name]
            module.lets[name] = _EVALUATING
            module.lets[name] = self.evaluator(None, module).eval(let.value)
        value = module.lets[name]
        if value is _EVALUATING:
            raise InvalidValue(f"'{name}' is defined in terms of itself", module.let_defs[name].span)
        return value

    def evaluator(self, ctx: Ctx | None, module: Module) -> Evaluator:
        tensors = TensorOps(self, ctx) if ctx is not None and ctx.scope is not None else None
        return Evaluator(lambda n, s: self.lookup(ctx, module, n, s), self.partial, tensors, self.tick)

    def tick(self, span: Span) -> None:
        """One elaboration step (a statement, a comprehension item), bounded by MAX_STEPS."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise LimitExceeded(f"elaboration took more than {MAX_STEPS:,} steps", span)

    @staticmethod
    def partial(layer: Layer, args: tuple, kwargs: tuple, span: Span) -> Layer:
        """Calling a layer in an expression binds arguments: `leaky_relu(0.1)`."""
        merged_kw = dict(layer.kwargs)
        merged_kw.update(kwargs)
        return Layer(layer.kind, layer.name, layer.target, layer.args + args, tuple(merged_kw.items()), layer.module)

    def resolve_callee(self, ctx: Ctx, stage: A.Stage) -> Layer:
        first, *rest = stage.callee
        try:
            value = self.lookup(ctx, ctx.module, first, stage.callee_span)
        except UnknownName as err:
            raise UnknownOp(f"unknown layer or block '{stage.dotted}'{dotted_hint(stage.callee)}" if dotted_hint(stage.callee)
                            else err.message.replace("unknown name", "unknown layer or block", 1),
                            stage.callee_span) from None
        for part in rest:
            if not isinstance(value, Module):
                raise WrongType(f"'{first}' is not a module", stage.callee_span)
            if part not in value.blocks and part not in value.imported and part not in value.let_defs:
                raise UnknownName(f"module '{first}' has no block '{part}'"
                                  f"{did_you_mean(part, value.blocks)}", stage.callee_span)
            value = self.module_name(value, part, stage.callee_span)
        if isinstance(value, Builtin) and value.name in REGISTRY and (not rest or first not in ctx.env):
            value = Layer("op", value.name, REGISTRY[value.name])  # `-> sum(axes=1)`: the op, not the builtin
        if isinstance(value, Tensor) or tensor_list(value):
            raise WrongType(f"'{stage.dotted}' is a {type_name(value)}; tensors can only start a chain",
                            stage.callee_span)
        if isinstance(value, Shared) and not rest:
            return value
        if not isinstance(value, Layer):
            raise WrongType(f"'{stage.dotted}' is a {type_name(value)}, not a layer or block", stage.callee_span)
        return value

    def bind_local(self, ctx: Ctx, name: str, value: Any, span: Span) -> None:
        if name in REGISTRY or name in BUILTINS or name in ctx.module.blocks or name in ctx.module.imported:
            what = "an op" if name in REGISTRY else "a builtin" if name in BUILTINS else "a block"
            raise Shadowing(f"'{name}' would shadow {what} of the same name; pick another name", span)
        ctx.env[name] = value

    def lets_first(self, module: Module, name: str) -> None:
        """Evaluate the module lets that `name` names, deepest first, in a loop: a chain of any length
        (`let a150 = a149 + 1`) then needs no deeper Python recursion than one let. A let that fails
        here is left for its real use to report (it may sit in a branch that is never taken)."""
        order: list[str] = []
        seen = {name}
        stack = [(name, iter(_names_in(module.let_defs[name].value)))]
        while stack:
            current, deps = stack[-1]
            for dep in deps:
                if dep in module.let_defs and dep not in module.lets and dep not in seen:
                    seen.add(dep)
                    stack.append((dep, iter(_names_in(module.let_defs[dep].value))))
                    break
            else:
                stack.pop()
                if current != name:
                    order.append(current)
        for dep in order:
            if dep in module.lets:
                continue
            module.lets[dep] = _EVALUATING
            try:
                module.lets[dep] = self.evaluator(None, module).eval(module.let_defs[dep].value)
            except CnnError:
                del module.lets[dep]

    # ------------------------------------------------------------ networks
    def network(self, netdef: A.BlockDef, module: Module, args: tuple, kwargs: tuple, overrides: dict[str, Any],
                input_shape: tuple[int, ...] | None, batch: int | None, span: Span) -> Graph:
        ctx = Ctx(module, {}, (), (Frame(f"network {netdef.name}", netdef.span),), 0)
        values = self.bind_params(ctx, module, netdef, args, tuple(kwargs) + tuple(overrides.items()), span, allow_override=True)
        ctx.env.update(values)
        inputs: list[Tensor] = []
        for i, tin in enumerate(netdef.inputs or ()):
            shape = self.input_shape(ctx, tin, input_shape if i == 0 else None, batch)
            dtype = DTYPES.get(tin.dtype or "f32")
            if dtype is None:
                raise WrongType(f"unknown tensor type '{tin.dtype}'{did_you_mean(tin.dtype, DTYPES)}", tin.span)
            try:
                ref = self.builder.input(tin.name, shape, dtype, span=tin.span)
            except BudgetExceeded as err:
                raise LimitExceeded(str(err), tin.span) from None
            t = Tensor(ref, shape)
            ctx.env[tin.name] = t
            inputs.append(t)
        ctx.flow = inputs[0] if inputs else None
        outs = self.run_body(ctx, netdef.body)
        g = self.builder.graph
        for i, (name, t) in enumerate(outs):
            g.outputs.append((name or ("output" if len(outs) == 1 else f"output{i}"), t.ref))
        g.meta.update(network=netdef.name, params={k: v for k, v in values.items()})
        g.lint()
        return g

    def input_shape(self, ctx: Ctx, tin: A.TensorIn, override: tuple[int, ...] | None, batch: int | None) -> tuple:
        if tin.dims is None:
            raise WrongType(f"network input '{tin.name}' needs a type, e.g. {tin.name}: f32[N, 3, 224, 224]", tin.span)
        dims: list[Any] = []
        for d in tin.dims:
            if isinstance(d, A.Var) and (d.name == "N" or d.name not in ctx.env and self.module_name(
                    ctx.module, d.name, d.span) is _MISSING):
                dims.append(d.name)  # symbolic
                continue
            v = self.evaluator(ctx, ctx.module).eval(d)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise WrongType(f"a tensor dimension must be a positive int, got {v!r}", d.span)
            dims.append(v)
        if override is not None:
            if len(override) != len(dims) - 1:
                raise InvalidValue(f"--input-shape gives {len(override)} dimensions; input '{tin.name}' "
                                   f"has {len(dims) - 1} besides the batch", tin.span)
            dims[1:] = override
        if batch is not None:
            if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
                raise InvalidValue(f"--batch must be a positive int, got {batch!r}", tin.span)
            dims[0] = batch
        for i, d in enumerate(dims):
            if isinstance(d, int) and d > MAX_SIZE:
                what = "--batch" if i == 0 else f"dimension {i} of input '{tin.name}'"
                raise LimitExceeded(f"{what} is {d:,}; one dimension holds at most {MAX_SIZE:,}",
                                    tin.dims[i].span if i < len(tin.dims) and override is None else tin.span)
        for d, node in zip(dims[1:], tin.dims[1:]):
            if isinstance(d, str):
                raise InvalidValue(f"input '{tin.name}' has symbolic size '{d}'; give it with --input-shape",
                                   node.span)
        return tuple(dims)

    # ------------------------------------------------------------ parameters
    def bind_params(self, ctx: Ctx, module: Module, block: A.BlockDef, args: tuple, kwargs: tuple, span: Span,
                    allow_override: bool = False) -> dict[str, Any]:
        names = [p.name for p in block.params]
        if len(args) > len(names):
            raise WrongArity(f"{block.name} takes {len(names)} parameter{'' if len(names) == 1 else 's'}, "
                             f"got {len(args)} positional", span)
        values: dict[str, Any] = dict(zip(names, args))
        for k, v in kwargs:
            if k not in names:
                what = "-D" if allow_override else "argument"
                raise UnknownKeyword(f"{block.name} has no parameter '{k}' ({what}){did_you_mean(k, names)}", span)
            if k in values and not allow_override:
                raise WrongArity(f"{block.name}: parameter '{k}' given twice", span)
            values[k] = v
        pctx = Ctx(module, dict(values), ctx.scope, ctx.chain, ctx.depth)
        out = {}
        for p in block.params:
            if p.name in values:
                out[p.name] = values[p.name]
            elif p.default is not None:
                out[p.name] = self.evaluator(pctx, pctx.module).eval(p.default)
            else:
                raise WrongArity(f"{block.name}: missing parameter '{p.name}'", span)
            pctx.env[p.name] = out[p.name]
        return out

    # ------------------------------------------------------------ statements
    def run_body(self, ctx: Ctx, body: tuple) -> list[tuple[str | None, Tensor]]:
        try:
            self.run_stmts(ctx, body)
        except _Return as ret:
            return ret.values
        if ctx.flow is None:
            raise UnboundTensor("this block produces no tensor", ctx.chain[-1].span)
        return [(None, ctx.flow)]

    def run_stmts(self, ctx: Ctx, body: tuple) -> None:
        for stmt in body:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise LimitExceeded(f"elaboration took more than {MAX_STEPS:,} steps", stmt.span)
            try:
                getattr(self, "s_" + type(stmt).__name__)(ctx, stmt)
            except CnnError as err:
                raise err.with_chain(ctx.chain)

    def s_LetStmt(self, ctx: Ctx, s: A.LetStmt) -> None:
        value = self.evaluator(ctx, ctx.module).eval(s.value)
        if isinstance(value, Tensor):
            raise WrongType(f"'let' binds values; bind a tensor with '{s.name} = ...'", s.span)
        self.bind_local(ctx, s.name, value, s.name_span)
        if s.name == "init":  # the instance's weight-initialization recipe (init_recipe.py)
            from cnndsl.elaborate.init_recipe import check_recipe, record

            record(self.builder.graph.meta, ctx.scope, check_recipe(value, s.value.span), s.span)

    def s_AssertStmt(self, ctx: Ctx, s: A.AssertStmt) -> None:
        ev = self.evaluator(ctx, ctx.module)
        if truthy(ev.eval(s.cond), s.cond.span):
            return
        message = "assertion failed"
        if s.message is not None:
            text = ev.eval(s.message)
            message = text if isinstance(text, str) else f"assertion failed: {_short(text)}"
        raise AssertionFailed(message, s.cond.span)

    def s_ChainStmt(self, ctx: Ctx, s: A.ChainStmt) -> None:
        outs = self.run_chain(ctx, s.chain)
        if len(outs) != 1:
            raise WrongArity(f"this chain gives {len(outs)} tensors; bind them with 'a, b = ...'", s.span)
        ctx.flow = outs[0]

    def s_AssignStmt(self, ctx: Ctx, s: A.AssignStmt) -> None:
        head = s.chain.head
        if len(s.names) == 1 and isinstance(head, A.TensorExpr) and not s.chain.stages:
            value = self.evaluator(ctx, ctx.module).eval(head.expr)  # `a = parts[1]`, `fs = feats[1:]`
            self.tensor_value(value, head.span)
            self.bind_local(ctx, s.names[0][0], list(value) if isinstance(value, tuple) else value, s.names[0][1])
            return
        outs = self.run_chain(ctx, s.chain)
        if len(s.names) == 1 and (len(outs) != 1 or self.gives_list(ctx, s.chain)):
            self.bind_local(ctx, s.names[0][0], list(outs), s.names[0][1])  # `parts = x -> chunk(2)`: a list
            return
        if len(outs) != len(s.names):
            raise WrongArity(f"{len(s.names)} names for {len(outs)} tensors", s.span)
        for (name, span), t in zip(s.names, outs):
            self.bind_local(ctx, name, t, span)

    def s_ReturnStmt(self, ctx: Ctx, s: A.ReturnStmt) -> None:
        values = []
        for chain in s.chains:
            outs = self.run_chain(ctx, chain)
            if len(outs) != 1:  # a list of tensors (`return feats`): each is an output
                values.extend((None, t) for t in outs)
                continue
            head = chain.head
            name = head.callee[0] if isinstance(head, A.Stage) and not chain.stages and head.args is None else None
            values.append((name, outs[0]))
        raise _Return(values)

    # ------------------------------------------------------------ chains
    def need_flow(self, ctx: Ctx, span: Span) -> Tensor:
        if ctx.flow is None:
            raise UnboundTensor("no tensor flows here yet; start the chain from a named tensor", span)
        return ctx.flow

    def run_chain(self, ctx: Ctx, chain: A.Chain) -> list[Tensor]:
        head = chain.head
        stages = list(chain.stages)
        if isinstance(head, A.Sources):
            cur = [self.tensor(ctx, n, sp) for n, sp in head.names]
        elif isinstance(head, A.TensorExpr):
            cur = self.tensor_value(self.evaluator(ctx, ctx.module).eval(head.expr), head.span)
        elif head.args is None and len(head.callee) == 1 and is_tensors(ctx.env.get(head.callee[0])):
            if head.rename is not None:
                raise WrongType("'as' names a layer; a tensor is named with 'name = ...'", head.span)
            value = ctx.env[head.callee[0]]
            cur = [value] if isinstance(value, Tensor) else list(value)
            if len(cur) > 1 and stages:
                self.check_fan_in(ctx, head.callee[0], len(cur), stages[0])
        else:
            if head.args is None and len(head.callee) == 1 and stages and head.callee[0] not in ctx.env \
                    and self.module_name(ctx.module, head.callee[0], head.callee_span) is _MISSING:
                name = head.callee[0]  # `y -> relu` with no `y`: a tensor used before it is bound, not an op
                tensors = [k for k, v in ctx.env.items() if is_tensors(v)]
                layers = list(REGISTRY) + list(ctx.module.blocks) + list(ctx.module.imported)
                if name in NAME_SPELLINGS or not did_you_mean(name, tensors) and did_you_mean(name, layers):
                    raise UnknownOp(f"unknown layer or block '{name}'{name_hint(name, layers)}", head.callee_span)
                raise UnboundTensor(f"tensor '{name}' is used before it is bound (bind it first: "
                                    f"'{name} = ...'){did_you_mean(name, tensors)}", head.callee_span)
            cur = self.head_call(ctx, head)
            if cur is None:
                cur = [self.need_flow(ctx, head.span)]
                stages.insert(0, head)
        for stage in stages:
            cur = self.apply_stage(ctx, stage, cur)
        return cur

    def tensor(self, ctx: Ctx, name: str, span: Span) -> Tensor:
        value = ctx.env.get(name)
        if isinstance(value, Tensor):
            return value
        if value is None and name not in ctx.env:
            tensors = [k for k, v in ctx.env.items() if isinstance(v, Tensor)]
            raise UnboundTensor(f"tensor '{name}' is used before it is bound{did_you_mean(name, tensors)}", span)
        raise WrongType(f"'{name}' is a {type_name(value)}, not a tensor", span)

    def apply_stage(self, ctx: Ctx, stage: A.Stage, inputs: list[Tensor]) -> list[Tensor]:
        layer = self.resolve_callee(ctx, stage)
        if isinstance(layer, Shared):
            return self.apply_shared(ctx, layer, stage, inputs)
        args, kwargs = ((), ()) if stage.args is None else self.evaluator(ctx, ctx.module).eval_args(stage.args)
        spans = arg_spans(stage, len(layer.args))
        args, kwargs = layer.args + args, tuple({**dict(layer.kwargs), **dict(kwargs)}.items())
        rename = self.rename(ctx, stage)
        if layer.kind == "op":
            return self.make_op_outputs(ctx, layer, args, kwargs, inputs, rename, stage.span, stage.callee_span,
                                        spans=spans)
        return self.call_block(ctx, layer, args, kwargs, inputs, rename, stage)

    def rename(self, ctx: Ctx, stage: A.Stage) -> str | None:
        if stage.rename is None:
            return None
        value = stage.rename
        if not isinstance(value, str):
            value = self.evaluator(ctx, ctx.module).eval(value)
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str) or not NAME_RE.match(value):
                raise InvalidValue(f"'as' needs a name of letters, digits, '_' and '-', got {value!r}",
                                   stage.rename_span or stage.span)
        return value

    def local_name(self, ctx: Ctx, rename: str | None, merge: str | None, span: Span) -> str:
        if rename is not None:
            ctx.index += 1
            name = rename
            if name in ctx.used_names:
                first = ctx.used_names[name]
                raise DuplicateDefinition(f"name '{name}' is already used in this block (at {first})", span)
        elif merge is not None:
            name, i = merge, 1
            while name in ctx.used_names:
                name, i = f"{merge}_{i}", i + 1
        else:
            name = str(ctx.index)
            ctx.index += 1
            while name in ctx.used_names:
                name += "_"
        ctx.used_names[name] = span
        return name

    def call_block(self, ctx: Ctx, layer: Layer, args: tuple, kwargs: tuple, inputs: list[Tensor],
                   rename: str | None, stage: A.Stage, local: str | None = None) -> list[Tensor]:
        block: A.BlockDef = layer.target
        if block.is_network:
            raise WrongType(f"'{block.name}' is a network; networks cannot be used as blocks", stage.callee_span)
        if ctx.depth + 1 > MAX_BLOCK_DEPTH:
            raise RecursionTooDeep(f"blocks nested more than {MAX_BLOCK_DEPTH} deep (unbounded recursion?)",
                                   stage.callee_span)
        declared = block.inputs or ()
        want = max(1, len(declared))
        takes_list = len(declared) == 1 and declared[0].dtype == "list" and declared[0].dims is None
        if takes_list:
            pass  # `(feats: list)`: every input tensor, as one list
        elif len(inputs) != want:
            raise WrongArity(f"{block.name} takes {want} input tensor{'s' if want > 1 else ''}, got {len(inputs)}",
                             stage.callee_span)
        local = local or self.local_name(ctx, rename, None, stage.span)
        module = layer.module or ctx.module
        values = self.bind_params(ctx, module, block, args, kwargs, stage.span)
        label = f"{block.name}({', '.join(f'{k}={_short(v)}' for k, v in values.items())})"
        inner = Ctx(module, {}, ctx.scope + (local,), ctx.chain + (Frame(label, stage.span),), ctx.depth + 1)
        for k, v in values.items():
            self.bind_local(inner, k, v, block.span)
        for tin, t in zip(declared, inputs):
            inner.env[tin.name] = t
        inner.flow = inputs[0]
        if takes_list:
            inner.env[declared[0].name] = list(inputs)
            inner.flow = None
        return [t for _n, t in self.run_body(inner, block.body)]


_SHORT_REPR = reprlib.Repr()  # keyword arguments need Python 3.12
_SHORT_REPR.maxlevel, _SHORT_REPR.maxlist, _SHORT_REPR.maxtuple = 3, 8, 8
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = 30


def _short(v: Any) -> str:
    """A value for a block-instance label, shortened without printing it whole (a list value may hold a
    million items)."""
    text = _SHORT_REPR.repr(v) if not isinstance(v, bool) else ("true" if v else "false")
    return text if len(text) <= 24 else text[:21] + "..."


_MISSING = object()
_EVALUATING = object()


def _names_in(expr: Any) -> list[str]:
    """Every name an expression reads (A.Var), in order, found without recursion."""
    names, stack = [], [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, A.Var):
            names.append(node.name)
        elif isinstance(node, (list, tuple)):
            stack.extend(reversed(node))
        elif is_dataclass(node) and not isinstance(node, type) and not isinstance(node, Span):
            stack.extend(reversed([getattr(node, f.name) for f in fields(node)]))
    return names
