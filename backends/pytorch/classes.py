"""Classes from structure groups (step 3 of codegen.py): constructor parameters, names, bodies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cnndsl.backend import BackendError

from .escape import py_text
from .names import Namespace, camel, is_free, sanitize
from .netargs import NetParam
from .tree import HOLE, Generator, Inst, _indent, _num, _Sym, fill

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
    post_init: list[str] = field(default_factory=list)  # statements after the children are made (init recipe)


class Assembler:
    """Turns structure groups into classes (or inline nn.Sequential) and call strings."""

    def __init__(self, gen: Generator, root: Inst, class_ns: Namespace, root_class: str,
                 net_params: list[NetParam] | None = None):
        self.gen = gen
        self.net_params = list(net_params or [])  # the network's constructor arguments (netargs.py)
        self.root_class = root_class
        self.root = root
        self.class_ns = class_ns
        self.classes: list[ClassDef] = []
        self.call_values: dict[int, list] = {}  # id(inst) -> values for its call
        self.render: dict[int, Any] = {}  # key -> callable(values) -> str
        self.inline_samples: dict[int, Inst] = {}
        self.classes_of_kind: dict[str, int] = {}
        self.residual_keys: set[int] = set()  # classes whose instances differ by a residual add (a flag)
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
                n = e[1].count(HOLE) if e[0] != "inst" else len(self.call_values[id(e[1])])
                vals += [None] * n
            elif mine[0] != "inst":
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
        if entry[0] != "inst":  # a layer or a parameter
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
        return (slot, e[1] if e[0] != "inst" else ("inst", self.canonical(e[1].key, merged)), plain)

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
        # then instances that differ only by a residual add of the block's input (torchvision's
        # `use_res_connect`): one class with a flag, among structures no optional child merged
        involved = set(merged) | set(merged.values())
        for keys in self.kinds.values():
            live = [k for k in keys if k not in involved and not self.gen.groups[k][0].sequential
                    and self.gen.groups[k][0] is not self.root]
            for big in live:
                for small in live:
                    if big != small and small not in merged and big not in merged and \
                            self._residual_variant(self.gen.groups[big][0], self.gen.groups[small][0], merged):
                        merged[small] = big
                        self.residual_keys.add(big)
        return merged

    def _residual_variant(self, big: Inst, small: Inst, merged) -> bool:
        """`big` is `small` plus `v = v + x` (the block's input) before it returns `v`: the same children,
        the same forward otherwise (its variable renamed)."""
        if (len(big.inputs), len(small.inputs), len(big.outputs), len(small.outputs)) != (1, 1, 1, 1):
            return False
        if [self._entry_sig(e, merged) for e in big.entries] != [self._entry_sig(e, merged) for e in small.entries]:
            return False
        b, s = big.forward, small.forward
        if len(b) != len(s) + 1 or len(b) < 3:
            return False
        ret_b, ret_s = re.fullmatch(r"return (\w+)", b[-1]), re.fullmatch(r"return (\w+)", s[-1])
        if not ret_b or not ret_s or ret_b.group(1) == "x":
            return False
        v, w = ret_b.group(1), ret_s.group(1)
        if not re.fullmatch(rf"{v} = {v} \+ x(  # .*)?", b[-2]):
            return False
        body = b[:-2]
        if any(re.search(r"\bx\b", ln.split("  # ")[0]) for ln in body[1:]):  # the input is read once, first
            return False
        return [re.sub(rf"\b{v}\b", w, ln) for ln in body] == s[:-1]

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

        # a hole varies when instances differ there, or when a network parameter reaches it (it must
        # then be a parameter of this class, passed down from the network's constructor)
        varying = [j for j in range(n) if len({repr(x) for x in known(j)}) > 1
                   or any(isinstance(x, NetParam) for x in known(j))]
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
        flag_ns.used |= {slot for slot, _e, _p in sample.entries}  # the residual flag is also an attribute
        res_flag = flag_ns.create("use_res_connect") if key in self.residual_keys else None
        for inst in insts:
            present = {s for s, _e, _p in inst.entries}
            self.call_values[id(inst)] = [col[insts.index(inst)] for col in columns] + [
                slot in present for slot in optional] + ([inst.forward == sample.forward] if res_flag else [])
        names = names + list(flags.values()) + ([res_flag] if res_flag else [])

        if is_root:
            cls = self.root_class
        else:
            # numbered (`Foo2`) only when the block kind really has several classes (not counting
            # structures merged into this one or written inline as nn.Sequential)
            made = self.classes_of_kind.get(sample.kind, 0) + 1
            self.classes_of_kind[sample.kind] = made
            base_name = camel(sample.kind) + (str(made) if made > 1 else "")
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
            elif e[0] == "param" and not plain:
                init.append(f"self.register_parameter({slot!r}, {_indent(code, 8)})")
            elif slot in flags:
                init.append(f"self.{slot} = {_indent(code, 8)} if {flags[slot]} else nn.Identity()")
            elif plain:
                init.append(f"self.{slot} = {_indent(code, 8)}")
            else:
                init.append(f"self.add_module({slot!r}, {_indent(code, 8)})")
        params = [(p, _annotation(col)) for p, col in zip(names, columns)]
        params += [(f, "bool") for f in flags.values()]
        forward = sample.forward
        if res_flag:  # the residual add, when this instance has it
            params.append((res_flag, "bool"))
            init.append(f"self.{res_flag} = {res_flag}")
            forward = forward[:-2] + [f"if self.{res_flag}:", "    " + forward[-2], forward[-1]]
        if is_root:  # the network's parameters, in its order, with the file's values as defaults
            order = {m.name: i for i, m in enumerate(self.net_params)}
            default = {m.name: m.default for m in self.net_params}
            params = sorted(((p, f"{t} = {default[p]!r}") for p, t in params if p in default),
                            key=lambda pt: order[pt[0]])
        modules = sorted((i for i in insts if "@" not in i.local), key=lambda i: i.first)  # `head@2`: applied again
        where = ", ".join(i.path for i in modules[:3]) + (", ..." if len(modules) > 3 else "")
        calls = len(insts) - len(modules)
        if is_root:
            doc = f"The {sample.kind} network."
        else:
            doc = (f"Block {sample.kind}: {len(modules)} instance{'s' if len(modules) > 1 else ''} ({where})"
                   + (f", applied {len(insts)} times (shared)." if calls else "."))
        doc = py_text(doc)
        self.classes.append(ClassDef(cls, "nn.Sequential" if sample.sequential else "nn.Module", doc, params, init,
                                     forward, self._fwd_params(sample, is_root), len(sample.outputs)))

    def _fwd_params(self, inst: Inst, is_root: bool) -> list[str]:
        if is_root:
            ns = Namespace()
            return [ns.create(ref[0]) for ref in inst.inputs]
        return ["x"] if len(inst.inputs) == 1 else [f"x{i + 1}" for i in range(len(inst.inputs))]

    def _param_names(self, sample, insts, columns, vectors, varying, param_of) -> list[str]:
        ns = Namespace({"self"})
        labels = [label_params(i.label) for i in insts]
        names: list[str | None] = [None] * len(columns)
        # 0. a network parameter keeps its name all the way down
        for c, column in enumerate(columns):
            first = column[0]
            if isinstance(first, NetParam) and all(repr(v) == first.name for v in column):
                names[c] = ns.create(first.name)
        # 1. the block's own parameters, when their values agree in every instance
        if labels and labels[0]:
            for k in labels[0]:
                col = tuple(lab.get(k) for lab in labels)
                for c, column in enumerate(columns):
                    if names[c] is None and all(a is not None and not isinstance(b, (tuple, NetParam))
                                                and float(b) == a for a, b in zip(col, column)):
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
            if e[0] != "inst":
                out += [(sanitize(slot), a) for a in _hole_arg_names(e[1])]
            else:
                out += [(sanitize(slot), a) for a in self._call_param_names(e[1])]
        return out

    def _call_param_names(self, child: Inst) -> list[str]:
        text = self.render[child.key]([0] * len(self.call_values[id(child)]))
        if text.startswith("nn.Sequential("):
            return [a for _slot, a in self._hole_contexts(self.inline_samples[child.key])]
        return re.findall(r"(\w+)=0", text)


def _annotation(column: tuple) -> str:
    """The type of a constructor parameter from the values the instances pass."""
    kinds = []
    for v in column:
        v = v.default if isinstance(v, NetParam) else v
        if isinstance(v, tuple):
            kind = f"tuple[{', '.join(['int'] * len(v))}]"
        else:
            kind = "float" if isinstance(v, float) else "int"
        if kind not in kinds:
            kinds.append(kind)
    if "float" in kinds and "int" in kinds:
        kinds.remove("int")
    return " | ".join(sorted(kinds, key=lambda k: (k.startswith("tuple"), k)))


_POSITIONAL_NAMES = {
    "nn.Linear": ["in_features", "out_features"], "nn.LayerNorm": ["normalized_shape"],
    "LayerNorm2d": ["channels"],
    "torch.full": ["size", "fill_value"], "nn.ChannelShuffle": ["groups"], "nn.LeakyReLU": ["negative_slope"],
    "StochasticDepth": ["p"],
}
for _nd in (1, 2, 3):  # the 1-D, 2-D and 3-D forms take the same positional arguments
    for _name in ("nn.Conv{}d", "PadConv{}d", "FusedConv{}d", "nn.ConvTranspose{}d"):
        _POSITIONAL_NAMES[_name.format(_nd)] = ["in_channels", "out_channels"]
    _POSITIONAL_NAMES[f"nn.BatchNorm{_nd}d"] = ["num_features"]
    _POSITIONAL_NAMES[f"nn.LPPool{_nd}d"] = ["norm_type"]
    _POSITIONAL_NAMES[f"nn.ConstantPad{_nd}d"] = ["padding", "value"]


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
