"""The ONNX backend: `cnndsl compile --target onnx -o model.onnx`, run with ONNX Runtime.

Importing this package loads only the lowering table (numpy); onnx and onnxruntime
are imported when compiling or running.
"""

from __future__ import annotations

from pathlib import Path

from cnndsl.backend import Artefact, Backend, BackendError, CompileOptions

from .lower import LOWERINGS


class OnnxBackend(Backend):
    name = "onnx"
    description = "an .onnx model with the weights as initializers, run by ONNX Runtime"
    artefact_suffix = ".onnx"
    lowerings = LOWERINGS

    def compile(self, graph, weights, out_path, options: CompileOptions | None = None) -> Artefact:
        options = options or CompileOptions()
        self.check(graph)
        try:
            from .export import build_model
        except ImportError as err:
            raise BackendError(f"target onnx needs the onnx package ({err}); pip install 'cnndsl[onnx]'") from None
        from cnndsl.output import write_file

        model = build_model(graph, weights, options.opset)
        write_file(out_path, model.SerializeToString(), force=options.force)
        opset = model.opset_import[0].version
        ops = sum(1 for n in graph.nodes.values() if n.op != "input")
        return Artefact(Path(out_path), self.name, ops, {"opset": opset})

    def run(self, artefact_path, inputs):
        from .runtime import run_onnx

        return run_onnx(artefact_path, inputs)


BACKEND = OnnxBackend()

__all__ = ["BACKEND", "LOWERINGS", "OnnxBackend"]
