"""PyTorch lowerings of issue 12's arithmetic, reductions, slicing and per-sample norms (rows
in `lower.LOWERINGS`). Arithmetic, reductions and slices are forward expressions (`x * 0.17`,
`x[:, :64]`, `torch.split(x, [64, 16], dim=1)`), as a hand-written forward has them; the norms
are `nn.GroupNorm` / `nn.InstanceNormNd` modules, frozen batch norm a `FrozenBatchNorm2d` helper
equal to torchvision's, and a scaled l2norm an `nn.Parameter` of the enclosing module named like
the node (SSD's `scale_weight`)."""

from __future__ import annotations

from cnndsl.backend import BackendError

from .ctor import Arg, Ctor, Expr, Literal, Param

_SIGN = {"sub": "-", "div": "/", "pow": "**"}

# lowered to forward expressions: no module attribute (tree.MERGES)
EXPR_OPS = frozenset({"sub", "div", "pow", "mul_scalar", "add_scalar", "neg", "sqrt", "exp", "log", "abs", "clamp",
                      "sum", "max", "norm", "slice", "split"})


def _num(v: float) -> str:
    return repr(float(v))


def binary(node, shapes) -> Expr:
    sign = _SIGN[node.op]
    if len(node.inputs) == 2:
        return Expr(f"{{0}} {sign} {{1}}")
    c = _num(node.attrs["scalar"])
    return Expr(f"{c} {sign} {{0}}" if node.attrs["reverse"] else f"{{0}} {sign} {c}")


def scale(node, shapes) -> Expr:
    return Expr(f"{{0}} * {_num(node.attrs['factor'])}")


def shift(node, shapes) -> Expr:
    c = node.attrs["offset"]
    return Expr(f"{{0}} - {_num(-c)}" if c < 0 else f"{{0}} + {_num(c)}")


def _call(fn: str):
    def lower(node, shapes) -> Expr:
        return Expr(f"torch.{fn}({{0}})", uses_torch=True)

    return lower


def neg(node, shapes) -> Expr:
    return Expr("-{0}")


def clamp(node, shapes) -> Expr:
    lo, hi = node.attrs["min"], node.attrs["max"]
    parts = ([f"min={_num(lo)}"] if lo is not None else []) + ([f"max={_num(hi)}"] if hi is not None else [])
    return Expr("{0}.clamp(" + ", ".join(parts) + ")")


def _dims(node) -> str:
    axes = tuple(int(a) for a in node.attrs["axes"])
    keep = ", keepdim=True" if node.attrs["keepdims"] else ""
    return f"dim={axes[0] if len(axes) == 1 else axes}{keep}"


def reduce_sum(node, shapes) -> Expr:
    return Expr(f"{{0}}.sum({_dims(node)})")


def reduce_max(node, shapes) -> Expr:
    return Expr(f"torch.amax({{0}}, {_dims(node)})", uses_torch=True)


def norm(node, shapes) -> Expr:
    return Expr(f"torch.linalg.vector_norm({{0}}, {_num(node.attrs['p'])}, {_dims(node)})", uses_torch=True)


def slice_(node, shapes) -> Expr:
    a = node.attrs
    size = shapes[0][a["axis"]]
    start = str(a["start"]) if a["start"] else ""
    stop = str(a["stop"]) if a["stop"] != size else ""
    step = f":{a['step']}" if a["step"] != 1 else ""
    return Expr("{0}[" + ":, " * a["axis"] + f"{start}:{stop}{step}]")


def split(node, shapes) -> Expr:
    sizes = [int(s) for s in node.attrs["sizes"]]
    return Expr(f"torch.split({{0}}, {sizes}, dim={int(node.attrs['axis'])})", outputs=len(sizes), uses_torch=True)


_SPATIAL = {3: "1d", 4: "2d", 5: "3d"}


def groupnorm(node, shapes) -> Ctor:
    a = node.attrs
    args = [Arg("num_groups", a["groups"], kw=False), Arg("num_channels", shapes[0][1], kw=False),
            Arg("eps", float(a["eps"]), default=1e-5)]
    if not a["affine"]:
        args.append(Arg("affine", False))
    return Ctor("nn.GroupNorm", args)


def instancenorm(node, shapes) -> Ctor:
    a = node.attrs
    rank = len(shapes[0])
    if rank not in _SPATIAL:
        raise BackendError(f"{node.name}: instance norm over a rank-{rank} tensor has no torch module")
    args = [Arg("num_features", shapes[0][1], kw=False), Arg("eps", float(a["eps"]), default=1e-5)]
    if a["affine"]:
        args.append(Arg("affine", True))
    if a["track_running_stats"]:
        args.append(Arg("track_running_stats", True))
    return Ctor(f"nn.InstanceNorm{_SPATIAL[rank]}", args)


def l2norm(node, shapes) -> Expr | Param:
    a = node.attrs
    rank = len(shapes[0])
    normalize = f"torch.nn.functional.normalize({{0}}, dim={int(a['axis'])}, eps={_num(a['eps'])})"
    if a["scale"] is None:
        return Expr(normalize, uses_torch=True)
    # torchvision's SSD: self.scale_weight = nn.Parameter(torch.ones(512) * 20)
    init = Ctor("nn.Parameter", [Arg("data", Ctor("torch.full", [
        Arg("size", Literal((int(shapes[0][1]),)), kw=False),
        Arg("fill_value", float(a["scale"]), kw=False)]), kw=False)])
    view = "{p}.view(1, -1" + ", 1" * (rank - 2) + ")"
    return Param(init, f"{view} * {normalize}")


def frozen_bn(node, shapes) -> Ctor:
    """torchvision's FrozenBatchNorm2d (a helper class of the same name, same buffers), and its 1-D / 3-D
    forms for [N, C, L] and [N, C, D, H, W]."""
    nd = len(shapes[0]) - 2
    if nd not in (1, 2, 3):
        raise BackendError(f"{node.name}: a frozen batch norm needs [N, C, L], [N, C, H, W] or [N, C, D, H, W], "
                           f"got rank {len(shapes[0])}")
    cls = f"FrozenBatchNorm{nd}d"
    return Ctor(cls, [Arg("num_features", shapes[0][1], kw=False),
                      Arg("eps", float(node.attrs["eps"]), default=1e-5)], {cls})


ROWS = {
    "sub": binary,
    "div": binary,
    "pow": binary,
    "mul_scalar": scale,
    "add_scalar": shift,
    "neg": neg,
    "sqrt": _call("sqrt"),
    "exp": _call("exp"),
    "log": _call("log"),
    "abs": _call("abs"),
    "clamp": clamp,
    "sum": reduce_sum,
    "max": reduce_max,
    "norm": norm,
    "slice": slice_,
    "split": split,
    "groupnorm": groupnorm,
    "instancenorm": instancenorm,
    "l2norm": l2norm,
}

__all__ = ["EXPR_OPS", "ROWS", "frozen_bn"]
