"""The front end's entry point: `.cnn` path or library name -> shape-inferred Graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnndsl.diagnostics import CnnError, InputError, Span, UnknownName, did_you_mean
from cnndsl.elaborate.elaborator import Elaborator
from cnndsl.elaborate.modules import Loader, Module, library_index
from cnndsl.elaborate.values import Layer
from cnndsl.ir.graph import Graph
from cnndsl.syntax import ast as A
from cnndsl.syntax.parser import parse


def is_path(source: str) -> bool:
    return source.endswith(".cnn") or "/" in source or "\\" in source or Path(source).exists()


def load(source: str, network: str | None = None, defines: dict[str, str] | None = None,
         input_shape: tuple[int, ...] | None = None, batch: int | None = None,
         include_dirs: tuple[str, ...] = (), params: dict[str, Any] | None = None) -> Graph:
    """A `.cnn` path or library name as a shape-inferred Graph (the public API is `cnndsl.load`, docs/api.md).

    `defines` override network parameters with .cnn expression text (`-D`), `params` with values.
    """
    loader = Loader(include_dirs)
    if is_path(source):
        module = loader.load_file(Path(source))
        entry_let = None
    else:
        index = library_index()
        entry = index.get(source) or next((e for k, e in index.items() if k.lower() == source.lower()), None)
        if entry is None:
            raise UnknownName(f"no file or library network named '{source}'{did_you_mean(source, index)}"
                              " (see `cnndsl list`)")
        module = loader.load_file(entry.path)
        entry_let = source if entry.name != entry.network else None
        network = network or entry.network
        source = entry.name
    return elaborate_module(loader, module, network, entry_let, defines or {}, input_shape, batch, source,
                            params=params)


def load_text(text: str, name: str = "<string>", *, network: str | None = None,
              defines: dict[str, str] | None = None, input_shape: tuple[int, ...] | None = None,
              batch: int | None = None, include_dirs: tuple[str, ...] = (),
              params: dict[str, Any] | None = None) -> Graph:
    """Elaborate `.cnn` source text (tests, notebooks); the options are `load`'s (a misspelled one is a TypeError)."""
    loader = Loader(tuple(include_dirs))
    module = loader.load_text(text, name)
    return elaborate_module(loader, module, network, None, defines or {}, input_shape, batch, name, params=params)


def elaborate_module(loader: Loader, module: Module, network: str | None, entry_let: str | None,
                     defines: dict[str, str], input_shape, batch, source_label: str,
                     params: dict[str, Any] | None = None) -> Graph:
    networks = [i for i in module.ast.items if isinstance(i, A.BlockDef) and i.is_network]
    elab = Elaborator(loader, "graph")
    args: tuple = ()
    kwargs: tuple = ()
    span = Span(module.display, 1, 1)
    if entry_let is not None:
        value = elab.module_let(module, entry_let)
        if not isinstance(value, Layer) or not value.target.is_network:
            raise CnnError(f"'{entry_let}' is not a network")
        netdef, args, kwargs = value.target, value.args, value.kwargs
        span = module.let_defs[entry_let].span
    else:
        if network is None:
            if not networks:
                raise CnnError(f"{module.display} defines no network", span)
            if len(networks) > 1:
                names = ", ".join(n.name for n in networks)
                raise CnnError(f"{module.display} defines several networks ({names}); pick one with --network",
                               networks[1].span)
            netdef = networks[0]
        else:
            found = [n for n in networks if n.name == network]
            if not found:
                raise UnknownName(f"{module.display} has no network '{network}'"
                                  f"{did_you_mean(network, [n.name for n in networks])}", span)
            netdef = found[0]
    overrides = {k: parse_define(k, v) for k, v in defines.items()}
    overrides.update(params or {})
    graph = elab.network(netdef, module, args, kwargs, overrides, input_shape, batch, span)
    graph.name = entry_let or netdef.name
    graph.meta.update(source=str(module.path), display=module.display, library_name=entry_let or None)
    return graph


def parse_define(key: str, text: str) -> Any:
    """A -D value is a .cnn expression (numbers, lists, strings, true/false), evaluated without names."""
    from cnndsl.elaborate.evaluator import Evaluator

    mod = parse(f"let {key} = {text}\n", f"-D {key}")
    let = mod.items[0]

    def no_names(name: str, span: Span) -> Any:
        raise InputError(f"-D {key}={text}: unknown name '{name}' (values only: numbers, lists, strings)", span)

    return Evaluator(no_names, lambda *a: None).eval(let.value)
