"""Time elaborating (and counting) the whole model library.

    .venv/bin/python bench/library.py [--repeat 3]

Prints, per run, the wall time to load every library name (`cnndsl list`'s names:
parse, elaborate, infer shapes) and to count its params and MACs, and the slowest
networks. Loads are independent (a fresh loader each), as `cnndsl check NAME` does.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from libstats import stats

from cnndsl.api import load
from cnndsl.elaborate.modules import library_index


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    names = sorted(n for n, e in library_index().items() if n != e.network)
    best = None
    for _ in range(args.repeat):
        per = {}
        t0 = time.perf_counter()
        nodes = 0
        for n in names:
            t = time.perf_counter()
            g = load(n)
            stats(g)
            nodes += len(g.nodes)
            per[n] = time.perf_counter() - t
        total = time.perf_counter() - t0
        print(f"{len(names)} networks, {nodes:,} nodes: {total:.2f} s")
        if best is None or total < best[0]:
            best = (total, per)
    slow = sorted(best[1].items(), key=lambda kv: -kv[1])[:5]
    print("slowest:", ", ".join(f"{n} {t * 1000:.0f} ms" for n, t in slow))
    return 0


if __name__ == "__main__":
    sys.exit(main())
