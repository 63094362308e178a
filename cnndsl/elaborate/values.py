"""Compile-time values of the `.cnn` language besides plain numbers, strings and lists."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# what may name a layer, a block instance or a shared instance (`-` for torchvision names such as block1-0)
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Tensor:
    """A tensor while elaborating: a graph value reference and its shape."""

    ref: tuple[str, int]
    shape: tuple

    def __repr__(self) -> str:
        return f"tensor{list(self.shape)}"


@dataclass(frozen=True)
class Layer:
    """A layer used as a value: an op or a block, possibly with bound arguments.

    `act=relu6`, `act=leaky_relu(0.1)`, `block=Bottleneck` all evaluate to a Layer.
    `kind` is "op" or "block"; `target` the OpDef name or the BlockDef.
    """

    kind: str
    name: str
    target: Any
    args: tuple = ()
    kwargs: tuple = ()  # (name, value) pairs
    module: Any = field(default=None, compare=False)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"{self.name}({', '.join(parts)})" if parts else self.name


@dataclass(eq=False)
class Shared:
    """`shared NAME = stage`: one layer or block instance, applied by name, with one parameter set.

    `layer` carries the bound arguments; `path` is the instance's node-name prefix (the
    declaring scope plus NAME), which names the parameters of every application;
    `scope` is where it may be applied. `first` records the first application's nodes
    (name relative to the instance -> op and parameter shapes): every later application
    must make the same ones, since they use the same parameters.
    """

    name: str
    layer: Layer
    path: str
    scope: tuple[str, ...]
    applications: int = 0
    first: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"shared {self.name} = {self.layer!r}"


@dataclass(frozen=True)
class Builtin:
    name: str
    fn: Any

    def __repr__(self) -> str:
        return f"<builtin {self.name}>"


# Checked in order: bool before int, since bool is an int subclass in Python.
TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "bool"),
    (int, "int"),
    (float, "float"),
    (str, "string"),
    (type(None), "none"),
    (list, "list"),
    (tuple, "tuple"),
    (Tensor, "tensor"),
    (Layer, "layer"),
    (Shared, "shared layer"),
    (Builtin, "builtin function"),
)


def type_name(v: Any) -> str:
    """The language's name for a value's type, for messages."""
    for cls, name in TYPE_NAMES:
        if isinstance(v, cls):
            return name
    return type(v).__name__
