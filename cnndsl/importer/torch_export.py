"""`model.py:factory` -> an ONNX ModelProto through torch.onnx (the TorchScript exporter).

The factory (a function or an `nn.Module` class) is called without arguments; the module
is put in eval mode and exported with `training=TrainingMode.PRESERVE`, which keeps each
BatchNormalization as its own node (the EVAL mode's peephole would fold it into the conv
and the imported network would lose the BN's parameters and state_dict keys). Initializers
keep the state_dict's names, node names the module scopes (`/layer1/layer1.0/conv1/Conv`).
Running the user's file is the point of this input: it is their own model code.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
import os
import sys
import warnings
from pathlib import Path

from cnndsl.diagnostics import InputError

OPSET = 17  # LayerNormalization, and what the TorchScript exporter supports best


def parse_spec(spec: str) -> tuple[Path, str]:
    path, sep, factory = spec.rpartition(":")
    if not sep or not path.endswith(".py") or not factory.isidentifier():
        raise InputError(f"{spec!r}: a PyTorch model is given as path/to/model.py:factory "
                         "(a function or nn.Module class callable without arguments)")
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: no such Python file")
    return p, factory


def _load_factory(p: Path, factory: str):
    name = f"_cnndsl_import_{abs(hash(str(p.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise InputError(f"{p}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(p.parent.resolve()))  # the file's sibling imports, as `python model.py` would see them
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 -- the user's own code failed: say where, without our traceback
        raise InputError(f"{p}: running the file failed: {type(err).__name__}: {err}") from None
    finally:
        sys.path.remove(str(p.parent.resolve()))
    fn = getattr(module, factory, None)
    if fn is None or not callable(fn):
        raise InputError(f"{p}: defines no callable '{factory}'")
    return fn


@contextlib.contextmanager
def _quiet_stdout():
    """The exporter's own prints, Python's and its C++ logger's (the whole graph, on a failure), kept off
    stdout: cnndsl's error message says what failed."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1: nothing to protect
        with contextlib.redirect_stdout(io.StringIO()):
            yield
        return
    try:
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(io.StringIO()):
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def export_factory(spec: str, input_shape: tuple[int, ...] | None):
    """Returns (onnx ModelProto, the module's class name)."""
    p, factory = parse_spec(spec)
    if not input_shape:
        raise InputError(f"{spec}: give the input shape without the batch (--input-shape 3x224x224)")
    try:
        import onnx
        import torch
    except ImportError as err:
        raise InputError(f"importing a PyTorch module needs torch and onnx (pip install 'cnndsl[torch,onnx]'): "
                         f"{err}") from None
    fn = _load_factory(p, factory)
    try:
        module = fn()
    except Exception as err:  # noqa: BLE001 -- the user's factory failed
        raise InputError(f"{spec}: calling {factory}() failed: {type(err).__name__}: {err}") from None
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"{spec}: {factory}() returned a {type(module).__name__}, not a torch.nn.Module")
    module.eval()
    names = [n for n in inspect.signature(module.forward).parameters if n.isidentifier()]
    example = torch.randn(1, *input_shape)
    buf = io.BytesIO()
    with warnings.catch_warnings(), _quiet_stdout():
        warnings.simplefilter("ignore")  # the exporter's deprecation notices; on failure it prints its graph
        try:
            torch.onnx.export(module, (example,), buf, dynamo=False, opset_version=OPSET,
                              training=torch.onnx.TrainingMode.PRESERVE, input_names=names[:1] or ["input"],
                              dynamic_axes={(names[:1] or ["input"])[0]: {0: "N"}})
        except Exception as err:  # noqa: BLE001 -- the exporter refuses the module: its own message
            raise InputError(f"{spec}: torch.onnx could not export the module: {type(err).__name__}: "
                             f"{str(err).splitlines()[0] if str(err) else ''}") from None
    return onnx.load_from_string(buf.getvalue()), type(module).__name__


__all__ = ["OPSET", "export_factory", "parse_spec"]
