"""Budgets: the sizes past which cnndsl refuses a network instead of trying to build it.

Each limit is checked where the quantity first exists, before anything is allocated:

| budget | limit | checked |
| --- | --- | --- |
| source file | `MAX_SOURCE_BYTES` (2,000,000 bytes) | `stat` before the file is opened (`cnndsl.elaborate.modules.read_source`) |
| nodes per network | `MAX_NODES` (100,000) | as each node is made (`cnndsl.elaborate.op_nodes`) |
| elements per tensor | `MAX_TENSOR_ELEMENTS` (2**32) | every output and parameter shape, and a window op's padded input, at the node's insertion |
| parameters per network | `MAX_PARAMS` (2**31) | running total, at each node's insertion |
| items in one list value | `MAX_VALUE_ITEMS` (1,000,000) | each list the evaluator makes (`cnndsl.elaborate.evaluator`) |

A symbolic batch (`N`) counts as 1: the element budget is per batch item until `--batch` fixes it.
docs/language.md ("Budgets") lists them for users.
"""

from __future__ import annotations

import math
from typing import Any

MAX_TENSOR_ELEMENTS = 2**32  # 16 GiB of float32 in one tensor
MAX_PARAMS = 2**31  # 8 GiB of float32 parameters in one network: 4x the largest CNN we know of


class BudgetExceeded(Exception):
    """A node would pass a budget; the elaborator turns it into a positioned LimitExceeded."""


def elements(shape: Any) -> int:
    """Elements of a shape; a symbolic dimension (the batch `N`) counts as 1."""
    return math.prod(d for d in shape if isinstance(d, int) and not isinstance(d, bool))


def check_shape(shape: Any, what: str) -> None:
    n = elements(shape)
    if n > MAX_TENSOR_ELEMENTS:
        dims = "x".join(str(d) for d in shape)
        raise BudgetExceeded(f"{what} [{dims}] has {n:,} elements; the limit per tensor is {MAX_TENSOR_ELEMENTS:,}")


def check_output_shapes(op: str, shape: Any) -> None:
    for s in shape if isinstance(shape, list) else [shape]:
        check_shape(s, f"{op}: output")


def check_padded_input(op: str, attrs: dict, in_shapes: list) -> None:
    """A window op's padded input (`padding` as begins then ends per spatial axis): what every backend and
    the interpreter materialize, so it counts as a tensor (a dilated "same" conv pads by half its window)."""
    pads = attrs.get("padding")
    x = in_shapes[0] if in_shapes else None
    if not isinstance(pads, tuple) or x is None or len(x) < 3 or len(pads) != 2 * (len(x) - 2):
        return
    if not all(isinstance(p, int) for p in pads) or not any(pads):
        return
    nd = len(x) - 2
    padded = tuple(x[:2]) + tuple(d + pads[i] + pads[nd + i] if isinstance(d, int) else d
                                   for i, d in enumerate(x[2:]))
    check_shape(padded, f"{op}: padded input")


def param_count(op: str, params: dict[str, tuple]) -> int:
    """Elements over a node's parameters (trainable or not), each shape checked against the tensor budget."""
    total = 0
    for pname, (pshape, _trainable) in params.items():
        check_shape(pshape, f"{op}: parameter '{pname}'")
        total += elements(pshape)
    return total


def check_total_params(total: int) -> None:
    if total > MAX_PARAMS:
        raise BudgetExceeded(f"the network would have {total:,} parameters; the limit is {MAX_PARAMS:,}")
