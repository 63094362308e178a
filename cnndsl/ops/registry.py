"""The op registry: one `OpDef` per op says everything about it.

Passes, reports and the elaborator read these definitions; they never switch on op
names. Backends keep their own lowering tables keyed by the same names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Shape = tuple  # (N|int, C, H, W) etc.; batch may be the symbol "N"

REQUIRED = object()


class ShapeError(Exception):
    """Raised by a shape rule; the elaborator attaches the `.cnn` position."""


@dataclass(frozen=True)
class AttrSpec:
    """One attribute: its word, its type, its default (REQUIRED if none).

    Types: int, float, bool, str, int2 (int or pair), pad (int, pair, 4-tuple or
    "same"), ints (tuple of ints), layer (an activation op value), any.
    """

    name: str
    type: str
    default: Any = REQUIRED
    choices: tuple = ()
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class RFRule:
    """How an op maps output positions to input positions on each spatial axis.

    kind: "local" (kernel/stride/padding/dilation per axis), "pointwise"
    (position-preserving), "global" (sees the whole input), "resample"
    (scale change without neighbourhood: upsample), or "none" (no spatial axes).
    """

    kind: str
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)  # top, left
    dilation: tuple[int, int] = (1, 1)
    scale: tuple[float, float] = (1.0, 1.0)


def _zero(*_a) -> int:
    return 0


def _no_params(*_a) -> dict:
    return {}


def _pointwise_rf(_attrs) -> RFRule:
    return RFRule("pointwise")


@dataclass(frozen=True)
class OpDef:
    name: str
    attrs: tuple[AttrSpec, ...]
    shape: Callable[[dict, list], Any]
    category: str  # conv, linear, norm, activation, pool, elementwise, shape, io, regularize
    inputs: tuple[int, int | None] = (1, 1)  # min, max (None: unbounded)
    positional: int = 2  # how many leading attributes may be given positionally
    normalize: Callable[[dict, list], dict] | None = None
    params: Callable[[dict, list], dict] = _no_params  # name -> (shape, trainable)
    macs: Callable[[dict, list, Any], int] = _zero  # conv/linear multiply-adds only
    flops: Callable[[dict, list, Any], int] = _zero  # non-MAC flops (BN, activations, pools, elementwise)
    rf: Callable[[dict], RFRule] = _pointwise_rf
    outputs: int | Callable[[dict], int] = 1  # or a rule on the normalized attrs (chunk)
    inference_identity: bool = False  # removable at inference (dropout, stochastic depth)
    doc: str = ""
    extra: dict = field(default_factory=dict)

    def attr(self, name: str) -> AttrSpec | None:
        for a in self.attrs:
            if a.name == name:
                return a
        return None

    def num_outputs(self, attrs: dict) -> int:
        """How many tensors the op yields; the shape rule returns a list of shapes when it is more than one."""
        return self.outputs(attrs) if callable(self.outputs) else self.outputs

    @property
    def attr_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attrs)


REGISTRY: dict[str, OpDef] = {}


def register(*defs: OpDef) -> None:
    for d in defs:
        if d.name in REGISTRY:
            raise ValueError(f"op {d.name!r} registered twice")
        REGISTRY[d.name] = d


def get(name: str) -> OpDef:
    from cnndsl import ops  # noqa: F401  (fills REGISTRY)

    return REGISTRY[name]


def all_ops() -> dict[str, OpDef]:
    from cnndsl import ops  # noqa: F401

    return dict(REGISTRY)
