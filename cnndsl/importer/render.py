"""Emission's last step: block parameters from the columns that differ between a group's
instances (defaults where a value is shared), and the text: calls with their arguments,
optional attributes dropped where they are 1, repeat loops, long chains wrapped.
`self` in these functions is the `structure.Emitter` that collected the bodies."""

from __future__ import annotations

import re

from cnndsl.diagnostics import InputError


def fmt(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, str):
        if not re.fullmatch(r"[A-Za-z0-9_.+-]*", v):  # text from a foreign file never reaches the .cnn unchecked
            raise InputError(f"an attribute value {v[:40]!r} cannot be written in a .cnn file")
        return f'"{v}"'
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(fmt(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, float):
        r = repr(v)
        return r if ("." in r or "e" in r or "inf" in r) else r + ".0"
    return str(v)


def finish(self, root, network_input_text: str) -> str:
    """Block parameters (columns that differ between instances), defaults, and the whole file's text."""
    taken = self.taken
    for g in self.groups.values():
        cols = list(zip(*[[v for _h, v in m.slots] for m in g.instances])) if g.instances[0].slots else []
        hints = [h for h, _v in g.instances[0].slots]
        seen: dict[tuple, int] = {}
        g.col_param = {}
        names_used: set[str] = set()
        for j, col in enumerate(cols):
            if len(set(map(repr, col))) == 1:
                continue
            keyc = tuple(map(repr, col))
            if keyc in seen:
                g.col_param[j] = g.col_param[seen[keyc]]
                continue
            seen[keyc] = j
            base = hints[j]
            name, k = base, 2
            while name in names_used or name in taken:
                name, k = f"{base}{k}", k + 1
            names_used.add(name)
            g.col_param[j] = name
            g.params.append((name, j))
        g.defaults = {}
        for name, j in g.params:  # the most common value, when it is shared, is the parameter's default
            reprs = [repr(v) for v in cols[j]]
            best = max(dict.fromkeys(reprs), key=reprs.count)
            if reprs.count(best) >= 2 and not re.fullmatch(r"(c|hw|dims|parts)\d*", name):  # sizes stay explicit
                g.defaults[name] = cols[j][reprs.index(best)]
        g.params.sort(key=lambda p: p[0] in g.defaults)  # parameters with defaults last (stable)
    out = []
    order = sorted(self.groups.values(), key=lambda g: -_depth(g))
    for g in order:
        inst = g.instances[0]
        params = ", ".join(n + (f"={fmt(g.defaults[n])}" if n in g.defaults else "") for n, _j in g.params)
        ins = ", ".join("x" if k == 0 else f"x{k}" for k in range(len(inst.inputs)))
        head = f"block {g.name}({params}) ({ins}) {{" if ins else f"block {g.name}({params}) {{"
        out.append(head)
        out += ["    " + ln for ln in render(self, g.lines, inst.slots, g)]
        out.append("}")
        out.append("")
    out.append(f"network {self.network}() ({network_input_text}) {{")
    out += ["    " + ln for ln in render(self, self.net_lines, root.slots, None)]
    out.append("}")
    return "\n".join(out) + "\n"

def render(self, lines, slots, group):
    """One body's template lines with its slots, calls and optional attributes filled in."""
    groups = list(self.groups.values())
    res = []
    for ln in lines:
        def call(m):
            g = groups[int(m.group(1))]
            args_markers = re.findall("\x00(\\d+)\x00", m.group(2))
            vals = [int(a) for a in args_markers]
            args = []
            for pname, j in g.params:
                k = vals[j]
                passed = group is not None and k in getattr(group, "col_param", {})
                if not passed and pname in g.defaults and repr(slots[k][1]) == repr(g.defaults[pname]):
                    continue  # the default
                args.append(f"{pname}=\x00{k}\x00" if pname in g.defaults else f"\x00{k}\x00")
            return f"{g.name}({', '.join(args)})" if args else g.name

        ln = re.sub("\x01(\\d+)\x01((?:\x00\\d+\x00)*)\x03", call, ln)

        def val(m):
            j = int(m.group(1))
            if group is not None and j in getattr(group, "col_param", {}):
                return group.col_param[j]
            return fmt(slots[j][1])

        def optional(m):
            j = int(m.group(2))
            if group is not None and j in getattr(group, "col_param", {}) or slots[j][1] != 1:
                return f"{m.group(1)}=\x00{j}\x00"
            return "\x06"

        ln = re.sub("\x04([a-z_]+)=\x00(\\d+)\x00\x04", optional, ln)
        ln = re.sub("\x00(\\d+)\x00", val, ln)
        ln = ln.replace(", \x06", "").replace("\x06, ", "").replace("\x06", "")
        if "\x02" in ln:
            _pre, rep, _post = ln.split("\x02")
            head, call_text = rep.split(" { ")
            res.append(head + " {")
            res.append("    " + call_text.rstrip(" }"))
            res.append("}")
            continue
        res.append(ln)
    return res


def _depth(g) -> int:
    return max(len(m.path) for m in g.instances)


__all__ = ["finish", "fmt", "render"]
