"""The backend plug-in system: one `Backend` object per target, found by entry point.

A backend is any object with the attributes of `Backend` below, exposed under the
entry point group `cnndsl.backends` (pyproject.toml):

    [project.entry-points."cnndsl.backends"]
    onnx = "cnndsl.backends.onnx:BACKEND"

`get_backend(name)` loads it on first use, so `cnndsl check` never imports ONNX, torch
or TVM; a backend keeps its heavy imports inside its methods (or in modules that only
its methods import). A third party adds a target by shipping a distribution with its
own entry point; nothing in cnndsl changes.

The contract, in the order the CLI calls it:

1. `check(graph)`: every node whose op has no lowering, or an explicit `Refused`, is
   reported at once as one `UnsupportedOps` error, before anything is converted
   (TVM's fx importer). The base class does this from `lowerings`; backends rarely
   override it.
2. `prepare(graph, weights, options)`: `-O1` runs the inference pipeline (cnndsl.passes)
   on a copy; `-O0` keeps the graph as written. Shared by every backend.
3. `compile(graph, weights, out_path, options) -> Artefact`: writes the artefact
   through `cnndsl.output` (atomic; never over a file or directory cnndsl did not make, unless
   `options.force` for a file) and returns a summary. `extra_outputs(out_path)` names every
   other file it writes beside the artefact, so the CLI can check them all before starting.
4. `run(artefact_path, inputs) -> outputs` (optional): inputs and outputs are lists of
   numpy arrays in graph input / output order.

A directory artefact holds a `manifest.json` whose `target` field names the backend
that made it; `cnndsl run DIR` dispatches on it (`backend_for_artefact`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from cnndsl.diagnostics import CnnError

if TYPE_CHECKING:
    import numpy as np

    from cnndsl.ir.graph import Graph
    from cnndsl.weights import Weights

ENTRY_POINT_GROUP = "cnndsl.backends"


class UnsupportedOps(CnnError):
    """A graph uses ops a backend cannot lower; lists every one of them."""

    def __init__(self, message: str, nodes: list[tuple[str, str, str]], span=None):
        super().__init__(message, span)
        self.nodes = nodes  # (node name, op, reason)


class BackendError(CnnError):
    """The target is unknown, not installed, or failed in a way the user can act on."""


@dataclass(frozen=True)
class Refused:
    """An explicit refusal in a lowering table: the op is known and deliberately unsupported."""

    reason: str


Lowering = Callable[..., Any]  # signature is the backend's own business


@dataclass
class CompileOptions:
    """What `cnndsl compile` passes to every backend; a backend ignores what it does not use."""

    opt_level: int = 0  # 0: as written (trainable semantics); 1: inference cleanups first
    opset: int | None = None  # onnx only; None = the backend's default
    seed: int = 0  # the seed the weights came from (recorded in manifests)
    tune: bool = False  # tvm: MetaSchedule tuning
    trials: int = 0
    tuning_db: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # backend-specific knobs
    force: bool = False  # replace an existing output file cnndsl did not write (cnndsl.output)
    save_weights: bool = False  # pytorch: also write the weights beside the source (`--save-weights`, `--weights`)


@dataclass
class Artefact:
    """What `compile` made. `summary()` is the one line the CLI prints."""

    path: Path
    target: str
    ops: int  # IR nodes lowered (graph inputs not counted)
    details: dict[str, Any] = field(default_factory=dict)  # e.g. {"opset": 18}

    @property
    def size(self) -> int:
        p = Path(self.path)
        if p.is_dir():
            return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        return p.stat().st_size if p.exists() else 0

    def summary(self) -> str:
        extra = "".join(f", {k} {v}" for k, v in self.details.items())
        return f"wrote {self.path} ({_human_size(self.size)}, {self.ops} ops, target {self.target}{extra})"


def _human_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class Backend:
    """Base class for backends. Subclasses set `name`, `lowerings`, and implement `compile`.

    `lowerings` maps every op name to a lowering callable or a `Refused(reason)`; it is
    built as one literal dict in the backend's module so readers see the whole table.
    `artefact_suffix` is the file suffix `compile` writes (".onnx", ".py"), or "" for a
    directory artefact with a manifest.
    """

    name: str = ""
    description: str = ""
    artefact_suffix: str = ""
    lowerings: ClassVar[dict[str, Lowering | Refused]] = {}

    def extra_outputs(self, out_path: str | Path, options: CompileOptions | None = None) -> list[Path]:
        """Files `compile` writes besides `out_path` with `options` (checked before any work starts)."""
        return []

    # -- 1. check ---------------------------------------------------------------
    def unsupported(self, graph: Graph) -> list[tuple[str, str, str]]:
        """(node, op, reason) for every node this backend cannot lower."""
        out = []
        for node in graph.topo():
            if node.op == "input":
                continue
            low = self.lowerings.get(node.op)
            if low is None:
                out.append((node.name, node.op, f"no {self.name} lowering for op '{node.op}'"))
            elif isinstance(low, Refused):
                out.append((node.name, node.op, low.reason))
        return out

    def check(self, graph: Graph) -> None:
        """Raise one UnsupportedOps listing every node that cannot be lowered."""
        bad = self.unsupported(graph)
        if not bad:
            return
        first = graph.nodes[bad[0][0]].span
        lines = [f"target {self.name} cannot compile {len(bad)} node(s):"]
        for name, op, reason in bad:
            span = graph.nodes[name].span
            where = f" ({span})" if span else ""
            lines.append(f"  {name} [{op}]{where}: {reason}")
        raise UnsupportedOps("\n".join(lines), bad, span=first)

    # -- 2. prepare -------------------------------------------------------------
    def prepare(self, graph: Graph, weights: Weights, options: CompileOptions) -> tuple[Graph, Weights]:
        """-O1: run the inference pipeline on a copy; -O0: the graph as written (shared by every backend)."""
        if options.opt_level <= 0:
            return graph, weights
        return optimize_for_inference(graph, weights)

    # -- 3. compile -------------------------------------------------------------
    def compile(self, graph: Graph, weights: Weights, out_path: str | Path, options: CompileOptions) -> Artefact:
        raise NotImplementedError

    # -- 4. run -----------------------------------------------------------------
    def run(self, artefact_path: str | Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
        raise BackendError(f"target {self.name} cannot run artefacts")

    def __repr__(self) -> str:
        return f"<cnndsl backend {self.name}>"


def optimize_for_inference(graph: Graph, weights: Weights) -> tuple[Graph, Weights]:
    """The -O1 pipeline (`cnndsl.passes.INFERENCE`: remove no-ops, fold BN, fuse conv+act,
    DCE, then the analyses) on a copy of the graph, with the weights rewritten alongside."""
    from cnndsl import passes
    from cnndsl.weights import Weights as _Weights

    result = passes.run_passes(graph.copy(), passes.INFERENCE, weights=dict(weights))
    new_weights = result.weights if result.weights is not None else weights
    source = getattr(weights, "source", "")
    return result.graph, _Weights(new_weights, source=f"{source}, -O1" if source else "-O1")


# ----------------------------------------------------------------------- discovery
_CACHE: dict[str, Backend] = {}


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_backends() -> list[str]:
    """Names of every registered target (not necessarily importable)."""
    return sorted(_entry_points())


def get_backend(name: str) -> Backend:
    """Load the backend registered as `name`; BackendError if unknown or not installed."""
    if name in _CACHE:
        return _CACHE[name]
    from cnndsl.diagnostics import did_you_mean

    eps = _entry_points()
    ep = eps.get(name)
    if ep is None:
        known = ", ".join(sorted(eps)) or "none"
        raise BackendError(f"unknown target '{name}'{did_you_mean(name, eps)} (registered targets: {known})")
    try:
        backend = ep.load()
    except ImportError as err:
        raise missing_dependency(name, err) from None
    except AttributeError as err:
        raise BackendError(f"target '{name}' is registered but not built yet ({err})") from None
    _CACHE[name] = backend
    return backend


_EXTRA = {"pytorch": "torch", "llvm": "tvm", "cuda": "tvm", "onnx": "onnx"}


def missing_dependency(target: str, err: ImportError) -> BackendError:
    """The user-facing error for a backend whose lazy heavy import failed (no traceback)."""
    missing = getattr(err, "name", None) or str(err)
    return BackendError(f"target '{target}' needs the Python package '{missing}', which is not installed "
                        f"(pip install 'cnndsl[{_EXTRA.get(target, target)}]')")


def read_manifest(path: str | Path) -> dict:
    """The manifest.json of a directory artefact; BackendError if absent or unreadable."""
    mf = Path(path) / "manifest.json"
    try:
        return json.loads(mf.read_text())
    except FileNotFoundError:
        raise BackendError(f"{path} is a directory without manifest.json; not a cnndsl artefact") from None
    except (OSError, ValueError) as err:
        raise BackendError(f"cannot read {mf}: {err}") from None


def backend_for_artefact(path: str | Path) -> Backend | None:
    """Which backend runs a compiled artefact: a directory's manifest `target`, or the file suffix.

    Returns None for paths that are not artefacts (for example `.cnn` sources).
    """
    p = Path(path)
    if p.is_dir():
        target = read_manifest(p).get("target")
        if not isinstance(target, str):
            raise BackendError(f"{p / 'manifest.json'} has no 'target' field")
        return get_backend(target)
    suffixes = {".onnx": "onnx", ".py": "pytorch"}
    target = suffixes.get(p.suffix.lower())
    return get_backend(target) if target else None


__all__ = [
    "ENTRY_POINT_GROUP",
    "Artefact",
    "Backend",
    "BackendError",
    "CompileOptions",
    "Refused",
    "UnsupportedOps",
    "available_backends",
    "backend_for_artefact",
    "get_backend",
    "missing_dependency",
    "optimize_for_inference",
    "read_manifest",
]
