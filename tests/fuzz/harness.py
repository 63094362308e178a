"""Run one fuzz input through cnndsl and classify what happened.

Outcomes (issue 17 item 5):

- `ok`: the network elaborates, every pass and report format works, and (when lowering is
  asked for and the network is small) the ONNX model loads and runs in ONNX Runtime and
  the generated PyTorch module imports and runs, both agreeing with the reference
  interpreter (each op in float64, each tensor stored in float32, as a float32 backend
  computes) where the reference is finite: to 1% of the output's scale, or to 10x the
  network's own sensitivity to float32 rounding where that is larger (the interpreter run
  with float64 tensors throughout differing from the float32 one: a normalization over
  nearly equal values amplifies rounding until float32 results mean little);
- `diagnostic`: a cnndsl error (`CnnError`, exit 2 at the CLI) positioned inside the
  source it came from (or unpositioned, for whole-file problems), which renders;
- `failure`: anything else: another exception, a timeout, a diagnostic positioned outside
  its source, an artefact a runtime rejects, backends that disagree.

Everything runs in-process; `campaign.py` adds a memory limit by running cases in a
child process.
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnndsl.diagnostics import CnnError, render

MAX_LOWER_ELEMENTS = 200_000  # activations + parameters of a network worth lowering in a fuzz case


@dataclass
class Outcome:
    kind: str  # "ok", "diagnostic" or "failure"
    detail: str  # diagnostic class and position, or what failed (with the traceback's last lines)
    phase: str = ""  # where: elaborate, passes, report, onnx, pytorch

    @property
    def failed(self) -> bool:
        return self.kind == "failure"

    def __str__(self) -> str:
        return f"{self.kind} [{self.phase}] {self.detail}" if self.phase else f"{self.kind} {self.detail}"


class CaseTimeout(BaseException):
    """A case ran past its deadline (a BaseException, so `except Exception` in cnndsl cannot swallow it)."""


@contextlib.contextmanager
def deadline(seconds: float):
    """SIGALRM-based time limit for the main thread (the fuzz tests and campaign workers run there)."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(_sig, _frame):
        raise CaseTimeout(f"no answer within {seconds:g} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _failure(phase: str, err: BaseException) -> Outcome:
    tb = traceback.format_exception(type(err), err, err.__traceback__)
    tail = "".join(tb[-3:]).strip()
    return Outcome("failure", f"{type(err).__name__}: {err}\n{tail}", phase)


def diagnostic(err: CnnError, text: str, name: str) -> Outcome:
    """A CnnError as an outcome: a failure when its position is outside the source it names."""
    try:
        rendered = render(err)
    except Exception as bad:  # noqa: BLE001  (a renderer crash is exactly what the fuzzer reports)
        return _failure("render", bad)
    span = err.span
    if span is None:
        return Outcome("diagnostic", f"{type(err).__name__} (unpositioned)")
    if str(span.file) == name:
        lines = text.split("\n")
        if not 1 <= span.line <= len(lines) + 1 or span.col < 1:
            return Outcome("failure", f"{type(err).__name__} positioned at {span.line}:{span.col}, outside the "
                           f"{len(lines)}-line source: {err.message}\n{rendered}", "render")
    return Outcome("diagnostic", f"{type(err).__name__} at {span.line}:{span.col}")


def run_case(text: str, name: str = "fuzz.cnn", *, lower: bool = False, seconds: float = 10.0,
             include_dirs: tuple[str, ...] = ()) -> Outcome:
    """Elaborate, analyse, report and (with `lower`) lower `text`; see the module docstring."""
    from cnndsl.api import load_text

    if lower:
        warm_up()  # outside the deadline: an alarm inside `import torch` would leave torch half-imported
    try:
        with deadline(seconds):
            try:
                graph = load_text(text, name, batch=1, include_dirs=include_dirs)
            except CnnError as err:
                return diagnostic(err, text, name)
            except RecursionError as err:
                return _failure("elaborate", err)
            return _after_elaboration(graph, lower)
    except CaseTimeout as err:
        return Outcome("failure", str(err), "timeout")
    except MemoryError as err:
        return _failure("memory", err)
    except Exception as err:  # noqa: BLE001  (any other exception is the finding)
        return _failure("elaborate", err)


def warm_up() -> None:
    """Import what the lowerings load lazily (torch, ONNX, ONNX Runtime), once, before any deadline."""
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401
    import torch  # noqa: F401


def _after_elaboration(graph, lower: bool) -> Outcome:
    from cnndsl.passes import ANALYSES, INFERENCE, run_passes
    from cnndsl.report import build_report
    from cnndsl.report import render as render_report
    from cnndsl.report.formats import FORMATS

    phase = "passes"
    try:
        run_passes(graph, INFERENCE)
        annotated = run_passes(graph, ANALYSES).graph
        phase = "report"
        rep = build_report(annotated)
        for fmt in FORMATS:
            render_report(rep, fmt)
        graph.to_text()
    except Exception as err:  # noqa: BLE001  (after `check` said ok, every error is a finding)
        return _failure(phase, err)
    if not lower or _size(annotated) > MAX_LOWER_ELEMENTS:
        return Outcome("ok", f"{len(graph)} nodes")
    return _lowered(graph)


def _size(graph) -> int:
    total = 0
    for node in graph.nodes.values():
        for shape in node.meta.get("shapes") or [node.meta.get("shape")]:
            if shape:
                total += int(np.prod([d for d in shape if isinstance(d, int)]))
        total += int(node.meta.get("params", 0) or 0) + int(node.meta.get("buffers", 0) or 0)
    return total


def _lowered(graph) -> Outcome:
    """The ONNX model in ONNX Runtime and the generated PyTorch module, against the interpreter."""
    with np.errstate(all="ignore"):  # log of a negative, exp overflow: the comparison handles non-finite values
        return _lowered_quietly(graph)


def _lowered_quietly(graph) -> Outcome:
    from cnndsl import interp
    from cnndsl.backend import CompileOptions, UnsupportedOps, get_backend
    from cnndsl.weights import Weights
    from cnndsl.weights_init import init_weights

    weights = Weights(init_weights(graph, seed=0))
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(graph.value_shape((n, 0))).astype(np.float32) for n in graph.input_names]
    try:
        want = interp.run(graph, weights, inputs)
        exact = interp.run(graph, weights, inputs, dtype=np.float64)
    except Exception as err:  # noqa: BLE001
        return _failure("interpreter", err)
    # How far rounding every intermediate to float32 alone moves the output: a network that amplifies
    # rounding (a normalization over nearly equal values) cannot be held to float32 backends more tightly.
    tolerance = [max(TOLERANCE, 10 * _relative_error(w, e)) for w, e in zip(want, exact)]
    for target, filename in (("onnx", "m.onnx"), ("pytorch", "m.py")):
        backend = get_backend(target)
        try:
            backend.check(graph)
        except UnsupportedOps:
            continue  # a documented gap of the backend, reported to the user as such
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / filename
            try:
                backend.compile(graph, weights, path, CompileOptions(save_weights=True))
            except CnnError as err:  # the backend says what it cannot express, at the node: a diagnostic
                if err.span is None:
                    return Outcome("failure", f"{target} refused without a position: {err.message}", target)
                continue
            except Exception as err:  # noqa: BLE001
                return _failure(target, err)
            try:
                got = backend.run(path, inputs)
            except CnnError as err:  # the runtime rejected what cnndsl wrote
                return Outcome("failure", f"{target} artefact rejected: {type(err).__name__}: {err.message}", target)
            except Exception as err:  # noqa: BLE001
                return _failure(target, err)
        bad = _disagreement(want, got, tolerance)
        if bad:
            return Outcome("failure", f"{target} disagrees with the interpreter: {bad}", target)
    return Outcome("ok", f"{len(graph)} nodes, lowered")


# float32 backends against the interpreter: 1% of the output's scale (a wrong lowering is off by far more)
TOLERANCE = 1e-2


def _relative_error(want, got) -> float:
    """max |want - got| over max(1, max |want|); NaN where `got` has a NaN that `want` has not; 0 when
    `want` is not finite (overflow in the reference: float32 backends may differ in where it happens)."""
    w, g = np.asarray(want, dtype=np.float64), np.asarray(got, dtype=np.float64)
    if not w.size or not np.all(np.isfinite(w)):
        return 0.0
    return float(np.max(np.abs(w - g))) / max(1.0, float(np.max(np.abs(w))))


def _disagreement(want: list, got: list, tolerance: list) -> str:
    if len(want) != len(got):
        return f"{len(got)} outputs, expected {len(want)}"
    for i, (w, g, tol) in enumerate(zip(want, got, tolerance)):
        if np.shape(w) != np.shape(g):
            return f"output {i} has shape {np.shape(g)}, expected {np.shape(w)}"
        err = _relative_error(w, g)
        if not err <= tol:  # NaN fails too
            scale = max(1.0, float(np.max(np.abs(w)))) if np.size(w) else 1.0
            return f"output {i}: max error {err:.3g} (relative to {scale:.3g}; tolerance {tol:.3g})"
    return ""


__all__ = ["CaseTimeout", "Outcome", "deadline", "diagnostic", "run_case", "warm_up"]
