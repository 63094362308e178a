"""Type checks for op attributes given in `.cnn` calls, keyed by `AttrSpec.type`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from cnndsl.elaborate.values import Layer, type_name
from cnndsl.ops.constraints import show_value


def _got(v: Any) -> str:
    """What was given, for a message: its type, and its value shortened (none is just "none")."""
    return type_name(v) if v is None else f"{type_name(v)} {show_value(v)}"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _ints(v: Any, counts: tuple[int, ...]) -> bool:
    return isinstance(v, (list, tuple)) and len(v) in counts and all(_is_int(x) and x >= 0 for x in v)


def _int(v: Any) -> str | None:
    return None if _is_int(v) else f"must be an int, got {_got(v)}"


def _float(v: Any) -> str | None:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return f"must be a number, got {type_name(v)}"
    return None if math.isfinite(v) else f"must be a finite number, got {v}"


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"must be true or false, got {_got(v)}"


def _str(v: Any) -> str | None:
    return None if isinstance(v, str) else f"must be a string, got {type_name(v)}"


def _int2(v: Any) -> str | None:
    # one int per spatial axis (1-, 2- or 3-D); the op's normalize matches the count to the input's rank
    if (_is_int(v) and v >= 0) or _ints(v, (1, 2, 3)):
        return None
    return f"must be an int or one int per spatial axis (2 for NCHW, 3 for NCDHW), got {_got(v)}"


def _pad(v: Any) -> str | None:
    if (_is_int(v) and v >= 0) or _ints(v, (1, 2, 3, 4, 6)) or v in ("same", "valid"):
        return None
    return (f"must be an int, one int per spatial axis, begins then ends (4 ints in 2-D), \"same\" or "
            f"\"valid\", got {_got(v)}")


def _int_list(v: Any) -> str | None:
    if _is_int(v) or isinstance(v, (list, tuple)) and all(_is_int(x) for x in v):
        return None  # one int is a list of one (`sum(axes=1)`, `reshape(-1)`): each op's normalize says so
    return f"must be an int or a list of ints, got {type_name(v)}"


def _layer(v: Any) -> str | None:
    return None if isinstance(v, Layer) else f"must be a layer such as relu, got {type_name(v)}"


def _any(v: Any) -> str | None:
    return None if not isinstance(v, Layer) else "cannot be a layer"


CHECKS: dict[str, Callable[[Any], str | None]] = {
    "int": _int,
    "float": _float,
    "bool": _bool,
    "str": _str,
    "int2": _int2,
    "pad": _pad,
    "ints": _int_list,
    "layer": _layer,
    "any": _any,
}


def check_type(spec, value: Any) -> str | None:
    """None if `value` has `spec`'s type (None is fine where the default is None), else the problem."""
    if value is None and not spec.required and spec.default is None:
        return None
    if isinstance(value, list):
        value = tuple(value)
    return CHECKS[spec.type](value)


def check_attr(spec, value: Any) -> str | None:
    """None if `value` fits `spec` (its type, then its declared constraints), else the problem in words."""
    if isinstance(value, list):
        value = tuple(value)
    return check_type(spec, value) or spec.problem(value)
