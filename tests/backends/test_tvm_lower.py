"""TVM lowering: coverage of the op registry, and every op compiled for llvm vs the numpy interpreter."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import tvm
from _math_cases import CASES as MATH_CASES
from _math_cases import POSITIVE
from cnndsl.backends.tvm import LLVM_BACKEND, LOWERINGS

from cnndsl import interp
from cnndsl.backend import Refused
from cnndsl.ir.builder import GraphBuilder
from cnndsl.ops import all_ops
from cnndsl.weights import Weights
from cnndsl.weights_init import init_weights


def test_every_registered_op_has_a_tvm_lowering_or_refusal():
    missing = sorted(op for op in all_ops() if op != "input" and op not in LOWERINGS)
    assert not missing, f"ops without a TVM lowering or Refused entry: {missing}"
    stale = sorted(op for op in LOWERINGS if op not in all_ops())
    assert not stale, f"TVM lowerings for ops the registry does not know: {stale}"
    for op, low in LOWERINGS.items():
        assert callable(low) or isinstance(low, Refused), op
    assert LLVM_BACKEND.lowerings is LOWERINGS


def test_importing_the_backend_does_not_import_tvm():
    import subprocess

    code = ("import sys; import cnndsl.backends.tvm as t; assert t.LLVM_BACKEND.name == 'llvm'; "
            "assert 'tvm' not in sys.modules, 'tvm imported at module level'")
    subprocess.run([sys.executable, "-c", code], check=True)


# (op, attrs, input shapes); every op in the registry except input appears at least once
CASES = [
    ("conv", {"out": 6, "kernel": 3, "stride": 2, "padding": (1, 1, 2, 0)}, [(2, 4, 9, 10)]),
    ("conv", {"out": 8, "kernel": 3, "groups": 4, "dilation": 2, "bias": False}, [(1, 4, 11, 9)]),
    ("conv", {"out": 4, "kernel": 3, "groups": 4}, [(1, 4, 8, 8)]),
    ("fused_conv", {"out": 6, "kernel": 3, "act": "hswish"}, [(1, 4, 6, 6)]),
    ("fused_conv", {"out": 6, "kernel": 1, "act": "leaky_relu", "act_attrs": {"slope": 0.3}}, [(1, 4, 6, 6)]),
    ("conv_t", {"out": 6, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1}, [(1, 4, 5, 6)]),
    ("bn", {}, [(2, 5, 4, 3)]),
    ("bn", {"affine": False}, [(2, 5, 4, 3)]),
    ("layernorm", {}, [(2, 6, 3, 4)]),
    ("layernorm", {"axis": -1}, [(2, 3, 4, 6)]),  # nn.LayerNorm on NHWC (ConvNeXt's block)
    ("layernorm", {"axis": 2, "affine": False}, [(2, 3, 5, 4)]),
    ("layer_scale", {"init": 0.5}, [(1, 6, 3, 4)]),
    ("relu", {}, [(2, 3, 4, 5)]),
    ("relu6", {}, [(2, 3, 4, 5)]),
    ("leaky_relu", {"slope": 0.2}, [(2, 3, 4, 5)]),
    ("elu", {"alpha": 0.7}, [(2, 3, 4, 5)]),
    ("sigmoid", {}, [(2, 3, 4, 5)]),
    ("tanh", {}, [(2, 3, 4, 5)]),
    ("hsigmoid", {}, [(2, 3, 4, 5)]),
    ("hswish", {}, [(2, 3, 4, 5)]),
    ("silu", {}, [(2, 3, 4, 5)]),
    ("gelu", {}, [(2, 3, 4, 5)]),
    ("gelu", {"approximate": "tanh"}, [(2, 3, 4, 5)]),
    ("identity", {}, [(2, 3, 4, 5)]),
    ("prelu", {"num_parameters": 3}, [(2, 3, 4, 5)]),
    ("prelu", {}, [(2, 3, 4, 5)]),
    ("maxpool", {"kernel": 3, "stride": 2, "padding": 1}, [(1, 3, 9, 8)]),
    ("maxpool", {"kernel": 3, "stride": 2, "ceil_mode": True}, [(1, 3, 10, 9)]),
    ("avgpool", {"kernel": 3, "stride": 2, "padding": 1}, [(1, 3, 9, 8)]),
    ("avgpool", {"kernel": 2, "count_include_pad": False, "padding": 1}, [(1, 3, 7, 8)]),
    ("lppool", {"p": 2.0, "kernel": 2}, [(1, 3, 8, 6)]),
    ("gap", {}, [(2, 5, 6, 7)]),
    ("gmp", {}, [(2, 5, 6, 7)]),
    ("adaptive_avgpool", {"size": (3, 2)}, [(1, 4, 7, 9)]),
    ("adaptive_maxpool", {"size": (3, 2)}, [(1, 4, 7, 9)]),
    ("adaptive_maxpool", {"size": 2}, [(1, 4, 8, 8)]),
    ("softmax", {}, [(2, 5, 3, 3)]),
    ("softmax", {"axis": -1}, [(2, 7)]),
    ("mean", {}, [(2, 5, 3, 4)]),
    ("mean", {"axes": (1,), "keepdims": True}, [(2, 5, 3, 4)]),
    ("add", {}, [(2, 3, 4, 5)] * 3),
    ("mul", {}, [(2, 3, 4, 5), (2, 3, 4, 5)]),
    ("mul", {}, [(2, 3, 4, 5), (2, 3, 1, 1)]),
    ("concat", {}, [(2, 3, 4, 5), (2, 2, 4, 5)]),
    ("flatten", {}, [(2, 3, 4, 5)]),
    ("dropout", {"p": 0.3}, [(2, 3, 4, 5)]),
    ("stochastic_depth", {"p": 0.3}, [(2, 3, 4, 5)]),
    ("upsample", {"scale": 2}, [(1, 3, 4, 5)]),
    ("upsample", {"mode": "bilinear", "scale": 2}, [(1, 3, 4, 5)]),
    ("upsample", {"mode": "bilinear", "align_corners": True, "size": (7, 9)}, [(1, 3, 4, 5)]),
    ("linear", {"out": 7}, [(2, 12)]),
    ("linear", {"out": 7, "bias": False}, [(2, 3, 4, 12)]),  # the last axis of [N, H, W, C]
    ("linear", {"out": 7}, [(2, 5, 12)]),
    ("reshape", {"shape": (4, -1)}, [(2, 3, 4, 5)]),
    ("channel_shuffle", {"groups": 3}, [(2, 6, 4, 5)]),
    ("chunk", {"chunks": 3}, [(2, 6, 4, 5)]),
    ("pad", {"padding": (1, 2, 0, 3)}, [(1, 3, 4, 5)]),
    ("pad", {"padding": 1, "mode": "reflect"}, [(1, 3, 4, 5)]),
    ("pad", {"padding": (2, 1), "mode": "replicate", "value": 0.0}, [(1, 3, 4, 5)]),
    ("matmul", {}, [(2, 3, 5), (2, 5, 4)]),
    ("transpose", {"axes": (0, 2, 1)}, [(2, 3, 5)]),
    ("transpose", {"axes": (0, 3, 1, 2)}, [(2, 3, 4, 5)]),
]

# ops another change is adding (cnndsl/ops/matrix.py): covered as soon as they are registered
OPTIONAL_CASES = [
    ("matmul", {}, [(2, 3, 4), (2, 4, 5)]),
    ("transpose", {"axes": (0, 2, 1)}, [(2, 3, 4)]),
    ("transpose", {"axes": (0, 2, 3, 1)}, [(1, 3, 4, 5)]),
]
CASES += [c for c in OPTIONAL_CASES if c[0] in all_ops()]
CASES += MATH_CASES  # issue 12's arithmetic, reductions, slicing and norms (_math_cases.py)


def _graph(op, attrs, shapes):
    b = GraphBuilder(f"one_{op}")
    xs = [b.input(f"x{i}", s) for i, s in enumerate(shapes)]
    from cnndsl.ops import get

    outputs = get(op).outputs
    if callable(outputs) or outputs > 1:
        refs = b.add_multi(op, xs, name="n", **attrs)
    else:
        refs = [b.add(op, xs, name="n", **attrs)]
    for i, r in enumerate(refs):
        b.output(f"y{i}", r)
    return b.graph


def test_cases_cover_every_op():
    assert {c[0] for c in CASES} == set(all_ops()) - {"input"}


@pytest.mark.parametrize("op,attrs,shapes", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_op_matches_numpy_interpreter(op, attrs, shapes):
    g = _graph(op, attrs, shapes)
    w = Weights(init_weights(g, 0, randomize_buffers=True))
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(s).astype("float32") for s in shapes]
    if op == "lppool" or op in POSITIVE:
        xs = [np.abs(x) + 0.1 for x in xs]
    ref = interp.run(g, w, xs)
    ex, _manifest, _params = LLVM_BACKEND.build(g, w)

    vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
    res = vm["main"](*[tvm.runtime.tensor(x) for x in xs])
    outs = [res.numpy()] if hasattr(res, "numpy") else [r.numpy() for r in res]
    assert len(outs) == len(ref)
    for got, want in zip(outs, ref):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_dropout_is_never_emitted():
    from cnndsl.backends.tvm.lower import build_module

    g = _graph("dropout", {"p": 0.5}, [(1, 3, 4, 4)])
    mod, _ = build_module(g, Weights())
    assert "dropout" not in mod.script()


def test_bn_is_inference_mode_and_fuses_with_conv_and_activation():
    from cnndsl.backends.tvm import build as B
    from cnndsl.backends.tvm.lower import build_module

    b = GraphBuilder("cba")
    x = b.input("x", (1, 3, 8, 8))
    y = b.add("conv", [x], name="c", out=4, bias=False)
    y = b.add("bn", [y], name="bn")
    y = b.add("relu", [y], name="act")
    b.output("y", y)
    mod, _ = build_module(b.graph, Weights(init_weights(b.graph, 0)))
    assert "training=False" in mod.script() or "training=T.bool(False)" in mod.script() or "False" in mod.script()
    fused = B.fuse_cpu(B.inference_prepasses(mod), B.make_target("llvm"))
    kernels = [gv.name_hint for gv, f in fused.functions_items() if gv.name_hint != "main"]
    assert len(kernels) == 1 and "conv2d" in kernels[0] and "relu" in kernels[0], kernels


def test_symbolic_batch_and_fixed_batch():
    from cnndsl.backends.tvm.lower import build_module

    b = GraphBuilder("sym")
    x = b.input("x", ("N", 3, 8, 8))
    y = b.add("conv", [x], name="c", out=4)
    y = b.add("flatten", [y], name="f")
    y = b.add("linear", [y], name="fc", out=5)
    b.output("y", y)
    g = b.graph
    w = Weights(init_weights(g, 0))
    mod, _ = build_module(g, w)
    assert "N" in str(mod["main"].params[0].ty)
    mod1, _ = build_module(g, w, batch=2)
    assert [int(d) for d in mod1["main"].params[0].ty.shape] == [2, 3, 8, 8]
    ex, _, _ = LLVM_BACKEND.build(g, w)
    vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
    for n in (1, 3):
        xn = np.random.default_rng(n).standard_normal((n, 3, 8, 8)).astype("float32")
        np.testing.assert_allclose(vm["main"](tvm.runtime.tensor(xn)).numpy(), interp.run(g, w, [xn])[0],
                                   rtol=1e-4, atol=1e-5)


def test_host_cpu_is_detected():
    from cnndsl.backends.tvm.build import host_cpu, make_target

    cpu, ok = host_cpu()
    tgt = make_target("llvm")
    assert str(tgt.attrs["mcpu"]) == cpu
    if ok:
        assert cpu != "generic"
