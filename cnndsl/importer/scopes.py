"""Names: each stage's path (module path + local name), from the exporter's scopes.

- cnndsl's own exports name each IR node's last ONNX node like the node
  (`layer1.0.conv1`) and helpers `<node>/<OpType>`: the path is the name split at dots.
- torch.onnx (TorchScript) names nodes `/layer1/layer1.0/conv1/Conv`: the scopes are the
  module tree; `layer1.0` repeats its parent's prefix. A stage with a parameter whose
  initializer is named `<path>.<param>` takes that path (so keys equal the state_dict's).
- Anything else: positional names in the network's scope.
"""

from __future__ import annotations

import re

from .stage import Stage

PART_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")
_BAD = re.compile(r"[^A-Za-z0-9_-]")


_SHARED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*@\d+$")  # `head@2`: cnndsl's later application of a shared instance


def _clean(part: str, cnndsl: bool) -> str:
    if cnndsl and _SHARED.match(part):
        return part
    part = _BAD.sub("_", part)
    return part if PART_RE.match(part) else "_" + part


def _torch_path(name: str) -> tuple[list[str], str | None]:
    segs = [s for s in name.split("/") if s]
    if len(segs) < 1 or not name.startswith("/"):
        return [], None
    segs = segs[:-1]  # the last is the op type (Conv, Relu_1)
    # each scope segment is a module's name relative to the last plain attribute: a segment
    # that extends the previous one (`conv` then `conv.1` then `conv.1.1`) replaces it
    cur: list[str] = []
    prev = ""
    for s in segs:
        if prev and s.startswith(prev + "."):
            cur = cur[: len(cur) - len(prev.split("."))] + s.split(".")
        else:
            cur = cur + s.split(".")
        prev = s
    return cur, None


def assign_paths(stages: list[Stage], producer: str) -> None:
    """Fill `stage.path` and `stage.named` of every stage."""
    from cnndsl.ops.registry import SELF_PARAM

    used: set[tuple[str, ...]] = set()
    inner: set[tuple[str, ...]] = set()  # scopes that hold other scopes or parameters: not leaf modules
    if producer != "cnndsl":
        for st in stages:
            mod, _ = _torch_path(st.onnx_name)
            for k in range(len(mod)):
                inner.add(tuple(mod[:k]))
            for p, src in st.param_sources.items():
                if src and (p in ("", SELF_PARAM) or src.endswith("." + p)):
                    base = src.split(".") if p in ("", SELF_PARAM) else src[: -len(p) - 1].split(".")
                    for k in range(len(base)):
                        inner.add(tuple(base[:k]))
    for st in stages:
        parts: list[str] = []
        named = True
        if producer == "cnndsl":
            parts = st.onnx_name.split("/")[0].split(".")
        else:
            for p, src in st.param_sources.items():
                if not src:
                    continue
                if p in ("", SELF_PARAM):
                    parts = src.split(".")
                    break
                if src.endswith("." + p):
                    parts = src[: -len(p) - 1].split(".")
                    break
            if not parts and _DOTTED.match(st.onnx_name):  # another exporter's plain node name (`fc`, `features.0`)
                parts = st.onnx_name.split(".")
            if not parts:
                mod, _ = _torch_path(st.onnx_name)
                if mod and tuple(mod) not in inner:
                    parts = mod  # a leaf module's own scope (`/layer1/layer1.0/relu/Relu`)
                else:
                    parts = mod + [""]  # functional in its module's forward (`/layer1/layer1.0/Add`)
        parts = [_clean(p, producer == "cnndsl") if p else "" for p in parts]
        if parts[-1] == "":
            named = False
        path = tuple(parts)
        if named and path in used:  # a parameterless module applied twice (a reused nn.ReLU)
            k = 1
            while path[:-1] + (f"{path[-1]}_{k}",) in used:
                k += 1
            path = path[:-1] + (f"{path[-1]}_{k}",)
        used.add(path)
        st.path, st.named = path, named


__all__ = ["assign_paths"]
