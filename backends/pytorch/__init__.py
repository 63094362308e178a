"""The PyTorch backend: `cnndsl compile --target pytorch -o model.py` writes readable PyTorch source.

Importing this package loads only the lowering table; jinja2 renders the file when
compiling and torch is imported only to run a generated file (`run`).
"""

from __future__ import annotations

from pathlib import Path

from cnndsl.backend import Artefact, Backend, CompileOptions

from .lower import LOWERINGS


class PyTorchBackend(Backend):
    name = "pytorch"
    description = "a readable PyTorch module (.py): one nn.Module class per block kind, names = IR names"
    artefact_suffix = ".py"
    lowerings = LOWERINGS

    def generate(self, graph, options: CompileOptions | None = None) -> tuple[str, dict]:
        """The generated source and a summary (classes, factory, line map), without writing anything."""
        from .codegen import generate

        options = options or CompileOptions()
        self.check(graph)
        return generate(graph, opt_level=options.opt_level)

    def compile(self, graph, weights, out_path, options: CompileOptions | None = None) -> Artefact:
        from cnndsl.cli.common import write_atomic
        from cnndsl.weights import save_npz

        text, info = self.generate(graph, options)
        out_path = Path(out_path)
        # the weights beside the source, keyed like the module's state_dict (`run` loads them)
        weights_path = out_path.with_suffix(".npz")
        save_npz(weights_path, dict(weights))
        write_atomic(out_path, text.encode())
        ops = sum(1 for n in graph.nodes.values() if n.op != "input")
        return Artefact(out_path, self.name, ops, {"classes": len(info["classes"]), "weights": weights_path.name})

    def run(self, artefact_path, inputs):
        from .runtime import run_file

        return run_file(artefact_path, inputs)


BACKEND = PyTorchBackend()

__all__ = ["BACKEND", "LOWERINGS", "PyTorchBackend"]
