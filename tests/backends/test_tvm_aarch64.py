"""The llvm target cross-compiled for aarch64 (NEON), run under qemu-aarch64 by an aarch64 Python with the
aarch64 TVM runtime, against the float64 numpy interpreter (scripts/check_aarch64.py does the work).

Needs the aarch64 environment on the machine (qemu-user, gcc-aarch64-linux-gnu, an arm64 sysroot with
Python, numpy and TVM: `scripts/check_aarch64.py --setup-only`, as root once). Without it the test is
skipped: that is a property of the machine, not of the code under test. With it, any failure -- build,
link, load or numbers -- fails the test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import check_aarch64 as A


@pytest.mark.slow
def test_small_network_cross_compiled_for_aarch64_matches_interpreter_under_qemu():
    reason = A.missing_reason()
    if reason:
        pytest.skip(f"aarch64 environment not installed on this machine (an environment condition, not a "
                    f"failure of the code under test): {reason}")
    env = A.environment()
    assert env is not None
    g = A.small_net()
    ops = {n.op for n in g.nodes.values()}
    assert {"conv", "maxpool", "avgpool", "gap", "linear"} <= ops
    assert any(n.op == "conv" and n.attrs.get("groups", 1) > 1 for n in g.nodes.values())  # depthwise
    res = A.check_network(env, "small")
    assert "error" not in res, res.get("error")
    assert res["manifest"]["mtriple"] == "aarch64-linux-gnu"
    assert res["aarch64"]["machine"] == "aarch64"  # it ran on the emulated CPU, not here
    kinds = " ".join(res["kernels"])
    assert "winograd" in kinds and "conv2d_nchwc" in kinds and "pool2d_nchwc" in kinds, res["kernels"]  # NEON path
    assert res["ok"], res
    assert res["max_err_rel_to_max"] <= A.RTOL


def test_cross_compiled_artefact_is_refused_on_this_machine(tmp_path):
    """`cnndsl run` of an aarch64 artefact on x86-64 says so (BackendError), it does not dlopen it."""
    import json

    from cnndsl.backends.tvm import build as B

    from cnndsl.backend import BackendError

    if not B.is_cross(A.TRIPLE):
        pytest.skip("this machine is aarch64: the artefact is native here")
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"target_kind": "llvm", "target_detail": {"kind": "llvm", "mtriple": A.TRIPLE}, "inputs": []}))
    with pytest.raises(BackendError, match="cross-compiled for aarch64-linux-gnu"):
        B.Loaded(tmp_path)


def test_cross_linker_missing_is_a_clear_error(monkeypatch, tmp_path):
    """No C compiler for aarch64 (and $CC one for the host): a BackendError naming the package, before any
    file is written; TVM's default would have linked the aarch64 objects with the host's g++."""
    import shutil

    from cnndsl.backends.tvm import build as B

    from cnndsl.backend import BackendError

    host_cc = shutil.which("gcc") or shutil.which("cc")
    monkeypatch.setenv("PATH", str(tmp_path))
    if host_cc:
        monkeypatch.setenv("CC", host_cc)
    else:
        monkeypatch.delenv("CC", raising=False)
    with pytest.raises(BackendError, match="apt-get install gcc-aarch64-linux-gnu") as err:
        B.cross_linker(A.TRIPLE)
    if host_cc:
        assert "targets x86_64" in str(err.value)
