"""The importer's unit: one cnndsl op applied to named values (`Stage`), and the error
that lists every ONNX node the importer cannot map."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnndsl.diagnostics import CnnError


@dataclass
class Stage:
    op: str  # a cnndsl op
    attrs: dict  # written attributes (defaults left out), in the op's attribute order
    inputs: list[str]  # ONNX value names
    outputs: list[str]
    params: dict[str, np.ndarray] = field(default_factory=dict)  # param -> array (cnndsl layout)
    onnx_name: str = ""  # the ONNX node whose result this is (names and positions)
    index: int = 0
    param_sources: dict[str, str] = field(default_factory=dict)  # param -> initializer name
    path: tuple[str, ...] = ()  # module path + local name (filled by scopes.py)
    named: bool = True  # False: the last path part is not a name (positional or auto-named merge)


class Unsupported(Exception):
    """One ONNX node the importer cannot map (collected, then reported together)."""

    def __init__(self, node, why: str):
        super().__init__(why)
        self.node = node
        self.why = why


class ImportFailed(CnnError):
    """Every unsupported node of a model, in one message."""

    def __init__(self, source: str, problems: list[Unsupported]):
        lines = [f"{source}: {len(problems)} ONNX node{'s' if len(problems) != 1 else ''} cannot be imported:"]
        for p in problems:
            name = f"'{p.node.name}'" if p.node.name else "(unnamed)"
            lines.append(f"  node #{p.node.index} {name} ({p.node.op}): {p.why}")
        super().__init__("\n".join(lines))
        self.problems = problems


__all__ = ["ImportFailed", "Stage", "Unsupported"]
