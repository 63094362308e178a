"""`cnndsl bench`: JSON spelling from ../shared/DESIGN.md (per-runtime median_ms, p90_ms, ratio_vs)."""

from __future__ import annotations

import json

import pytest
import tvm  # noqa: F401


def test_bench_json_against_onnxruntime(capsys):
    import onnxruntime  # noqa: F401

    from cnndsl.cli.main import main

    rc = main(["bench", "lenet5", "--format", "json", "--repeat", "3", "--warmup", "1",
               "--compare", "onnxruntime,nosuch"])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    ours = rep["runtimes"]["cnndsl-tvm-llvm"]
    ort = rep["runtimes"]["onnxruntime"]
    for r in (ours, ort):
        assert r["median_ms"] > 0 and r["p90_ms"] >= r["median_ms"] * 0.999
    assert "skipped" in rep["runtimes"]["nosuch"]
    assert rep["ratio_vs"]["onnxruntime"] == pytest.approx(ours["median_ms"] / ort["median_ms"], rel=1e-2)
    assert ours["ratio_vs"]["onnxruntime"] == rep["ratio_vs"]["onnxruntime"]
    assert ort["max_abs_diff_vs_ours"] < 1e-4
    assert rep["machine"]["logical_cpus"] >= 1 and rep["input_shape"][0] == 1
    assert ours["threads"] >= 1 and ours["tuning"] == {"tuned": False}


def test_bench_table(capsys):
    from cnndsl.cli.main import main

    assert main(["bench", "lenet5", "--repeat", "2", "--warmup", "0", "--compare", ""]) == 0
    out = capsys.readouterr().out
    assert "cnndsl-tvm-llvm" in out and "median ms" in out


def test_bench_cpu_clock_and_backend_options(capsys):
    """--clock cpu (process CPU time) is recorded; -X reaches the TVM build (a bad value is an error)."""
    from cnndsl.cli.main import main

    assert main(["bench", "resnet18", "--input-shape", "3x32x32", "--format", "json", "--repeat", "2",
                 "--warmup", "0", "--compare", "", "--clock", "cpu", "--threads", "1", "-X", "winograd=0"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["clock"] == "cpu" and rep["runtimes"]["cnndsl-tvm-llvm"]["median_ms"] > 0
    assert main(["bench", "lenet5", "--repeat", "1", "--compare", "", "-X", "winograd=7"]) == 2
    assert "-X winograd=7: expected" in capsys.readouterr().err
