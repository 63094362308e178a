"""The pass manager: named passes, a pipeline runner, IR printing and timing.

A pass is a function `(graph, ctx) -> PassResult` registered under a name (one pass
per file in this package, listed in `cnndsl/passes/__init__.py`). Analyses annotate
`node.meta` in place and say so (`in_place=True`); transformations work on a copy and
return it, together with updated weights when they change parameters (BN folding).

When a pass raises, the manager raises `PassError` naming the pass and the passes that
ran before it, keeping the source span of the original error when it had one
(onnx-ir's pass-manager contract).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from cnndsl.diagnostics import CnnError
from cnndsl.ir.graph import Graph
from cnndsl.passes import contract


@dataclass(frozen=True)
class Convention:
    """What the FLOP count includes. MACs never change: conv + linear multiply-adds only.

    FLOPs = 2 * MACs, plus (per flag) bias adds, BN (one multiply and one add per element),
    activations, pooling (one op per window element) and elementwise merges / resampling.
    """

    bias: bool = True
    bn: bool = True
    activations: bool = True
    pooling: bool = True
    elementwise: bool = True

    def flag(self, kind: str) -> bool:
        return bool(getattr(self, kind))

    def describe(self) -> str:
        on = [k for k in ("bias", "bn", "activations", "pooling", "elementwise") if self.flag(k)]
        extra = " + ".join(on) if on else "nothing else"
        return f"MACs = conv + linear multiply-adds per batch item (torchvision); FLOPs = 2*MACs + {extra}"

    def to_json(self) -> dict:
        return {"macs": "conv+linear multiply-adds, per batch item",
                "flops": {k: self.flag(k) for k in ("bias", "bn", "activations", "pooling", "elementwise")}}


@dataclass(frozen=True)
class PassResult:
    """What a pass returns. `weights` is None when the pass left the weights alone."""

    graph: Graph
    modified: bool
    weights: dict | None = None


@dataclass
class PassContext:
    """Shared state of one pipeline run: weights, counting convention, warnings."""

    weights: dict | None = None
    convention: Convention = field(default_factory=Convention)
    warnings: list[str] = field(default_factory=list)
    declined: list[str] = field(default_factory=list)  # reasons rewrite rules gave for not firing

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@dataclass(frozen=True)
class Pass:
    name: str
    run: Callable[[Graph, PassContext], PassResult]
    kind: str  # "analysis" or "transform"
    doc: str
    in_place: bool = False  # analyses write node.meta of the graph they are given
    requires: tuple[str, ...] = ()  # node.meta keys every node must carry before the pass runs


class PassError(CnnError):
    """A pass failed; the message names it and the passes that ran before it."""

    def __init__(self, pass_name: str, before: list[str], err: Exception):
        ran = ", ".join(before) if before else "none"
        msg = err.message if isinstance(err, CnnError) else f"{type(err).__name__}: {err}"
        super().__init__(f"pass '{pass_name}' failed (passes before it: {ran}): {msg}",
                         getattr(err, "span", None), getattr(err, "chain", ()))
        self.pass_name = pass_name
        self.before = list(before)
        self.cause = err


PASSES: dict[str, Pass] = {}


def register_pass(p: Pass) -> Pass:
    if p.name in PASSES:
        raise ValueError(f"pass {p.name!r} registered twice")
    PASSES[p.name] = p
    return p


def get_pass(name: str) -> Pass:
    from cnndsl import passes  # noqa: F401  (fills PASSES)

    if name not in PASSES:
        known = ", ".join(PASSES)
        raise CnnError(f"unknown pass {name!r}; passes are: {known}")
    return PASSES[name]


@dataclass
class PipelineResult:
    graph: Graph
    weights: dict | None
    ran: list[str]
    timings: list[tuple[str, float]]
    warnings: list[str]
    declined: list[str]
    modified: bool


def run_passes(graph: Graph, names: list[str] | tuple[str, ...], *, weights: dict | None = None,
               convention: Convention | None = None, print_after: tuple[str, ...] | list[str] = (),
               time_passes: bool = False, stream: TextIO | None = None, verify: bool | None = None) -> PipelineResult:
    """Run `names` in order. `print_after` names passes (or "all") whose output IR is printed to `stream`.

    `verify` (default: `contract.VERIFY`, on in the tests and under `--verify`) lints the graph
    before the first pass and checks the IR contract after every pass (cnndsl/passes/contract.py)."""
    stream = stream or sys.stderr
    verify = contract.VERIFY if verify is None else verify
    if verify:
        try:
            graph.lint()
        except ValueError as err:
            raise CnnError(f"--verify: the graph given to the pipeline is invalid: {err}") from None
    ctx = PassContext(weights=weights, convention=convention or Convention())
    resolved = [get_pass(n) for n in names]
    for n in print_after:
        if n != "all":
            get_pass(n)  # unknown names are an error, not silence
            if n not in names:
                hint = "; add --optimize to run the cleanups" if n in CLEANUPS else ""
                raise CnnError(f"--print-after {n}: pass '{n}' is not in this pipeline ({', '.join(names)}){hint}")
    ran: list[str] = []
    timings: list[tuple[str, float]] = []
    modified = False
    for p in resolved:
        missing = [key for key in p.requires if any(key not in n.meta for n in graph.nodes.values())]
        if missing:
            raise PassError(p.name, ran, CnnError(f"it needs '{', '.join(missing)}' on every node; run the pass "
                                                  f"that computes it first (e.g. 'shapes')"))
        before = contract.snapshot(graph) if verify else None
        was_shaped = verify and contract.shaped(graph)
        start = time.perf_counter()
        try:
            result = p.run(graph, ctx)
        except PassError:
            raise
        except Exception as err:
            raise PassError(p.name, ran, err) from err
        timings.append((p.name, time.perf_counter() - start))
        if verify:
            try:
                contract.check(p.name, p.in_place, before, was_shaped, graph, result.graph)
            except contract.ContractError as err:
                raise PassError(p.name, ran, err) from None
        graph = result.graph
        if result.weights is not None:
            ctx.weights = result.weights
        modified = modified or result.modified
        ran.append(p.name)
        if p.name in print_after or "all" in print_after:
            print(f"; IR after pass '{p.name}' (modified: {'yes' if result.modified else 'no'})", file=stream)
            print(graph.to_text(), file=stream, end="")
    if time_passes:
        print(format_timings(timings), file=stream)
    return PipelineResult(graph, ctx.weights, ran, timings, ctx.warnings, ctx.declined, modified)


def format_timings(timings: list[tuple[str, float]]) -> str:
    total = sum(t for _n, t in timings) or 1e-12
    width = max([len(n) for n, _t in timings] + [4])
    lines = ["; pass timings", f";   {'pass':<{width}}  {'ms':>9}  {'share':>6}"]
    for name, t in timings:
        lines.append(f";   {name:<{width}}  {t * 1e3:9.3f}  {100 * t / total:5.1f}%")
    lines.append(f";   {'total':<{width}}  {total * 1e3:9.3f}")
    return "\n".join(lines)


# The two standard pipelines. Analyses only (what `cnndsl report` shows by default: the
# network as written) and the inference pipeline (cleanups first, then the analyses).
ANALYSES: tuple[str, ...] = ("shapes", "params", "macs", "memory", "rf")
CLEANUPS: tuple[str, ...] = ("remove_noops", "fold_bn", "fuse_conv_act", "dce")
INFERENCE: tuple[str, ...] = ("shapes",) + CLEANUPS + ANALYSES[1:]


def pipeline_upto(upto: str | None, optimize: bool = False) -> tuple[str, ...]:
    """The passes `run_pipeline` runs: the inference pipeline when `optimize` or when
    `upto` is a cleanup, else the analyses; cut after `upto` (inclusive)."""
    if upto is not None:
        get_pass(upto)
    names = INFERENCE if optimize or upto in CLEANUPS else ANALYSES
    if upto is None:
        return names
    return names[: names.index(upto) + 1]


def run_pipeline(graph: Graph, upto: str | None = None, *, optimize: bool = False, weights: dict | None = None,
                 convention: Convention | None = None) -> Graph:
    """The graph after the standard pipeline, up to and including pass `upto` (all of it when None).

    For `cnndsl ir --after PASS`. Transformations run structurally (no weights). Use
    `run_standard` for the weights, timings and warnings too.
    """
    return run_standard(graph, upto, optimize=optimize, weights=weights, convention=convention).graph


def run_standard(graph: Graph, upto: str | None = None, *, optimize: bool = False, weights: dict | None = None,
                 convention: Convention | None = None, print_after: tuple[str, ...] | list[str] = (),
                 time_passes: bool = False, stream: TextIO | None = None) -> PipelineResult:
    """`run_pipeline` with the full `PipelineResult` (weights, timings, warnings, declined rewrites)."""
    return run_passes(graph, pipeline_upto(upto, optimize), weights=weights, convention=convention,
                      print_after=print_after, time_passes=time_passes, stream=stream)


def annotate(graph: Graph, convention: Convention | None = None) -> Graph:
    """Run every analysis on `graph` in place (shape, params, MACs, memory, RF) and return it.

    For renderers (`cnndsl ir --format dot|svg`) that label nodes with these figures.
    """
    return run_passes(graph, ANALYSES, convention=convention).graph


def describe_passes() -> list[dict[str, Any]]:
    from cnndsl import passes  # noqa: F401

    return [{"name": p.name, "kind": p.kind, "doc": p.doc} for p in PASSES.values()]
