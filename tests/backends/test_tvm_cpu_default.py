"""cnndsl's default CPU schedule: the shape rewrites it relies on keep the results exact.

Widths that are not a multiple of 8 (28, 14, 7: conv computed on extra zero columns, then
sliced) and stride-2 windows (input stored as even/odd column phases) are the two places where
the default path changes what TVM computes; each case here is checked against the numpy
interpreter and checked to have actually taken the rewritten path.
"""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from _chains import chain

from cnndsl import interp
from cnndsl.backend import CompileOptions, get_backend
from cnndsl.weights import Weights
from cnndsl.weights_init import init_weights

CASES = {
    # 3x3 stride 1 at width 28, 14 and 7 (padded to 32, 16, 8)
    "w28": (28, 8, [{"out": 16, "kernel": 3, "padding": 1}, {"op": "relu"}]),
    "w14": (14, 16, [{"out": 16, "kernel": 3, "padding": 1}]),
    "w7": (7, 16, [{"out": 24, "kernel": 3, "padding": 1}, {"op": "bn"}, {"op": "relu"}]),
    # stride 2: padded 3x3, unpadded 1x1 (the input is a function argument), depthwise, pooling
    "s2_3x3": (28, 8, [{"out": 16, "kernel": 3, "stride": 2, "padding": 1}]),
    "s2_1x1": (28, 8, [{"out": 16, "kernel": 1, "stride": 2, "padding": 0}]),
    "s2_dw": (30, 8, [{"out": 8, "kernel": 3, "stride": 2, "padding": 1, "groups": 8}]),
    "s2_7x7_stem": (32, 3, [{"out": 8, "kernel": 7, "stride": 2, "padding": 3}]),
    "s2_maxpool": (28, 4, [{"op": "maxpool", "kernel": 3, "stride": 2, "padding": 1}]),
    # dilation 2, stride 1 (DeepLab's atrous convs): the offset is doubled, not the column: no phase split
    "d2": (28, 8, [{"out": 8, "kernel": 3, "padding": 2, "dilation": 2}]),
    # odd padded width (29 + 2): no phase split, still right
    "s2_odd": (29, 4, [{"out": 8, "kernel": 3, "stride": 2, "padding": 1}]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_default_schedule_matches_interpreter(case):
    hw, cin, layers = CASES[case]
    g = chain(hw, cin, layers)
    w = Weights(init_weights(g, 0, randomize_buffers=True))
    x = np.random.default_rng(1).standard_normal((1, cin, hw, hw)).astype("float32")
    ref = interp.run(g, w, [x])[0]

    ex, manifest, _ = get_backend("llvm").build(g, w, CompileOptions(extra={"batch": 1}))
    assert manifest["schedule"] == "default"
    vm = tvm.relax.VirtualMachine(ex, tvm.cpu())
    y = vm["main"](tvm.runtime.tensor(x, tvm.cpu())).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


def _scheduled(case):
    from cnndsl.backends.tvm import build as B
    from cnndsl.backends.tvm.cpu_schedule import schedule_module
    from cnndsl.backends.tvm.lower import build_module

    from cnndsl.backend import optimize_for_inference

    hw, cin, layers = CASES[case]
    g = chain(hw, cin, layers)
    g, w = optimize_for_inference(g, Weights(init_weights(g, 0)))
    mod, _ = build_module(g, w, batch=1, embed=True)
    tgt = B.make_target("llvm")
    fused = B.fuse_cpu(B.prepare_cpu(B.inference_prepasses(mod)), tgt)
    return fused, schedule_module(fused, tgt)


@pytest.mark.parametrize("case,padded", [("w28", 32), ("w14", 16), ("w7", 8)])
def test_short_widths_are_padded_to_the_vector_tile(case, padded):
    fused, _ = _scheduled(case)
    text = fused.script()
    assert "strided_slice" in text
    import re

    conv_out = re.findall(r"conv2d_nchw_intermediate = T\.sblock_alloc_buffer\(\(((?:T\.int64\(\d+\),? ?)+)\)", text)
    assert conv_out and conv_out[0].rstrip(", ").endswith(f"T.int64({padded})"), conv_out


@pytest.mark.parametrize("case", ["s2_3x3", "s2_1x1", "s2_dw", "s2_7x7_stem", "s2_maxpool"])
def test_stride2_inputs_are_split_into_column_phases(case):
    _, sched = _scheduled(case)
    text = sched.script()
    # the window reads (k % 2, x + k // 2) of a [.., H, 2, W/2] buffer
    assert "T.int64(2), T.int64(" in text and "// T.int64(2)" in text, text[:3000]


@pytest.mark.parametrize("case", ["d2", "w28"])
def test_stride1_windows_keep_their_layout(case):
    _, sched = _scheduled(case)
    assert "// T.int64(2)" not in sched.script()
