"""Progress on long work, drawn only where a person watches it.

`enabled()` is true when standard error is a terminal (and not a dumb one, and not CI);
`CNNDSL_PROGRESS=1` / `0` force it on / off. When it is off nothing is drawn: no `\\r`,
no escape codes in a log file or a pipe. `track` wraps an iterable in a tqdm bar;
`status` shows one long step (`compiling resnet50 for pytorch`) with its elapsed time.
Backends and verbs both use it (it is not a CLI helper: it holds no argparse knowledge).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, TypeVar

T = TypeVar("T")


def enabled(stream: IO | None = None) -> bool:
    env = os.environ.get("CNNDSL_PROGRESS", "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False
    if env in ("1", "true", "yes", "on"):
        return True
    if os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def track(items: Iterable[T], total: int | None = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    """`items`, with a progress bar on a terminal; exactly `items` otherwise."""
    if not enabled():
        yield from items
        return
    import shutil

    from tqdm import tqdm

    # the size from shutil (which falls back to 80x24): a terminal that reports 0x0 (some ptys) makes
    # tqdm's own probe answer -1 rows, and tqdm then hides the bar
    size = shutil.get_terminal_size()
    with tqdm(items, total=total, desc=desc, unit=unit, leave=False, file=sys.stderr,
              ncols=min(size.columns, 120) or 80, nrows=size.lines or 24) as bar:
        for item in bar:
            label = item[0] if isinstance(item, tuple) and item and isinstance(item[0], str) else item
            if isinstance(label, str):  # what is being worked on: a network's name
                bar.set_postfix_str(label[:30], refresh=False)
            yield item


@contextmanager
def status(message: str, interval: float = 0.5) -> Iterator[None]:
    """One long step: `message ... 12 s` redrawn on a terminal and cleared at the end; nothing otherwise."""
    if not enabled():
        yield
        return
    stop = threading.Event()
    t0 = time.monotonic()
    frames = "|/-\\"

    def draw() -> None:
        i = 0
        while not stop.wait(interval if i else 0):
            sys.stderr.write(f"\r{frames[i % 4]} {message} {time.monotonic() - t0:.0f} s\x1b[K")
            sys.stderr.flush()
            i += 1

    thread = threading.Thread(target=draw, name="cnndsl-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()


__all__ = ["enabled", "status", "track"]
