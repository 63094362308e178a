"""What a PyTorch lowering returns: a constructor call (`Ctor`), a forward expression (`Expr`), or a
parameter of the enclosing module (`Param`); `Literal` marks a number that is structure, not a hole."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Arg:
    """One constructor argument; `kw` False means positional."""

    name: str
    value: Any
    kw: bool = True
    default: Any = None  # a number torch assumes when the argument is left out (omitted when equal)


@dataclass
class Ctor:
    func: str  # "nn.Conv2d", or a helper class defined in the generated file
    args: list[Arg] = field(default_factory=list)
    helpers: set[str] = field(default_factory=set)


@dataclass
class Param:
    """A parameter owned by the enclosing module: `self.<node> = <init>`; `fmt` is the forward
    expression, with {p} for the attribute and {0} for the input."""

    init: Ctor
    fmt: str


@dataclass
class Expr:
    """A forward expression over the input variables: `fmt` uses {0}, {1}, ... and {all} (comma list)."""

    fmt: str
    outputs: int = 1
    uses_torch: bool = False


@dataclass(frozen=True)
class Literal:
    """A number that is part of a layer's structure, never a constructor parameter (axes, sizes)."""

    value: Any
