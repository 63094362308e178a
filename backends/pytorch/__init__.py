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

    def extra_outputs(self, out_path) -> list[Path]:
        """The weights beside the source, keyed like the module's state_dict (`run` loads them)."""
        return [Path(out_path).with_suffix(".npz")]

    def compile(self, graph, weights, out_path, options: CompileOptions | None = None) -> Artefact:
        from cnndsl.output import check_destination, write_file
        from cnndsl.weights import save_npz

        options = options or CompileOptions()
        text, info = self.generate(graph, options)
        out_path = Path(out_path)
        [weights_path] = self.extra_outputs(out_path)
        if weights_path == out_path:
            from cnndsl.output import OutputError

            raise OutputError(f"cannot write {out_path}: the generated module needs a .py name "
                              "(its weights go beside it as .npz)")
        check_destination(out_path, force=options.force)  # both checked before either is written
        check_destination(weights_path, force=options.force)
        save_npz(weights_path, dict(weights), force=options.force)
        write_file(out_path, text, force=options.force)
        ops = sum(1 for n in graph.nodes.values() if n.op != "input")
        return Artefact(out_path, self.name, ops, {"classes": len(info["classes"]), "weights": weights_path.name})

    def run(self, artefact_path, inputs):
        from .runtime import run_file

        return run_file(artefact_path, inputs)


BACKEND = PyTorchBackend()

__all__ = ["BACKEND", "LOWERINGS", "PyTorchBackend"]
