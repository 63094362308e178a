"""Receptive fields for arbitrary DAGs, per node and spatial axis.

Single path (Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural
Networks", Distill 2019). For layers l = 1..L with kernel k_l (dilated: d_l(k_l-1)+1),
stride s_l and left/top padding p_l, the receptive field of an output position in the
network input has

    size      r = 1 + sum_l (k_l - 1) * prod_{i<l} s_i
    stride    S = prod_l s_l
    padding   P = sum_l p_l * prod_{i<l} s_i

computed forward one layer at a time: r' = r + (k-1)S, S' = S s, P' = P + p S, starting
from (1, 1, 0) at a graph input. Output position u sees input positions
[u S - P, u S - P + r - 1]; its centre is u S + ((r-1)/2 - P).

Multi-path. Every path from an input to a node has its own (r, S, P). We carry, per
node and axis, the largest path of each alignment class (see `_reduce`: exact, and the
set stays as small as the number of distinct alignments) and report the largest size
over paths, with the stride and padding of that path; `paths` counts the input-to-node
paths. Paths are *aligned* when they share the effective
stride and the centre offset (r-1)/2 - P (a residual block: identity (1, 1, 0) and a
3x3/pad-1 conv (3, 1, 1) are aligned); where a merge brings together paths that differ,
the pass warns and sets `aligned` false. The input region seen by an output position is
the union of the paths' regions (`input_region`).

Op rules (`OpDef.rf`): "local" as above; "pointwise" keeps (r, S, P); "global" (gap)
and "none" (flatten, reshape: positions lose their meaning, so conservatively every
output sees everything) act as a window over the whole input
extent H: r' = r + (H-1)S, and S' = 0 because the region no longer moves with the output
position (later windows keep r and P: 0 * anything); "along" (linear on the last axis,
layernorm over one axis) is "global" on a spatial axis it mixes and "pointwise" on the
others; "permute" (transpose) keeps (r, S, P) and moves the spatial axes. "adaptive"
(adaptive pooling) is exact where its windows are uniform -- an input extent H divisible by
the output extent h is a window of H/h at stride H/h without padding (H == h: the identity)
-- and "global" on an axis where they are not.
"resample" (upsample, conv_t) with scale f and
kernel k: r' = r + (k-1)S, S' = S / f (fractional; approximate for the rounding of
nearest and bilinear). A broadcast input (a [N, C, 1, 1] gate multiplied into an
[N, C, H, W] tensor) reaches every output position: stride 0, so its region does not
move with u; such position-independent paths count for size but not for alignment.
A node whose op has no rf rule, or that depends on one, gets `rf` None (unsupported).

Spatial axes. The graph's spatial axes are those of its first NCL, NCHW or NCDHW input
(axes 2.., so 1, 2 or 3 of them: l; h, w; d, h, w; 2-D when no input has such a rank),
and every node's `rf` has one entry per such axis. The pass tracks where they are in
every value (`meta["rf_axes"]`): a permute moves them, an op whose output has its input's
rank keeps them, any other value of the input's rank has them at 2.., and a value of
another rank has none. Extents and the "along" axes are read at those
positions, so an NHWC segment ([N, H, W, C] between two transposes, ConvNeXt's block)
keeps its receptive field. "local", "global" and "resample" ops work on axes 2..:
applied to a value whose spatial axes are elsewhere, or merging values whose spatial
axes differ, the node is unsupported.
"""

from __future__ import annotations

from fractions import Fraction

from cnndsl.ir.graph import Graph, Node
from cnndsl.passes.common import clear_unsupported, in_shapes, mark_unsupported, opdef_of, rule_of
from cnndsl.passes.manager import Pass, PassContext, PassResult

Summary = tuple[int, Fraction, Fraction]  # (size r, stride S, padding P) of one path on one axis
AXES = ("h", "w")  # names of the spatial axes of a 2-D graph
AXIS_NAMES = {1: ("l",), 2: AXES, 3: ("d", "h", "w")}


def _num(x: int | Fraction) -> int | float:
    if isinstance(x, int):
        return x
    return int(x) if x.denominator == 1 else float(x)


def _norm(x: int | Fraction) -> int | Fraction:
    """Keep integers as ints (fast); fractions appear only after a resample."""
    return int(x) if isinstance(x, Fraction) and x.denominator == 1 else x


def graph_spatial_dims(graph: Graph) -> int:
    """1, 2 or 3: the spatial axes of the graph's first NCL/NCHW/NCDHW input (2 when none is)."""
    for name in graph.input_names:
        shape = graph.nodes[name].meta.get("shape")
        if shape is not None and 3 <= len(shape) <= 5:
            return len(shape) - 2
    return 2


def _default_axes(shape, nd: int = 2) -> tuple[int, ...] | None:
    return tuple(range(2, 2 + nd)) if shape is not None and len(shape) == nd + 2 else None


def _spatial(shape, pos) -> tuple | None:
    """The (h, w) extents of a value whose spatial axes are at `pos`."""
    if shape is None or pos is None:
        return None
    return tuple(shape[p] for p in pos)


def _out_axes(rule, in_axes: list, shapes: list, out_shape, nd: int = 2) -> tuple[int, ...] | None:
    """Where the spatial axes are in the node's output; NotImplementedError where unknowable."""
    tracked = {a for a in in_axes if a is not None}
    if len(tracked) > 1:
        raise NotImplementedError("inputs with their spatial axes at different positions")
    if rule.kind in ("local", "global", "resample", "adaptive") and tracked - {_default_axes((0,) * (nd + 2), nd)}:
        raise NotImplementedError(f"a {rule.kind} window over axes 2.. of a value whose spatial axes are elsewhere")
    pos = next(iter(tracked), None)
    if rule.kind == "permute":
        return None if pos is None else tuple(rule.axes.index(p) for p in pos)
    if pos is not None and out_shape is not None and shapes and len(out_shape) == len(shapes[0]):
        return pos
    return _default_axes(out_shape, nd)


def _add(table: set, r, s, p) -> None:
    table.add((_norm(r), _norm(s), _norm(p)))


def _reduce(table: set) -> set:
    """Keep the largest path of each alignment class (stride S, doubled centre offset r-1-2P).

    Exact: within a class the regions are nested (same centre, same stride), the largest
    contains the others, and every later op maps the whole class to one class again, so
    the smaller members can never become the largest or change an alignment verdict.
    """
    best: dict = {}
    for r, s, p in table:
        key = (s, r - 1 - 2 * p)
        if key not in best or best[key][0] < r:
            best[key] = (r, s, p)
    return set(best.values())


def _step(rule, axis: int, paths: set, in_shape, out_shape, in_pos, out_pos) -> set:
    """Apply one op's rule to one input's path summaries on one axis."""
    out: set = set()
    in_sp, out_sp = _spatial(in_shape, in_pos), _spatial(out_shape, out_pos)
    broadcast = in_sp is not None and out_sp is not None and in_sp[axis] == 1 and out_sp[axis] > 1
    kind = rule.kind
    if kind == "along":
        mixed = in_sp is not None and in_pos[axis] in {a % len(in_shape) for a in rule.axes}
        kind = "global" if mixed else "pointwise"
    elif kind == "permute":
        kind = "pointwise"
    adaptive_k = None
    if kind == "adaptive":  # adaptive pooling: uniform windows are a local window, the others "global"
        n_in = None if in_sp is None else in_sp[axis]
        n_out = None if out_sp is None else out_sp[axis]
        if isinstance(n_in, int) and isinstance(n_out, int) and n_out > 0 and n_in % n_out == 0:
            adaptive_k = n_in // n_out
            kind = "local"
        else:
            kind = "global"
    if kind in ("global", "none") and in_sp is None:
        kind = "pointwise"  # already non-spatial: every feature sees what its input saw
    for r, s, p in paths:
        if kind == "local" and adaptive_k is not None:  # window and stride in/out, no padding
            _add(out, r + (adaptive_k - 1) * s, s * adaptive_k, p)
        elif kind == "local":
            k = rule.on_axis("dilation", axis) * (rule.on_axis("kernel", axis) - 1) + 1
            _add(out, r + (k - 1) * s, s * rule.on_axis("stride", axis), p + rule.on_axis("padding", axis) * s)
        elif kind in ("global", "none"):
            extent = in_sp[axis]
            if isinstance(extent, str):
                raise NotImplementedError("symbolic spatial size")
            _add(out, r + (extent - 1) * s, 0, p)  # every output position sees it all: stride 0
        elif kind == "resample":
            f = Fraction(rule.on_axis("scale", axis)).limit_denominator(1000)
            if in_sp is not None and out_sp is not None and all(isinstance(v, int) for v in (in_sp[axis], out_sp[axis])):
                f = Fraction(out_sp[axis], in_sp[axis])
            k = rule.on_axis("kernel", axis)
            _add(out, r + (k - 1) * s, s / f, p)
        else:  # pointwise
            if broadcast:
                _add(out, r, 0, p)
            else:
                _add(out, r, s, p)
    return _reduce(out)


def _classes(paths: set) -> set:
    """Alignment classes (stride, centre offset) of the position-dependent paths."""
    return {(s, r - 1 - 2 * p) for r, s, p in paths if s != 0}  # 2 x centre offset


def _best(paths: set) -> Summary:
    """The largest path; stride/padding from the largest position-dependent one."""
    items = sorted(paths)
    size = items[-1][0]
    moving = [t for t in items if t[1] != 0]
    _r, s, p = moving[-1] if moving else items[-1]
    return size, s, p


def _summaries(node: Node) -> list[set] | None:
    return node.meta.get("rf_paths")


def compute_rf(graph: Graph, ctx: PassContext) -> PassResult:
    graph.meta["rf_warnings"] = warnings = []
    nd = graph_spatial_dims(graph)
    names = AXIS_NAMES[nd]
    for node in graph.topo():
        node.meta.pop("rf_warning", None)
        node.meta.pop("rf_axes", None)
        if node.op == "input":
            node.meta["rf_axes"] = _default_axes(node.meta.get("shape"), nd)
            node.meta["rf_paths"] = [{(1, 1, 0)} for _ in names]
            node.meta["rf_path_count"] = 1
            _store(node)
            continue
        rule_fn = rule_of(opdef_of(node), "rf")
        sources = [graph.nodes[src] for src, _i in node.inputs]
        try:
            rule = None if rule_fn is None else rule_fn(node.attrs)
        except NotImplementedError:
            rule = None
        if rule is None or any(_summaries(s) is None for s in sources):
            node.meta["rf_paths"] = node.meta["rf"] = None
            mark_unsupported(node, "rf")
            continue
        shapes = in_shapes(graph, node)
        per_axis: list[set] = []
        try:
            in_axes = [src.meta.get("rf_axes") for src in sources]
            out_axes = _out_axes(rule, in_axes, shapes, node.meta.get("shape"), nd)
            for axis in range(nd):
                merged: set = set()
                inputs_classes = []
                for src, shape, pos in zip(sources, shapes, in_axes):
                    stepped = _step(rule, axis, _summaries(src)[axis], shape, node.meta.get("shape"), pos, out_axes)
                    inputs_classes.append(len(_classes(stepped)))
                    merged |= stepped
                classes = _classes(merged)
                if len(sources) > 1 and len(classes) > max(inputs_classes, default=0):
                    desc = "; ".join(f"stride {_num(s)}, centre offset {_num(Fraction(c, 2))}" for s, c in sorted(classes))
                    msg = (f"{node.name} ({node.op}): input paths are misaligned on axis {names[axis]} "
                           f"(effective stride / centre differ: {desc}); reporting the largest receptive field")
                    ctx.warn(msg)
                    warnings.append(msg)
                    node.meta["rf_warning"] = [*node.meta.get("rf_warning", []), msg]
                per_axis.append(_reduce(merged))
        except NotImplementedError:
            node.meta["rf_paths"] = node.meta["rf"] = None
            mark_unsupported(node, "rf")
            continue
        node.meta["rf_paths"] = per_axis
        node.meta["rf_axes"] = out_axes
        node.meta["rf_path_count"] = sum(src.meta.get("rf_path_count", 1) for src in sources)
        clear_unsupported(node, "rf")
        _store(node)
    return PassResult(graph, False)


def _store(node: Node) -> None:
    best = [_best(paths) for paths in node.meta["rf_paths"]]
    node.meta["rf"] = {
        "size": [_num(b[0]) for b in best],
        "stride": [_num(b[1]) for b in best],
        "padding": [_num(b[2]) for b in best],
        "aligned": [len(_classes(paths)) <= 1 for paths in node.meta["rf_paths"]],
        "paths": node.meta.get("rf_path_count", 1),
    }


def input_region(node: Node, position: tuple[int, ...]) -> list[tuple[int | float, int | float]]:
    """Per axis, the first and last input positions seen by output `position` (unclipped:
    negative or past-the-end indices fall in the padding). The union over all paths."""
    paths = _summaries(node)
    if paths is None:
        raise ValueError(f"node {node.name!r} has no receptive field (run the rf pass; op may lack a rule)")
    region = []
    for axis, table in enumerate(paths):
        u = position[axis]
        lo = min(u * s - p for _r, s, p in table)
        hi = max(u * s - p + r - 1 for r, s, p in table)
        region.append((_num(_norm(Fraction(lo))), _num(_norm(Fraction(hi)))))
    return region


RF = Pass("rf", compute_rf, "analysis",
          "receptive field size, effective stride and padding per node and axis (all paths)", in_place=True,
          requires=("shape",))
