"""Structure recovery and emission: stages with paths -> `.cnn` text.

- The module tree comes from the paths; every module instance becomes a block call.
- Module instances whose bodies are the same up to numbers (channels, strides, ...) are one
  `block`; the numbers that differ between instances become its parameters (equal columns
  share one parameter).
- Consecutive calls of one block with the same arguments that feed each other, named by
  their positions, become `repeat n { ... }`.
- Inside a body, stages that feed each other form `->` chains; a value used elsewhere is
  bound to a name; merges take their inputs as `(a, b) -> add`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .render import fmt
from .stage import Stage

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SHARED_APP = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)@\d+$")  # a later application of a shared instance
RESERVED = frozenset(["network", "block", "let", "repeat", "as", "for", "in", "if", "elif", "else", "residual", "shortcut", "branches", "return", "import", "from", "and", "or", "not", "true", "false", "none", "assert", "shared"])


def _taken_names() -> set[str]:
    from cnndsl.elaborate.evaluator import BUILTINS
    from cnndsl.ops.registry import all_ops

    return set(all_ops()) | set(BUILTINS) | RESERVED


@dataclass
class Mod:
    path: tuple[str, ...]
    items: list = field(default_factory=list)  # Stage | Mod
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    slots: list = field(default_factory=list)  # (hint, value) of this instance
    key: str = ""
    group: Group | None = None


@dataclass
class Group:
    name: str
    key: str
    lines: list  # template lines: str with "\x00k\x00" slot markers and "\x01g:j\x01" call markers
    instances: list = field(default_factory=list)
    params: list = field(default_factory=list)  # (name, [slot columns])
    n_in: int = 1
    multi_in: bool = False


def build_tree(stages: list[Stage]) -> Mod:
    root = Mod(())
    mods = {(): root}
    for st in stages:
        mp = st.path[:-1]
        for k in range(1, len(mp) + 1):
            p = mp[:k]
            if p not in mods:
                mods[p] = Mod(p)
                mods[p[:-1]].items.append(mods[p])
        mods[mp].items.append(st)
    return root


def _all_stages(mod: Mod):
    for it in mod.items:
        if isinstance(it, Mod):
            yield from _all_stages(it)
        else:
            yield it


class Emitter:
    def __init__(self, stages: list[Stage], graph_outputs: list[str], network: str, inputs):
        from cnndsl.ops.registry import get

        self.get = get
        self.taken = _taken_names()
        self.graph_outputs = graph_outputs
        self.network = network
        self.net_inputs = inputs
        self.users: dict[str, int] = {}
        for st in stages:
            for i in st.inputs:
                self.users[i] = self.users.get(i, 0) + 1
        for o in graph_outputs:
            self.users[o] = self.users.get(o, 0) + 1
        self.groups: dict[str, Group] = {}
        self.block_names: set[str] = set()
        self.in_names: dict[str, str] = {}
        self.shared_bases: set[str] = set()
        self.path_parts = {part for st in stages for part in st.path}  # instance and tensor names to avoid
        for name, _dims in inputs:
            base = re.sub(r"[^A-Za-z0-9_]", "_", name)
            base = base if IDENT.match(base) and base not in self.taken else "input_" + base.strip("_")
            base = base if IDENT.match(base) else "input"
            cand, k = base, 1
            while cand in self.in_names.values():
                cand, k = f"{base}{k}", k + 1
            self.in_names[name] = cand

    def input_name(self, onnx_name: str) -> str:
        """The network input's name in the `.cnn` (the ONNX name when it is an identifier)."""
        return self.in_names[onnx_name]

    # ------------------------------------------------------------ interfaces
    def interface(self, mod: Mod) -> None:
        made, used = [], []
        for st in _all_stages(mod):
            used += [i for i in st.inputs if i not in made and i not in used]
            made += st.outputs
        mod.inputs = [i for i in used if i not in made]
        inside: dict[str, int] = {}
        for st in _all_stages(mod):
            for i in st.inputs:
                inside[i] = inside.get(i, 0) + 1
        mod.outputs = [o for o in made if self.users.get(o, 0) > inside.get(o, 0)]

    # ------------------------------------------------------------ one body
    def body(self, mod: Mod, is_network: bool) -> None:
        """Fill mod.slots and mod.key; register the group (children first)."""
        for it in mod.items:
            if isinstance(it, Mod):
                self.interface(it)
                self.body(it, False)
        slots: list = []
        lines: list[str] = []
        names: dict[str, str] = {}
        used_names: set[str] = set()

        def slot(hint, v):
            slots.append((hint, v))
            return f"\x00{len(slots) - 1}\x00"

        if is_network:
            for name, _shape in self.net_inputs:
                names[name] = self.in_names[name]
                used_names.add(self.in_names[name])
        else:
            for k, v in enumerate(mod.inputs):
                n = "x" if k == 0 else f"x{k}"
                names[v] = n
                used_names.add(n)
        flow = mod.inputs[0] if mod.inputs else (self.net_inputs[0][0] if self.net_inputs else None)
        index = 0
        local_used: set[str] = set()
        lu: dict[str, int] = {}
        for it in mod.items:
            for i in set(self._io(it)[0]):
                lu[i] = lu.get(i, 0) + 1
        for o in (self.graph_outputs if is_network else mod.outputs):
            lu[o] = lu.get(o, 0) + 1
        self.lu = lu
        items = self._runs(mod.items)
        # shared instances: `X@k` applications in this body (cnndsl's names); X itself is the first
        self.shared_bases = {m.group(1) for it in mod.items if (m := SHARED_APP.match(it.path[-1]))}
        self.decls: list[str] = []
        res = self._residual(mod, items, flow, lu) if flow is not None else None
        if res is not None:  # the body opens with `residual { ... } shortcut { ... }`
            seq1, seq2, add, items = res
            for head, seq in (("residual {", seq1), ("} shortcut {", seq2)):
                if head.startswith("}") and not seq:
                    continue
                texts = []
                for it in seq:
                    text, index = self._item_text(it, index, local_used, slot)
                    texts.append(text)
                lines += [head, "    " + " -> ".join(texts)]
            lines.append("}")
            self._stage_text(add, index, local_used, slot)  # the merge's name, as the elaborator will give it
            flow = add.outputs[0]
            if lu.get(flow, 0) > 1 or flow in mod.outputs and items:
                names[flow] = self._tensor_name(add, flow, used_names)
                lines.append(f"{names[flow]} = identity")
        # chains: item i continues the chain of i-1 when its only input is i-1's only output, used once
        chains: list[list] = []
        for it in items:
            ins, outs = self._io(it)
            if chains and not isinstance(it, tuple) and not isinstance(chains[-1][-1], tuple):
                prev = chains[-1][-1]
                _pins, pouts = self._io(prev)
                if (len(ins) == 1 and len(pouts) == 1 and ins[0] == pouts[0] and lu.get(pouts[0], 0) == 1
                        and pouts[0] not in mod.outputs):
                    chains[-1].append(it)
                    continue
            chains.append([it])
        for ci, chain in enumerate(chains):
            first_ins, _ = self._io(chain[0])
            _, last_outs = self._io(chain[-1])
            texts = []
            for it in chain:
                text, index = self._item_text(it, index, local_used, slot)
                texts.append(text)
            # source
            nxt = chains[ci + 1] if ci + 1 < len(chains) else None
            is_last = nxt is None
            bare = False
            if len(last_outs) == 1:
                o = last_outs[0]
                if is_last and mod.outputs == [o] or is_last and is_network and self.graph_outputs == [o] or nxt is not None and lu.get(o, 0) == 1 and self._io(nxt[0])[0] == [o] \
                        and o not in mod.outputs:
                    bare = True
            if len(first_ins) == 1 and first_ins[0] == flow and bare:
                src = ""
            elif len(first_ins) == 1:
                src = names[first_ins[0]] + " -> "
            else:
                src = "(" + ", ".join(names[i] for i in first_ins) + ") -> "
            if isinstance(chain[0], tuple) and src:  # a repeat run needs the flow as its source
                lines.append(f"{src.rstrip(' ->')} -> identity")
                src = ""
                flow = first_ins[0]
            stmt = src + " -> ".join(texts)
            if bare:
                lines.append(stmt)
                flow = last_outs[0]
            else:
                outs = []
                for o in last_outs:
                    n = self._tensor_name(chain[-1], o, used_names)
                    names[o] = n
                    outs.append(n)
                if isinstance(chain[0], tuple):
                    lines.append(stmt)
                    lines.append(f"{outs[0]} = identity")
                    flow = last_outs[0]
                else:
                    lines.append(", ".join(outs) + " = " + (stmt if src else names[first_ins[0]] + " -> " + stmt))
        outs = mod.outputs if not is_network else self.graph_outputs
        if not (len(outs) == 1 and flow == outs[0]):
            lines.append("return " + ", ".join(names[o] for o in outs))
        lines[:0] = self.decls
        mod.slots = slots
        header = f"{len(mod.inputs)}:" if not is_network else "net:"
        key = header + "\n".join(re.sub("\x00\\d+\x00", lambda m: "\x00" + slots[int(m.group(0)[1:-1])][0], ln)
                                 for ln in lines)
        mod.key = key
        if is_network:
            self.net_lines = lines
            return
        g = self.groups.get(key)
        if g is None:
            g = Group(self._block_name(mod), key, lines, n_in=len(mod.inputs))
            self.groups[key] = g
        g.instances.append(mod)
        mod.group = g

    def _residual(self, mod: Mod, items: list, flow: str, lu: dict):
        """items = [chain x -> a] + [chain x -> b, or nothing when b is x] + [add(a, b)] + rest, where every
        value inside the chains is used once: (seq1, seq2, add, rest), else None."""
        def chain(start: int, source: str):
            k, cur = start, source
            while k < len(items):
                it = items[k]
                if isinstance(it, tuple) or self._io(it)[0] != [cur] or len(self._io(it)[1]) != 1:
                    break
                if isinstance(it, Stage) and it.op == "add" or SHARED_APP.match(it.path[-1]) \
                        or it.path[-1] in self.shared_bases:
                    break
                cur = self._io(it)[1][0]
                k += 1
                if lu.get(cur, 0) != 1 or cur in mod.outputs:
                    break
            return k, cur

        end1, a = chain(0, flow)
        if end1 == 0:
            return None
        end2, b = chain(end1, flow)
        if end2 < len(items) and b == flow:
            end2 = end1
        if end2 >= len(items):
            return None
        add = items[end2]
        if not (isinstance(add, Stage) and add.op == "add" and add.inputs == [a, b] and not add.attrs
                and (not add.named or add.path[-1] == "add") and lu.get(a, 0) == 1 and (b == flow or lu.get(b) == 1)):
            return None
        return items[:end1], items[end1:end2], add, items[end2 + 1:]

    def _runs(self, items: list) -> list:
        """Consecutive calls of one group with equal arguments, chained, named by their positions
        (`0`, `1`, ...) or numbered (`denselayer1`, `denselayer2`, ...): one ('repeat', [mods])."""
        out: list = []
        for it in items:
            if isinstance(it, Mod) and out and isinstance(out[-1], (Mod, tuple)):
                prev_run = out[-1][1] if isinstance(out[-1], tuple) else [out[-1]]
                p = prev_run[-1]
                if (p.group is it.group and [v for _h, v in p.slots] == [v for _h, v in it.slots]
                        and len(p.outputs) == 1 and it.inputs == p.outputs and self.lu.get(p.outputs[0]) == 1
                        and _in_sequence(p, it) and len(it.outputs) == 1):
                    out[-1] = ("repeat", prev_run + [it])
                    continue
            out.append(it)
        return [o[1][0] if isinstance(o, tuple) and len(o[1]) == 1 else o for o in out]

    def _io(self, it):
        if isinstance(it, tuple):
            return it[1][0].inputs, it[1][-1].outputs
        if isinstance(it, Mod):
            return it.inputs, it.outputs
        return it.inputs, it.outputs

    def _item_text(self, it, index, local_used, slot):
        if isinstance(it, tuple):
            mods = it[1]
            k = len(mods)
            call, _ = self._call_text(mods[0], index, local_used, slot, allow_as=False)
            for m in mods:
                local_used.add(m.path[-1])
            numbered = _NUMBERED.match(mods[0].path[-1])
            if _positional(mods[0]) or numbered is None:
                return "\x02repeat " + slot("n", k) + " { " + call + " }\x02", index + k
            prefix, start = numbered.group(1), int(numbered.group(2))
            name = f'("{prefix}" + str(j + {start}))' if start else f'("{prefix}" + str(j))'
            return "\x02repeat " + slot("n", k) + " as j { " + call + " as " + name + " }\x02", index + k
        local = it.path[-1]
        base = m.group(1) if (m := SHARED_APP.match(local)) else local
        if base in self.shared_bases and (local == base or m):
            if base not in local_used:  # the first application declares the instance
                if isinstance(it, Mod):
                    call, _ = self._call_text(it, index, local_used, slot, allow_as=False)
                else:
                    call, _ = self._stage_text(it, index, set(), slot, allow_as=False)
                self.decls.append(f"shared {base} = {call}")
                local_used.add(base)
            return base, index
        if isinstance(it, Mod):
            return self._call_text(it, index, local_used, slot)
        return self._stage_text(it, index, local_used, slot)

    def _as(self, local, predicted, local_used, named=True):
        local_used.add(local if named else predicted)
        if not named or local == predicted:
            return ""
        if IDENT.match(local) and local not in RESERVED:
            return f" as {local}"
        return f' as ("{local}")'

    def _call_text(self, mod, index, local_used, slot, allow_as=True):
        gid = list(self.groups).index(mod.group.key)
        args = "".join(slot(h, v) for h, v in mod.slots)
        text = f"\x01{gid}\x01{args}\x03"
        predicted = str(index)
        while predicted in local_used:
            predicted += "_"
        text += self._as(mod.path[-1], predicted, local_used) if allow_as else ""
        return text, index + 1

    def _stage_text(self, st: Stage, index, local_used, slot, allow_as=True):
        opdef = self.get(st.op)
        merge = opdef.inputs[1] is None or opdef.inputs[1] > 1
        optional = _OPTIONAL.get(st.op, ())
        specs = [s for s in opdef.attrs if s.name in st.attrs or s.name in optional]
        parts = []
        for k, spec in enumerate(specs):
            if spec.name not in st.attrs:  # written only where it differs from 1 or is a block parameter
                parts.append(f"\x04{spec.name}=" + slot(_hint(st.op, spec.name), 1) + "\x04")
                continue
            v = st.attrs[spec.name]
            if spec.name in optional and _sloty(v):
                parts.append(f"\x04{spec.name}=" + slot(_hint(st.op, spec.name), v) + "\x04")
                continue
            val = slot(_hint(st.op, spec.name), v) if _sloty(v) else fmt(v)
            if k == 0 and spec is opdef.attrs[0] and opdef.positional >= 1 and spec.required:
                parts.append(val)
            else:
                parts.append(f"{spec.name}={val}")
        text = st.op + (f"({', '.join(parts)})" if parts else "")
        if not allow_as:
            return text, index
        local = st.path[-1]
        if merge and not (st.named and local and (local.split("_")[0] != st.op)):
            predicted = st.op
            i = 1
            while predicted in local_used:
                predicted, i = f"{st.op}_{i}", i + 1
            if not st.named or local == predicted:
                local_used.add(predicted)
                return text, index
        predicted = str(index)
        while predicted in local_used:
            predicted += "_"
        return text + self._as(local, predicted, local_used, st.named), index + 1

    def _tensor_name(self, it, value, used):
        base = None
        if isinstance(it, Stage) and it.named and IDENT.match(it.path[-1]) or isinstance(it, Mod) and IDENT.match(it.path[-1]):
            base = it.path[-1]
        if base is None or base in self.taken or base in RESERVED or base in self.shared_bases:
            base = "t"
        name, k = base, 1
        while name in used or name in self.taken or name == "t":
            name, k = f"{base}{k}" if base != "t" else f"t{k}", k + 1
        used.add(name)
        return name

    def _block_name(self, mod: Mod) -> str:
        local = mod.path[-1]
        if local.isdigit() or not local:
            parent = mod.path[-2] if len(mod.path) > 1 else "Unit"
            base = re.sub(r"\d+$", "", parent) or "Unit"
            base = base[:1].upper() + base[1:] + "Block"
        else:
            base = re.sub(r"[^A-Za-z0-9]", "_", local)
            base = re.sub(r"_*\d+$", "", base) or "Block"
            base = "".join(p[:1].upper() + p[1:] for p in base.split("_") if p) or "Block"
        if not base[:1].isalpha():
            base = "B" + base
        name, k = base, 2
        while (name in self.block_names or name.lower() in self.taken or name == self.network
               or name in self.path_parts):
            name, k = f"{base}{k}", k + 1
        self.block_names.add(name)
        return name

    # ------------------------------------------------------------ parameters and text
    def finish(self, root: Mod, network_input_text: str) -> str:
        from .render import finish

        return finish(self, root, network_input_text)

def _positional(m: Mod) -> bool:
    return m.path[-1].isdigit()


_NUMBERED = re.compile(r"^([A-Za-z_][A-Za-z_]*?)(\d+)$")  # `denselayer12`: a prefix and a number (no leading 0)


def _in_sequence(a: Mod, b: Mod) -> bool:
    """b's name follows a's: positions (`3`, `4`) or numbered names (`denselayer3`, `denselayer4`)."""
    if _positional(a) and _positional(b):
        return True
    ma, mb = _NUMBERED.match(a.path[-1]), _NUMBERED.match(b.path[-1])
    return bool(ma and mb and ma.group(1) == mb.group(1) and not mb.group(2).startswith("0")
                and int(mb.group(2)) == int(ma.group(2)) + 1)


def _sloty(v) -> bool:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return False
    if isinstance(v, (tuple, list)):
        return all(_sloty(x) for x in v)
    return isinstance(v, (int, float))


# attributes written only where they differ from 1, so that blocks that differ in them become one block
_OPTIONAL = {"conv": ("stride", "dilation", "groups"), "conv_t": ("stride", "dilation", "groups")}

_HINTS = {"out": "c", "min": "lo", "max": "hi", "shape": "dims", "sizes": "parts", "size": "hw", "axes": "dims_"}


def _hint(op, attr):
    return _HINTS.get(attr, attr)


__all__ = ["Emitter", "build_tree", "fmt"]
