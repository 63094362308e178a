"""Graph IR -> readable PyTorch source.

1. The node names are block-instance paths (`layer1.0.conv1`), one component per block
   call (the elaborator's contract), so they form a tree: containers (the network, each
   block instance) whose children are layers or other containers.
2. Each container is described structurally, bottom-up: its layers' constructor calls with
   every number left as a hole, its child containers by structure id, and its `forward`
   (variable names are structural too). Containers of one block kind with the same
   structure share a class; the holes whose values differ between instances become its
   constructor parameters (named after the block's own parameter when the values agree,
   else after the layer argument).
3. A container whose children are `0, 1, ...` in a chain is an `nn.Sequential` (subclass, or
   an inline `nn.Sequential(...)` when its block kind has several structures, as
   torchvision's `_make_layer`); the rest are `nn.Module`s with attributes named after
   the children, so `state_dict()` keys equal the IR's weight keys.
4. Jinja2 renders the file skeleton from these pieces (`templates/model.py.j2`).

Steps 1-2 live in `tree.py`, step 3 in `classes.py`; this module runs them and renders.
Around them: `inplace.py` marks the ReLUs that may run in place, `netargs.py` finds the
network parameters that become constructor arguments (-O0), `init_code.py` writes the
file's `let init` recipe at the end of the network's `__init__`, and `layout.py` lays the
rendered text out as `ruff format` would.
"""

from __future__ import annotations

import re

from cnndsl.backend import BackendError

from .classes import Assembler
from .escape import py_text, stamp
from .init_code import init_lines
from .inplace import mark_inplace
from .layout import layout
from .names import Namespace, camel, is_free, sanitize, snake
from .netargs import network_arguments
from .tree import MERGES, Generator, build_tree

# ------------------------------------------------------------------ the file


def module_attrs() -> frozenset[str]:
    """Names an nn.Module already has (methods and instance state): no child may take them."""
    try:
        import torch
    except ImportError:
        return frozenset({"training", "forward", "eval", "train", "to", "type", "float", "half", "double",
                          "cuda", "cpu", "apply", "parameters", "buffers", "children", "modules", "_modules",
                          "_parameters", "_buffers"})
    return frozenset(dir(torch.nn.Module)) | frozenset(vars(torch.nn.Module()))


def check_names(graph, attrs: frozenset[str]) -> None:
    """Every node whose path uses a name torch reserves, reported at once (before any code is written)."""
    bad = []
    for node in graph.topo():
        if node.op == "input":
            continue
        parts = node.name.split(".")
        if node.op in MERGES:
            parts = parts[:-1]  # a merge is an expression, not an attribute
        clash = [p for p in parts if p in attrs]
        if clash:
            bad.append((node, clash[0]))
    if bad:
        head = (f"target pytorch cannot name {len(bad)} layer(s): an nn.Module already has these attributes "
                "(rename them with `as`):")
        lines = [head]
        for node, part in bad:
            where = f" ({node.span})" if node.span else ""
            lines.append(f"  {node.name}: '{part}'{where}")
        raise BackendError("\n".join(lines), bad[0][0].span)


def generate(graph, opt_level: int = 0, version: str = "") -> tuple[str, dict]:
    """The source of a module for `graph`, and a summary (class names, line map)."""
    from cnndsl import __version__

    attrs = module_attrs()
    check_names(graph, attrs)
    graph = graph.copy()  # the analyses below annotate node.meta: never the caller's graph
    mark_inplace(graph)
    gen = Generator(graph, attrs)
    root = build_tree(graph)
    gen.describe(root, root=True)
    # -O0: the network's parameters that reach its layers unchanged are constructor arguments (netargs.py);
    # -O1 is the inference form of one set of weights, built as compiled
    net_params = network_arguments(graph, root, attrs) if opt_level == 0 else []
    class_ns = Namespace(HELPER_CLASSES)
    # the network class keeps its .cnn name: reserved before block classes take names
    asm = Assembler(gen, root, class_ns, class_ns.create(camel(root.kind)), net_params)
    asm.build()
    root_cls = next(c for c in asm.classes if c.name == asm.root_class)
    root_cls.post_init = init_lines(graph)  # the file's `let init` recipe, as torchvision writes it
    factory = sanitize(graph.meta.get("library_name") or snake(root.kind))
    if not is_free(factory) or factory in class_ns.used:
        factory = class_ns.create(factory)
    uses_f = bool(gen.helpers & F_HELPERS)
    source = str(graph.meta.get("display") or graph.meta.get("source") or "<graph>")
    ctx = {  # every user-derived string is escaped (py_text); names are identifiers, values repr()
        "version": py_text(version or __version__),
        "source": py_text(source),
        "network": py_text(graph.meta.get("network") or graph.name),
        "entry": py_text(graph.meta.get("library_name") or ""),
        "opt_level": opt_level,
        "helpers": sorted(gen.helpers),
        "PAD_TYPE": _PAD_TYPE,
        "PAD_ORDER": _PAD_ORDER,
        "uses_f": uses_f,
        "classes": asm.classes,
        "root_class": asm.root_class,
        "factory": factory,
        "root_params": root_cls.params,
    }
    text = stamp(layout(render_template(ctx)))  # laid out as `ruff format` leaves it (layout.py)
    line_map = source_map(text)
    return text, {"classes": [c.name for c in asm.classes], "root": asm.root_class, "factory": factory,
                  "line_map": line_map}


# helpers with a 1-D, 2-D and 3-D form (PadConv1d, PadConv2d, PadConv3d, ...)
ND_HELPERS = frozenset(f"{base}{nd}d" for base in ("PadConv", "FusedConv", "PadMaxPool", "FrozenBatchNorm")
                       for nd in (1, 2, 3))
HELPER_CLASSES = ND_HELPERS | frozenset({"LayerNorm2d", "Mean", "Permute", "Reshape", "StochasticDepth"})
# the helpers whose code calls torch.nn.functional (the file imports it as F only for them)
F_HELPERS = frozenset(h for h in ND_HELPERS if not h.startswith("FrozenBatchNorm")) | {"LayerNorm2d"}
# the `pads` of those helpers, in F.pad's order (last axis first)
_PAD_TYPE = {"1": "tuple[int, int]", "2": "tuple[int, int, int, int]", "3": "tuple[int, int, int, int, int, int]"}
_PAD_ORDER = {"1": "(left, right)", "2": "(left, right, top, bottom)",
              "3": "(left, right, top, bottom, front, back)"}


def render_template(ctx: dict) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("cnndsl.backends.pytorch", "templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template("model.py.j2").render(**ctx)


_SPAN_COMMENT = re.compile(r"  # (\S+):(\d+)$")
_SPAN_ABOVE = re.compile(r"^\s+# (\S+):(\d+)$")  # moved above a line it would have made too long


def source_map(text: str) -> dict[int, tuple[str, int]]:
    """Generated line number (1-based) -> (.cnn file, line), read back from the span comments (trailing, or on
    their own line just above the statement)."""
    out = {}
    for i, line in enumerate(text.splitlines(), 1):
        m = _SPAN_COMMENT.search(line)
        if m:
            out[i] = (m.group(1), int(m.group(2)))
            continue
        m = _SPAN_ABOVE.match(line)
        if m:
            out[i + 1] = (m.group(1), int(m.group(2)))
    return out


__all__ = ["generate", "source_map"]
