"""numpy golden models with the RTL's integer semantics (two's complement wrap-around)."""

import numpy as np

from ...hdl.fixed_point import EXP_LUT_BITS, RECIP_BITS, exp_bits
from ...hdl.params import operand_range

__all__ = ["wrap", "matmul", "requantize", "softmax_fixed"]


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


def requantize(values, shift, data_width):
    """A narrow STORE: ``clamp(values >> shift)`` to signed ``data_width`` bits
    (arithmetic shift: rounds toward minus infinity)."""
    low, high = operand_range(data_width)
    return np.clip(np.asarray(values, dtype=np.int64) >> shift, low, high)


def softmax_fixed(scores, scale, shift, data_width=8):
    """Softmax along the last axis, bit-exact with :class:`~rooftile.hdl.fixed_point.VectorUnit`.

    Follows the five steps of the fixed-point method in :mod:`rooftile.hdl.fixed_point`
    (Python integers where ``d * scale`` may pass 64 bits, so any accumulator width
    works), computing its own exp table from the formula rather than importing the
    hardware's, so that the two descriptions check each other.

    Parameters
    ----------
    scores : array_like of int
        Raw accumulator scores, ``[..., L]``; only real keys (no padding).
    scale, shift : int
        The command's multiplier and right shift (:func:`~rooftile.hdl.fixed_point.softmax_scale`).
    data_width : int
        Probability width: results lie in ``[0, 2**(data_width - 1) - 1]``.

    Returns
    -------
    numpy.ndarray of int64, the shape of ``scores``.
    """
    s = np.asarray(scores, dtype=object)
    if s.ndim == 0 or s.shape[-1] == 0:
        raise ValueError(f"need scores[..., L] with L >= 1, got shape {s.shape}")
    ebits = exp_bits(data_width)
    entries = 1 << EXP_LUT_BITS
    table = np.array([round(2.0 ** (f / entries) * (1 << ebits)) for f in range(entries)],
                     dtype=np.int64)
    # Steps 1-2 in Python ints (d * scale may exceed 64 bits), then clamped to where
    # every term is 0 anyway, which fits int64.
    y = ((s - s.max(axis=-1, keepdims=True)) * scale + ((1 << shift) >> 1)) >> shift
    y = np.maximum(y, -((ebits + 1) << EXP_LUT_BITS)).astype(np.int64)
    n = -(y >> EXP_LUT_BITS)
    e = np.where(n <= ebits, table[y & (entries - 1)] >> np.minimum(n, ebits), 0)
    # Steps 4-5 fit int64: e <= 2**23, the product below 2**55, sums below 2**53.
    total = e.sum(axis=-1, keepdims=True)          # >= 2**ebits: the max contributes it
    k = np.frexp(total)[1] - 1 + RECIP_BITS         # z + RECIP_BITS, z = floor(log2 S)
    recip = (np.int64(1) << k) // total
    p_max = (1 << (data_width - 1)) - 1
    return (e * p_max * recip + (np.int64(1) << (k - 1))) >> k
