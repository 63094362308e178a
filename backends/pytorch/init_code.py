"""The `.cnn` file's weight-initialization recipe (`let init = [...]`) as code in the generated module.

torchvision initializes at the end of `__init__` with one loop over `self.modules()` and a
branch per layer type (ResNet: `kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")`
for convolutions, `ones_`/`zeros_` for batch norm). The generated network class does the same:
the rule in force for every layer (`cnndsl.elaborate.init_recipe.resolve`: the deepest
instance's recipe wins) is grouped by the layer's PyTorch class, and

- the rule most layers of a class follow is one `isinstance` branch of the loop;
- layers of that class with another rule (a block's own recipe overriding the network's, a
  rule for one named layer: SqueezeNet's final conv) are set again by name after the loop
  (`self.get_submodule(...)`); where some layers of a class keep PyTorch's default, the
  class has no branch and all its other layers are set by name.

Layers without a rule, and `("target", "default")` rules, keep PyTorch's initialization. A
uniform bound equal to `1 / sqrt(out_features)` of every layer it covers is written as that
expression (torchvision's EfficientNet classifier), so it follows a `num_classes` argument.
"""

from __future__ import annotations

import math

from cnndsl.elaborate.init_recipe import InitRule, resolve

from .escape import py_text
from .lower import LOWERINGS, Ctor

# what `isinstance` tests for a module the backend writes (helpers subclass torch's conv)
_BASE = {f"{helper}{nd}d": f"nn.Conv{nd}d" for helper in ("PadConv", "FusedConv") for nd in (1, 2, 3)}
# classes whose `weight` and `bias` a rule initializes (others hold no weights, or buffers only)
_WEIGHTED = (frozenset(f"nn.{base}{nd}d" for base in ("Conv", "ConvTranspose", "BatchNorm", "InstanceNorm")
                       for nd in (1, 2, 3))
             | frozenset({"nn.Linear", "nn.GroupNorm", "nn.LayerNorm", "LayerNorm2d"}))


def _num(v: float) -> str:
    return repr(float(v))


def _weight_lines(rule: InitRule, bound_expr: str | None) -> list[str]:
    a = rule.kwargs()
    m = rule.method
    if m in ("kaiming_normal", "kaiming_uniform"):
        return [f'nn.init.{m}_(m.weight, mode="{a["mode"]}", nonlinearity="{a["nonlinearity"]}")']
    if m in ("xavier_uniform", "xavier_normal"):
        gain = "" if float(a["gain"]) == 1.0 else f", gain={_num(a['gain'])}"
        return [f"nn.init.{m}_(m.weight{gain})"]
    if m == "normal":
        mean = "" if float(a["mean"]) == 0.0 else f"mean={_num(a['mean'])}, "
        return [f"nn.init.normal_(m.weight, {mean}std={_num(a['std'])})"]
    if m == "trunc_normal":
        return [f"nn.init.trunc_normal_(m.weight, std={_num(a['std'])})"]
    if m == "uniform":
        if bound_expr:
            return [f"bound = {bound_expr}", "nn.init.uniform_(m.weight, -bound, bound)"]
        return [f"nn.init.uniform_(m.weight, -{_num(a['bound'])}, {_num(a['bound'])})"]
    if m == "constant":
        w = float(a["weight"])
        return ["nn.init.ones_(m.weight)" if w == 1.0 else "nn.init.zeros_(m.weight)" if w == 0.0
                else f"nn.init.constant_(m.weight, {_num(w)})"]
    if m == "zeros":
        return ["nn.init.zeros_(m.weight)"]
    raise ValueError(f"no code for init method {m!r}")  # init_recipe.METHODS and this table disagree


def _bias_line(rule: InitRule) -> str:
    b = float(rule.kwargs()["bias"]) if rule.method == "constant" else 0.0
    return "nn.init.zeros_(m.bias)" if b == 0.0 else f"nn.init.constant_(m.bias, {_num(b)})"


def _has(ctor: Ctor, arg: str) -> bool:
    """The module holds `arg` (`bias=False`, `affine=False` and `elementwise_affine=False` leave it out)."""
    off = {"bias": ("bias",), "weight": ("affine", "elementwise_affine")}[arg]
    off += ("affine", "elementwise_affine") if arg == "bias" else ()
    return not any(a.name in off and a.value is False for a in ctor.args)


def _body(rule: InitRule, ctors: list[Ctor], bound_expr: str | None) -> list[str]:
    """Statements initializing `m` (one of `ctors`' modules) by `rule`."""
    weights = [_has(c, "weight") for c in ctors]
    biases = [_has(c, "bias") for c in ctors]
    lines = []
    if any(weights):
        w = _weight_lines(rule, bound_expr)
        lines += w if all(weights) else ["if m.weight is not None:"] + ["    " + ln for ln in w]
    if any(biases):
        b = _bias_line(rule)
        lines += [b] if all(biases) else ["if m.bias is not None:", "    " + b]
    return lines


def _bound_expr(rule: InitRule, ctors: list[Ctor], nodes) -> str | None:
    """`1.0 / m.out_features**0.5` when that is the uniform bound of every layer the rule covers."""
    if rule.method != "uniform" or not all(c.func == "nn.Linear" for c in ctors):
        return None
    bound = float(rule.kwargs()["bound"])
    if all(math.isclose(bound, 1.0 / math.sqrt(int(n.attrs["out"])), rel_tol=1e-12) for n in nodes):
        return "1.0 / m.out_features**0.5"
    return None


def init_lines(graph) -> list[str]:
    """The statements that end the network's `__init__` (empty when the file names no recipe)."""
    rules = resolve(graph)
    if not rules:
        return []
    layers: dict[str, list] = {}  # isinstance class -> [(node, ctor, rule or None)]
    for node in graph.topo():
        if node.op == "input" or "@" in node.name:
            continue
        low = LOWERINGS[node.op](node, [graph.value_shape(tuple(r)) for r in node.inputs])
        if not isinstance(low, Ctor) or _BASE.get(low.func, low.func) not in _WEIGHTED:
            continue
        rule = rules.get(node.name)
        if rule is not None and rule.method == "default":
            rule = None
        layers.setdefault(_BASE.get(low.func, low.func), []).append((node, low, rule))
    branches, by_name = [], []
    for cls, items in layers.items():
        kinds = {r for _n, _c, r in items}
        if kinds == {None}:
            continue
        if None in kinds:  # some layers keep PyTorch's default: the others by name
            by_name += [(n, c, r) for n, c, r in items if r is not None]
            continue
        # the rule most layers follow is the branch; the others are set again by name after the loop
        # (SqueezeNet's final conv, a block's zero-init BN)
        count: dict = {}
        for _n, _c, r in items:
            count[r] = count.get(r, 0) + 1
        rule = max(count, key=count.get)
        ctors = [c for _n, c, _r in items]
        body = _body(rule, ctors, _bound_expr(rule, ctors, [n for n, _c, r in items if r == rule]))
        if body:
            branches.append((cls, body))
        by_name += [(n, c, r) for n, c, r in items if r != rule]
    sources = sorted({py_text(r["at"].rsplit(":", 1)[0]) for r in graph.meta["init"].values()})
    lines = [f"# weight initialization: `let init` at {', '.join(sources)}"]
    merged: dict[tuple, list[str]] = {}  # classes with the same statements share a branch (ConvNeXt's)
    for cls, body in branches:
        merged.setdefault(tuple(body), []).append(cls)
    if merged:
        lines.append("for m in self.modules():")
        for i, (body, classes) in enumerate(merged.items()):
            test = classes[0] if len(classes) == 1 else f"({', '.join(classes)})"
            lines.append(f"    {'if' if i == 0 else 'elif'} isinstance(m, {test}):")
            lines += ["        " + ln for ln in body]
    groups: dict[tuple, list] = {}
    for node, ctor, rule in by_name:
        groups.setdefault((rule, ctor.func), []).append((node, ctor))
    for (rule, _func), members in groups.items():
        names = ", ".join(repr(n.name) for n, _c in members) + ("," if len(members) == 1 else "")
        ctors = [c for _n, c in members]
        body = _body(rule, ctors, _bound_expr(rule, ctors, [n for n, _c in members]))
        if body:
            lines.append(f"for name in ({names}):")
            lines.append("    m = self.get_submodule(name)")
            lines += ["    " + ln for ln in body]
    return lines if len(lines) > 1 else []


__all__ = ["init_lines"]
