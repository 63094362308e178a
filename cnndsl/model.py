"""The Python API: `cnndsl.load(...)` returns a `Model`; every CLI verb works through it.

    import cnndsl
    m = cnndsl.load("resnet50", num_classes=10)         # a library name or a .cnn path
    m.report()["totals"]["params"]                      # the `cnndsl report --format json` data
    m.rf(node="layer4.2.conv3")                         # the `cnndsl rf --format json` data
    m.diff(cnndsl.load("resnext50_32x4d"))["same_structure"]
    m.to_onnx("r50.onnx"); net = m.to_torch(); m.compile("llvm", "r50_llvm")

Only the front end is imported here; torch, ONNX and TVM load inside the backend a
method uses. Every mistake is a `CnnError` (what the CLI prints with a caret and exit 2);
keyword arguments a method does not know are a `TypeError`, as in any Python function.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnndsl.diagnostics import InputError
from cnndsl.ir.graph import Graph

if TYPE_CHECKING:
    from cnndsl.backend import Artefact
    from cnndsl.passes.manager import Convention, PipelineResult
    from cnndsl.report.model import Report
    from cnndsl.weights import Weights


def _check_param(name: str, value: Any, where: str = "") -> Any:
    """A network parameter given from Python: the values a .cnn expression can have (lists for tuples)."""
    where = where or name
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(f"parameter {where}: {value!r} is not a finite number")
        return value
    if isinstance(value, (list, tuple)):
        return [_check_param(name, v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise InputError(f"parameter {where}: a {type(value).__name__} is not a .cnn value "
                     "(use int, float, bool, str, None or lists of them)")


def _check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _check_param(k, v) for k, v in params.items()}


def _input_shape(value: Sequence[int] | str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        from cnndsl.cli.common import parse_input_shape

        return parse_input_shape(value)
    dims = tuple(value)
    if not dims or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        raise InputError(f"input_shape must be positive ints without the batch (e.g. (3, 224, 224)), got {value!r}")
    return dims


def _batch(value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise InputError(f"batch must be a positive int, got {value!r}")
    return value


def load(source: str | Path, network: str | None = None, input_shape: Sequence[int] | str | None = None,
         batch: int | None = None, *, include_dirs: Sequence[str | Path] = (), defines: Mapping[str, str] | None = None,
         **params: Any) -> Model:
    """Load a `.cnn` file or a library network (`"resnet50"`) as a shape-inferred `Model`.

    `network` picks one network of a file with several; `input_shape` (without the batch,
    `(3, 320, 320)` or `"3x320x320"`) and `batch` override the input; `**params` override
    network parameters with Python values (`num_classes=10`), `defines` with .cnn
    expression text as `-D` does. An unknown parameter is an error naming the close ones.
    """
    from cnndsl import api

    graph = api.load(str(source), network=network, defines=dict(defines or {}), input_shape=_input_shape(input_shape),
                     batch=_batch(batch), include_dirs=tuple(str(d) for d in include_dirs),
                     params=_check_params(params))
    return Model(graph)


def load_text(text: str, name: str = "<string>", network: str | None = None,
              input_shape: Sequence[int] | str | None = None, batch: int | None = None, *,
              include_dirs: Sequence[str | Path] = (), defines: Mapping[str, str] | None = None,
              **params: Any) -> Model:
    """`load` for `.cnn` source text (`name` labels it in error messages)."""
    from cnndsl import api

    graph = api.load_text(text, name, network=network, defines=dict(defines or {}),
                          input_shape=_input_shape(input_shape), batch=_batch(batch),
                          include_dirs=tuple(str(d) for d in include_dirs), params=_check_params(params))
    return Model(graph)


class Model:
    """A network as cnndsl sees it: the shape-inferred Graph IR plus what can be made from it.

    `graph` is the network as written (no rewrites). Analyses run on copies, so the
    methods can be called in any order and `graph` never changes under you.
    """

    def __init__(self, graph: Graph):
        self.graph = graph

    # ------------------------------------------------------------------ identity
    @property
    def name(self) -> str:
        """The library name (`resnet50`) or the network's name in its file (`ResNet`)."""
        return str(self.graph.meta.get("library_name") or self.graph.meta.get("network") or self.graph.name)

    @property
    def network(self) -> str:
        """The network block's name in its `.cnn` file (`ResNet`)."""
        return str(self.graph.meta.get("network") or self.graph.name)

    @property
    def params(self) -> dict[str, Any]:
        """The network parameters in force (defaults with overrides applied)."""
        return dict(self.graph.meta.get("params") or {})

    @property
    def inputs(self) -> dict[str, tuple]:
        """Graph input name -> shape (the batch entry is `"N"` unless fixed)."""
        return {n.name: tuple(n.attrs["shape"]) for n in self.graph.input_nodes()}

    @property
    def outputs(self) -> dict[str, tuple | None]:
        """Graph output name -> shape."""
        return {name: self.graph.value_shape(ref) for name, ref in self.graph.outputs}

    def __repr__(self) -> str:
        ins = ", ".join(f"{k}[{', '.join(str(d) for d in s)}]" for k, s in self.inputs.items())
        return f"<cnndsl.Model {self.name} ({ins}), {len(self.graph) - len(self.graph.input_names)} nodes>"

    # ------------------------------------------------------------------ analyses
    def analyze(self, *, optimize: bool = False, convention: Convention | None = None,
                print_after: Sequence[str] = (), time_passes: bool = False, stream: Any = None) -> PipelineResult:
        """Run the standard pipeline on a copy: the analyses, after the inference cleanups with `optimize`."""
        from cnndsl.passes.manager import run_standard

        return run_standard(self.graph.copy(), optimize=optimize, convention=convention,
                            print_after=tuple(print_after), time_passes=time_passes, stream=stream)

    def build_report(self, *, depth: int | None = None, convention: str = "cnndsl", flops: Convention | None = None,
                     optimize: bool = False, result: PipelineResult | None = None) -> Report:
        """The report as a `cnndsl.report.Report` object (what `report()` serializes and the CLI renders)."""
        from cnndsl.report.conventions import CONVENTIONS
        from cnndsl.report.model import build_report

        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
            raise InputError(f"depth must be a positive int, got {depth!r}")
        if convention != "cnndsl" and convention not in CONVENTIONS:
            raise InputError(f"unknown convention {convention!r}; choose cnndsl, {', '.join(CONVENTIONS)}")
        result = result or self.analyze(optimize=optimize, convention=flops)
        stage = "inference (after cleanups)" if optimize else "as written (no rewrites)"
        return build_report(result.graph, depth=depth, convention=flops, stage=stage, passes=result.ran,
                            compare=None if convention == "cnndsl" else convention, warnings=result.warnings)

    def report(self, *, depth: int | None = None, convention: str = "cnndsl", flops: Convention | None = None,
               optimize: bool = False) -> dict[str, Any]:
        """Per-layer and total params, MACs, FLOPs, memory and RF: `cnndsl report --format json` as Python data.

        `depth` collapses layers to block instances; `convention` (`"torchinfo"`, `"fvcore"`,
        `"ptflops"`, `"thop"`) adds that tool's count per row and in `totals["compare"]`
        (docs/reports.md); `flops` chooses what cnndsl's own FLOPs include.
        """
        return self.build_report(depth=depth, convention=convention, flops=flops, optimize=optimize).to_json()

    def rf(self, *, node: str | None = None, at: Sequence[int] | None = None, optimize: bool = False
           ) -> dict[str, Any]:
        """Receptive field of every node (or of `node`, with the input region output position `at` sees)."""
        from cnndsl.report.rf import rf_report

        result = self.analyze(optimize=optimize)
        return rf_report(result.graph, node=node, at=None if at is None else tuple(at), warnings=result.warnings)

    def diff(self, other: Model, *, optimize: bool = False, convention: Convention | None = None) -> dict[str, Any]:
        """What changed from this network to `other`: structure, totals, receptive fields (`cnndsl diff`)."""
        from cnndsl.report.diff import diff_graphs

        if not isinstance(other, Model):
            raise TypeError(f"diff() takes a cnndsl.Model, not {type(other).__name__}")
        a = self.analyze(optimize=optimize, convention=convention).graph
        b = other.analyze(optimize=optimize, convention=convention).graph
        return diff_graphs(a, b)

    # ------------------------------------------------------------------ weights and artefacts
    def weights(self, weights: str | Path | Mapping[str, Any] | None = None, seed: int = 0) -> Weights:
        """The weights store: loaded from a file (.npz, .safetensors, .pt) or a mapping and checked against
        the graph, or seeded initialization when `weights` is None."""
        from cnndsl.weights import Weights as Store
        from cnndsl.weights import validate, weights_for

        if weights is None or isinstance(weights, (str, Path)):
            return weights_for(self.graph, weights, seed)
        if isinstance(weights, Mapping):
            import numpy as np

            return validate(self.graph, {k: np.asarray(v) for k, v in weights.items()}, what="weights")
        if isinstance(weights, Store):
            return weights
        raise TypeError(f"weights must be a path, a mapping or None, not {type(weights).__name__}")

    def compile(self, target: str, output: str | Path, *, weights: str | Path | Mapping[str, Any] | None = None,
                seed: int = 0, optimize: bool = False, opset: int | None = None, tune: bool = False,
                trials: int = 64, tuning_db: str | Path | None = None, options: Mapping[str, Any] | None = None,
                force: bool = False, save_weights: bool | None = None) -> Artefact:
        """Compile for `target` (`onnx`, `pytorch`, `llvm`, `cuda`, any `cnndsl.backends` entry point) into `output`.

        `optimize` is `-O1` (inference cleanups first); `options` are the backend's `-X` knobs;
        `force` replaces an existing file cnndsl did not write. `save_weights` (pytorch) writes
        the weights beside the source; by default only when `weights` was given.
        """
        from cnndsl.backend import CompileOptions, get_backend, missing_dependency
        from cnndsl.diagnostics import CnnError
        from cnndsl.output import check_destination

        backend = get_backend(target)  # unknown / uninstalled target: fail before loading anything
        if opset is not None and target != "onnx":
            raise CnnError(f"--opset applies to --target onnx only, not {target}")
        if save_weights is None:
            save_weights = weights is not None
        opts = CompileOptions(opt_level=1 if optimize else 0, opset=opset, seed=seed, tune=tune,
                              trials=trials if tune else 0, tuning_db=None if tuning_db is None else str(tuning_db),
                              extra=dict(options or {}), force=force, save_weights=bool(save_weights))
        check_destination(output, directory=not backend.artefact_suffix, force=force)
        for path in backend.extra_outputs(output, opts):
            check_destination(path, force=force)
        store = self.weights(weights, seed)
        graph, store = backend.prepare(self.graph.copy(), store, opts)
        backend.check(graph)
        try:
            return backend.compile(graph, store, output, opts)
        except ImportError as err:  # a backend's lazy heavy import: the extra is not installed
            raise missing_dependency(target, err) from None

    def to_onnx(self, path: str | Path, *, weights: str | Path | Mapping[str, Any] | None = None, seed: int = 0,
                optimize: bool = False, opset: int | None = None, force: bool = False) -> Artefact:
        """Write an ONNX model with the weights as initializers (`compile("onnx", path)`)."""
        return self.compile("onnx", path, weights=weights, seed=seed, optimize=optimize, opset=opset, force=force)

    def to_torch(self, *, weights: str | Path | Mapping[str, Any] | None = None, seed: int | None = None,
                 optimize: bool = False) -> Any:
        """The generated PyTorch module, built in this process (an `nn.Module` in train mode).

        Without `weights` or `seed` it keeps its own initialization (the network's `init`
        recipe, else PyTorch's defaults); `weights` loads a checkpoint, `seed` cnndsl's seeded init.
        """
        from cnndsl.backend import get_backend, missing_dependency

        backend = get_backend("pytorch")
        try:
            return backend.build_module(self.graph, None if weights is None and seed is None else
                                        self.weights(weights, seed or 0), optimize=optimize)
        except ImportError as err:
            raise missing_dependency("pytorch", err) from None


__all__ = ["Model", "load", "load_text"]
