"""Constraints on attribute values, declared by each `AttrSpec` (`constraints=(positive(), ...)`).

The elaborator checks them at the attribute's own span (docs/language.md, "Attribute
constraints") before any shape, count or backend rule sees the value, and `GraphBuilder`
checks them for graphs made in Python. A constraint is data with a test: `text` is how the
op reference (`cnndsl ops`, docs/ops.md) states it, `check(value)` returns None when the value
fits, else the problem in words ("must be positive, got 0").

Numeric constraints (`positive`, `non_negative`, `at_least`, `in_range`, `finite`) apply to
every number in the value: an int, a float, or each item of a tuple (`kernel=(3, 0)`);
strings ("same") and None (an optional attribute left out) are not numbers and pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Constraint:
    """One declared rule on an attribute value: `kind` (positive, non_negative, at_least,
    in_range, finite, one_of, length, product_at_most), `text` for the op reference, and
    the test itself."""

    kind: str
    text: str
    test: Callable[[Any], str | None]

    def check(self, value: Any) -> str | None:
        return self.test(value)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def numbers(value: Any) -> list:
    """The numbers an attribute value holds: itself, or the items of a tuple or list (nested too)."""
    if _is_num(value):
        return [value]
    if isinstance(value, (tuple, list)):
        return [n for v in value for n in numbers(v)]
    return []


def show_value(value: Any, depth: int = 0) -> str:
    """A value as `.cnn` writes it (true, none, "s", (1, 2)), shortened: 8 items and 3 levels of nesting
    at most, so a hostile value never makes a long message or a deep recursion."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, str):
        return f'"{value}"' if len(value) <= 40 else f'"{value[:37]}..."'
    if isinstance(value, (tuple, list)):
        if depth >= 3:
            return "(...)"
        items = [show_value(v, depth + 1) for v in value[:8]] + (["..."] if len(value) > 8 else [])
        return "(" + ", ".join(items) + ("," if len(value) == 1 else "") + ")"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _each(kind: str, text: str, ok: Callable[[Any], bool], says: str) -> Constraint:
    def test(value: Any) -> str | None:
        bad = [n for n in numbers(value) if not ok(n)]
        if not bad:
            return None
        got = show_value(value) if isinstance(value, (tuple, list)) else show_value(bad[0])
        return f"must be {says}, got {got}"

    return Constraint(kind, text, test)


def positive() -> Constraint:
    """Every number > 0 (sizes, strides, channel counts, scales)."""
    return _each("positive", "> 0", lambda n: math.isfinite(n) and n > 0, "positive")


def non_negative() -> Constraint:
    """Every number >= 0 (padding, output_padding)."""
    return _each("non_negative", ">= 0", lambda n: math.isfinite(n) and n >= 0, "non-negative (0 or more)")


def at_least(low: float) -> Constraint:
    """Every number >= low (`chunks` at least 2)."""
    return _each("at_least", f">= {low}", lambda n: math.isfinite(n) and n >= low, f"at least {low}")


def at_most(high: float) -> Constraint:
    """Every number <= high."""
    return _each("at_most", f"<= {high:,}", lambda n: math.isfinite(n) and n <= high, f"at most {high:,}")


# float32's smallest normal number: the compiled networks compute in float32, where a smaller
# positive eps is a subnormal some runtimes flush to zero, or rounds to 0 outright (1e-320).
FLOAT32_TINY = 1.1754943508222875e-38


def eps(allow_zero: bool = True) -> Constraint:
    """A stabilizing epsilon: finite, and either 0 (when `allow_zero`) or at least FLOAT32_TINY, so the
    value a float32 runtime adds is the value the float64 reference adds (l2norm's eps=1e-320 became 0
    in float32, and 0/0 gave NaN where the reference gave 0)."""
    low = f"{FLOAT32_TINY:.2e}"
    text = f"0 or >= {low}" if allow_zero else f">= {low}"

    def ok(n: Any) -> bool:
        return math.isfinite(n) and (n >= FLOAT32_TINY or (allow_zero and n == 0))

    says = (f"0 or at least {low} (float32's smallest normal number)" if allow_zero
            else f"at least {low} (float32's smallest normal number)")
    return _each("eps", text, ok, says)


def finite() -> Constraint:
    """No NaN or infinity among the numbers (every `float` attribute is finite by its type already;
    this states it for `any`-typed values such as upsample's scale)."""
    return _each("finite", "finite", math.isfinite, "finite (no nan or inf)")


def in_range(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Constraint:
    """Every number within [low, high]; `low_open` / `high_open` exclude the bound: dropout's p in [0, 1)."""
    text = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"

    def ok(n: Any) -> bool:
        if not math.isfinite(n):
            return False
        return (n > low if low_open else n >= low) and (n < high if high_open else n <= high)

    return _each("in_range", f"in {text}", ok, f"in {text}")


def numeric(integers: bool = False) -> Constraint:
    """The value is a number or a tuple of numbers (ints only with `integers`), for `any`-typed
    attributes that take either (upsample's scale and size)."""
    what = "an int or one int per axis" if integers else "a number or one number per axis"

    def ok(v: Any) -> bool:
        return (isinstance(v, int) if integers else _is_num(v)) and not isinstance(v, bool)

    def test(value: Any) -> str | None:
        items = value if isinstance(value, (tuple, list)) else (value,)
        if value is None or (items and all(ok(v) for v in items)):
            return None
        return f"must be {what}, got {show_value(value)}"

    return Constraint("numeric", "ints" if integers else "numbers", test)


def one_of(*values: Any) -> Constraint:
    """The value is one of `values` (strings such as a mode; compared by equality)."""
    shown = ", ".join(show_value(v) for v in values)

    def test(value: Any) -> str | None:
        return None if value is None or value in values else f"must be one of {shown}, got {show_value(value)}"

    return Constraint("one_of", f"one of {shown}", test)


def length(low: int, high: int | None = None) -> Constraint:
    """A tuple's item count within low..high (high None: no upper bound); a single number counts
    as one item. `mean(axes=[])` fails `length(1)`."""
    text = (f"{low} value{'s' if low != 1 else ''}" if high == low else
            f"{low} or more values" if high is None else f"{low} to {high} values")

    def test(value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return None
        n = len(value) if isinstance(value, (tuple, list)) else 1
        if n < low or (high is not None and n > high):
            return f"must have {text}, got {n}: {show_value(value)}"
        return None

    return Constraint("length", text, test)


def product_at_most(bound: int) -> Constraint:
    """The product of the numbers is at most `bound` (a kernel's window volume, a shape's size):
    a 10**9-wide kernel is refused at its attribute, before any weight is sized from it."""

    def test(value: Any) -> str | None:
        total = 1
        for n in numbers(value):
            total *= abs(n)
            if total > bound:
                return f"is too large: the product of {show_value(value)} exceeds {bound:,}"
        return None

    return Constraint("product_at_most", f"product <= {bound:,}", test)


# One bound for every window (kernel) and for sizes written as attributes: far above any
# real network (a 3-D 101**3 kernel is 1,030,301), far below what would exhaust memory.
MAX_WINDOW = 2**24
MAX_SIZE = 2**31 - 1  # one axis' size or a channel count: ONNX and TVM index with int32 here


def size() -> tuple[Constraint, ...]:
    """A count of things (channels, output size per axis): positive and at most MAX_SIZE."""
    return (positive(), at_most(MAX_SIZE))


def window() -> tuple[Constraint, ...]:
    """A kernel: positive on every axis, its volume at most MAX_WINDOW."""
    return (positive(), product_at_most(MAX_WINDOW))


__all__ = ["FLOAT32_TINY", "MAX_SIZE", "MAX_WINDOW", "Constraint", "at_least", "at_most", "eps", "finite", "in_range", "length", "non_negative",
           "numbers", "numeric", "one_of", "positive", "product_at_most", "size", "window"]
