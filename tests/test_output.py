"""No file lost (issue 17 item 2): every verb writes through cnndsl.output.

Each reproduction from the hostile-input review is here: `-o DIR` over a user's directory
(the current one as `../here` included), an unrelated file at `-o` or beside it
(`model.npz`), a symlink at `-o`, killed compiles leaving temporaries, missing and
unwritable directories for every verb.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cnndsl.output import (
    OutputError,
    check_destination,
    is_artefact_dir,
    is_own_file,
    live_temporaries,
    new_directory,
    new_file,
    sweep_stale,
    write_file,
)

TINY = """\
network Tiny() (image: f32[N, 3, 8, 8]) {
    conv(4, kernel=3, padding=1) as conv1
    relu
    gap
    flatten
    linear(5) as fc
}
"""


def cnndsl(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cnndsl.cli.main", *map(str, args)], capture_output=True, check=False,
                          text=True, cwd=cwd, timeout=300)


def user_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in proc.stderr, proc.stderr


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "cnndsl-tmp" in p.name)


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.cnn"
    path.write_text(TINY)
    return path


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ directories are never lost
def test_compile_llvm_refuses_a_users_directory_force_or_not(tiny, tmp_path):
    user = tmp_path / "photos"
    user.mkdir()
    (user / "holiday.jpg").write_bytes(b"\xff\xd8 precious")
    before = snapshot(user)
    for extra in ((), ("--force",)):
        user_error(cnndsl("compile", tiny, "--target", "llvm", "-o", user, *extra), "not a cnndsl artefact")
        assert snapshot(user) == before
    assert leftovers(tmp_path) == []


def test_compile_llvm_refuses_the_current_directory_as_dotdot_here(tiny, tmp_path):
    here = tmp_path / "here"
    here.mkdir()
    (here / "notes.txt").write_text("mine")
    user_error(cnndsl("compile", tiny, "--target", "llvm", "-o", "../here", cwd=here), "not a cnndsl artefact")
    user_error(cnndsl("compile", tiny, "--target", "llvm", "-o", ".", cwd=here), "not '.'")
    assert (here / "notes.txt").read_text() == "mine"
    assert leftovers(tmp_path) == [] and sorted(os.listdir(here)) == ["notes.txt"]


def test_compile_llvm_replaces_its_own_artefact_directory_and_run_checks_its_library(tiny, tmp_path):
    out = tmp_path / "tiny_llvm"
    for _ in range(2):
        proc = cnndsl("compile", tiny, "--target", "llvm", "-o", out)
        assert proc.returncode == 0, proc.stderr
    assert is_artefact_dir(out)
    assert leftovers(tmp_path) == [] and sorted(os.listdir(tmp_path)) == ["tiny.cnn", "tiny_llvm"]
    x = tmp_path / "x.npy"
    np.save(x, np.ones((1, 3, 8, 8), np.float32))
    assert cnndsl("run", out, "--input", x, "-o", tmp_path / "y.npy").returncode == 0
    lib = next(p for p in out.iterdir() if p.suffix == ".so")
    lib.write_bytes(lib.read_bytes() + b"\0")  # a library that is not the one cnndsl built
    user_error(cnndsl("run", out, "--input", x, "-o", tmp_path / "y2.npy"), "SHA-256 does not match")


def test_an_existing_file_at_a_directory_target_needs_force(tiny, tmp_path):
    out = tmp_path / "model"
    out.write_text("a file of the user's")
    user_error(cnndsl("compile", tiny, "--target", "llvm", "-o", out), "not written by cnndsl", "--force")
    assert out.read_text() == "a file of the user's"


# ------------------------------------------------------------------ files
def test_unrelated_file_at_o_is_an_error_unless_force(tiny, tmp_path):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"somebody else's model")
    user_error(cnndsl("compile", tiny, "-o", out), "not written by cnndsl", "--force")
    assert out.read_bytes() == b"somebody else's model"
    proc = cnndsl("compile", tiny, "-o", out, "--force")
    assert proc.returncode == 0, proc.stderr
    assert is_own_file(out)
    assert cnndsl("compile", tiny, "-o", out).returncode == 0  # our own file: replaced without --force
    assert leftovers(tmp_path) == []


def test_pytorch_does_not_overwrite_an_unrelated_npz_beside_it(tiny, tmp_path):
    np.savez(tmp_path / "model.npz", data=np.arange(3))
    before = (tmp_path / "model.npz").read_bytes()
    user_error(cnndsl("compile", tiny, "--target", "pytorch", "-o", tmp_path / "model.py", "--save-weights"),
               "model.npz", "not written by cnndsl")
    assert (tmp_path / "model.npz").read_bytes() == before
    assert not (tmp_path / "model.py").exists()  # checked before anything was written
    proc = cnndsl("compile", tiny, "--target", "pytorch", "-o", tmp_path / "model2.py", "--save-weights")
    assert proc.returncode == 0 and "weights model2.npz" in proc.stdout  # the extra file is named


def test_symlink_at_o_is_refused_and_left_alone(tiny, tmp_path):
    target = tmp_path / "real.onnx"
    target.write_bytes(b"keep")
    link = tmp_path / "link.onnx"
    link.symlink_to(target)
    for extra in ((), ("--force",)):
        user_error(cnndsl("compile", tiny, "-o", link, *extra), "symbolic link")
    assert link.is_symlink() and os.readlink(link) == str(target) and target.read_bytes() == b"keep"


@pytest.mark.parametrize("verb", ["compile", "ir", "report", "run"])
def test_missing_or_unwritable_directory_is_a_clear_error_for_every_verb(verb, tiny, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 3, 8, 8), np.float32))
    extra = {"run": ["--input", x]}.get(verb, [])
    missing = tmp_path / "nodir" / "out.onnx"
    user_error(cnndsl(verb, tiny, *extra, "-o", missing), f"cannot write {missing}", "does not exist")
    not_dir = tmp_path / "tiny.cnn" / "out.onnx"
    user_error(cnndsl(verb, tiny, *extra, "-o", not_dir), "is not a directory")
    if os.geteuid() == 0:  # root writes through mode bits: /proc refuses new files to everyone
        unwritable = Path("/proc") / "cnndsl-out.onnx"
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        unwritable = ro / "out.onnx"
    user_error(cnndsl(verb, tiny, *extra, "-o", unwritable), f"cannot write {unwritable}")


# ------------------------------------------------------------------ temporaries
def test_exception_and_ctrl_c_leave_no_temporary(tmp_path):
    for exc in (RuntimeError, KeyboardInterrupt):
        with pytest.raises(exc), new_file(tmp_path / "a.onnx") as tmp:
            tmp.write_bytes(b"half")
            raise exc()
        with pytest.raises(exc), new_directory(tmp_path / "d") as tmp:
            (tmp / "lib.so").write_bytes(b"half")
            raise exc()
    assert list(tmp_path.iterdir()) == [] and not live_temporaries()


def test_failed_replacement_puts_the_old_artefact_back(tmp_path):
    out = tmp_path / "art"
    with new_directory(out) as tmp:
        (tmp / "manifest.json").write_text('{"format": "cnndsl-test/1"}')
    with pytest.raises(RuntimeError), new_directory(out) as tmp:
        raise RuntimeError
    assert is_artefact_dir(out) and sorted(os.listdir(tmp_path)) == ["art"]


def test_sigterm_during_a_write_removes_the_temporary(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from cnndsl.output import install_signal_handlers, new_directory
        install_signal_handlers()
        with new_directory(Path({str(tmp_path / 'out')!r})) as tmp:
            (tmp / "big.bin").write_bytes(b"x" * (1 << 20))
            print("ready", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    assert len(leftovers(tmp_path)) == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []


def test_sigterm_ends_the_process_even_where_its_systemexit_is_swallowed(tmp_path):
    # a native library's callback may catch SIGTERM's SystemExit as its own failure and go on (seen with
    # MetaSchedule tuning on a GPU machine): the process still ends, its temporaries removed
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from cnndsl.output import install_signal_handlers, new_directory
        install_signal_handlers()
        with new_directory(Path({str(tmp_path / 'out')!r})) as tmp:
            (tmp / "big.bin").write_bytes(b"x" * 1000)
            print("ready", flush=True)
            while True:
                try:
                    time.sleep(0.05)
                except BaseException:
                    pass
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []


def test_temporaries_of_a_killed_process_are_swept_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=False)
    pid = int(dead.stdout)
    stale_dir = tmp_path / f".m_llvm.cnndsl-tmp-{pid}-abc123"
    stale_dir.mkdir()
    (stale_dir / "lib.so").write_bytes(b"x" * 1000)
    stale_file = tmp_path / f".m.onnx.cnndsl-tmp-{pid}-zz9"
    stale_file.write_bytes(b"x")
    other = tmp_path / f".notes.txt.cnndsl-tmp-{pid}-q1"  # for another destination: not this write's business
    other.write_bytes(b"x")
    mine = tmp_path / f".m.onnx.cnndsl-tmp-{os.getpid()}-live1"  # a live process's: kept
    mine.write_bytes(b"x")
    write_file(tmp_path / "m.onnx", b"\x08\x09\x12\x06cnndsl")
    assert not stale_file.exists() and mine.exists() and other.exists()
    assert sweep_stale(tmp_path / "m_llvm") == [stale_dir]


# ------------------------------------------------------------------ recognising our own files
def test_markers(tmp_path, tiny):
    from cnndsl.output import npz_bytes

    write_file(tmp_path / "w.npz", npz_bytes({"a": np.ones(2)}))
    assert is_own_file(tmp_path / "w.npz")
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    assert not is_own_file(tmp_path / "plain.npz")
    (tmp_path / "x.py").write_text("print('hi')\n")
    assert not is_own_file(tmp_path / "x.py")
    assert cnndsl("compile", tiny, "--target", "pytorch", "-o", tmp_path / "gen.py", "--save-weights").returncode == 0
    assert is_own_file(tmp_path / "gen.py") and is_own_file(tmp_path / "gen.npz")
    with pytest.raises(OutputError, match="is a directory"):
        check_destination(tmp_path)
