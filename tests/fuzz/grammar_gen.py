"""Random programs derived from the grammar itself (grammars/cnn.lark).

Each program is a random derivation of the `start` rule: every nonterminal expands by a
randomly chosen production of the compiled Lark grammar until a depth budget runs out,
after which the production closest to a terminal string is taken. Terminals get values
from tables: names from the op registry, builtins and a few plain names; numbers and
strings including hostile ones. What comes out parses (nearly always) and means almost
anything: it exercises the parser, the postlexer and every early check of the elaborator.
"""

from __future__ import annotations

import functools
import random
from importlib import resources

from lark import Lark
from lark.grammar import NonTerminal, Terminal

NAMES = ["x", "y", "c", "N", "i", "feats", "Net", "B", "relu", "conv", "bn", "add", "concat", "linear", "upsample",
         "range", "len", "max", "make_div", "channels", "zip", "enumerate", "input", "__init__", "self", "f32",
         "list", "identity", "flatten", "gap", "chunk", "sum", "L", "stride"]
NUMBERS = ["0", "1", "2", "3", "8", "64", "0.5", "1e309", "99999999999999999999", "1e-400", "10", "7.25"]
STRINGS = ['"same"', '"nearest"', '"x"', "'relu'", '""', '"valid"']
REGEX_TERMINALS = {
    "NAME": NAMES, "NUMBER": NUMBERS, "STRING": STRINGS, "COMP_OP": ["==", "!=", "<", ">", "<=", ">="],
    "MUL_OP": ["*", "/", "//", "%"], "COMMENT": ["# note"], "_NL": ["\n"],
}


@functools.lru_cache(maxsize=1)
def _grammar() -> tuple[dict, dict, dict]:
    text = resources.files("cnndsl.grammars").joinpath("cnn.lark").read_text(encoding="utf-8")
    lark = Lark(text, parser="lalr", lexer="basic", maybe_placeholders=True)
    rules: dict[str, list[list]] = {}
    for rule in lark.rules:
        rules.setdefault(rule.origin.name, []).append(list(rule.expansion))
    literals = {t.name: t.pattern.value for t in lark.terminals if t.pattern.type == "str"}
    # the fewest derivation steps to a terminal string, per nonterminal (a fixpoint)
    cost = {name: float("inf") for name in rules}
    changed = True
    while changed:
        changed = False
        for name, prods in rules.items():
            best = min(1 + sum(cost[s.name] if isinstance(s, NonTerminal) else 0 for s in p) for p in prods)
            if best < cost[name]:
                cost[name], changed = best, True
    return rules, literals, cost


class GrammarGen:
    def __init__(self, seed: int, depth: int = 14):
        self.rng = random.Random(seed)
        self.depth = depth
        self.rules, self.literals, self.cost = _grammar()
        self.out: list[str] = []

    def terminal(self, term: Terminal) -> str:
        if term.name in self.literals:
            return self.literals[term.name]
        return self.rng.choice(REGEX_TERMINALS.get(term.name, ["x"]))

    def expand(self, name: str, depth: int) -> None:
        prods = self.rules[name]
        if depth >= self.depth:
            prods = [min(prods, key=lambda p: sum(self.cost[s.name] if isinstance(s, NonTerminal) else 0 for s in p))]
        # shallow: favour the productions that grow (so bodies and lists are not mostly empty)
        weights = [1 + (depth < self.depth // 2) * sum(isinstance(s, NonTerminal) for s in p) for p in prods]
        for sym in self.rng.choices(prods, weights)[0]:
            if isinstance(sym, NonTerminal):
                self.expand(sym.name, depth + 1)
            else:
                self.out.append(self.terminal(sym))

    def program(self) -> str:
        """A derivation of `start`, then one of `network_def` (so there is a network to elaborate)."""
        self.expand("start", 0)
        self.out.append("\n")
        self.expand("network_def", 1)
        text = ""
        for tok in self.out:
            text += tok if tok == "\n" or text.endswith("\n") or not text else " " + tok
        return text + "\n"


def program(seed: int, depth: int = 14) -> str:
    return GrammarGen(seed, depth).program()


__all__ = ["GrammarGen", "program"]
