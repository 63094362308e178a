"""The container tree of a graph and the structure of each container (steps 1-2 of codegen.py).

Node names are block-instance paths, one component per block call, so they form a tree.
Each container (the network, a block instance) is described bottom-up: its layers'
constructor calls with every number left as a hole, its child containers by structure id,
and its `forward` lines. Equal descriptions get one structure id (`Generator.keys`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from keyword import iskeyword
from typing import Any

from cnndsl.backend import BackendError
from cnndsl.ops.registry import get as get_op

from .escape import py_text
from .lower import LOWERINGS, Ctor, Expr, Literal, Param, is_hole
from .lower_math import EXPR_OPS
from .names import Namespace, is_free, sanitize

HOLE = "\x00"
MERGES = frozenset({"add", "mul", "concat", "chunk", "matmul"}) | EXPR_OPS  # lowered to Expr: no module attribute
OPT, DEF_END, OPT_END = "\x01", "\x03", "\x02"  # an optional argument: OPT default DEF_END ", name=HOLE" OPT_END


# ------------------------------------------------------------------ the container tree


@dataclass
class Inst:
    path: str
    local: str
    label: str | None
    kind: str
    children: dict[str, Any] = field(default_factory=dict)  # local name -> Inst | Node
    members: set[str] = field(default_factory=set)
    first: int = 0  # topo index of its first node
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    # structure
    # (slot, ("leaf", template, values) | ("param", template, values) | ("inst", Inst), plain): a
    # "param" is an nn.Parameter attribute (a node keyed by its own name: layer_scale)
    entries: list = field(default_factory=list)
    forward: list[str] = field(default_factory=list)
    sequential: bool = False
    key: int = -1
    namespaces: list[str] = field(default_factory=list)  # flattened plain containers (`self.up = nn.Module()`)
    span: Any = None  # where the block was called in the .cnn file (for the forward comment)


def build_tree(graph) -> Inst:
    kind = str(graph.meta.get("network") or graph.name)
    root = Inst("", "", None, kind)
    order = {}
    for i, node in enumerate(graph.topo()):
        order[node.name] = i
        if node.op == "input":
            continue
        parts = node.name.split(".")
        scope = node.scope
        cur = root
        cur.members.add(node.name)
        for depth, part in enumerate(parts[:-1]):
            child = cur.children.get(part)
            if child is None:
                label = scope[depth] if depth < len(scope) else None
                kind = label.split("(", 1)[0] if label else part
                spans = node.meta.get("scope_spans", ())
                child = Inst(".".join(parts[:depth + 1]), part, label, kind, first=i,
                             span=spans[depth] if depth < len(spans) else None)
                cur.children[part] = child
            elif not isinstance(child, Inst):
                raise BackendError(f"node {child.name} is both a layer and a block instance ({node.name})")
            cur = child
            cur.members.add(node.name)
        local = parts[-1]
        if node.op in MERGES:
            local += "()"  # a merge is an expression in forward, not an attribute: its name may be a prefix too
        if local in cur.children:
            raise BackendError(f"node {node.name} is both a layer and a block instance")
        cur.children[local] = node
    return root


def _num_outputs(node) -> int:
    return get_op(node.op).num_outputs(node.attrs)


# ------------------------------------------------------------------ rendering constructor calls


def render_ctor(ctor: Ctor) -> tuple[str, list]:
    """`nn.Conv2d(\\0, \\0, kernel_size=\\0)` and the hole values, in order."""
    parts, values = [], []
    for arg in ctor.args:
        v = arg.value
        if isinstance(v, Ctor):
            text, vs = render_ctor(v)
            values += vs
        elif isinstance(v, Literal):
            text = repr(v.value)
        elif is_hole(v) or _int_tuple(v):
            text, values = HOLE, values + [v]
            if arg.default is not None:
                parts.append(f"{OPT}{_num(arg.default)}{DEF_END}, {arg.name}={HOLE}{OPT_END}")
                continue
        else:
            text = repr(v)
        parts.append(", " + (f"{arg.name}={text}" if arg.kw else text))
    return f"{ctor.func}({''.join(parts)[2:] if parts and not parts[0].startswith(OPT) else ''.join(parts)})", values


def fill(template: str, values: list) -> str:
    """The template with its holes filled; an optional argument equal to its default is left out."""
    out, vi, i = [], 0, 0
    while i < len(template):
        c = template[i]
        if c == OPT:
            j = template.index(DEF_END, i)
            k = template.index(OPT_END, j)
            v = values[vi]
            vi += 1
            if isinstance(v, _Sym) or _num(v) != template[i + 1:j]:
                out.append(template[j + 1:k].replace(HOLE, _num(v)))
            i = k + 1
            continue
        if c == HOLE:
            out.append(_num(values[vi]))
            vi += 1
        else:
            out.append(c)
        i += 1
    if vi != len(values):
        raise BackendError("internal error: hole count mismatch")
    return "".join(out).replace("(, ", "(")


def _int_tuple(v) -> bool:
    """A per-axis window, stride or padding (`(1, 7)`): a hole like a number, so blocks that differ only
    there share a class (torchvision's `BasicConv2d(..., kernel_size=(1, 7))`)."""
    return (isinstance(v, tuple) and 1 < len(v) <= 6
            and all(isinstance(x, int) and not isinstance(x, bool) for x in v))


def _num(v) -> str:
    if isinstance(v, _Sym):
        return v.name
    if isinstance(v, tuple):
        return "(" + ", ".join(_num(x) for x in v) + ")"
    if isinstance(v, bool):
        return repr(v)
    return repr(float(v)) if isinstance(v, float) else str(int(v))


def _indent(text: str, n: int) -> str:
    return text.replace("\n", "\n" + " " * n)


# ------------------------------------------------------------------ structure of one container


class Generator:
    def __init__(self, graph, module_attrs: frozenset[str]):
        self.graph = graph
        self.module_attrs = module_attrs
        self.keys: dict[tuple, int] = {}
        self.groups: dict[int, list[Inst]] = {}
        self.helpers: set[str] = set()
        self.uses_torch_ops = False
        self.order = {n.name: i for i, n in enumerate(graph.topo())}

    def in_shapes(self, node) -> list:
        return [self.graph.value_shape(tuple(ref)) for ref in node.inputs]

    def lower(self, node):
        """The node's lowering (lower.py); what torch cannot express is an error at the layer's .cnn line."""
        try:
            return LOWERINGS[node.op](node, self.in_shapes(node))
        except BackendError as err:
            if err.span is None:
                err.span = node.span
            raise

    # -- inputs / outputs of a container
    def boundary(self, inst: Inst, root: bool) -> None:
        g = self.graph
        if root:
            inst.inputs = [(n, 0) for n in g.input_names]
            inst.outputs = [tuple(ref) for _name, ref in g.outputs]
            return
        ins, outs = [], []
        graph_outs = {tuple(ref) for _n, ref in g.outputs}
        for name in sorted(inst.members, key=self.order.get):
            node = g.nodes[name]
            for ref in node.inputs:
                ref = tuple(ref)
                if ref[0] not in inst.members and ref not in ins:
                    ins.append(ref)
            used_outside = {tuple(r) for u in g.users(name) if u not in inst.members
                            for r in g.nodes[u].inputs if r[0] == name}
            for k in range(_num_outputs(node)):
                if (name, k) in used_outside or (name, k) in graph_outs:
                    outs.append((name, k))
        if not outs:  # a block whose results nothing reads (`t = Block(c)`, t unused): it returns its dead ends
            read = {tuple(r) for m in inst.members for r in g.nodes[m].inputs}
            outs = [(name, k) for name in sorted(inst.members, key=self.order.get)
                    for k in range(_num_outputs(g.nodes[name])) if (name, k) not in read]
        inst.inputs, inst.outputs = ins, outs

    # -- children in dependency order
    def child_order(self, inst: Inst) -> list[str]:
        producer = {}
        consumes: dict[str, list] = {}
        for local, ch in inst.children.items():
            if isinstance(ch, Inst):
                for ref in ch.outputs:
                    producer[ref] = local
                consumes[local] = list(ch.inputs)
            else:
                for k in range(_num_outputs(ch)):
                    producer[(ch.name, k)] = local
                consumes[local] = [tuple(r) for r in ch.inputs]
        deps = {loc: {producer[r] for r in refs if r in producer} - {loc} for loc, refs in consumes.items()}

        def first(loc):
            ch = inst.children[loc]
            return ch.first if isinstance(ch, Inst) else self.order[ch.name]

        done, out = set(), []
        pending = sorted(inst.children, key=first)
        while pending:
            ready = [loc for loc in pending if deps[loc] <= done]
            if not ready:
                raise BackendError(f"block instance {inst.path or inst.kind}: its parts depend on each other in a "
                                   "cycle; cannot write one forward line per part")
            loc = ready[0]
            pending.remove(loc)
            done.add(loc)
            out.append(loc)
        return out

    def describe(self, inst: Inst, root: bool = False) -> None:
        for ch in inst.children.values():
            if isinstance(ch, Inst):
                self.describe(ch)
        self.boundary(inst, root)
        # children boundaries were computed in the recursive calls
        try:
            order = self.child_order(inst)
        except BackendError:
            # name prefixes that are not block calls (graphs built in Python) may interleave:
            # lift their layers into this container and keep the prefix as a plain nn.Module
            if not self.flatten(inst):
                raise
            order = self.child_order(inst)
        inst.sequential = self.is_sequential(inst, order)
        attr_ns = Namespace(FIXED_ATTRS)
        for loc in order:  # named children keep their names
            if self.attr_ok(loc):
                attr_ns.used.add(loc)
        shared: dict[str, str] = {}
        access: dict[str, str] = {}
        entries = []
        for prefix in inst.namespaces:
            if not self.attr_ok(prefix):
                raise BackendError(f"{inst.path or inst.kind}: '{prefix}' cannot be a module attribute")
            entries.append((prefix, ("leaf", "nn.Module()", []), True))
        for loc in order:
            if "@" in loc:  # a later application of a shared instance calls its first one's module (below)
                continue
            ch = inst.children[loc]
            if isinstance(ch, Inst):
                slot = loc if self.attr_ok(loc) else None
                entries.append((slot or loc, ("inst", ch), slot is not None))
                access[loc] = f"self.{loc}" if slot else f"getattr(self, {loc!r})"
                continue
            low = self.lower(ch)
            if isinstance(low, Expr):
                if low.uses_torch:
                    self.uses_torch_ops = True
                access[loc] = low
                continue
            if isinstance(low, Param):  # an nn.Parameter of this container, named like the node
                self.helpers |= low.init.helpers
                template, values = render_ctor(low.init)
                plain = self.attr_ok(loc)
                entries.append((loc, ("param", template, values), plain))
                access[loc] = Expr(low.fmt.replace("{p}", f"self.{loc}" if plain else f"getattr(self, {loc!r})"))
                continue
            self.helpers |= low.helpers
            template, values = render_ctor(low)
            if inst.sequential or self.attr_ok(loc):
                entries.append((loc, ("leaf", template, values), True))
                access[loc] = f"self.{loc}"
            elif not get_op(ch.op).params(ch.attrs, self.in_shapes(ch)):
                # a parameter-free layer with a positional name: an attribute named after the op,
                # shared by every such layer with the same constructor (torchvision's self.relu)
                if not values and template in shared:
                    access[loc] = f"self.{shared[template]}"
                    continue
                attr = attr_ns.create(sanitize(ch.op))
                if not values:
                    shared[template] = attr
                entries.append((attr, ("leaf", template, values), True))
                access[loc] = f"self.{attr}"
            else:
                entries.append((loc, ("leaf", template, values), False))
                access[loc] = f"getattr(self, {loc!r})"
        for loc in order:
            if "@" in loc:  # `head@2` -> self.head: one submodule, called once per application
                access[loc] = access[loc.split("@", 1)[0] + ("()" if loc.endswith("()") else "")]
        inst.entries = entries
        inst.forward = [] if inst.sequential else self.write_forward(inst, order, access, root)
        key = (inst.kind, inst.sequential,
               tuple((slot, e[1] if e[0] != "inst" else ("inst", e[1].key), plain)
                     for slot, e, plain in entries),
               tuple(inst.forward))
        inst.key = self.keys.setdefault(key, len(self.keys))
        self.groups.setdefault(inst.key, []).append(inst)

    def flatten(self, inst: Inst) -> bool:
        plain = [loc for loc, ch in inst.children.items() if isinstance(ch, Inst) and ch.label is None]
        if not plain:
            return False
        children = {}
        for loc, ch in inst.children.items():
            if loc not in plain:
                children[loc] = ch
                continue
            stack = [(loc, ch)]
            while stack:
                prefix, c = stack.pop(0)
                inst.namespaces.append(prefix)
                for k, v in c.children.items():
                    if isinstance(v, Inst):
                        stack.append((f"{prefix}.{k}", v))
                    else:
                        children[f"{prefix}.{k}"] = v
        inst.children = children
        return True

    def attr_ok(self, loc: str) -> bool:
        """`self.<loc>` works: an identifier, not a keyword, not an nn.Module attribute (builtins are fine here),
        and not `__name`, which Python would mangle to `_Class__name` inside the class (the state_dict key would
        change): such children are reached with getattr/add_module instead."""
        return all(p.isidentifier() and not iskeyword(p) and p not in self.module_attrs and not p.startswith("__")
                   for p in loc.removesuffix("()").split("."))

    def is_sequential(self, inst: Inst, order: list[str]) -> bool:
        locs = list(inst.children)
        if locs != [str(i) for i in range(len(locs))] or order != locs:
            return False
        if len(inst.inputs) != 1 or len(inst.outputs) != 1:
            return False
        prev = inst.inputs[0]
        for n, loc in enumerate(locs):
            ch = inst.children[loc]
            if isinstance(ch, Inst):
                ins, outs, members = ch.inputs, ch.outputs, ch.members
            else:
                if isinstance(self.lower(ch), (Expr, Param)):
                    return False  # a forward expression or a parameter is no Sequential child
                ins, outs = [tuple(r) for r in ch.inputs], [(ch.name, k) for k in range(_num_outputs(ch))]
                members = {ch.name}
            if ins != [prev] or len(outs) != 1:
                return False
            if n > 0 and not set(self.graph.users(prev[0])) <= members:
                return False  # an intermediate value used by anything but the next child
            prev = outs[0]
        graph_outs = [tuple(r) for _n, r in self.graph.outputs]
        return prev == inst.outputs[0] and graph_outs.count(prev) <= 1 and all(
            u not in inst.members for u in self.graph.users(prev[0]))

    # -- forward
    def write_forward(self, inst: Inst, order: list[str], access: dict, root: bool) -> list[str]:
        stmts = []  # (loc, consumed refs, produced refs)
        for loc in order:
            ch = inst.children[loc]
            if isinstance(ch, Inst):
                stmts.append((loc, list(ch.inputs), list(ch.outputs)))
            else:
                stmts.append((loc, [tuple(r) for r in ch.inputs], [(ch.name, k) for k in range(_num_outputs(ch))]))
        last_use: dict = {}
        for i, (_loc, ins, _outs) in enumerate(stmts):
            for r in ins:
                last_use[r] = i
        for r in inst.outputs:
            last_use[r] = len(stmts)

        var: dict = {}
        live: dict[str, Any] = {}  # var name -> ref
        params = []
        if root:
            ns = Namespace()
            for ref in inst.inputs:
                params.append(ns.create(ref[0]))
        elif len(inst.inputs) == 1:
            params = ["x"]
        else:
            params = [f"x{i + 1}" for i in range(len(inst.inputs))]
        for ref, p in zip(inst.inputs, params):
            var[ref] = p
            live[p] = ref
        lines = []
        for i, (loc, ins, outs) in enumerate(stmts):
            args = [var[r] for r in ins]
            ch = inst.children[loc]
            how = access[loc]
            if isinstance(how, Expr):
                rhs = how.fmt.format(*args, all=", ".join(args))
            else:
                rhs = f"{how}({', '.join(args)})"
            for r in ins:  # free the variables whose last use is here
                if last_use.get(r) == i and live.get(var[r]) == r:
                    del live[var[r]]
            names = []
            reusable = not root or var.get(ins[0] if ins else None) not in params or params == ["x"]
            if len(outs) == 1 and ins and last_use.get(ins[0]) == i and var[ins[0]] not in live and reusable:
                names = [var[ins[0]]]
            else:
                loc = loc.removesuffix("()")
                base = loc if not loc.isdigit() else (ch.op if not isinstance(ch, Inst) else ch.kind.lower())
                for k in range(len(outs)):
                    cands = (["x", "out"] if root else ["out"]) if len(outs) == 1 else []
                    stem = sanitize(base) if len(outs) == 1 else f"{sanitize(base)}{k + 1}"
                    cands += [stem] + [f"{stem}_{j}" for j in range(1, 1000)]
                    name = next(c for c in cands if is_free(c) and c not in live and c not in names
                                and c not in params and (root or c != "x"))
                    names.append(name)
            for r, n in zip(outs, names):
                var[r] = n
                if last_use.get(r, -1) > i:
                    live[n] = r
            if not names:  # a block whose results nothing uses
                line = rhs
            else:
                line = f"{', '.join(names) if len(names) > 1 else names[0]} = {rhs}"
            span = ch.span
            if span is not None:
                line += f"  # {py_text(span.file)}:{span.line}"
            lines.append(line)
        rets = [var[r] for r in inst.outputs]
        lines.append("return " + (", ".join(rets) if len(rets) > 1 else rets[0]))
        return lines


FIXED_ATTRS = frozenset({"forward"})


class _Sym:
    """A parameter name standing where a number would be filled in."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name
