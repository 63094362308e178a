"""Relax rewrites that give cnndsl's default CPU schedule shapes it vectorizes well.

`pad_conv_width`: the default conv schedule (cpu_schedule.py) blocks 8 output columns into
one vector register. A width that is not a multiple of 8 (ResNet's 28, 14, 7) leaves it a
block of 7, which LLVM cannot pack: 15 instead of ~40 GMAC/s on one core. Such a conv is
computed on a few extra zero-padded columns on the right (at most 15% more work) and the
real columns sliced out; the slice fuses into the conv's epilogue or is a cheap copy.
Results are unchanged: the extra columns only ever see padding.

Applied before tuning too (build.prepare_cpu), so that a tuned kernel and the default one are
the same workload and the tuning database can hold both (tune.py).
"""

from __future__ import annotations

TILE = 8
MAX_WASTE = 0.15


def _extra_columns(width: int) -> int:
    extra = (-width) % TILE
    return extra if extra and extra <= MAX_WASTE * width else 0


def pad_conv_width(mod):
    """Rewrite every NCHW conv2d whose output width is a little short of a multiple of 8."""
    import tvm
    from tvm import relax

    conv_op = tvm.ir.Op.get("relax.nn.conv2d")

    @relax.expr_functor.mutator
    class PadWidth(relax.PyExprMutator):
        def visit_call_(self, call):
            call = super().visit_call_(call)
            if not call.op.same_as(conv_op):
                return call
            a = call.attrs
            if a.data_layout != "NCHW" or a.kernel_layout != "OIHW" or a.out_layout != "NCHW":
                return call
            try:
                width = int(call.ty.shape[3])
            except (TypeError, ValueError, AttributeError):
                return call  # symbolic width
            extra = _extra_columns(width)
            if not extra:
                return call
            top, left, bottom, right = (int(p) for p in a.padding)
            stride_w = int(a.strides[1])
            padded = relax.op.nn.conv2d(call.args[0], call.args[1], strides=a.strides,
                                        padding=(top, left, bottom, right + extra * stride_w),
                                        dilation=a.dilation, groups=a.groups, data_layout="NCHW",
                                        kernel_layout="OIHW", out_dtype=a.out_dtype or None)
            return relax.op.strided_slice(self.builder_.normalize(padded), axes=[3], begin=[0], end=[width])

    out = mod.clone()  # the caller's module stays as it was
    for gv, func in mod.functions_items():
        if isinstance(func, relax.Function):
            out[gv] = PadWidth().visit_expr(func)
    return relax.transform.Normalize()(out)
