"""`let init = [...]`: a network's or block's weight-initialization recipe (docs/language.md, "Initialization").

A recipe is a list of rules `(target, method, args...)`, bound with `let init = ...` in a
network or block body; it applies to the layers of that instance (nested instances
included) and a deeper instance's recipe overrides it for its own layers:

    let init = [("conv", "kaiming_normal", "fan_out"), ("bn", "constant", 1.0, 0.0), ("linear", "normal", 0.01)]

`target` is an op name (every layer of that op) or a layer's name inside the instance
(`"bn3"`, `"downsample.1"`); a later rule for the same layer wins. The methods, their
arguments and what PyTorch calls they stand for are the table `METHODS`. Biases are zeroed
by every method but `default` (torchvision's recipes all do so).

No grammar change: `let` already binds compile-time values; the elaborator records the
value of a `let init` (checked here, with the `let`'s position) in `graph.meta["init"]`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cnndsl.diagnostics import InvalidValue, Span, WrongType, did_you_mean


@dataclass(frozen=True)
class Method:
    """One initialization method: its argument names and defaults, and a one-line meaning."""

    name: str
    args: tuple[tuple[str, Any], ...]  # (name, default) — no default: required
    doc: str


_REQUIRED = object()

METHODS: dict[str, Method] = {
    m.name: m for m in (
        Method("default", (), "PyTorch's own default for the layer (undo an outer recipe)"),
        Method("kaiming_normal", (("mode", "fan_in"), ("nonlinearity", "relu")),
               "nn.init.kaiming_normal_(weight, mode, nonlinearity); bias 0"),
        Method("kaiming_uniform", (("mode", "fan_in"), ("nonlinearity", "relu")),
               "nn.init.kaiming_uniform_(weight, mode, nonlinearity); bias 0"),
        Method("xavier_uniform", (("gain", 1.0),), "nn.init.xavier_uniform_(weight, gain); bias 0"),
        Method("xavier_normal", (("gain", 1.0),), "nn.init.xavier_normal_(weight, gain); bias 0"),
        Method("normal", (("std", _REQUIRED), ("mean", 0.0)), "nn.init.normal_(weight, mean, std); bias 0"),
        Method("trunc_normal", (("std", _REQUIRED),), "nn.init.trunc_normal_(weight, std=std) (at +-2); bias 0"),
        Method("uniform", (("bound", _REQUIRED),), "nn.init.uniform_(weight, -bound, bound); bias 0"),
        Method("constant", (("weight", _REQUIRED), ("bias", 0.0)),
               "nn.init.constant_(weight, w); bias b (batch-norm: 1.0, 0.0)"),
        Method("zeros", (), "weight 0 and bias 0 (zero-init of a residual branch's last BN)"),
    )
}

_MODES = ("fan_in", "fan_out")
_NONLINEARITIES = ("relu", "leaky_relu", "linear", "sigmoid", "tanh", "selu", "conv2d")


@dataclass(frozen=True)
class InitRule:
    target: str
    method: str
    args: tuple[tuple[str, Any], ...]  # every argument, defaults filled, in the method's order

    def kwargs(self) -> dict[str, Any]:
        return dict(self.args)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def check_rule(item: Any, span: Span) -> InitRule:
    if not isinstance(item, (list, tuple)) or len(item) < 2 or not all(isinstance(v, str) for v in item[:2]):
        raise WrongType(f"an init rule is (target, method, args...), e.g. (\"conv\", \"kaiming_normal\", \"fan_out\"); "
                        f"got {item!r}", span)
    target, name, *given = item
    method = METHODS.get(name)
    if method is None:
        raise InvalidValue(f"init method '{name}' is not one of {', '.join(METHODS)}{did_you_mean(name, METHODS)}",
                           span)
    if len(given) > len(method.args):
        raise InvalidValue(f"init method '{name}' takes {len(method.args)} argument(s) "
                           f"({', '.join(a for a, _d in method.args) or 'none'}), got {len(given)}", span)
    args = []
    for i, (arg, default) in enumerate(method.args):
        value = given[i] if i < len(given) else default
        if value is _REQUIRED:
            raise InvalidValue(f"init method '{name}' needs its '{arg}' argument", span)
        if arg == "mode" and value not in _MODES:
            raise InvalidValue(f"init {name}: mode must be one of {', '.join(_MODES)}, got {value!r}", span)
        if arg == "nonlinearity" and value not in _NONLINEARITIES:
            raise InvalidValue(f"init {name}: nonlinearity must be one of {', '.join(_NONLINEARITIES)}, "
                               f"got {value!r}", span)
        if arg not in ("mode", "nonlinearity"):
            if not _number(value):
                raise WrongType(f"init {name}: {arg} must be a number, got {value!r}", span)
            if arg in ("std", "bound", "gain") and float(value) < 0:
                raise InvalidValue(f"init {name}: {arg} must not be negative, got {value!r}", span)
            value = float(value)
        args.append((arg, value))
    return InitRule(target, name, tuple(args))


def check_recipe(value: Any, span: Span) -> tuple[InitRule, ...]:
    """The rules of a `let init = ...` value, or a positioned error naming what is wrong."""
    if isinstance(value, tuple) and len(value) >= 2 and isinstance(value[0], str):
        value = [value]  # one rule without the list around it
    if not isinstance(value, (list, tuple)):
        raise WrongType(f"'let init' takes a list of rules (target, method, args...), got {value!r}", span)
    return tuple(check_rule(item, span) for item in value)


def record(meta: dict, scope: tuple[str, ...], rules: tuple[InitRule, ...], span: Span) -> None:
    """Keep the recipe of the instance at `scope` in `graph.meta["init"]` (a later `let init` there replaces it)."""
    prefix = ".".join(scope)
    recipes = meta.setdefault("init", {})  # plain data: graph.meta may be serialized
    recipes[prefix] = {"rules": [[r.target, r.method, [list(a) for a in r.args]] for r in rules],
                       "at": f"{span.file}:{span.line}:{span.col}"}


def recipe_sources(graph) -> list[str]:
    """Where the recipes in force were written (`file:line:col` of each `let init`)."""
    return [r["at"] for r in (graph.meta.get("init") or {}).values()]


def resolve(graph) -> dict[str, InitRule]:
    """Node name -> the rule in force for it: the deepest instance's recipe whose rule matches the node's op
    or its name relative to that instance (a later rule of one recipe wins over an earlier one)."""
    recipes: dict[str, dict] = graph.meta.get("init") or {}
    if not recipes:
        return {}
    out: dict[str, InitRule] = {}
    for node in graph.topo():
        if node.op == "input":
            continue
        parts = node.name.split(".")
        for depth in range(len(parts) - 1, -1, -1):  # deepest enclosing instance first
            prefix = ".".join(parts[:depth])
            recipe = recipes.get(prefix)
            if recipe is None:
                continue
            local = ".".join(parts[depth:])
            matches = [r for r in recipe["rules"] if r[0] == node.op or r[0] == local]
            if matches:
                target, method, args = matches[-1]
                out[node.name] = InitRule(target, method, tuple((a, v) for a, v in args))
                break
    return out


__all__ = ["METHODS", "InitRule", "Method", "check_recipe", "recipe_sources", "record", "resolve"]
