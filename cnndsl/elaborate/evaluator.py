"""The compile-time expression evaluator. `.cnn` text never reaches Python's eval.

Values are bounded: integers stay within 2**63, sequences within MAX_SEQUENCE items,
and long left-associative runs (`1 + 1 + ... + 1`) are folded in a loop, not recursion.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from cnndsl.diagnostics import CnnError, InvalidValue, LimitExceeded, Span, WrongArity, WrongType
from cnndsl.elaborate.tensor_expr import TENSOR_BUILTINS
from cnndsl.elaborate.values import Builtin, Layer, Tensor, type_name
from cnndsl.syntax import ast as A

MAX_INT = 2**63
MAX_SEQUENCE = 100_000

Lookup = Callable[[str, Span], Any]


def _check_num(v: Any, span: Span, what: str = "arithmetic") -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and abs(v) >= MAX_INT:
        raise LimitExceeded("integer value too large (limit 2**63)", span)
    if isinstance(v, float) and (math.isinf(v) or math.isnan(v)):
        raise InvalidValue(f"{what} gives {v}", span)
    return v


def _check_value(v: Any, span: Span, what: str) -> Any:
    """A builtin's result, bounded like arithmetic: every number in it (lists and tuples too) an
    int within 2**63 or a finite float."""
    if isinstance(v, (int, float)):
        return _check_num(v, span, what)
    seen, stack = set(), [v]
    while stack:  # no recursion, and a list shared many times over is visited once
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            if id(item) not in seen:
                seen.add(id(item))
                stack.extend(item)
        elif isinstance(item, (int, float)):
            _check_num(item, span, what)
    return v


MAX_VALUE_ITEMS = 1_000_000  # items in one list value, nested lists counted every time they appear
_SIZE_MEMO: dict[int, tuple[Any, int]] = {}  # id -> (the list, its size); holds the list so the id stays its own
_SIZE_MEMO_CAP = 4096


def _items(v: Any) -> int:
    """How many items a value holds, counting a nested list once per place it appears: what
    comparing, printing or walking it costs. `[a, a]` is 2 + 2 * items(a), found from the memo in
    constant time, so doubling a list in a loop is caught at about 2**20, never walked 2**40 times."""
    if not isinstance(v, (list, tuple)):
        return 0
    hit = _SIZE_MEMO.get(id(v))
    if hit is not None and hit[0] is v:
        return hit[1]
    total, stack = 0, [v]
    while stack and total <= MAX_VALUE_ITEMS:  # walked with an early stop: at most MAX_VALUE_ITEMS visits
        item = stack.pop()
        total += len(item)
        for child in item:
            if isinstance(child, (list, tuple)):
                known = _SIZE_MEMO.get(id(child))
                if known is not None and known[0] is child:
                    total += known[1]
                else:
                    stack.append(child)
    if len(_SIZE_MEMO) >= _SIZE_MEMO_CAP:
        _SIZE_MEMO.pop(next(iter(_SIZE_MEMO)))
    _SIZE_MEMO[id(v)] = (v, total)
    return total


def _bounded(v: Any, span: Span) -> Any:
    """A list or tuple value within MAX_VALUE_ITEMS (see `_items`)."""
    n = _items(v)
    if n > MAX_VALUE_ITEMS:
        raise LimitExceeded(f"a list value holding more than {MAX_VALUE_ITEMS:,} items (nested lists counted "
                            "each time they appear)", span)
    return v


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _repeat(seq: Any, n: Any, span: Span) -> Any:
    """`[x] * n`: a list (or tuple, string) repeated n times."""
    if n < 0:
        raise InvalidValue(f"cannot repeat a sequence {n} times", span)
    if len(seq) * n > MAX_SEQUENCE:
        raise LimitExceeded(f"sequence longer than {MAX_SEQUENCE:,} items", span)
    return _bounded(seq * n, span)


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _arith(op: str, a: Any, b: Any, span: Span) -> Any:
    if op == "*" and isinstance(a, (list, tuple, str)) and _is_count(b):
        return _repeat(a, b, span)
    if op == "*" and isinstance(b, (list, tuple, str)) and _is_count(a):
        return _repeat(b, a, span)
    if op == "+" and isinstance(a, (list, tuple, str)) and type(a) is type(b):
        if len(a) + len(b) > MAX_SEQUENCE:
            raise LimitExceeded(f"sequence longer than {MAX_SEQUENCE:,} items", span)
        return _bounded(a + b, span)
    if not (_is_num(a) and _is_num(b)):
        raise WrongType(f"'{op}' needs numbers, got {type_name(a)} and {type_name(b)}", span)
    try:
        if op == "+":
            r = a + b
        elif op == "-":
            r = a - b
        elif op == "*":
            r = a * b
        elif op == "/":
            r = a / b
        elif op == "//":
            r = a // b
        elif op == "%":
            r = a % b
        else:  # pragma: no cover - grammar admits no other operator
            raise InvalidValue(f"unknown operator {op!r}", span)
    except ZeroDivisionError:
        raise InvalidValue("division by zero", span) from None
    except OverflowError:
        raise LimitExceeded("number too large", span) from None
    return _check_num(r, span)


def _power(a: Any, b: Any, span: Span) -> Any:
    if not (_is_num(a) and _is_num(b)):
        raise WrongType(f"'**' needs numbers, got {type_name(a)} and {type_name(b)}", span)
    if isinstance(a, int) and isinstance(b, int) and b >= 0:
        if abs(a) > 1 and b * math.log2(abs(a)) >= 63:
            raise LimitExceeded("integer value too large (limit 2**63)", span)
        return a**b
    try:
        r = float(a) ** float(b)
    except (OverflowError, ZeroDivisionError):
        raise InvalidValue("power is out of range", span) from None
    if isinstance(r, complex):
        raise InvalidValue("power of a negative number gives a complex value", span)
    return _check_num(r, span)


_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def truthy(v: Any, span: Span) -> bool:
    if isinstance(v, (Tensor, Layer, Builtin)):
        raise WrongType(f"a {type_name(v)} is not a condition", span)
    return bool(v)


class Evaluator:
    """Evaluates AST expressions with a name lookup supplied by the elaborator."""

    def __init__(self, lookup: Lookup, call_layer: Callable[[Layer, tuple, tuple, Span], Any], tensors: Any = None,
                 tick: Callable[[Span], None] | None = None):
        self.lookup = lookup
        self.call_layer = call_layer
        self.tensors = tensors  # the elaborator's TensorOps inside a block body; None where no node can be made
        self.tick = tick or _count_steps()  # one step per comprehension item: nested comprehensions stay bounded

    def tensor_ops(self, span: Span) -> Any:
        if self.tensors is None:
            raise WrongType("tensor arithmetic is only possible inside a block or network body", span)
        return self.tensors

    def eval(self, e: A.Expr) -> Any:
        method = getattr(self, "e_" + type(e).__name__)
        return method(e)

    def e_Num(self, e: A.Num) -> Any:
        return _check_num(e.value, e.span)

    def e_Str(self, e: A.Str) -> Any:
        return e.value

    def e_Const(self, e: A.Const) -> Any:
        return e.value

    def e_Var(self, e: A.Var) -> Any:
        return self.lookup(e.name, e.span)

    def e_BinOp(self, e: A.BinOp) -> Any:
        acc = self.eval(e.operands[0])
        start = e.operands[0].span
        for op, operand in zip(e.ops, e.operands[1:]):
            right = self.eval(operand)
            here = Span(start.file, start.line, start.col, operand.span.end_line, operand.span.end_col)
            if isinstance(acc, Tensor) or isinstance(right, Tensor):
                acc = self.tensor_ops(here).binary(op, acc, right, here)
            else:
                acc = _arith(op, acc, right, operand.span if op in ("/", "//", "%") else e.span)
        return acc

    def e_Pow(self, e: A.Pow) -> Any:
        base, exponent = self.eval(e.base), self.eval(e.exponent)
        if isinstance(base, Tensor) or isinstance(exponent, Tensor):
            return self.tensor_ops(e.span).binary("**", base, exponent, e.span)
        return _power(base, exponent, e.span)

    def e_UnOp(self, e: A.UnOp) -> Any:
        v = self.eval(e.operand)
        if e.op == "not":
            return not truthy(v, e.operand.span)
        if isinstance(v, Tensor):
            return self.tensor_ops(e.span).apply("neg", [v], (), (), e.span)
        if not _is_num(v):
            raise WrongType(f"unary '-' needs a number, got {type_name(v)}", e.span)
        return -v

    def e_Compare(self, e: A.Compare) -> Any:
        left = self.eval(e.operands[0])
        for op, operand in zip(e.ops, e.operands[1:]):
            right = self.eval(operand)
            if op in ("in", "not in"):
                if not isinstance(right, (list, tuple, str)) or (isinstance(right, str) and not isinstance(left, str)):
                    raise WrongType(f"'{op}' needs a list, tuple or string on its right, got {type_name(right)}",
                                    operand.span)
                if (left in right) != (op == "in"):
                    return False
                left = right
                continue
            if op not in ("==", "!=") and not (_is_num(left) and _is_num(right)) and type(left) is not type(right):
                raise WrongType(f"cannot compare {type_name(left)} and {type_name(right)} with '{op}'", e.span)
            try:
                ok = _COMPARE[op](left, right)
            except TypeError:
                raise WrongType(f"cannot compare {type_name(left)} and {type_name(right)} with '{op}'", e.span) from None
            if not ok:
                return False
            left = right
        return True

    def e_BoolOp(self, e: A.BoolOp) -> Any:
        v: Any = None
        for operand in e.values:
            v = self.eval(operand)
            t = truthy(v, operand.span)
            if (e.op == "or") == t:
                return v
        return v

    def e_Ternary(self, e: A.Ternary) -> Any:
        return self.eval(e.then) if truthy(self.eval(e.cond), e.cond.span) else self.eval(e.otherwise)

    def e_TupleLit(self, e: A.TupleLit) -> Any:
        return _bounded(tuple(self.eval(i) for i in e.items), e.span)

    def e_ListLit(self, e: A.ListLit) -> Any:
        return _bounded([self.eval(i) for i in e.items], e.span)

    def e_ListComp(self, e: A.ListComp) -> Any:
        seq = self.eval(e.iterable)
        if not isinstance(seq, (list, tuple, str)):
            raise WrongType(f"a comprehension needs a list, tuple or string, got {type_name(seq)}", e.iterable.span)
        outer, local = self.lookup, {}

        def lookup(name: str, span: Span) -> Any:
            return local[name] if name in local else outer(name, span)

        out = []
        self.lookup = lookup
        try:
            for item in seq:
                if len(e.targets) == 1:
                    local[e.targets[0]] = item
                else:
                    if not isinstance(item, (list, tuple)) or len(item) != len(e.targets):
                        raise WrongArity(f"cannot unpack {item!r} into {len(e.targets)} names", e.iterable.span)
                    local.update(zip(e.targets, item))
                self.tick(e.span)
                if e.cond is None or truthy(self.eval(e.cond), e.cond.span):
                    out.append(self.eval(e.elt))
        finally:
            self.lookup = outer
        return _bounded(out, e.span)

    def slice_bounds(self, s: A.Slice) -> tuple:
        """(start, stop, step) of a slice, each an int or None."""
        parts = []
        for part in (s.start, s.stop, s.step):
            v = None if part is None else self.eval(part)
            if v is not None and not _is_count(v):
                raise WrongType(f"a slice bound must be an int, got {type_name(v)}", part.span)
            parts.append(v)
        if parts[2] == 0:
            raise InvalidValue("slice step cannot be zero", s.step.span)
        return tuple(parts)

    def e_Index(self, e: A.Index) -> Any:
        obj = self.eval(e.obj)
        subs = e.index if isinstance(e.index, tuple) else (e.index,)
        if isinstance(obj, Tensor):
            bounds = [self.slice_bounds(s) if isinstance(s, A.Slice) else self.eval(s) for s in subs]
            return self.tensor_ops(e.span).index(obj, bounds, [s.span for s in subs], e.span)
        if not isinstance(obj, (list, tuple, str)):
            raise WrongType(f"cannot index a {type_name(obj)}", e.obj.span)
        if len(subs) > 1:
            raise WrongType(f"a {type_name(obj)} takes one index or slice, got {len(subs)}", e.span)
        if isinstance(subs[0], A.Slice):
            return obj[slice(*self.slice_bounds(subs[0]))]
        idx = self.eval(subs[0])
        if not isinstance(idx, int) or isinstance(idx, bool):
            raise WrongType(f"an index must be an int, got {type_name(idx)}", subs[0].span)
        if not -len(obj) <= idx < len(obj):
            raise InvalidValue(f"index {idx} is out of range for length {len(obj)}", subs[0].span)
        return obj[idx]

    def e_GetAttr(self, e: A.GetAttr) -> Any:
        obj = self.eval(e.obj)
        raise WrongType(f"a {type_name(obj)} has no attribute '{e.name}'", e.span)

    def e_Call(self, e: A.Call) -> Any:
        fn = self.eval(e.func)
        args, kwargs = self.eval_args(e.args)
        if isinstance(fn, (Builtin, Layer)) and self.tensor_ops_for(fn, args, e.span):
            return self.tensors.call(fn, args, kwargs, e.span)
        if isinstance(fn, Builtin):
            try:
                return _bounded(_check_value(fn.fn(*args, **dict(kwargs)), e.span, f"{fn.name}()"), e.span)
            except CnnError as err:
                if err.span is None:
                    err.span = e.span
                raise
            except TypeError as err:
                raise WrongArity(f"{fn.name}(): {_clean_type_error(err)}", e.span) from None
        if isinstance(fn, Layer):
            return self.call_layer(fn, args, kwargs, e.span)
        raise WrongType(f"a {type_name(fn)} is not callable", e.func.span)

    def tensor_ops_for(self, fn: Any, args: tuple, span: Span) -> bool:
        """True when a call applies an op to tensors: `sqrt(x)`, `clamp(x, 0, 1)`, `sum(xs)` (a list of
        tensors: their sum), `concat(xs, axis=1)`."""
        if not args or not _holds_tensors(args[0]):
            return False
        if isinstance(fn, Layer) and fn.kind != "op":
            return False
        if isinstance(fn, Builtin) and fn.name not in TENSOR_BUILTINS:
            return False
        self.tensor_ops(span)  # raises outside a block body
        return True

    def eval_args(self, args: tuple[A.Arg, ...]) -> tuple[tuple, tuple]:
        pos, kw, seen = [], [], set()
        for a in args:
            v = self.eval(a.value)
            if a.name is None:
                if kw:
                    raise WrongArity("positional argument after keyword arguments", a.span)
                pos.append(v)
            else:
                if a.name in seen:
                    raise WrongArity(f"argument '{a.name}' given twice", a.span)
                seen.add(a.name)
                kw.append((a.name, v))
        return tuple(pos), tuple(kw)


MAX_COMPREHENSION_STEPS = 2_000_000


def _count_steps() -> Callable[[Span], None]:
    """A step budget for one evaluator (the elaborator passes its own, shared with its statements)."""
    steps = [0]

    def tick(span: Span) -> None:
        steps[0] += 1
        if steps[0] > MAX_COMPREHENSION_STEPS:
            raise LimitExceeded(f"comprehensions took more than {MAX_COMPREHENSION_STEPS:,} steps", span)

    return tick


def _holds_tensors(v: Any) -> bool:
    return isinstance(v, Tensor) or (isinstance(v, (list, tuple)) and bool(v) and all(isinstance(t, Tensor) for t in v))


def _clean_type_error(err: TypeError) -> str:
    text = str(err)
    return text.split("() ", 1)[-1] if "() " in text else text


# ------------------------------------------------------------------ builtins
def _need_tensor(v: Any, fn: str) -> Tensor:
    if not isinstance(v, Tensor):
        raise WrongType(f"{fn}() needs a tensor, got {type_name(v)}")
    return v


def _channels(x: Any) -> int:
    return _need_tensor(x, "channels").shape[1]


def _shape(x: Any) -> tuple:
    return tuple(_need_tensor(x, "shape").shape)


def _num(v: Any, fn: str) -> Any:
    if not _is_num(v):
        raise WrongType(f"{fn}() needs a number, got {type_name(v)}")
    return v


def _seq(v: Any, fn: str) -> Any:
    if not isinstance(v, (list, tuple, str)):
        raise WrongType(f"{fn}() needs a list, tuple or string, got {type_name(v)}")
    return v


def _range(*args: Any) -> list:
    for a in args:
        if not isinstance(a, int) or isinstance(a, bool):
            raise WrongType(f"range() needs ints, got {type_name(a)}")
    if len(args) == 3 and args[2] == 0:
        raise InvalidValue("range() step cannot be zero")
    r = range(*args)
    if len(r) > MAX_SEQUENCE:
        raise LimitExceeded(f"range of {len(r):,} items; the limit is {MAX_SEQUENCE:,}")
    return list(r)


def _make_div(v: Any, divisor: int = 8, min_value: Any = None) -> int:
    """torchvision's _make_divisible: round to a multiple of divisor, never below 90%."""
    _finite(v, "make_div")
    if not _is_count(divisor) or divisor <= 0:
        raise InvalidValue(f"make_div() needs a positive int divisor, got {divisor!r}")
    if min_value is None:
        min_value = divisor
    _finite(min_value, "make_div")
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _minmax(fn: Callable, name: str) -> Callable:
    def inner(*args: Any) -> Any:
        items = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
        if not items:
            raise InvalidValue(f"{name}() of nothing")
        for i in items:
            _num(i, name)
        return fn(items)

    return inner


MAX_ROUND_DIGITS = 400  # past this many digits either side of the point, round() changes nothing


def _finite(v: Any, fn: str) -> Any:
    """A number that is not NaN or infinite (an int is needed from it, or arithmetic on it)."""
    _num(v, fn)
    if isinstance(v, float) and not math.isfinite(v):
        raise InvalidValue(f"{fn}() needs a finite number, got {v}")
    return v


def _round(v: Any, ndigits: Any = None) -> Any:
    _finite(v, "round")
    if ndigits is None:
        return round(v)
    if not _is_count(ndigits):
        raise WrongType(f"round() needs an int number of digits, got {type_name(ndigits)}")
    if abs(ndigits) > MAX_ROUND_DIGITS:
        raise InvalidValue(f"round() to {ndigits} digits; the limit is {MAX_ROUND_DIGITS} either side of the point")
    return round(v, ndigits)


def _int(v: Any) -> int:
    if isinstance(v, str):
        if len(v) > 40:
            raise LimitExceeded(f"int() of a {len(v)}-character string")
        try:
            return int(v)
        except ValueError:
            raise InvalidValue(f"int() cannot read {v!r}") from None
    return int(_finite(v, "int"))


def _float(v: Any) -> float:
    if isinstance(v, str):
        if len(v) > 400:
            raise LimitExceeded(f"float() of a {len(v)}-character string")
        try:
            return float(v)
        except ValueError:
            raise InvalidValue(f"float() cannot read {v!r}") from None
    return float(_num(v, "float"))


def _str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str)):
        return str(v)
    raise WrongType(f"str() takes a number or a string, got {type_name(v)}")


def _math(fn: Callable[[float], float], name: str, domain: Callable[[Any], bool]) -> Callable:
    def inner(v: Any) -> float:
        _num(v, name)
        if not domain(v):
            raise InvalidValue(f"{name}({v}) is out of its domain")
        return fn(v)

    return inner


def _zip(*seqs: Any) -> list:
    return [tuple(t) for t in zip(*(_seq(s, "zip") for s in seqs))]


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin("channels", _channels),
        Builtin("shape", _shape),
        Builtin("len", lambda s: len(_seq(s, "len"))),
        Builtin("range", _range),
        Builtin("enumerate", lambda s, start=0: [(i + start, v) for i, v in enumerate(_seq(s, "enumerate"))]),
        Builtin("zip", _zip),
        Builtin("min", _minmax(min, "min")),
        Builtin("max", _minmax(max, "max")),
        Builtin("sum", lambda s: sum(_num(v, "sum") for v in _seq(s, "sum"))),
        Builtin("abs", lambda v: abs(_num(v, "abs"))),
        Builtin("round", _round),
        Builtin("floor", lambda v: math.floor(_finite(v, "floor"))),
        Builtin("ceil", lambda v: math.ceil(_finite(v, "ceil"))),
        Builtin("int", _int),
        Builtin("float", _float),
        Builtin("str", _str),
        Builtin("make_div", _make_div),
        Builtin("sqrt", _math(math.sqrt, "sqrt", lambda v: v >= 0)),
        Builtin("log", _math(math.log, "log", lambda v: v > 0)),
        Builtin("exp", _math(math.exp, "exp", lambda v: v < 700)),
    )
}

