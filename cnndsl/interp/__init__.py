"""Reference execution of the Graph IR in numpy (the oracle for passes and backends)."""

from cnndsl.interp.kernels import KERNELS
from cnndsl.interp.numpy_ref import InterpError, run

__all__ = ["KERNELS", "InterpError", "run"]
