"""Random `.cnn` programs built from the language's constructs and the op registry.

A program is a network (1-, 2- or 3-D input) whose body mixes stages of every registered
op, with attributes drawn from each `AttrSpec` (mostly values it accepts, sometimes hostile
ones: zero, negative, huge, non-finite, the wrong type, deep lists), and the statements
around them: `let` arithmetic, `repeat`, `for`, `if`, `residual`, `branches`, named
tensors, tensor arithmetic and slices, blocks with parameters, shared modules, `assert`.
The generator follows channel counts so that most programs elaborate (and reach the
passes and backends); the rest exercise the diagnostics.
"""

from __future__ import annotations

import random

from cnndsl.ops.registry import REGISTRY, AttrSpec

HOSTILE_NUMBERS = ["0", "-1", "-0.0", "2**63", "10**30", "1e308 * 10", "0.0 / 1", "1e-320", "3.5", "-7",
                   "2**31", "100000"]
HOSTILE_VALUES = ["none", "true", '"x"', "[]", "[[[1]]]", "(1, 2, 3, 4, 5, 6, 7)", "[1, 2] * 3", "range(3)",
                  '"same"', "-(2**62)"]
ACTIVATIONS = ["relu", "relu6", "sigmoid", "tanh", "silu", "gelu", "hswish", "hsigmoid", "elu", "leaky_relu",
               "identity", "abs", "neg"]
NORMS = ["bn", "instancenorm", "layernorm"]
SKIP_OPS = {"input", "fused_conv"}  # made by the compiler, not written


class ProgramGen:
    def __init__(self, seed: int, hostile: float = 0.08):
        self.rng = random.Random(seed)
        self.hostile = hostile
        self.blocks: list[str] = []
        self.block_names: list[str] = []
        self.tensors: list[str] = []
        self.uid = 0

    # ------------------------------------------------------------------ values
    def fresh(self, prefix: str) -> str:
        self.uid += 1
        return f"{prefix}{self.uid}"

    def bad(self) -> bool:
        return self.rng.random() < self.hostile

    def small_int(self, lo: int = 1, hi: int = 4) -> str:
        return self.rng.choice(HOSTILE_NUMBERS) if self.bad() else str(self.rng.randint(lo, hi))

    def value_for(self, spec: AttrSpec, rank: int) -> str:
        r = self.rng
        if self.bad():
            return r.choice(HOSTILE_NUMBERS + HOSTILE_VALUES)
        if spec.choices:
            return repr(r.choice(spec.choices)).replace("'", '"') if isinstance(spec.choices[0], str) \
                else str(r.choice(spec.choices)).lower()
        t = spec.type
        if t == "int":
            return str(r.randint(1, 3))
        if t == "float":
            return r.choice(["0.5", "1e-05", "0.1", "2.0", "0.0", "1"])
        if t == "bool":
            return r.choice(["true", "false"])
        if t == "int2":
            return str(r.randint(1, 3)) if r.random() < 0.7 else "(" + ", ".join(
                str(r.randint(1, 3)) for _ in range(rank - 2)) + ("," if rank == 3 else "") + ")"
        if t == "pad":
            return r.choice(["0", "1", '"same"', '"valid"'])
        if t == "ints":
            items = [str(r.randint(0, rank - 1)) for _ in range(r.randint(1, 2))]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if t == "str":
            return '"' + r.choice(["nearest", "none", "tanh", "row", "constant", "linear"]) + '"'
        return r.choice(["2", "none", "(2, 2)"])

    # ------------------------------------------------------------------ stages
    def stage(self, c: str, rank: int) -> str:
        """One stage applied to the flow; `c` is an expression for the flow's channel count."""
        r = self.rng
        roll = r.random()
        if roll < 0.25:
            return r.choice(ACTIVATIONS)
        if roll < 0.4:
            return f"conv({c}, kernel={r.choice([1, 3])}, padding=\"same\"{self.extra('conv', rank)})"
        if roll < 0.5:
            return r.choice(NORMS) if rank == 4 or r.random() < 0.5 else "bn"
        if roll < 0.55 and self.block_names:
            return f"{r.choice(self.block_names)}({c})"
        if roll < 0.62:
            return f"maxpool({r.choice([1, 3])}, stride=1, padding={r.choice([0, 1])})" if r.random() < 0.5 \
                else "avgpool(1)"
        # any registered op, attributes from its specs (often shape-changing or invalid: diagnostics)
        op = r.choice(sorted(n for n in REGISTRY if n not in SKIP_OPS))
        return f"{op}({self.args(op, rank, c)})"

    def extra(self, op: str, rank: int) -> str:
        spec = self.rng.choice(REGISTRY[op].attrs)
        if spec.name in ("out", "kernel", "padding") or self.rng.random() < 0.6:
            return ""
        return f", {spec.name}={self.value_for(spec, rank)}"

    def args(self, op: str, rank: int, c: str) -> str:
        out = []
        for spec in REGISTRY[op].attrs:
            if spec.required or self.rng.random() < 0.3:
                value = c if spec.name in ("out", "groups", "num_parameters") and not self.bad() else \
                    self.value_for(spec, rank)
                out.append(f"{spec.name}={value}")
        if self.rng.random() < 0.05:
            out.append(f"{self.rng.choice(['strdie', 'kernal', 'foo'])}=1")  # misspelt keyword
        return ", ".join(out)

    # ------------------------------------------------------------------ statements
    def statements(self, depth: int, c: str, rank: int, n: int) -> list[str]:
        """`n` statements; tensors they bind stay in scope only within them."""
        outer = list(self.tensors)
        try:
            return self._statements(depth, c, rank, n)
        finally:
            self.tensors = outer

    def _statements(self, depth: int, c: str, rank: int, n: int) -> list[str]:
        r = self.rng
        lines: list[str] = []
        for _ in range(n):
            roll = r.random()
            if depth < 3 and roll < 0.1:
                lines += [f"repeat {self.small_int(1, 3)} {{"] + self.indent(self.statements(depth + 1, c, rank, 2)) + ["}"]
            elif depth < 3 and roll < 0.18:
                lines += ["residual {"] + self.indent(self.statements(depth + 1, c, rank, 2)) + ["}"]
            elif depth < 3 and roll < 0.24:
                branch = [f"conv({c}, kernel=1)" for _ in range(r.randint(1, 3))]
                lines += ["branches concat(axis=1) {"] + self.indent(branch) + ["}"]
                lines.append(f"conv({c}, kernel=1)")
            elif depth < 3 and roll < 0.3:
                v = self.fresh("w")
                lines += [f"for {v} in [1, 2] {{"] + self.indent(self.statements(depth + 1, c, rank, 1)) + ["}"]
            elif depth < 3 and roll < 0.35:
                lines += [f"if {self.small_int(0, 3)} > 1 {{"] + self.indent(self.statements(depth + 1, c, rank, 1)) \
                    + ["} else {"] + self.indent([r.choice(ACTIVATIONS)]) + ["}"]
            elif roll < 0.45:
                t = self.fresh("t")
                lines.append(f"{t} = {self.stage(c, rank)}")
                self.tensors.append(t)
            elif roll < 0.52 and self.tensors:
                t = r.choice(self.tensors)
                form = r.choice([f"({t}, {t}) -> add", f"{t} * 0.5 + {t}", f"{t}[:, :{c}]", f"{t} -> sigmoid",
                                 f"({t}, {t}) -> concat -> conv({c}, kernel=1)", f"-{t}", f"{t} ** 2"])
                lines.append(form)
            elif roll < 0.56:
                lines.append(f"let {self.fresh('k')} = {self.expr()}")
            elif roll < 0.58:
                lines.append(f"assert {c} > 0, \"channels\"")
            else:
                lines.append(self.stage(c, rank))
        return lines

    def expr(self) -> str:
        r = self.rng
        a, b = self.small_int(0, 9), self.small_int(0, 9)
        return r.choice([f"{a} + {b}", f"{a} * {b}", f"{a} // ({b} + 1)", f"max({a}, {b})", f"[{a}, {b}][1]",
                         f"len([{a}, {b}])", f"{a} if {b} > 2 else 1", f"round({a} / 3, 2)", f"range({a}, 9, {b})",
                         f"make_div({a} * 8, 8)", f"{a} ** {b}", f"sum([{a}, {b}])"])

    def indent(self, lines: list[str]) -> list[str]:
        return ["    " + line for line in lines]

    # ------------------------------------------------------------------ programs
    def block(self, rank: int) -> None:
        name = self.fresh("Blk")
        body = self.statements(1, "c", rank, self.rng.randint(1, 3))
        self.blocks += [f"block {name}(c) (x) {{"] + self.indent(body) + ["}", ""]
        self.block_names.append(name)

    def program(self) -> str:
        r = self.rng
        rank = r.choice([4, 4, 4, 3, 5])
        c = r.randint(1, 6)
        spatial = [r.randint(1, 9) for _ in range(rank - 2)]
        for _ in range(r.randint(0, 2)):
            self.block(rank)
        dims = ", ".join(["N", str(c)] + [str(s) for s in spatial])
        body = [f"let c = {c}"]
        if r.random() < 0.2:
            body.append(f"shared sh = conv({c}, kernel=1)")
            body += self.statements(0, "c", rank, r.randint(1, 4))
            body += ["sh", "sh"]
        else:
            body += self.statements(0, "c", rank, r.randint(1, 6))
        if r.random() < 0.3:
            body += ["gap", "flatten", f"linear({self.small_int(1, 10)})"]
        return "\n".join(self.blocks + [f"network Fuzz(width={c}) (x: f32[{dims}]) {{"] + self.indent(body)
                         + ["}", ""])


def program(seed: int, hostile: float = 0.08) -> str:
    return ProgramGen(seed, hostile).program()


__all__ = ["ProgramGen", "program"]
