"""Graph IR -> readable PyTorch source.

1. The node names are block-instance paths (`layer1.0.conv1`), one component per block
   call (the elaborator's contract), so they form a tree: containers (the network, each
   block instance) whose children are layers or other containers.
2. Each container is described structurally, bottom-up: its layers' constructor calls with
   every number left as a hole, its child containers by structure id, and its `forward`
   (variable names are structural too). Containers of one block kind with the same
   structure share a class; the holes whose values differ between instances become its
   constructor parameters (named after the block's own parameter when the values agree,
   else after the layer argument).
3. A container whose children are `0, 1, ...` in a chain is an `nn.Sequential` (subclass, or
   an inline `nn.Sequential(...)` when its block kind has several structures, as
   torchvision's `_make_layer`); the rest are `nn.Module`s with attributes named after
   the children, so `state_dict()` keys equal the IR's weight keys.
4. Jinja2 renders the file skeleton from these pieces (`templates/model.py.j2`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from keyword import iskeyword
from typing import Any

from cnndsl.backend import BackendError
from cnndsl.ops.registry import get as get_op

from .lower import LOWERINGS, Ctor, Expr, Literal, is_hole
from .names import Namespace, camel, is_free, sanitize, snake

HOLE = "\x00"
MERGES = frozenset({"add", "mul", "concat", "chunk", "matmul", "transpose"})  # lowered to Expr: no module attribute
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
    entries: list = field(default_factory=list)  # (slot, ("leaf", template, values) | ("inst", Inst))
    forward: list[str] = field(default_factory=list)
    sequential: bool = False
    key: int = -1
    namespaces: list[str] = field(default_factory=list)  # flattened plain containers (`self.up = nn.Module()`)


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
                child = Inst(".".join(parts[:depth + 1]), part, label, kind, first=i)
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
        elif is_hole(v):
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


def _num(v) -> str:
    if isinstance(v, _Sym):
        return v.name
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
        self.shapes = {}

    def in_shapes(self, node) -> list:
        return [self.graph.value_shape(tuple(ref)) for ref in node.inputs]

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
            ch = inst.children[loc]
            if isinstance(ch, Inst):
                slot = loc if self.attr_ok(loc) else None
                entries.append((slot or loc, ("inst", ch), slot is not None))
                access[loc] = f"self.{loc}" if slot else f"getattr(self, {loc!r})"
                continue
            low = LOWERINGS[ch.op](ch, self.in_shapes(ch))
            if isinstance(low, Expr):
                if low.uses_torch:
                    self.uses_torch_ops = True
                access[loc] = low
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
        inst.entries = entries
        inst.forward = [] if inst.sequential else self.write_forward(inst, order, access, root)
        key = (inst.kind, inst.sequential,
               tuple((slot, e[1] if e[0] == "leaf" else ("inst", e[1].key), plain)
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
        """`self.<loc>` works: an identifier, not a keyword, not an nn.Module attribute (builtins are fine here)."""
        return all(p.isidentifier() and not iskeyword(p) and p not in self.module_attrs
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
                if isinstance(LOWERINGS[ch.op](ch, self.in_shapes(ch)), Expr):
                    return False
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
        self.forward_params = params
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
            span = None if isinstance(ch, Inst) else ch.span
            if span is not None:
                line += f"  # {span.file}:{span.line}"
            lines.append(line)
        rets = [var[r] for r in inst.outputs]
        lines.append("return " + (", ".join(rets) if len(rets) > 1 else rets[0]))
        return lines


FIXED_ATTRS = frozenset({"forward"})


# ------------------------------------------------------------------ classes from groups

_LABEL_NUM = re.compile(r"(\w+)=(-?\d+(?:\.\d+)?(?:e-?\d+)?)(?=, |\)$)")


def label_params(label: str | None) -> dict[str, float]:
    if not label:
        return {}
    return {k: float(v) for k, v in _LABEL_NUM.findall(label)}


@dataclass
class ClassDef:
    name: str
    base: str
    doc: str
    params: list[tuple[str, str]]  # (name, annotation)
    init: list[str]  # for nn.Module: lines after super().__init__(); for Sequential: the positional ctors
    forward: list[str]
    forward_params: list[str]
    n_outputs: int


class Assembler:
    """Turns structure groups into classes (or inline nn.Sequential) and call strings."""

    def __init__(self, gen: Generator, root: Inst, class_ns: Namespace, root_class: str):
        self.gen = gen
        self.root_class = root_class
        self.root = root
        self.class_ns = class_ns
        self.classes: list[ClassDef] = []
        self.call_values: dict[int, list] = {}  # id(inst) -> values for its call
        self.render: dict[int, Any] = {}  # key -> callable(values) -> str
        self.inline_samples: dict[int, Inst] = {}
        reachable, stack = set(), [root]
        while stack:  # instances lifted into a parent by `flatten` are no longer classes
            inst = stack.pop()
            reachable.add(id(inst))
            stack += [c for c in inst.children.values() if isinstance(c, Inst)]
        for key in list(gen.groups):
            gen.groups[key] = [i for i in gen.groups[key] if id(i) in reachable]
            if not gen.groups[key]:
                del gen.groups[key]
        kinds: dict[str, list[int]] = {}
        for key, insts in gen.groups.items():
            kinds.setdefault(insts[0].kind, []).append(key)
        self.kinds = kinds

    def hole_vector(self, inst: Inst, sample: Inst | None = None) -> list:
        """The instance's numbers in the order of `sample`'s holes; None where it lacks an optional child."""
        own = {slot: e for slot, e, _plain in inst.entries}
        vals = []
        for slot, e, _plain in (sample or inst).entries:
            mine = own.get(slot)
            if mine is None:
                n = e[1].count(HOLE) if e[0] == "leaf" else len(self.call_values[id(e[1])])
                vals += [None] * n
            elif mine[0] == "leaf":
                vals += mine[2]
            else:
                vals += self.call_values[id(mine[1])]
        return vals

    def optional_slots(self, insts: list[Inst]) -> list[str]:
        sample = insts[0]
        return [slot for slot, _e, _plain in sample.entries
                if any(slot not in {s for s, _e2, _p in i.entries} for i in insts)]

    def entry_code(self, entry, values: list) -> tuple[str, list]:
        """Code of one constructor entry filled from `values` (consumed from the front)."""
        if entry[0] == "leaf":
            n = entry[1].count(HOLE)
            return fill(entry[1], values[:n]), values[n:]
        child = entry[1]
        n = len(self.call_values[id(child)])
        return self.render[child.key](values[:n]), values[n:]

    def build(self) -> None:
        merged = self.merge_optional()
        groups = {k: list(v) for k, v in self.gen.groups.items() if k not in merged}
        for small, big in merged.items():
            groups[big] += self.gen.groups[small]
        pending = sorted(groups)
        while pending:
            key = next((k for k in pending if all(id(c) in self.call_values for i in groups[k]
                                                  for c in i.children.values() if isinstance(c, Inst))), None)
            if key is None:
                raise BackendError("internal error: block classes depend on each other in a cycle")
            pending.remove(key)
            insts = groups[key]
            vectors = [self.hole_vector(i, insts[0]) for i in insts]
            is_root = insts[0] is self.root
            sample = insts[0]
            if sample.sequential and not is_root and len(self.kinds[sample.kind]) > 1:
                for inst, vec in zip(insts, vectors):
                    self.call_values[id(inst)] = vec
                self.render[key] = self._inline_sequential(sample)
                self.inline_samples[key] = sample
                continue
            self._make_class(key, insts, vectors, is_root)
            for small, big in merged.items():
                if big == key:
                    self.render[small] = self.render[key]

    # -- instances that differ only by optional children (torchvision's `downsample=None`)
    def canonical(self, key: int, merged: dict[int, int]) -> int:
        while key in merged:
            key = merged[key]
        return key

    def _entry_sig(self, entry, merged) -> tuple:
        slot, e, plain = entry
        return (slot, e[1] if e[0] == "leaf" else ("inst", self.canonical(e[1].key, merged)), plain)

    def _optional_subset(self, big: Inst, small: Inst, merged) -> bool:
        """`small` is `big` without some children whose forward lines are `v = self.child(v)`."""
        b = [self._entry_sig(e, merged) for e in big.entries]
        s = [self._entry_sig(e, merged) for e in small.entries]
        if len(s) >= len(b) or big.inputs.__len__() != small.inputs.__len__():
            return False
        it = iter(b)
        if not all(any(x == y for y in it) for x in s):  # s is a subsequence of b
            return False
        missing = [sig[0] for sig in b if sig not in s]
        if any(not sig[2] for sig in b if sig[0] in missing):
            return False
        lines = [ln for ln in big.forward
                 if not any(re.fullmatch(rf"(\w+) = self\.{re.escape(m)}\(\1\)(  # .*)?", ln) for m in missing)]
        return lines == small.forward and len(big.outputs) == len(small.outputs)

    def merge_optional(self) -> dict[int, int]:
        merged: dict[int, int] = {}
        changed = True
        while changed:
            changed = False
            for keys in self.kinds.values():
                live = [k for k in keys if k not in merged and not self.gen.groups[k][0].sequential
                        and self.gen.groups[k][0] is not self.root]
                live.sort(key=lambda k: -len(self.gen.groups[k][0].entries))
                for small in reversed(live):
                    for big in live:
                        if big != small and big not in merged and small not in merged and \
                                self._optional_subset(self.gen.groups[big][0], self.gen.groups[small][0], merged):
                            merged[small] = big
                            changed = True
                            break
        return merged

    def _inline_sequential(self, sample: Inst):
        def render(values: list) -> str:
            parts = []
            for _slot, e, _plain in sample.entries:
                code, values = self.entry_code(e, values)
                parts.append(_indent(code, 4))
            return "nn.Sequential(\n    " + ",\n    ".join(parts) + ",\n)"

        return render

    def _make_class(self, key: int, insts: list[Inst], vectors: list[list], is_root: bool) -> None:
        sample = insts[0]
        n = len(vectors[0])

        def known(j):
            return [v[j] for v in vectors if v[j] is not None]

        varying = [j for j in range(n) if len({repr(x) for x in known(j)}) > 1]
        # merge holes with the same values in every instance into one parameter (a hole of an
        # optional child, None where the child is absent, joins any parameter it agrees with)
        param_of: dict[int, int] = {}
        columns: list[tuple] = []
        for j in sorted(varying, key=lambda j: any(v[j] is None for v in vectors)):
            col = tuple(v[j] for v in vectors)
            for c, other in enumerate(columns):
                if all(a is None or b is None or repr(a) == repr(b) for a, b in zip(col, other)):
                    param_of[j] = c
                    columns[c] = tuple(b if b is not None else a for a, b in zip(col, other))
                    break
            else:
                param_of[j] = len(columns)
                columns.append(col)
        columns = [tuple(x if x is not None else next(y for y in col if y is not None) for x in col)
                   for col in columns]
        names = self._param_names(sample, insts, columns, vectors, varying, param_of)
        optional = self.optional_slots(insts) if not sample.sequential else []
        flag_ns = Namespace(set(names) | {"self"})
        flags = {slot: flag_ns.create(sanitize(slot)) for slot in optional}
        for inst in insts:
            present = {s for s, _e, _p in inst.entries}
            self.call_values[id(inst)] = [col[insts.index(inst)] for col in columns] + [
                slot in present for slot in optional]
        names = names + list(flags.values())

        if is_root:
            cls = self.root_class
        else:
            kind_keys = [k for k in self.kinds[sample.kind] if self.gen.groups[k][0] is not self.root]
            base_name = camel(sample.kind)
            if len(kind_keys) > 1 and kind_keys.index(key) > 0:
                base_name += str(kind_keys.index(key) + 1)
            cls = self.class_ns.create(base_name)

        def render(values: list, cls=cls, names=names) -> str:
            args = ", ".join(f"{p}={_num(v)}" for p, v in zip(names, values))
            return f"{cls}({args})"

        self.render[key] = render
        # the class body: holes become parameter names or literals
        symbolic = []
        for j in range(n):
            symbolic.append(_Sym(names[param_of[j]]) if j in param_of else (known(j) or [0])[0])
        init = []
        values = symbolic
        for slot, e, plain in sample.entries:
            code, values = self.entry_code(e, values)
            if sample.sequential:
                init.append(_indent(code, 12))
            elif slot in flags:
                init.append(f"self.{slot} = {_indent(code, 8)} if {flags[slot]} else nn.Identity()")
            elif plain:
                init.append(f"self.{slot} = {_indent(code, 8)}")
            else:
                init.append(f"self.add_module({slot!r}, {_indent(code, 8)})")
        params = [(p, "float" if any(isinstance(v, float) for v in col) else "int") for p, col in zip(names, columns)]
        params += [(f, "bool") for f in flags.values()]
        where = ", ".join(i.path for i in insts[:3]) + (", ..." if len(insts) > 3 else "")
        if is_root:
            doc = f"The {sample.kind} network."
        else:
            doc = f"Block {sample.kind}: {len(insts)} instance{'s' if len(insts) > 1 else ''} ({where})."
        self.classes.append(ClassDef(cls, "nn.Sequential" if sample.sequential else "nn.Module", doc, params, init,
                                     sample.forward, self._fwd_params(sample, is_root), len(sample.outputs)))

    def _fwd_params(self, inst: Inst, is_root: bool) -> list[str]:
        if is_root:
            ns = Namespace()
            return [ns.create(ref[0]) for ref in inst.inputs]
        return ["x"] if len(inst.inputs) == 1 else [f"x{i + 1}" for i in range(len(inst.inputs))]

    def _param_names(self, sample, insts, columns, vectors, varying, param_of) -> list[str]:
        ns = Namespace({"self"})
        labels = [label_params(i.label) for i in insts]
        names: list[str | None] = [None] * len(columns)
        # 1. the block's own parameters, when their values agree in every instance
        if labels and labels[0]:
            for k in labels[0]:
                col = tuple(lab.get(k) for lab in labels)
                for c, column in enumerate(columns):
                    if names[c] is None and all(a is not None and float(b) == a for a, b in zip(col, column)):
                        if is_free(k) and k not in ns:
                            names[c] = ns.create(k)
                        break
        # 2. the argument the hole fills
        contexts = self._hole_contexts(sample)
        for j in varying:
            c = param_of[j]
            if names[c] is None:
                slot, arg = contexts[j]
                bare = arg if arg not in ns and is_free(arg) else f"{slot}_{arg}"
                names[c] = ns.create(bare)
        return [n or ns.create("p") for n in names]

    def _hole_contexts(self, inst: Inst) -> list[tuple[str, str]]:
        out = []
        for slot, e, _plain in inst.entries:
            if e[0] == "leaf":
                out += [(sanitize(slot), a) for a in _hole_arg_names(e[1])]
            else:
                out += [(sanitize(slot), a) for a in self._call_param_names(e[1])]
        return out

    def _call_param_names(self, child: Inst) -> list[str]:
        text = self.render[child.key]([0] * len(self.call_values[id(child)]))
        if text.startswith("nn.Sequential("):
            return [a for _slot, a in self._hole_contexts(self.inline_samples[child.key])]
        return re.findall(r"(\w+)=0", text)


class _Sym:
    """A parameter name standing where a number would be filled in."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


_POSITIONAL_NAMES = {
    "nn.Conv2d": ["in_channels", "out_channels"], "PadConv2d": ["in_channels", "out_channels"],
    "FusedConv2d": ["in_channels", "out_channels"], "nn.ConvTranspose2d": ["in_channels", "out_channels"],
    "nn.Linear": ["in_features", "out_features"], "FlatLinear": ["in_features", "out_features"],
    "nn.BatchNorm2d": ["num_features"], "nn.BatchNorm1d": ["num_features"], "LayerNorm2d": ["channels"],
    "LayerScale": ["channels"], "nn.ChannelShuffle": ["groups"], "nn.LeakyReLU": ["negative_slope"],
    "nn.LPPool2d": ["norm_type"], "StochasticDepth": ["p"], "nn.ConstantPad2d": ["padding", "value"],
}


def _hole_arg_names(template: str) -> list[str]:
    """For each hole in a constructor template, the argument name it fills."""
    names = []
    # walk the template: track the current call and positional index
    stack: list[list] = []
    i = 0
    while i < len(template):
        m = re.match(r"[\w.]+\(", template[i:])
        if m:
            stack.append([m.group(0)[:-1], 0])
            i += m.end()
            continue
        ch = template[i]
        if ch in "([":
            stack.append(["", 0])
        elif ch in ")]":
            if stack:
                stack.pop()
        elif ch == "," and stack:
            stack[-1][1] += 1
        elif ch == HOLE:
            before = template[:i]
            km = re.search(r"(\w+)=$", before)
            if km:
                names.append(km.group(1))
            else:
                func, pos = stack[-1] if stack else ("", 0)
                pos_names = _POSITIONAL_NAMES.get(func, [])
                names.append(pos_names[pos] if pos < len(pos_names) else "arg")
        i += 1
    return names


# ------------------------------------------------------------------ the file


def module_attrs() -> frozenset[str]:
    """Names an nn.Module already has (methods and instance state): no child may take them."""
    try:
        import torch
    except ImportError:
        return frozenset({"training", "forward", "eval", "train", "to", "type", "float", "half", "double",
                          "cuda", "cpu", "apply", "parameters", "buffers", "children", "modules", "_modules",
                          "_parameters", "_buffers"})
    return frozenset(dir(torch.nn.Module)) | frozenset(vars(torch.nn.Module()))


def check_names(graph, attrs: frozenset[str]) -> None:
    """Every node whose path uses a name torch reserves, reported at once (before any code is written)."""
    bad = []
    for node in graph.topo():
        if node.op == "input":
            continue
        parts = node.name.split(".")
        if node.op in MERGES:
            parts = parts[:-1]  # a merge is an expression, not an attribute
        clash = [p for p in parts if p in attrs]
        if clash:
            bad.append((node, clash[0]))
    if bad:
        head = (f"target pytorch cannot name {len(bad)} layer(s): an nn.Module already has these attributes "
                "(rename them with `as`):")
        lines = [head]
        for node, part in bad:
            where = f" ({node.span})" if node.span else ""
            lines.append(f"  {node.name}: '{part}'{where}")
        raise BackendError("\n".join(lines), bad[0][0].span)


def generate(graph, opt_level: int = 0, version: str = "") -> tuple[str, dict]:
    """The source of a module for `graph`, and a summary (class names, line map)."""
    from cnndsl import __version__

    attrs = module_attrs()
    check_names(graph, attrs)
    gen = Generator(graph, attrs)
    root = build_tree(graph)
    gen.describe(root, root=True)
    class_ns = Namespace(HELPER_CLASSES)
    # the network class keeps its .cnn name: reserved before block classes take names
    asm = Assembler(gen, root, class_ns, class_ns.create(camel(root.kind)))
    asm.build()
    factory = sanitize(graph.meta.get("library_name") or snake(root.kind))
    if not is_free(factory) or factory in class_ns.used:
        factory = class_ns.create(factory)
    uses_f = bool(gen.helpers & {"PadConv2d", "FusedConv2d", "PadMaxPool2d", "LayerNorm2d"})
    source = str(graph.meta.get("display") or graph.meta.get("source") or "<graph>")
    ctx = {
        "version": version or __version__,
        "source": source,
        "network": str(graph.meta.get("network") or graph.name),
        "entry": graph.meta.get("library_name") or "",
        "opt_level": opt_level,
        "helpers": sorted(gen.helpers),
        "uses_f": uses_f,
        "classes": asm.classes,
        "root_class": asm.root_class,
        "factory": factory,
    }
    text = render_template(ctx)
    line_map = source_map(text)
    return text, {"classes": [c.name for c in asm.classes], "root": asm.root_class, "factory": factory,
                  "line_map": line_map}


HELPER_CLASSES = frozenset({"PadConv2d", "FusedConv2d", "PadMaxPool2d", "FlatLinear", "LayerNorm2d", "LayerScale",
                            "Mean", "Reshape", "StochasticDepth"})


def render_template(ctx: dict) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("cnndsl.backends.pytorch", "templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template("model.py.j2").render(**ctx)


_SPAN_COMMENT = re.compile(r"  # (\S+):(\d+)$")


def source_map(text: str) -> dict[int, tuple[str, int]]:
    """Generated line number (1-based) -> (.cnn file, line), read back from the trailing comments."""
    out = {}
    for i, line in enumerate(text.splitlines(), 1):
        m = _SPAN_COMMENT.search(line)
        if m:
            out[i] = (m.group(1), int(m.group(2)))
    return out


__all__ = ["generate", "source_map"]
