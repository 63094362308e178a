"""Identifiers for generated code: never a keyword or builtin, deduplicated with suffixes (torch.fx's Namespace)."""

from __future__ import annotations

import builtins
import keyword
import re

KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
BUILTINS = frozenset(dir(builtins))
# names the generated file itself binds at module level or in every method
FILE_NAMES = frozenset({"torch", "nn", "F", "self"})


def is_free(name: str) -> bool:
    """A plain identifier that shadows nothing the generated file relies on."""
    return name.isidentifier() and name not in KEYWORDS and name not in BUILTINS and name not in FILE_NAMES


def sanitize(base: str) -> str:
    name = re.sub(r"\W", "_", base).strip("_") or "v"
    if name[0].isdigit():
        name = "v" + name
    return name


class Namespace:
    """Hands out identifiers: `create("input")` -> "input_1"; `create("x")` twice -> "x", "x_1"."""

    def __init__(self, reserved: set[str] | frozenset[str] = frozenset()):
        self.used: set[str] = set(reserved)

    def create(self, base: str) -> str:
        base = sanitize(base)
        name, i = base, 1
        while not is_free(name) or name in self.used:
            name, i = f"{base}_{i}", i + 1
        self.used.add(name)
        return name

    def __contains__(self, name: str) -> bool:
        return name in self.used


def camel(name: str) -> str:
    """A class name: `conv_bn` -> `ConvBn`; names already in CamelCase stay as they are."""
    name = sanitize(name)
    if "_" not in name and name[0].isupper():
        return name
    return "".join(p[:1].upper() + p[1:] for p in name.split("_") if p)


def snake(name: str) -> str:
    """A function name: `ResNet` -> `resnet`, `MobileNetV2` -> `mobilenet_v2` (roughly torchvision's)."""
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z][a-z])", "_", sanitize(name))
    return s.lower()


__all__ = ["BUILTINS", "KEYWORDS", "Namespace", "camel", "is_free", "sanitize", "snake"]
