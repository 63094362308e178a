"""Running .onnx artefacts with ONNX Runtime (CPU), with user-facing errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnndsl.backend import BackendError
from cnndsl.diagnostics import InputError


def session(path: str | Path):
    try:
        import onnxruntime as ort
    except ImportError:
        raise BackendError("running .onnx needs onnxruntime; pip install 'cnndsl[onnx]'") from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001  (ORT raises its own exception types for bad files)
        raise InputError(f"{path}: ONNX Runtime cannot load this model: {_first_line(err)}") from None


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _fmt(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def check_inputs(declared: list[tuple[str, list]], arrays: list[np.ndarray], what: str) -> list[np.ndarray]:
    """Count, rank and static dimensions of the arrays against the declared inputs."""
    if len(arrays) != len(declared):
        names = ", ".join(n for n, _s in declared)
        raise InputError(f"{what} takes {len(declared)} input(s) ({names}), got {len(arrays)}")
    out = []
    for (name, shape), arr in zip(declared, arrays):
        arr = np.asarray(arr)
        if arr.dtype.kind not in "fiu":
            raise InputError(f"input {name}: expected numbers, got an array of {arr.dtype}")
        if arr.ndim != len(shape) or any(isinstance(d, int) and d != a for d, a in zip(shape, arr.shape)):
            raise InputError(f"input {name}: expected shape {_fmt(shape)}, got {_fmt(arr.shape)}")
        out.append(np.ascontiguousarray(arr, dtype=np.float32))
    return out


def run_onnx(path: str | Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    sess = session(path)
    declared = [(i.name, list(i.shape)) for i in sess.get_inputs()]
    arrays = check_inputs(declared, inputs, str(path))
    feed = {name: arr for (name, _s), arr in zip(declared, arrays)}
    try:
        return [np.asarray(y) for y in sess.run(None, feed)]
    except Exception as err:  # noqa: BLE001
        raise InputError(f"{path}: ONNX Runtime failed: {_first_line(err)}") from None
