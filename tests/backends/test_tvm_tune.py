"""MetaSchedule tuning end to end (slow: minutes on a 2-core machine)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tvm  # noqa: F401
import xgboost  # noqa: F401

from cnndsl.backend import CompileOptions, get_backend
from cnndsl.ir.builder import GraphBuilder


def tiny():
    b = GraphBuilder("tiny")
    x = b.input("x", (1, 8, 8, 8))
    y = b.add("conv", [x], name="c1", out=8, kernel=3, bias=False)
    y = b.add("bn", [y], name="bn1")
    y = b.add("relu", [y], name="a1")
    b.output("y", y)
    return b.graph


@pytest.mark.slow
def test_tuning_writes_a_reusable_database_and_matches(tmp_path):
    from cnndsl import interp
    from cnndsl.weights import Weights
    from cnndsl.weights_init import init_weights

    g = tiny()
    w = Weights(init_weights(g, 0, randomize_buffers=True))
    db = tmp_path / "db"
    backend = get_backend("llvm")
    backend.compile(g, w, tmp_path / "a", CompileOptions(tune=True, trials=4, tuning_db=str(db)))
    m1 = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert m1["tuning"]["tuned"] and m1["tuning"]["tasks_tuned_now"] >= 1
    assert m1["schedule"] == "tuned"
    # cnndsl's default schedule of every task was measured and stored as a candidate record
    # (kernels under tune.MIN_SHARE of the network's time are measured but not searched)
    assert m1["tuning"]["default_records"] == m1["tuning"]["tasks_tuned_now"] + m1["tuning"]["tasks_below_min_share"]
    assert (db / "database_tuning_record.json").stat().st_size > 0

    backend.compile(g, w, tmp_path / "b", CompileOptions(tune=True, trials=4, tuning_db=str(db)))
    m2 = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert m2["tuning"]["tasks_tuned_now"] == 0, "second compile with the same database tuned again"
    assert m2["tuning"]["tasks_already_tuned"] == m1["tuning"]["tasks"]
    # the reused database still says what went into it: the first run's trials and time
    assert m2["tuning"]["database_runs"] == 1
    assert m2["tuning"]["database_trials"] == m1["tuning"]["trials_run"] >= 4
    assert m2["tuning"]["database_tuning_seconds"] == m1["tuning"]["tuning_seconds"] > 0

    x = np.random.default_rng(0).standard_normal((1, 8, 8, 8)).astype("float32")
    np.testing.assert_allclose(backend.run(tmp_path / "b", [x])[0], interp.run(g, w, [x])[0], rtol=1e-4, atol=1e-5)

    # -X tune_again=1 tunes the held tasks once more and adds to the history
    backend.compile(g, w, tmp_path / "c", CompileOptions(tune=True, trials=4, tuning_db=str(db),
                                                         extra={"tune_again": "1"}))
    m3 = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert m3["tuning"]["tasks_tuned_now"] == m1["tuning"]["tasks_tuned_now"]
    assert m3["tuning"]["default_records"] == 0  # already measured in the first run
    assert m3["tuning"]["database_runs"] == 2
    np.testing.assert_allclose(backend.run(tmp_path / "c", [x])[0], interp.run(g, w, [x])[0], rtol=1e-4, atol=1e-5)
