"""Whole-process start-up time of the cnndsl front end against `python -c "import torch"`.

Runs each command N times, interleaved round-robin so that all of them see the same
machine state, and reports the median (and min, p90, mean) wall time of the whole
process: interpreter start, imports, parsing, elaboration, shape inference, exit; and
the median CPU time (user + system) of the process, which stays put on a busy host.

    .venv/bin/python bench/startup.py                 # 20 runs each, a table
    .venv/bin/python bench/startup.py -n 50 --markdown
    .venv/bin/python bench/startup.py --json

`hyperfine` gives the same numbers with more statistics where it is installed:

    hyperfine -N -w 3 -r 20 '.venv/bin/cnndsl check resnet50' ".venv/bin/python -c 'import torch'"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path


@dataclass
class Case:
    label: str
    argv: list[str]
    times_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | int | str]:
        ts = sorted(self.times_ms)
        p90 = ts[min(len(ts) - 1, round(0.9 * (len(ts) - 1)))]
        return {
            "command": self.label,
            "runs": len(ts),
            "median_ms": round(statistics.median(ts), 1),
            "min_ms": round(ts[0], 1),
            "p90_ms": round(p90, 1),
            "mean_ms": round(statistics.fmean(ts), 1),
            "cpu_median_ms": round(statistics.median(self.cpu_ms), 1),
        }


def _default_cnndsl() -> str:
    beside = Path(sys.executable).with_name("cnndsl")
    if beside.exists():
        return str(beside)
    found = shutil.which("cnndsl")
    if not found:
        sys.exit("bench/startup.py: no `cnndsl` next to this interpreter or on PATH; pass --cnndsl")
    return found


def _cpu_children_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time_once(argv: list[str]) -> tuple[float, float]:
    """(wall ms, CPU ms = user + system of the child). CPU time barely moves when other
    jobs share the machine, so it is the steadier figure on a busy host."""
    cpu0 = _cpu_children_s()
    start = time.perf_counter()
    proc = subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = (time.perf_counter() - start) * 1000.0
    cpu = (_cpu_children_s() - cpu0) * 1000.0
    if proc.returncode != 0:
        sys.exit(f"bench/startup.py: `{' '.join(argv)}` exited {proc.returncode}:\n{proc.stderr.decode()[-2000:]}")
    return elapsed, cpu


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, str | int]:
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count() or 0,
        "os": platform.platform(),
        "python": platform.python_version(),
        "cnndsl": _version("cnndsl"),
        "torch": _version("torch"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=20, help="timed runs per command (default 20)")
    ap.add_argument("-w", "--warmup", type=int, default=2, help="untimed runs per command first (default 2)")
    ap.add_argument("--net", default="resnet50", help="network for `cnndsl check` (default resnet50)")
    ap.add_argument("--cnndsl", default=None, help="the cnndsl executable (default: next to this python)")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the baselines and `import torch`")
    ap.add_argument("--no-torch", action="store_true", help="skip `import torch` (torch not installed)")
    out = ap.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args(argv)

    cnndsl = args.cnndsl or _default_cnndsl()
    cases = [
        Case("python -c pass", [args.python, "-c", "pass"]),
        Case("cnndsl --version", [cnndsl, "--version"]),
        Case(f"cnndsl check {args.net}", [cnndsl, "check", args.net]),
    ]
    if not args.no_torch:
        cases.append(Case('python -c "import torch"', [args.python, "-c", "import torch"]))

    for case in cases:
        for _ in range(args.warmup):
            _time_once(case.argv)
    for i in range(args.runs):
        # Rotate the order each round so no command always runs right after another.
        for case in cases[i % len(cases) :] + cases[: i % len(cases)]:
            wall, cpu = _time_once(case.argv)
            case.times_ms.append(wall)
            case.cpu_ms.append(cpu)

    rows = [c.summary() for c in cases]
    by_label = {r["command"]: r for r in rows}
    check = by_label[f"cnndsl check {args.net}"]
    result: dict[str, object] = {"machine": machine_info(), "results": rows}
    if not args.no_torch:
        torch_row = by_label['python -c "import torch"']
        result["check_over_import_torch"] = round(float(check["median_ms"]) / float(torch_row["median_ms"]), 3)
        result["check_over_import_torch_cpu"] = round(
            float(check["cpu_median_ms"]) / float(torch_row["cpu_median_ms"]), 3
        )

    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    m = result["machine"]
    assert isinstance(m, dict)
    header = ["command", "median ms", "min ms", "p90 ms", "mean ms", "CPU ms", "runs"]
    keys = ["command", "median_ms", "min_ms", "p90_ms", "mean_ms", "cpu_median_ms", "runs"]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |")
        for r in rows:
            print("| " + " | ".join(f"`{r[k]}`" if k == "command" else str(r[k]) for k in keys) + " |")
    else:
        width = max(len(str(r["command"])) for r in rows)
        print(f"{header[0]:<{width}}  " + "  ".join(f"{h:>9}" for h in header[1:]))
        for r in rows:
            print(f"{r['command']!s:<{width}}  " + "  ".join(f"{r[k]!s:>9}" for k in keys[1:]))
    print()
    print(
        f"machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['os']}; "
        f"Python {m['python']}, cnndsl {m['cnndsl']}, torch {m['torch']}"
    )
    if "check_over_import_torch" in result:
        print(
            f"cnndsl check {args.net} / import torch (medians): wall {result['check_over_import_torch']}, "
            f"CPU {result['check_over_import_torch_cpu']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
