"""The network's parameters as constructor arguments: `resnet50(num_classes=10)`, as torchvision's factories.

The generated classes hold numbers, not the `.cnn` expressions that made them, so a network
parameter can be an argument of the generated module only where its value reaches the
layers unchanged. That is found by asking the language itself: the network is elaborated
again with the parameter at two other values (the same file, network, input shape and
other parameters), and the generated structure is compared with the original, container by
container and hole by hole. The parameter becomes an argument when

- the structure is the same (the same containers, constructor templates and forward lines),
- and every number that changed held the parameter's value and now holds the new one, at
  both trial values (`linear(num_classes)`, `dropout(dropout_p)`, a stem's input channels).

Such a position is marked with a `NetParam` (printed as the parameter's name); a block class
that receives one takes it as a constructor parameter (classes.py), so the value flows from the
network's constructor to the layer. Parameters that shape the network (depth, width
multipliers, block counts) or that change nothing are left out: they stay at the values the
file was compiled with (`cnndsl compile -D depth=101 ...` writes another module). A graph
not loaded from a file (`load_text`) has no arguments.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from cnndsl.diagnostics import CnnError

from .inplace import mark_inplace
from .tree import Generator, Inst, _Sym, build_tree


class NetParam(_Sym):
    """A network parameter standing where its value would be filled in."""

    def __init__(self, name: str, default: Any):
        super().__init__(name)
        self.default = default


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _trials(v: Any) -> list:
    """Two other values for a parameter (valid where the default is: positive stays positive,
    a rate below 1 stays below 1)."""
    if isinstance(v, int):
        return [v + 17, v * 2 + 3] if v >= 0 else [v - 17, v * 2 - 3]
    return [v * 0.5 + 0.0125, v * 0.25 + 0.025] if 0 <= v < 1 else [v * 1.5 + 0.125, v * 2 + 0.25]


def _values(inst: Inst):
    for _slot, e, _plain in inst.entries:
        if e[0] == "inst":
            yield from _values(e[1])
        else:
            yield from e[2]


@functools.lru_cache(maxsize=8)
def _parsed(path: str, stamp: float):
    """The file's module, parsed once (with its imports) for every trial of every parameter."""
    from cnndsl.api import Loader

    loader = Loader(())
    return loader, loader.load_file(Path(path))


_RELOADED: dict[str, Any] = {}  # repr of the arguments -> graph (parameters may be lists: not hashable)


def _reload(source: str, stamp: float, network: str, entry: str, params: dict, input_shape, batch):
    key = repr((source, stamp, network, entry, sorted(params.items()), input_shape, batch))
    if key not in _RELOADED:
        if len(_RELOADED) >= 64:
            _RELOADED.clear()
        _RELOADED[key] = _elaborate(source, stamp, network, entry, params, input_shape, batch)
    return _RELOADED[key]


def _elaborate(source: str, stamp: float, network: str, entry: str, params: dict, input_shape, batch):
    from cnndsl.api import elaborate_module, library_index

    try:
        if entry:  # a library name: `let resnet50 = ResNet(depth=50)` in its file (as cnndsl.api.load)
            known = library_index()[entry]
            loader, module = _parsed(str(known.path), stamp)
            let = entry if known.name != known.network else None
            return elaborate_module(loader, module, known.network, let, {}, input_shape, batch, known.name,
                                    params=dict(params))
        loader, module = _parsed(source, stamp)
        return elaborate_module(loader, module, network or None, None, {}, input_shape, batch, source,
                                params=dict(params))
    except (CnnError, KeyError, ValueError, TypeError, ZeroDivisionError, OverflowError):
        return None  # this value is not valid for the network: the parameter shapes it


def _variant(graph, name: str, value: Any):
    meta = graph.meta
    source = meta.get("source")
    if not source or not Path(str(source)).is_file():
        return None
    shape = graph.value_shape((graph.input_names[0], 0)) if len(graph.input_names) == 1 else None
    input_shape = tuple(shape[1:]) if shape and all(isinstance(d, int) for d in shape[1:]) else None
    batch = shape[0] if shape and isinstance(shape[0], int) else None
    # every parameter as compiled (-D overrides included) where they are plain values; a block or layer
    # value cannot be passed back, and the file's default is then the best guess for it
    plain = all(isinstance(v, (int, float, str, bool, list, tuple, type(None))) for v in meta["params"].values())
    params = {**meta["params"], name: value} if plain else {name: value}
    return _reload(str(source), Path(str(source)).stat().st_mtime, str(meta.get("network") or ""),
                   str(meta.get("library_name") or ""), params, input_shape, batch)


def _describe(graph, attrs) -> Inst:
    graph = graph.copy()
    mark_inplace(graph)
    gen = Generator(graph, attrs)
    root = build_tree(graph)
    gen.describe(root, root=True)
    return root


def _changes(a: Inst, b: Inst, old: Any, new: Any, at: list) -> bool:
    """Collect (values list, index) where `a` holds `old` and `b` holds `new`; False if the two differ in any
    other way."""
    if (a.path, a.kind, a.forward, len(a.entries)) != (b.path, b.kind, b.forward, len(b.entries)):
        return False
    for (slot_a, ea, plain_a), (slot_b, eb, plain_b) in zip(a.entries, b.entries):
        if (slot_a, ea[0], plain_a) != (slot_b, eb[0], plain_b):
            return False
        if ea[0] == "inst":
            if not _changes(ea[1], eb[1], old, new, at):
                return False
            continue
        if ea[1] != eb[1] or len(ea[2]) != len(eb[2]):
            return False
        for i, (x, y) in enumerate(zip(ea[2], eb[2])):
            if repr(x) == repr(y):
                continue
            if type(x) is type(y) and repr(x) == repr(old) and repr(y) == repr(new):
                at.append((ea[2], i))
            else:
                return False
    return True


def network_arguments(graph, root: Inst, attrs) -> list[NetParam]:
    """Mark, in `root`'s constructor values, every place a network parameter reaches unchanged; the
    parameters found, in the network's order."""
    params = graph.meta.get("params") or {}
    present = {repr(v) for v in _values(root)}
    found: list[tuple[NetParam, list]] = []
    for name, default in params.items():
        if not _numeric(default) or repr(default) not in present:
            continue
        places: list | None = None
        for trial in _trials(default):
            variant = _variant(graph, name, trial)
            at: list = []
            if variant is None or not _changes(root, _describe(variant, attrs), default, trial, at) or not at:
                places = None
                break
            ids = sorted((id(vals), i) for vals, i in at)
            if places is not None and sorted((id(v), i) for v, i in places) != ids:
                places = None
                break
            places = at
        if places:
            found.append((NetParam(name, default), places))
    for marker, places in found:  # marked after every parameter was compared with the plain numbers
        for vals, i in places:
            vals[i] = marker
    return [marker for marker, _places in found]


__all__ = ["NetParam", "network_arguments"]
