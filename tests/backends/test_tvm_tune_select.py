"""Which records of a tuning database a build applies (backends/tvm/tune.py: tuned_database).

Per kernel the fastest record wins; when that is cnndsl's default schedule (seeded by the
tuner, a trace without sampling), the kernel gets no record and is scheduled by the current
default, so a database tuned before the default improved never replays the older default.
"""

from __future__ import annotations

import pytest
import tvm
from tvm import te

ms = pytest.importorskip("tvm.s_tir.meta_schedule")


def _matmul(n: int):
    a = te.placeholder((n, n), name="a")
    b = te.placeholder((n, n), name="b")
    k = te.reduce_axis((0, n), "k")
    c = te.compute((n, n), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="c")
    return tvm.IRModule({"main": te.create_prim_func([a, b, c])})


def _default_trace(mod):
    from cnndsl.backends.tvm.cpu_schedule import apply_default
    from cnndsl.backends.tvm.cpu_target import PROFILES

    sch = tvm.s_tir.Schedule(mod)
    assert apply_default(sch, PROFILES["avx2"])
    return sch.trace


def _tuned_trace(mod):
    """A MetaSchedule-like candidate: a sampled tile size applied with split."""
    sch = tvm.s_tir.Schedule(mod)
    i, _j, _k = sch.get_loops(sch.get_sblock("c"))
    sch.split(i, sch.sample_perfect_tile(i, n=2))
    return sch.trace


def _record(db, mod, trace, secs):
    tgt = tvm.target.Target("llvm")
    args = ms.arg_info.ArgInfo.from_prim_func(mod["main"])
    db.commit_tuning_record(ms.database.TuningRecord(trace, db.commit_workload(mod), [secs], tgt, args))


def test_default_wins_leaves_the_kernel_to_the_current_default(tmp_path):
    from cnndsl.backends.tvm.tune import _is_default, tuned_database

    won_by_tuned, won_by_default = _matmul(16), _matmul(24)
    db = ms.database.JSONDatabase(work_dir=str(tmp_path))
    for mod, default_secs, tuned_secs in ((won_by_tuned, 2e-3, 1e-3), (won_by_default, 1e-3, 3e-3)):
        _record(db, mod, _default_trace(mod), default_secs)
        _record(db, mod, _tuned_trace(mod), tuned_secs)
    assert _is_default(_default_trace(won_by_tuned)) and not _is_default(_tuned_trace(won_by_tuned))

    picked, tuned, default = tuned_database(tmp_path)
    assert (tuned, default) == (1, 1)
    rec = picked.query_tuning_record(won_by_tuned, tvm.target.Target("llvm"), "main")
    assert rec is not None and not _is_default(rec.trace) and [float(s) for s in rec.run_secs] == [1e-3]
    assert picked.query_tuning_record(won_by_default, tvm.target.Target("llvm"), "main") is None


def test_kernels_under_the_min_share_are_not_searched():
    from cnndsl.backends.tvm.tune import MIN_SHARE, worth_tuning

    # 10 ms conv, a 0.05 ms transform called 3 times (1.5 % of 10.15 + ...), a 0.01 ms one, one unmeasured
    secs, calls = [10e-3, 0.05e-3, 0.01e-3, None], [1, 3, 1, 1]
    assert MIN_SHARE == 0.01
    assert worth_tuning(secs, calls) == [True, True, False, True]
    assert worth_tuning(secs, calls, min_share=0.02) == [True, False, False, True]
    assert worth_tuning([None, None], [1, 1]) == [True, True]
