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

    def extra_outputs(self, out_path, options: CompileOptions | None = None) -> list[Path]:
        """The weights beside the source, keyed like the module's state_dict (`run` loads them), when asked for
        (`--weights` given or `--save-weights`; `options.save_weights`)."""
        if options is None or not options.save_weights:
            return []
        return [Path(out_path).with_suffix(".npz")]

    def compile(self, graph, weights, out_path, options: CompileOptions | None = None) -> Artefact:
        from cnndsl.output import check_destination, write_file
        from cnndsl.weights import save_npz

        options = options or CompileOptions()
        text, info = self.generate(graph, options)
        out_path = Path(out_path)
        extras = self.extra_outputs(out_path, options)
        if out_path in extras:
            from cnndsl.output import OutputError

            raise OutputError(f"cannot write {out_path}: the generated module needs a .py name "
                              "(its weights go beside it as .npz)")
        check_destination(out_path, force=options.force)  # all checked before any is written
        for weights_path in extras:
            check_destination(weights_path, force=options.force)
        for weights_path in extras:
            save_npz(weights_path, dict(weights), force=options.force)
        write_file(out_path, text, force=options.force)
        ops = sum(1 for n in graph.nodes.values() if n.op != "input")
        details = {"classes": len(info["classes"])}
        if extras:
            details["weights"] = extras[0].name
        return Artefact(out_path, self.name, ops, details)

    def build_module(self, graph, weights=None, optimize: bool = False):
        """The generated module built in this process (`Model.to_torch`): the source is written to a private
        temporary directory, imported, and the factory called; `weights` (a store) are loaded when given."""
        import tempfile

        from cnndsl.output import write_file

        from .runtime import build_model

        options = CompileOptions(opt_level=1 if optimize else 0)
        if optimize:
            from cnndsl.backend import optimize_for_inference

            if weights is None:
                from cnndsl.weights_init import init_weights

                weights = init_weights(graph)
            graph, weights = optimize_for_inference(graph, weights)
        text, info = self.generate(graph, options)
        with tempfile.TemporaryDirectory(prefix="cnndsl-torch-") as tmp:
            path = Path(tmp) / f"{info['factory']}.py"
            write_file(path, text)
            return build_model(path, weights)

    def run(self, artefact_path, inputs):
        from .runtime import run_file

        return run_file(artefact_path, inputs)


BACKEND = PyTorchBackend()

__all__ = ["BACKEND", "LOWERINGS", "PyTorchBackend"]
