"""The backend interface: lowering coverage, all-at-once unsupported-op errors, discovery."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnndsl.backend import Backend, BackendError, Refused, UnsupportedOps, available_backends, get_backend
from cnndsl.ir.builder import GraphBuilder
from cnndsl.ops import all_ops


def test_every_registered_op_has_an_onnx_lowering_or_refusal():
    table = get_backend("onnx").lowerings
    missing = sorted(op for op in all_ops() if op != "input" and op not in table)
    assert not missing, f"ops without an ONNX lowering or Refused entry: {missing}"
    stale = sorted(op for op in table if op not in all_ops())
    assert not stale, f"ONNX lowerings for ops the registry does not know: {stale}"
    for op, low in table.items():
        assert callable(low) or isinstance(low, Refused), op


def test_onnx_is_registered_as_entry_point():
    assert {"onnx", "pytorch", "llvm", "cuda"} <= set(available_backends())
    b = get_backend("onnx")
    assert b.name == "onnx" and b.artefact_suffix == ".onnx"
    assert get_backend("onnx") is b  # cached


def test_unknown_target_suggests_a_name():
    with pytest.raises(BackendError, match=r"unknown target 'onxx'; did you mean 'onnx'\?"):
        get_backend("onxx")


class _Partial(Backend):
    name = "partial"
    lowerings = {"conv": lambda *a: None, "relu": Refused("relu is refused for the test")}  # noqa: RUF012


def test_check_reports_every_unsupported_node_at_once():
    b = GraphBuilder("net")
    x = b.input("image", ("N", 3, 8, 8))
    y = b.add("conv", [x], name="c1", out=4)
    y = b.add("relu", [y], name="r1")
    y = b.add("gap", [y], name="pool")
    y = b.add("sigmoid", [y], name="gate")
    b.output("y", y)
    with pytest.raises(UnsupportedOps) as info:
        _Partial().check(b.graph)
    err = info.value
    assert [(n, op) for n, op, _r in err.nodes] == [("r1", "relu"), ("pool", "gap"), ("gate", "sigmoid")]
    assert "cannot compile 3 node(s)" in err.message
    assert "relu is refused for the test" in err.message
    assert "no partial lowering for op 'gap'" in err.message


def test_importing_the_onnx_backend_does_not_import_onnx():
    code = ("import sys, json; from cnndsl.backend import get_backend; get_backend('onnx'); "
            "print(json.dumps(sorted(m for m in ('onnx', 'onnxruntime', 'torch', 'tvm') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
