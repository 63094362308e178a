"""The fuzz cases: one deterministic input per (generator, seed), and how each is run."""

from __future__ import annotations

import os
from dataclasses import dataclass

import grammar_gen
import mutator
import program_gen
from harness import Outcome, run_case

GENERATORS = ("program", "grammar", "mutant")
LOWER_EVERY = 3  # one generated program in three is also lowered (ONNX Runtime, generated PyTorch)


@dataclass(frozen=True)
class Case:
    generator: str
    seed: int
    name: str  # the source name positions refer to
    text: str
    include_dirs: tuple[str, ...] = ()

    @property
    def lower(self) -> bool:
        return self.generator == "program" and self.seed % LOWER_EVERY == 0

    def run(self, seconds: float = 20.0) -> Outcome:
        return run_case(self.text, self.name, lower=self.lower, seconds=seconds, include_dirs=self.include_dirs)

    def label(self) -> str:
        return f"{self.generator}:{self.seed}"


def make(generator: str, seed: int) -> Case:
    if generator == "program":
        return Case(generator, seed, "fuzz.cnn", program_gen.program(seed))
    if generator == "grammar":
        return Case(generator, seed, "fuzz.cnn", grammar_gen.program(seed))
    if generator == "mutant":
        path, text = mutator.mutant(seed)
        return Case(generator, seed, path, text, (os.path.dirname(path),))
    raise ValueError(f"unknown generator {generator!r}; one of {', '.join(GENERATORS)}")


__all__ = ["GENERATORS", "Case", "make"]
