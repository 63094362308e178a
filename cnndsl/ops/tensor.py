"""Merges and shape ops: input, add, mul, concat, flatten, dropout, stochastic_depth, upsample, linear."""

from __future__ import annotations

from cnndsl.ops.common import SPATIAL_RANKS, fmt_shape, numel, per_sample, spatial_dims
from cnndsl.ops.constraints import finite, in_range, length, numeric, one_of, positive, product_at_most, size
from cnndsl.ops.registry import NO_FLOPS, NO_MACS, NO_PARAMS, RF_POINTWISE, AttrSpec, OpDef, RFRule, ShapeError


def _add_shape(_attrs: dict, shapes: list):
    first = tuple(shapes[0])
    for other in shapes[1:]:
        if tuple(other) != first:
            raise ShapeError(f"shapes differ: {fmt_shape(first)} vs {fmt_shape(other)}")
    return first


def _mul_shape(_attrs: dict, shapes: list):
    a, b = (tuple(s) for s in shapes)
    if a == b:
        return a
    # the one broadcast we allow: a channel gate [N, C, 1, 1] (squeeze-excitation)
    for x, g in ((a, b), (b, a)):  # 1-D and 3-D too: [N, C, 1] and [N, C, 1, 1, 1]
        if len(x) in SPATIAL_RANKS and len(g) == len(x) and g[:2] == x[:2] and set(g[2:]) == {1}:
            return x
    raise ShapeError(f"shapes differ: {fmt_shape(a)} vs {fmt_shape(b)} "
                     "(mul broadcasts only a [N, C, 1, 1] gate)")


def _elementwise_flops(_attrs: dict, shapes: list, out) -> int:
    return (len(shapes) - 1) * per_sample(out)


def _concat_shape(attrs: dict, shapes: list):
    first = tuple(shapes[0])
    axis = attrs["axis"]
    rank = len(first)
    if not -rank <= axis < rank:
        raise ShapeError(f"concat axis {axis} is out of range for rank {rank}")
    axis %= rank
    if axis == 0:
        raise ShapeError("concat along the batch axis is not supported")
    total = 0
    for s in shapes:
        s = tuple(s)
        if len(s) != rank or any(s[i] != first[i] for i in range(rank) if i != axis):
            raise ShapeError(f"shapes differ outside axis {axis}: {fmt_shape(first)} vs {fmt_shape(s)}")
        total += s[axis]
    return first[:axis] + (total,) + first[axis + 1:]


def _concat_normalize(attrs: dict, shapes: list) -> dict:
    return attrs if attrs["axis"] >= 0 or not shapes else dict(attrs, axis=attrs["axis"] % len(shapes[0]))


def _flatten_shape(attrs: dict, shapes: list):
    (x,) = shapes
    start = attrs["start"]
    if not 1 <= start < len(x):
        raise ShapeError(f"flatten start={start} must be in 1..{len(x) - 1} for {fmt_shape(x)}")
    n = 1
    for d in x[start:]:
        n *= d
    return tuple(x[:start]) + (n,)


def _flatten_rf(_attrs: dict) -> RFRule:
    return RFRule("none")


def _same(_attrs: dict, shapes: list):
    return tuple(shapes[0])


def per_axis(v, nd: int, what: str) -> tuple:
    """upsample's scale or size: one number for every spatial axis, or one per axis."""
    if isinstance(v, (tuple, list)):
        if len(v) != nd and len(v) != 1:
            raise ShapeError(f"upsample: {what} has {len(v)} values but the input has {nd} spatial "
                             f"ax{'is' if nd == 1 else 'es'}")
        return tuple(v) * (nd if len(v) == 1 else 1)
    return (v,) * nd


# interpolating modes, PyTorch's names: the one that matches the input's spatial axes
LINEAR_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _upsample_shape(attrs: dict, shapes: list):
    (x,) = shapes
    nd = spatial_dims(shapes, "upsample")
    if attrs["size"] is not None:
        return (x[0], x[1]) + tuple(int(v) for v in per_axis(attrs["size"], nd, "size"))
    scale = per_axis(attrs["scale"], nd, "scale")
    out = tuple(x[2 + i] if isinstance(x[2 + i], str) else int(x[2 + i] * scale[i]) for i in range(nd))
    if any(isinstance(n, int) and n < 1 for n in out):
        raise ShapeError(f"upsample: scale {attrs['scale']} makes {fmt_shape(x)} an empty "
                         f"{fmt_shape((x[0], x[1]) + out)}")
    return (x[0], x[1]) + out


def _upsample_normalize(attrs: dict, shapes: list) -> dict:
    nd = spatial_dims(shapes, "upsample")
    mode = attrs["mode"]
    if attrs["align_corners"] and mode == "nearest":
        raise ShapeError(f"align_corners applies only to mode=\"{LINEAR_MODES[nd]}\"")
    if mode != "nearest" and mode != LINEAR_MODES[nd]:
        raise ShapeError(f"upsample: mode \"{mode}\" does not match this {SPATIAL_RANKS[nd + 2]} input: its "
                         f"interpolation is mode=\"{LINEAR_MODES[nd]}\" (PyTorch's name for {nd}-D)")
    if attrs["scale"] is None and attrs["size"] is None:
        raise ShapeError("needs a scale or a size (scale=none and no size given)")
    for what in ("scale", "size"):
        if attrs[what] is not None:
            per_axis(attrs[what], nd, what)
    return attrs


def _upsample_rf(attrs: dict) -> RFRule:
    s = attrs["scale"] if attrs["size"] is None else 1
    scale = tuple(float(v) for v in s) if isinstance(s, (tuple, list)) else (float(s),)
    k = 1 if attrs["mode"] == "nearest" else 2
    return RFRule("resample", kernel=(k,), scale=scale)


def _upsample_flops(attrs: dict, _shapes: list, out) -> int:
    # interpolation: 2 ** nd taps weighed and summed per output (4 in 2-D, as before)
    nd = len(out) - 2
    return (0 if attrs["mode"] == "nearest" else 2 ** nd) * per_sample(out)


def _input_shape(attrs: dict, _shapes: list):
    return tuple(attrs["shape"])


def _linear_shape(attrs: dict, shapes: list):
    (x,) = shapes
    if len(x) < 2:
        raise ShapeError(f"linear: expects [N, ..., features] (it acts on the last axis), got {fmt_shape(x)}")
    return tuple(x[:-1]) + (attrs["out"],)


def _linear_params(attrs: dict, shapes: list) -> dict:
    p = {"weight": ((attrs["out"], shapes[0][-1]), True)}
    if attrs["bias"]:
        p["bias"] = ((attrs["out"],), True)
    return p


def _linear_macs(attrs: dict, shapes: list, out) -> int:
    x = shapes[0]
    return numel(x[1:-1]) * x[-1] * attrs["out"]  # positions x in x out


def _linear_bias_flops(attrs: dict, _shapes: list, out) -> int:
    return per_sample(out) if attrs["bias"] else 0


def _linear_rf(_attrs: dict) -> RFRule:
    return RFRule("along", axes=(-1,))


OPS = (
    OpDef(name="input", attrs=(AttrSpec("shape", "ints", constraints=(length(1), positive(), product_at_most(2**62))),
                               AttrSpec("dtype", "str", "float32")),
          shape=_input_shape, category="io", inputs=(0, 0), params=NO_PARAMS, macs=NO_MACS, flops=NO_FLOPS,
          rf=RF_POINTWISE, doc="a graph input"),
    OpDef(name="add", attrs=(), shape=_add_shape, category="elementwise", inputs=(2, None), params=NO_PARAMS,
          macs=NO_MACS, flops=_elementwise_flops, rf=RF_POINTWISE, doc="elementwise sum of equal shapes (never broadcasts)"),
    OpDef(name="mul", attrs=(), shape=_mul_shape, category="elementwise", inputs=(2, 2), params=NO_PARAMS,
          macs=NO_MACS, flops=_elementwise_flops, rf=RF_POINTWISE,
          doc="elementwise product; broadcasts only a [N, C, 1, 1] gate"),
    OpDef(name="concat", attrs=(AttrSpec("axis", "int", 1),), shape=_concat_shape, category="shape",
          inputs=(2, None), normalize=_concat_normalize, params=NO_PARAMS, macs=NO_MACS, flops=NO_FLOPS,
          rf=RF_POINTWISE, doc="concatenation along an axis (channels by default)"),
    OpDef(name="flatten", attrs=(AttrSpec("start", "int", 1),), shape=_flatten_shape, category="shape",
          params=NO_PARAMS, macs=NO_MACS, flops=NO_FLOPS, rf=_flatten_rf, doc="flattens axes start.. into one"),
    OpDef(name="dropout", attrs=(AttrSpec("p", "float", 0.5, doc="probability of zeroing an element",
                                          constraints=(in_range(0, 1, high_open=True),)),),
          shape=_same, category="regularize", params=NO_PARAMS, macs=NO_MACS, flops=NO_FLOPS, rf=RF_POINTWISE,
          inference_identity=True, doc="dropout; the identity at inference"),
    OpDef(name="stochastic_depth",
          attrs=(AttrSpec("p", "float", doc="probability of dropping the branch",
                          constraints=(in_range(0, 1, high_open=True),)),
                 AttrSpec("mode", "str", "row", constraints=(one_of("row", "batch"),))),
          shape=_same, category="regularize", params=NO_PARAMS, macs=NO_MACS, flops=NO_FLOPS, rf=RF_POINTWISE,
          inference_identity=True,
          doc="drops a residual branch per sample (row) or per batch while training "
              "(torchvision's StochasticDepth); the identity at inference"),
    OpDef(name="upsample",
          attrs=(AttrSpec("scale", "any", 2, doc="a number, or one per spatial axis",
                          constraints=(numeric(), finite(), positive(), length(1, 3), product_at_most(2**20))),
                 AttrSpec("mode", "str", "nearest", constraints=(one_of("nearest", "linear", "bilinear", "trilinear"),),
                          doc="nearest, or linear interpolation named as PyTorch does for the input's rank: "
                              "linear (NCL), bilinear (NCHW), trilinear (NCDHW)"),
                 AttrSpec("align_corners", "bool", False),
                 AttrSpec("size", "any", None, doc="the output size: an int, or one per spatial axis (overrides scale)",
                          constraints=(numeric(integers=True),) + size() + (length(1, 3),))),
          shape=_upsample_shape, category="shape", normalize=_upsample_normalize, params=NO_PARAMS, macs=NO_MACS,
          rf=_upsample_rf,
          flops=_upsample_flops, doc="nearest or (bi/tri)linear resize by a scale or to a size, per spatial axis "
                                     "(one number for every axis or one per axis)"),
    OpDef(name="linear", attrs=(AttrSpec("out", "int", doc="output features", constraints=size()),
                                AttrSpec("bias", "bool", True)), shape=_linear_shape,
          category="linear", params=_linear_params, macs=_linear_macs, flops=_linear_bias_flops,
          rf=_linear_rf, doc="fully connected layer on the last axis (nn.Linear): [N, ..., in] -> "
                             "[N, ..., out], weight [out, in]"),
)
