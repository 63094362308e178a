"""Import a generated module and run it (torch is imported here, never at cnndsl import)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from cnndsl.backend import BackendError


def load_module(path: str | Path, name: str | None = None) -> ModuleType:
    """Import a generated .py file as a fresh module, after checking that cnndsl generated it as it is."""
    from .escape import verify

    path = Path(path)
    verify(path)
    name = name or f"cnndsl_generated_{path.stem}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BackendError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build_model(path: str | Path, weights=None):
    """The network from a generated file (its factory function), with `weights` loaded if given."""
    module = load_module(path)
    factory = getattr(module, "FACTORY", None)
    if factory is None:
        funcs = [v for k, v in vars(module).items()
                 if callable(v) and not isinstance(v, type) and getattr(v, "__module__", None) == module.__name__]
        if len(funcs) != 1:
            raise BackendError(f"{path}: expected one factory function, found {len(funcs)}")
        factory = funcs[0]
    model = factory()
    if weights is not None:
        model.load_state_dict(state_dict(weights), strict=True)
    return model


def state_dict(weights) -> dict:
    """A cnndsl weights store as a torch state dict (num_batches_tracked stays int64)."""
    import numpy as np
    import torch

    out = {}
    for k, v in weights.items():
        arr = np.asarray(v)
        out[k] = torch.from_numpy(np.ascontiguousarray(arr.astype(np.int64 if k.endswith("num_batches_tracked")
                                                                   else np.float32)))
    return out


def run_file(path, inputs):
    """Run a generated file in eval mode with its own (torch default) initialization.

    A sibling `<stem>.npz` of cnndsl weights is loaded when present.
    """
    import numpy as np
    import torch

    weights = None
    npz = Path(path).with_suffix(".npz")
    if npz.exists():
        from cnndsl.weights import load_file

        weights = load_file(npz)
    model = build_model(path, weights).eval()
    with torch.no_grad():
        out = model(*[torch.from_numpy(np.asarray(x, np.float32)) for x in inputs])
    outs = out if isinstance(out, tuple) else (out,)
    return [o.numpy() for o in outs]
