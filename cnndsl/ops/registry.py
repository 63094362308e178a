"""The op registry: one `OpDef` per op says everything about it.

Passes, reports and the elaborator read these definitions; they never switch on op
names. Backends keep their own lowering tables keyed by the same names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cnndsl.ops.constraints import Constraint, at_least, one_of

Shape = tuple  # (N|int, C, H, W) etc.; batch may be the symbol "N"

REQUIRED = object()

# A parameter keyed by the node name itself rather than `<node name>.<param>`: a `params`
# rule that returns this name gives the node one parameter whose weight key IS the node's
# name (torchvision's CNBlock holds its layer-scale gamma as `features.1.0.layer_scale`, a
# bare nn.Parameter, not a submodule). Every key is formed by `param_key`.
SELF_PARAM = ""


def param_key(node_name: str, param: str) -> str:
    """The weight key of a node's parameter: `<node name>.<param>`, or the node name for SELF_PARAM."""
    return node_name if param == SELF_PARAM else f"{node_name}.{param}"


class ShapeError(Exception):
    """Raised by a shape rule; the elaborator attaches the `.cnn` position."""


@dataclass(frozen=True)
class AttrSpec:
    """One attribute: its word, its type, its default (REQUIRED if none), and its constraints.

    Types: int, float (finite), bool, str, int2 (an int, or one int per spatial axis: 1, 2 or 3
    values, matched to the input's rank by the op's normalize), pad (an int, one per
    spatial axis, begins then ends -- 2, 4 or 6 ints --, "same" or "valid"), ints (tuple of
    ints), layer (an activation op value), any.

    `constraints` (cnndsl/ops/constraints.py: positive(), non_negative(), at_least(n),
    in_range(lo, hi), finite(), one_of(...), length(lo, hi), product_at_most(n)) are checked by
    the elaborator at the attribute's own span before any rule sees the value; `choices` and
    `minimum` are shorthands for one_of(*choices) and at_least(minimum). `checks` lists them all.
    """

    name: str
    type: str
    default: Any = REQUIRED
    choices: tuple = ()
    doc: str = ""
    minimum: int | None = None  # shorthand for at_least(minimum)
    constraints: tuple[Constraint, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def checks(self) -> tuple[Constraint, ...]:
        """Every constraint on the value: the declared ones, then `minimum` and `choices`."""
        extra: tuple[Constraint, ...] = ()
        if self.minimum is not None:
            extra += (at_least(self.minimum),)
        if self.choices:
            extra += (one_of(*self.choices),)
        return tuple(self.constraints) + extra

    def problem(self, value: Any) -> str | None:
        """None when `value` meets every constraint, else the first problem in words. None is
        accepted where the default is None (an optional attribute left out)."""
        if value is None and not self.required and self.default is None:
            return None
        for c in self.checks:
            text = c.check(value)
            if text:
                return text
        return None


@dataclass(frozen=True)
class RFRule:
    """How an op maps output positions to input positions on each spatial axis.

    kind: "local" (kernel/stride/padding/dilation per axis), "pointwise"
    (position-preserving), "global" (sees the whole input), "resample"
    (scale change without neighbourhood: upsample), "none" (positions lose their
    meaning: flatten, reshape), "along" (mixes every position along the tensor axes
    `axes`, negative from the end, pointwise elsewhere: linear on the last axis,
    layernorm over one axis), or "permute" (`axes` is a permutation of all axes: the
    values move, no position sees anything new; the spatial axes move with it), or "adaptive"
    (adaptive pooling: the rf pass reads the input and output extents; uniform windows -- input
    divisible by output -- are exact, others "global").
    "local", "global", "resample" and "adaptive" act on the spatial axes 2.. (NCL, NCHW, NCDHW).
    kernel, stride, padding (the begins), dilation and scale hold one value per spatial
    axis; a field of one value applies to every axis.
    """

    kind: str
    kernel: tuple[int, ...] = (1,)
    stride: tuple[int, ...] = (1,)
    padding: tuple[int, ...] = (0,)  # begins: (top, left) in 2-D
    dilation: tuple[int, ...] = (1,)
    scale: tuple[float, ...] = (1.0,)
    axes: tuple[int, ...] = ()  # "along": the mixed axes; "permute": the permutation

    def on_axis(self, field: str, axis: int):
        """The value of `field` on spatial axis `axis` (0 = the first spatial axis): a field of one
        value applies to every axis; an axis past the field's end is untouched (kernel, stride,
        dilation, scale 1; padding 0)."""
        values = getattr(self, field)
        if len(values) == 1:
            return values[0]
        if axis < len(values):
            return values[axis]
        return 0 if field == "padding" else 1


class MissingRule(Exception):
    """An op was registered without declaring one of its rules (an internal error, never a user's)."""


class _Undeclared:
    """The default of every counting rule: not a value but the absence of a choice. Calling it
    raises MissingRule; `OpDef.missing_rules()` lists them and tests/ops/test_ops_registry.py
    fails for any registered op that has one."""

    def __init__(self, rule: str, op: str = "?"):
        self.rule, self.op = rule, op

    def __call__(self, *_a):
        raise MissingRule(f"op {self.op!r} declares no {self.rule} rule (docs/internals.md, 'Declaring an op')")

    def __repr__(self) -> str:
        return f"<no {self.rule} rule declared>"


# The declared "none" of each rule: an op says it has no parameters, no multiply-adds, no
# other FLOPs, or positions that pass through unchanged, by naming one of these.
def NO_PARAMS(*_a) -> dict:
    """The op has no parameters or buffers."""
    return {}


def NO_MACS(*_a) -> int:
    """The op does no conv/linear multiply-adds."""
    return 0


def NO_FLOPS(*_a) -> int:
    """The op does no arithmetic (data movement, graph inputs, identity at inference)."""
    return 0


def RF_POINTWISE(_attrs) -> RFRule:
    """Each output position sees exactly its own input position."""
    return RFRule("pointwise")


def RF_GLOBAL(_attrs) -> RFRule:
    """Each output position sees every input position (global pooling, per-sample statistics)."""
    return RFRule("global")


def RF_NONE(_attrs) -> RFRule:
    """Positions lose their meaning (flatten, reshape, matmul on flattened values)."""
    return RFRule("none")


RULES = ("params", "macs", "flops", "rf")  # every OpDef declares each one explicitly


@dataclass(frozen=True)
class OpDef:
    name: str
    attrs: tuple[AttrSpec, ...]
    shape: Callable[[dict, list], Any]
    category: str  # conv, linear, norm, activation, pool, elementwise, shape, io, regularize
    inputs: tuple[int, int | None] = (1, 1)  # min, max (None: unbounded)
    positional: int = 2  # how many leading attributes may be given positionally
    normalize: Callable[[dict, list], dict] | None = None
    # The four counting rules have no default: each op names one (NO_PARAMS, NO_MACS, NO_FLOPS,
    # RF_POINTWISE, ... when it has none); one left out is a MissingRule when called.
    params: Callable[[dict, list], dict] = field(default_factory=lambda: _Undeclared("params"))  # name -> (shape, trainable)
    macs: Callable[[dict, list, Any], int] = field(default_factory=lambda: _Undeclared("macs"))  # conv/linear MACs only
    flops: Callable[[dict, list, Any], int] = field(default_factory=lambda: _Undeclared("flops"))  # non-MAC flops
    rf: Callable[[dict], RFRule] = field(default_factory=lambda: _Undeclared("rf"))
    outputs: int | Callable[[dict], int] = 1  # or a rule on the normalized attrs (chunk)
    inference_identity: bool = False  # removable at inference (dropout, stochastic depth)
    doc: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        for rule in RULES:
            value = getattr(self, rule)
            if isinstance(value, _Undeclared) and value.op != self.name:
                object.__setattr__(self, rule, _Undeclared(rule, self.name))

    def missing_rules(self) -> list[str]:
        """The counting rules (params, macs, flops, rf) this op did not declare."""
        return [rule for rule in RULES if isinstance(getattr(self, rule), _Undeclared)]

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
