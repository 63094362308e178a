"""Loading `.cnn` modules: import resolution, cycles, the library index.

`from std.layers import ConvBN` reads the standard library shipped in the wheel
(`cnndsl.architectures/std/layers.cnn`); other dotted names resolve relative to the
importing file, then the `-I` directories, then the bundled library.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cnndsl.diagnostics import (
    CnnError,
    DuplicateDefinition,
    ImportCycle,
    ImportNotFound,
    InputError,
    MultipleErrors,
    Span,
    did_you_mean,
)
from cnndsl.syntax import ast as A
from cnndsl.syntax.parser import MAX_SOURCE_BYTES, decode_source, parse


def library_dir() -> Path:
    return Path(str(resources.files("cnndsl.architectures")))


@dataclass
class Module:
    """A parsed module and its top-level names (filled while loading)."""

    path: Path
    display: str
    ast: A.Module
    blocks: dict[str, A.BlockDef] = field(default_factory=dict)
    imported: dict[str, Any] = field(default_factory=dict)  # name -> (Module, block name) or Module (alias)
    lets: dict[str, Any] = field(default_factory=dict)  # evaluated top-level values
    let_defs: dict[str, A.LetStmt] = field(default_factory=dict)
    evaluated: bool = False


def display_name(path: Path) -> str:
    """Short names in diagnostics: relative to cwd if below it, library-relative for bundled files."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        pass
    try:
        return "<cnndsl>/" + str(path.relative_to(library_dir()))
    except ValueError:
        return str(path)


def read_source(path: Path, span: Span | None = None) -> str:
    """A `.cnn` file's text. The file is checked with `stat` before a byte is read: only a
    regular file within the source budget (`MAX_SOURCE_BYTES`) is opened, so a FIFO, a
    device (`/dev/zero`) or a huge file is an error, never a hang or a MemoryError."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", span) from None
    except RuntimeError:  # pathlib's symlink-loop error (Python < 3.13)
        raise InputError(f"{path}: symbolic link loop", span) from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise InputError(f"{path}: symbolic link loop", span) from None
        raise InputError(f"{path}: cannot read ({err.strerror})", span) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path}: is a directory, not a .cnn file", span)
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{path}: not a regular file (a pipe, socket or device); cnndsl reads only files", span)
    if st.st_size > MAX_SOURCE_BYTES:
        raise InputError(f"{path}: file is {st.st_size:,} bytes; the limit is {MAX_SOURCE_BYTES:,}", span)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped between stat and open
                raise InputError(f"{path}: not a regular file", span)
            data = f.read(MAX_SOURCE_BYTES + 1)  # a file that grew since stat still cannot exceed the budget
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})", span) from None
    return decode_source(data, display_name(path))


class Loader:
    def __init__(self, include_dirs: tuple[str, ...] = ()):
        self.include_dirs = tuple(Path(d) for d in include_dirs)
        self.modules: dict[Path, Module] = {}
        self.loading: list[Path] = []

    def load_file(self, path: Path, span: Span | None = None) -> Module:
        try:
            path = path.resolve()
        except (RuntimeError, OSError):  # a symbolic link loop (RuntimeError before Python 3.13)
            raise InputError(f"{path}: symbolic link loop", span) from None
        if path in self.loading:
            cycle = self.loading[self.loading.index(path):] + [path]
            names = " -> ".join(display_name(p) for p in cycle)
            raise ImportCycle(f"import cycle: {names}", span)
        if path in self.modules:
            return self.modules[path]
        text = read_source(path, span)
        disp = display_name(path)
        module = Module(path, disp, parse(text, disp))
        self.loading.append(path)
        try:
            self._collect(module)
        finally:
            self.loading.pop()
        self.modules[path] = module
        return module

    def load_text(self, text: str, name: str = "<string>") -> Module:
        module = Module(Path(name), name, parse(text, name))
        self._collect(module)
        return module

    def resolve(self, dotted: tuple[str, ...], importer: Module, span: Span) -> Path:
        rel = Path(*dotted).with_suffix(".cnn")
        candidates = []
        if dotted[0] == "std":
            candidates.append(library_dir() / rel)
        else:
            candidates.append(importer.path.parent / rel)
            candidates.extend(d / rel for d in self.include_dirs)
            candidates.append(library_dir() / rel)
        for c in candidates:
            if c.is_file() or os.path.lexists(c):  # a FIFO or a link loop there: read_source says which
                return c
        where = ", ".join(display_name(c.parent) for c in candidates)
        raise ImportNotFound(f"cannot find module '{'.'.join(dotted)}' (looked for {rel} in {where})", span)

    def _collect(self, module: Module) -> None:
        errors: list[CnnError] = []
        for item in module.ast.items:
            try:
                if isinstance(item, A.BlockDef):
                    self._define(module, item.name, item.name_span)
                    module.blocks[item.name] = item
                    _check_params(item)
                elif isinstance(item, A.ImportNames):
                    target = self.load_file(self.resolve(item.path, module, item.span), item.span)
                    for name, nspan in item.names:
                        if name not in target.blocks and name not in target.let_defs:
                            known = list(target.blocks) + list(target.let_defs)
                            raise ImportNotFound(f"module '{'.'.join(item.path)}' has no block '{name}'"
                                                 f"{did_you_mean(name, known)}", nspan)
                        self._define(module, name, nspan)
                        module.imported[name] = (target, name)
                elif isinstance(item, A.ImportModule):
                    target = self.load_file(self.resolve(item.path, module, item.span), item.span)
                    alias = item.alias or item.path[-1]
                    self._define(module, alias, item.span)
                    module.imported[alias] = target
                elif isinstance(item, A.LetStmt):
                    self._define(module, item.name, item.name_span)
                    module.let_defs[item.name] = item
            except CnnError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise MultipleErrors(errors)

    def _define(self, module: Module, name: str, span: Span) -> None:
        if name in module.blocks or name in module.imported or name in module.let_defs:
            raise DuplicateDefinition(f"'{name}' is already defined in this file", span)


def _check_params(block: A.BlockDef) -> None:
    seen: set[str] = set()
    for p in block.params:
        if p.name in seen:
            raise DuplicateDefinition(f"parameter '{p.name}' appears twice", p.span)
        seen.add(p.name)
    for t in block.inputs or ():
        if t.name in seen:
            raise DuplicateDefinition(f"'{t.name}' is both a parameter and an input", t.span)
        seen.add(t.name)


# ------------------------------------------------------------------ library index
@dataclass(frozen=True)
class LibraryEntry:
    name: str  # torchvision-style name: resnet50
    path: Path
    network: str  # the network it instantiates
    summary: str = ""


@functools.lru_cache(maxsize=1)
def library_index() -> dict[str, LibraryEntry]:
    """Top-level `let name = Network(...)` bindings in the bundled library, plus networks by name."""
    index: dict[str, LibraryEntry] = {}
    for path in sorted(library_dir().glob("*.cnn")):
        try:
            mod = parse(read_source(path), display_name(path))
        except CnnError:
            continue  # a broken library file shows up in its own tests, not here
        networks = {i.name for i in mod.items if isinstance(i, A.BlockDef) and i.is_network}
        for item in mod.items:
            value = item.value if isinstance(item, A.LetStmt) else None
            if isinstance(value, A.Call) and isinstance(value.func, A.Var) and value.func.name in networks:
                index.setdefault(item.name, LibraryEntry(item.name, path, value.func.name))
        for n in networks:
            index.setdefault(n, LibraryEntry(n, path, n))
    return index
