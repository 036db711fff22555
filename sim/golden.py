"""numpy golden models with the RTL's integer semantics (two's complement wrap-around)."""

import numpy as np

__all__ = ["wrap", "matmul"]


def wrap(values, bits):
    """Wrap integers to ``bits``-bit two's complement, as a register of that width does."""
    values = np.asarray(values, dtype=np.int64)
    half = np.int64(1) << (bits - 1)
    return ((values + half) & ((half << 1) - 1)) - half


def matmul(a, b, acc_width, c=None):
    """``c + a @ b`` with int64 products, wrapped to ``acc_width`` like the accumulator."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    result = a @ b if c is None else np.asarray(c, dtype=np.int64) + a @ b
    return wrap(result, acc_width)
