"""The fixed-point softmax format, defined once: the vector unit computes it, the golden
model mirrors it bit for bit, the attention compiler picks its scale and the area model
sizes its datapath from it.

Fixed-point method
------------------
For one softmax over scores ``s_i`` (``i`` = key), with a per-command multiplier
``scale`` (``SCALE_BITS`` unsigned) and right shift ``shift`` (``SHIFT_BITS``):

1. **Max.** ``m = max_i s_i`` (exact).
2. **Scaled exponent.** ``y_i = (d_i * scale + 2**shift // 2) >> shift`` with
   ``d_i = s_i - m <= 0``: the logit difference in base-2 units with
   ``EXP_LUT_BITS`` fractional bits, rounded half up. ``scale / 2**shift`` therefore
   stands for ``c * log2(e) * 2**EXP_LUT_BITS`` where ``c`` is the real multiplier of
   the scores (dequantisation scales times ``1/sqrt(d_head)``); :func:`softmax_scale`
   picks the pair for a given ``c``.
3. **exp as a power of two.** Split ``y_i = -n_i * 2**EXP_LUT_BITS + f_i`` with
   ``0 <= f_i < 2**EXP_LUT_BITS``; then ``e_i = LUT[f_i] >> n_i`` where
   ``LUT[f] = round(2**(f / 2**EXP_LUT_BITS) * 2**E)`` and ``E = exp_bits(data_width)``
   (``e_i = 0`` once ``n_i > E``). The maximum maps to exactly ``2**E``. The 32-entry
   table quantises the exponent to 1/32 of an octave: a relative error of at most
   ``2**(1/64) - 1 = 1.1 %`` per term, which mostly cancels in the ratio.
4. **Sum.** ``S = sum_i e_i``, exact in a register wide enough for the longest row.
5. **Normalise by a reciprocal.** With ``z = floor(log2 S)`` a restoring divider
   computes ``R = floor(2**(z + RECIP_BITS) / S)`` (``RECIP_BITS + 1`` quotient bits,
   ``DIV_BITS_PER_CYCLE`` per cycle), once per softmax and not per lane; then
   ``p_i = round_half_up(e_i * P * R / 2**(z + RECIP_BITS))`` with
   ``P = 2**(data_width - 1) - 1``. ``R`` is within ``2**-(RECIP_BITS-1)`` of the true
   reciprocal (relative), so ``p_i`` is ``round(P * e_i / S)`` except at rare ties, and
   never exceeds ``P``. Padding lanes hold 0.

Measured against a float softmax of ``c * s``, ``p / P`` is within 0.0062 (int8) and
0.0034 (int16) over rows of 1 to 1000 keys (``tests/hdl/test_vector_unit.py`` requires
0.02). NB: the output step is ``1/P`` of the whole row, so with int8 a long, flat row
loses its mass: any key below ``1/254`` rounds to 0 (1000 equal keys give all zeros,
only 0.001 from the truth each). Long contexts want ``data_width = 16``, or normalising
after ``P @ V`` instead of before (a different command, not built).
"""

import math

__all__ = ["EXP_LUT_BITS", "SCALE_BITS", "SHIFT_BITS", "RECIP_BITS", "DIV_BITS_PER_CYCLE",
           "DIV_CYCLES", "exp_bits", "exp2_table", "softmax_scale"]

#: Fractional bits of the base-2 exponent: the exp table has ``2**EXP_LUT_BITS`` entries.
EXP_LUT_BITS = 5
#: Width of the unsigned score multiplier ``scale``.
SCALE_BITS = 16
#: Width of the right shift ``shift`` applied after the multiplier.
SHIFT_BITS = 6
#: The reciprocal ``R`` of the exp sum carries ``RECIP_BITS`` fractional bits below its
#: leading one (``R`` lies in ``[2**(RECIP_BITS-1), 2**RECIP_BITS]``).
RECIP_BITS = 15
#: Restoring-divider steps chained per cycle.
DIV_BITS_PER_CYCLE = 4
#: Cycles of the divider: ``RECIP_BITS + 1`` quotient bits.
DIV_CYCLES = (RECIP_BITS + 1) // DIV_BITS_PER_CYCLE
assert (RECIP_BITS + 1) % DIV_BITS_PER_CYCLE == 0, "the divider runs whole cycles"


def exp_bits(data_width):
    """Bits of ``e`` below its maximum ``2**exp_bits``: seven more than the probability
    width, so that terms down to about ``2**-7`` of one output step still count in the
    sum."""
    return data_width + 7


def exp2_table(data_width):
    """``LUT[f] = round(2**(f / 2**EXP_LUT_BITS) * 2**exp_bits(data_width))``: the
    mantissa of ``2**(f/32)``, in ``[2**E, 2**(E+1))``."""
    entries = 1 << EXP_LUT_BITS
    return [round(2.0 ** (f / entries) * (1 << exp_bits(data_width))) for f in range(entries)]


def softmax_scale(multiplier):
    """The ``(scale, shift)`` pair that applies a real score multiplier.

    The unit computes ``softmax(multiplier * s)``; ``scale / 2**shift`` approximates
    ``multiplier * log2(e) * 2**EXP_LUT_BITS`` with the largest ``shift`` (the most
    significant bits of ``scale``) that keeps ``scale`` below ``2**SCALE_BITS``.

    Parameters
    ----------
    multiplier : float
        Real value of one score unit: for int8 Q and K with scales ``sq``, ``sk``,
        ``sq * sk / sqrt(d_head)``.

    Raises
    ------
    ValueError
        A multiplier that is not positive and finite, too large to reach with
        ``shift = 0`` or too small to leave a non-zero ``scale`` at the largest shift.
    """
    if not isinstance(multiplier, (int, float)) or not math.isfinite(multiplier) \
            or multiplier <= 0:
        raise ValueError(f"multiplier must be a positive finite number, got {multiplier!r}")
    target = multiplier * math.log2(math.e) * (1 << EXP_LUT_BITS)
    for shift in range((1 << SHIFT_BITS) - 1, -1, -1):
        scale = round(target * 2 ** shift)
        if scale < 1 << SCALE_BITS:
            break
    else:
        raise ValueError(f"multiplier {multiplier!r} is too large: even shift=0 needs "
                         f"scale={round(target)} >= 2**{SCALE_BITS}")
    if scale == 0:
        raise ValueError(f"multiplier {multiplier!r} is too small: scale rounds to 0 at "
                         f"the largest shift {(1 << SHIFT_BITS) - 1}")
    return scale, shift
