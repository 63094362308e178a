"""A long fuzz campaign with a time budget (`make fuzz`), saving every failing input.

    .venv/bin/python tests/fuzz/campaign.py --minutes 30                # what `make fuzz` runs
    .venv/bin/python tests/fuzz/campaign.py --minutes 5 --seed 1000000  # another stretch of seeds

Cases run in a worker process under a memory limit (`--memory-mb`, RLIMIT_AS) and a time
limit per case (`--case-seconds`); the three generators take turns. A case that fails (see
harness.py), kills the worker (memory, a crash) or does not answer in time is written to
`--out` (default `fuzz-failures/`) as `<generator>-<seed>.cnn` with the outcome in a
comment on top; fixing it means adding it to tests/fuzz/corpus/ with its expected outcome.
Exit status: 0 when nothing failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import GENERATORS, make
from harness import warm_up


def _worker(conn, memory_mb: int, case_seconds: float) -> None:
    warm_up()  # torch and ONNX Runtime imported before the memory limit and any deadline
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        job = conn.recv()
        if job is None:
            return
        generator, seed = job
        outcome = make(generator, seed).run(case_seconds)
        conn.send((outcome.kind, outcome.detail, outcome.phase))
        if outcome.phase == "timeout":
            return  # interrupted anywhere (a library's import, a lock): a fresh worker for the next case


class Pool:
    """One worker process, restarted after it dies or hangs."""

    def __init__(self, memory_mb: int, case_seconds: float):
        self.memory_mb, self.case_seconds = memory_mb, case_seconds
        self.proc = None
        self.conn = None

    def start(self) -> None:
        parent, child = mp.Pipe()
        self.proc = mp.get_context("fork").Process(target=_worker, args=(child, self.memory_mb, self.case_seconds),
                                                   daemon=True)
        self.proc.start()
        self.conn = parent

    def run(self, generator: str, seed: int) -> tuple[str, str, str]:
        if self.proc is None or not self.proc.is_alive():
            self.start()
        self.conn.send((generator, seed))
        # the worker's own deadline fires first; this one catches a hang the alarm cannot interrupt
        if self.conn.poll(self.case_seconds + 120):  # a fresh worker first imports torch
            try:
                return self.conn.recv()
            except EOFError:
                pass
        code = self.proc.exitcode
        self.proc.kill()
        self.proc.join()
        self.proc = None
        what = "no answer (hang)" if code is None else f"worker died (exit {code}: memory over the limit or a crash)"
        return "failure", what, "process"

    def close(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.conn.send(None)
            self.proc.join(5)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0, help="time budget (default 30)")
    ap.add_argument("--seed", type=int, default=10_000, help="first seed (the default test run uses 0..)")
    ap.add_argument("--out", default="fuzz-failures", help="folder for failing inputs")
    ap.add_argument("--memory-mb", type=int, default=8192, help="address-space limit of the worker")
    ap.add_argument("--case-seconds", type=float, default=20.0, help="time limit per case")
    args = ap.parse_args(argv)
    out = Path(args.out)
    stop = time.monotonic() + args.minutes * 60
    pool = Pool(args.memory_mb, args.case_seconds)
    counts: Counter = Counter()
    failures = 0
    seed = args.seed
    try:
        while time.monotonic() < stop:
            for generator in GENERATORS:
                kind, detail, phase = pool.run(generator, seed)
                counts[kind] += 1
                if kind == "failure":
                    failures += 1
                    out.mkdir(parents=True, exist_ok=True)
                    case = make(generator, seed)
                    header = "".join(f"# {line}\n" for line in f"fuzz {case.label()} [{phase}]: {detail}".split("\n"))
                    (out / f"{generator}-{seed}.cnn").write_text(header + case.text, encoding="utf-8")
                    print(f"FAIL {case.label()} [{phase}] {detail.splitlines()[0]}", flush=True)
            seed += 1
            if seed % 100 == 0:
                print(f"seed {seed}: {dict(counts)}", flush=True)
    finally:
        pool.close()
    print(f"{sum(counts.values())} cases, seeds {args.seed}..{seed - 1}: {dict(counts)}; "
          f"{failures} failing input(s){' in ' + str(out) if failures else ''}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
