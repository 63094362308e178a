"""Progress is drawn on a terminal only: never a `\\r` or an escape code into a pipe, a log or CI."""

from __future__ import annotations

import io
import sys

import pytest

from cnndsl import progress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("CNNDSL_PROGRESS", "CI", "TERM"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_enabled_only_on_a_terminal(clean_env):
    assert progress.enabled(io.StringIO()) is False
    assert progress.enabled(_Tty()) is True
    clean_env.setenv("CI", "true")
    assert progress.enabled(_Tty()) is False
    clean_env.delenv("CI")
    clean_env.setenv("TERM", "dumb")
    assert progress.enabled(_Tty()) is False
    clean_env.setenv("CNNDSL_PROGRESS", "1")
    assert progress.enabled(io.StringIO()) is True
    clean_env.setenv("CNNDSL_PROGRESS", "0")
    assert progress.enabled(_Tty()) is False


def test_track_and_status_draw_on_a_terminal(clean_env):
    tty = _Tty()
    clean_env.setattr(sys, "stderr", tty)
    assert list(progress.track(range(5), total=5, desc="elaborating")) == [0, 1, 2, 3, 4]
    assert "elaborating" in tty.getvalue() and "\r" in tty.getvalue()
    tty.truncate(0)
    with progress.status("compiling x for onnx", interval=0.01):
        pass
    assert "compiling x for onnx" in tty.getvalue() and tty.getvalue().endswith("\r\x1b[K")


def test_nothing_is_drawn_into_a_pipe(clean_env):
    pipe = io.StringIO()
    clean_env.setattr(sys, "stderr", pipe)
    assert list(progress.track(iter("abc"), desc="x")) == ["a", "b", "c"]
    with progress.status("compiling"):
        pass
    assert pipe.getvalue() == ""



def test_bar_is_drawn_on_a_real_pty_that_reports_no_size(clean_env):
    """A fresh pty reports 0x0 (as under `script` or some CI runners with a tty); tqdm's own probe
    then hides the bar, so the size comes from shutil (80x24 fallback)."""
    import os
    import pty
    import subprocess

    master, slave = pty.openpty()
    code = ("import time\nfrom cnndsl.progress import track\n"
            "for _ in track(['resnet50', 'vgg16'], total=2, desc='elaborating'): time.sleep(0.15)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    out = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0
    assert "elaborating" in out and "2/2" in out and "vgg16" in out
