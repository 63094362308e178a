"""cnndsl: a declarative graph compiler for convolutional networks.

The Python API (docs/api.md): `cnndsl.load(name_or_path, ...)` and `cnndsl.load_text(text, ...)`
return a `cnndsl.Model`. They are imported on first use, so `import cnndsl` stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = {"load": "cnndsl.model", "load_text": "cnndsl.model", "Model": "cnndsl.model",
        "CnnError": "cnndsl.diagnostics"}


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'cnndsl' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = ["CnnError", "Model", "__version__", "load", "load_text"]
