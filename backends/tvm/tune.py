"""MetaSchedule tuning with a reusable JSON database.

- Tasks are extracted from the fused module (one per fused kernel, so conv+BN+act is one
  task). Tasks that already have a record in the database are skipped: a second compile
  of the same network with the same database does no new tuning.
- The builder is the fast one from the TVM notes (default_build without importing
  `tvm.s_tir.tensor_intrin`, which takes ~25 s per builder start on these machines).
- Progress: one line per measured batch with trials done and the best latency so far.
- Every measured record is committed to the JSON database as it is measured, so an
  interrupted run (Ctrl-C) keeps what it finished.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def _fast_build(mod, target, _params):
    from tvm.driver import build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    return build(RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod), target=target)


def _attempted(db, task) -> bool:
    """The database already holds this workload: it was tuned before (possibly with no valid record,
    in which case the kernel keeps cnndsl's default schedule). Either way it is not tuned again."""
    return bool(db.has_workload(task.dispatched[0]))


def _has_record(db, task, target) -> bool:
    return db.query_tuning_record(task.dispatched[0], target, "main") is not None


def _progress_callback(total_trials: int, n_tasks: int, out=sys.stderr, live: bool = False):
    """Tuning progress: a redrawn bar when `live` (a terminal), else a line per tenth of the trials."""
    from tvm.ir.utils import derived_object
    from tvm.s_tir import meta_schedule as ms

    @derived_object
    class Progress(ms.measure_callback.PyMeasureCallback):
        def __init__(self):
            self.done = 0
            self.best: dict[int, float] = {}
            self.t0 = time.time()
            self.next_line = 0

        def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results):
            for r in runner_results:
                self.done += 1
                if r.error_msg is None and r.run_secs:
                    ms_ = 1e3 * sum(float(s) for s in r.run_secs) / len(r.run_secs)
                    self.best[task_id] = min(self.best.get(task_id, float("inf")), ms_)
            width = 30
            frac = min(1.0, self.done / max(1, total_trials))
            bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
            est = sum(self.best.values())
            line = (f"tuning [{bar}] {self.done}/{total_trials} trials, {len(self.best)}/{n_tasks} tasks measured, "
                    f"sum of best kernel latencies {est:.3f} ms, {time.time() - self.t0:.0f} s")
            if live:
                print("\r" + line, end="", file=out, flush=True)
            elif self.done >= self.next_line:
                print(line, file=out, flush=True)
                self.next_line = self.done + max(1, total_trials // 10)

    return Progress()


def _seed_default_records(db, tasks, tgt, builder, runner) -> int:
    """Measure cnndsl's default schedule of each task with the tuner's own builder and runner
    and commit it as a tuning record. The database then holds the default kernel as one more
    candidate, and applying it picks, per kernel, whichever measured faster: a tuned network
    is never slower than the untuned one because a task got too few trials.
    Returns the number of records committed."""
    import tvm
    from cnndsl.backends.tvm.cpu_schedule import apply_default
    from cnndsl.backends.tvm.cpu_target import profile_of
    from tvm.s_tir import meta_schedule as ms

    prof = profile_of(tgt)
    cands, mods = [], []
    for task in tasks:
        mod = task.dispatched[0]
        sch = tvm.s_tir.Schedule(mod)
        try:
            ok = apply_default(sch, prof)
        except Exception:  # noqa: BLE001 - no default record; the tuner still covers the task
            ok = False
        if ok:
            cands.append((sch, ms.arg_info.ArgInfo.from_prim_func(sch.mod["main"])))
            mods.append(mod)
    if not cands:
        return 0
    built = builder.build([ms.builder.BuilderInput(sch.mod, tgt) for sch, _ in cands])
    inputs, keep = [], []
    for (sch, args), mod, b in zip(cands, mods, built):
        if b.error_msg is None:
            inputs.append(ms.runner.RunnerInput(b.artifact_path, "cpu", args))
            keep.append((sch, args, mod))
    done = 0
    for (sch, args, mod), fut in zip(keep, runner.run(inputs)):
        res = fut.result()
        if res.error_msg is None and res.run_secs:
            db.commit_tuning_record(ms.database.TuningRecord(
                sch.trace, db.commit_workload(mod), [float(x) for x in res.run_secs], tgt, args))
            done += 1
    return done


# a kernel whose default schedule takes less than this share of the network's time (its
# measured default x its calls) is not tuned: the search costs as much per task (1-3 minutes
# a round for a Winograd transform on a 2-core machine) and could win at most that share
MIN_SHARE = 0.01


def _best_seconds(db, task, target) -> float | None:
    rec = db.query_tuning_record(task.dispatched[0], target, "main")
    if rec is None or not rec.run_secs:
        return None
    return sum(float(x) for x in rec.run_secs) / len(rec.run_secs)


def worth_tuning(seconds: list[float | None], calls: list[int], min_share: float = MIN_SHARE) -> list[bool]:
    """Which tasks to tune: those whose best measured time x calls is at least `min_share` of
    the sum over the measured tasks, and every task with no measurement."""
    total = sum(s * c for s, c in zip(seconds, calls) if s is not None)
    return [s is None or total <= 0 or s * c >= min_share * total for s, c in zip(seconds, calls)]


def tune(fused_mod, tgt, work_dir: str | Path, trials: int, *, trials_per_iter: int = 16, seed: int = 0,
         progress: bool = True, again: bool = False) -> dict:
    """Tune the fused module's kernels into `work_dir`; returns the tuning state for the manifest.
    again: tune every task, also those the database already holds (the search starts from
    their best records); otherwise those are skipped."""
    from tvm.s_tir import meta_schedule as ms

    work_dir = str(Path(work_dir))
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    db = ms.database.JSONDatabase(work_dir=work_dir)
    with tgt:
        tasks = ms.relax_integration.extract_tasks(fused_mod, tgt)
    fresh = [t for t in tasks if not _attempted(db, t)]
    todo = list(tasks) if again else fresh
    state = {"tuned": True, "database": str(Path(work_dir).resolve()), "tasks": len(tasks),
             "tasks_already_tuned": len(tasks) - len(todo), "tasks_tuned_now": len(todo),
             "trials_requested": trials, "tuning_seconds": 0.0}
    if not todo or trials <= 0:
        state["tasks_with_records"] = sum(_has_record(db, t, tgt) for t in tasks)
        state.update(history(work_dir))
        return state
    t0 = time.time()
    # one build at a time on a CPU target: its measurements share the cores (2 on this project's machines);
    # a GPU's kernels are measured on the GPU, so their builds use every core
    workers = 1 if tgt.kind.name == "llvm" else max(1, os.cpu_count() or 1)
    builder = ms.builder.LocalBuilder(f_build=_fast_build, timeout_sec=120, max_workers=workers)
    runner = ms.runner.LocalRunner(timeout_sec=60)
    # cnndsl's default CPU schedules are measured as records; a GPU's defaults are DLight's, applied at build
    state["default_records"] = _seed_default_records(db, fresh, tgt, builder, runner) if tgt.kind.name == "llvm" else 0
    keep = worth_tuning([_best_seconds(db, t, tgt) for t in todo], [int(t.weight) for t in todo])
    state["tasks_below_min_share"] = len(todo) - sum(keep)
    todo = [t for t, k in zip(todo, keep) if k]
    state["tasks_tuned_now"] = len(todo)
    if not todo:
        state["tasks_with_records"] = sum(_has_record(db, t, tgt) for t in tasks)
        state.update(history(work_dir))
        return state
    contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(todo, work_dir, seed=seed)
    # every task gets at least one measured batch: the gradient scheduler spends the whole
    # budget on the first tasks when a batch is larger than budget / tasks
    per_iter = max(1, min(trials_per_iter, trials // len(todo)))
    trials = max(trials, per_iter * len(todo))
    callbacks = [ms.measure_callback.AddToDatabase(), ms.measure_callback.RemoveBuildArtifact(),
                 ms.measure_callback.UpdateCostModel()]
    from cnndsl.progress import enabled

    live = progress and enabled(sys.stderr)  # no \r into a log file or a pipe
    if progress:
        callbacks.append(_progress_callback(trials, len(todo), live=live))
    try:
        ms.tune_tasks(tasks=contexts, task_weights=weights, work_dir=work_dir, max_trials_global=trials,
                      num_trials_per_iter=per_iter,
                      builder=builder, runner=runner, database=db, measure_callbacks=callbacks)
    except KeyboardInterrupt:
        state["interrupted"] = True
        print("\ntuning interrupted; finished records are kept in " + work_dir, file=sys.stderr)
    finally:
        if live:
            print(file=sys.stderr)  # end the redrawn bar's line
    state["tuning_seconds"] = round(time.time() - t0, 1)
    state["trials_run"] = trials
    state["tasks_with_records"] = sum(_has_record(db, t, tgt) for t in tasks)
    _record_run(work_dir, state)
    state.update(history(work_dir))
    return state


def _is_default(trace) -> bool:
    """A record of cnndsl's default schedule (`_seed_default_records`): its trace is deterministic,
    while every MetaSchedule candidate samples its tiles, orders or compute locations."""
    return not any(inst.kind.name.startswith("Sample") for inst in trace.insts)


def tuned_database(work_dir: str | Path):
    """The records of `work_dir` that a build applies: per kernel, the fastest record, kept only
    when it is a tuned one. Where cnndsl's default schedule measured fastest, the kernel gets
    no record, so the build schedules it with the *current* default (`cpu_schedule.py`) rather
    than replaying the default's trace as it was when the database was tuned: a database tuned
    before a default schedule improved never brings the older default back.
    Returns (database, kernels with a tuned record, kernels where the default won)."""
    from tvm.s_tir import meta_schedule as ms
    from tvm_ffi import structural_hash

    src = ms.database.JSONDatabase(work_dir=str(work_dir))
    best: dict[int, tuple[float, object]] = {}
    for rec in src.get_all_tuning_records():
        if not rec.run_secs:
            continue
        secs = sum(float(x) for x in rec.run_secs) / len(rec.run_secs)
        key = structural_hash(rec.workload.mod)
        if key not in best or secs < best[key][0]:
            best[key] = (secs, rec)
    out = ms.database.MemoryDatabase()
    tuned = 0
    for _secs, rec in best.values():
        if _is_default(rec.trace):
            continue
        out.commit_tuning_record(ms.database.TuningRecord(
            rec.trace, out.commit_workload(rec.workload.mod), list(rec.run_secs), rec.target, rec.args_info))
        tuned += 1
    return out, tuned, len(best) - tuned


HISTORY = "cnndsl_tuning.json"


def _runs(work_dir: str) -> list[dict]:
    """The recorded tuning runs of this database (none when it has no readable history)."""
    import json

    try:
        runs = json.loads((Path(work_dir) / HISTORY).read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return runs if isinstance(runs, list) else []


def _record_run(work_dir: str, state: dict) -> None:
    """Append this run to the database's history, so that a later compile that reuses the
    database can still say how much tuning (trials, seconds) went into it."""
    import json

    runs = _runs(work_dir)
    runs.append({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "trials": state.get("trials_run", 0),
                 "seconds": state["tuning_seconds"], "tasks_tuned": state["tasks_tuned_now"],
                 "interrupted": bool(state.get("interrupted"))})
    path = Path(work_dir) / HISTORY
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"runs": runs}, indent=2))
    tmp.replace(path)


def history(work_dir: str) -> dict:
    """Totals over every recorded tuning run of this database (empty if none recorded)."""
    runs = _runs(work_dir)
    if not runs:
        return {}
    return {"database_trials": sum(int(r.get("trials", 0)) for r in runs),
            "database_tuning_seconds": round(sum(float(r.get("seconds", 0)) for r in runs), 1),
            "database_runs": len(runs)}
