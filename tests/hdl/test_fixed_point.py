"""The fixed-point softmax format: the scale pair and the method's accuracy against float."""

import math

import numpy as np
import pytest

from rooftile.hdl.fixed_point import (DIV_BITS_PER_CYCLE, DIV_CYCLES, EXP_LUT_BITS, RECIP_BITS,
                                      SCALE_BITS, exp2_table, exp_bits, softmax_scale)
from rooftile.sim.model.golden import softmax_fixed


def test_exp_table_holds_the_mantissas_of_two_to_the_fraction():
    for data_width in (8, 16):
        table = exp2_table(data_width)
        one = 1 << exp_bits(data_width)
        assert len(table) == 1 << EXP_LUT_BITS and table[0] == one
        assert all(one <= a < b < 2 * one for a, b in zip(table, table[1:]))
        assert table[-1] == round(2 ** (31 / 32) * one)


def test_divider_runs_whole_cycles():
    assert DIV_CYCLES * DIV_BITS_PER_CYCLE == RECIP_BITS + 1


@pytest.mark.parametrize("data_width", [8, 16])
def test_fixed_point_method_is_close_to_float_softmax(data_width):
    """Quality, not bit-exactness: p / P against a float softmax of the same logits."""
    rng = np.random.default_rng(8)
    p_max = (1 << (data_width - 1)) - 1
    worst = lost = 0.0
    for length in (1, 3, 16, 100, 1000):
        for spread in (0.5, 4.0, 30.0):          # logit range: flat to peaked
            multiplier = spread / 10_000
            scores = rng.integers(-10_000, 10_000, (40, length))
            scale, shift = softmax_scale(multiplier)
            p = softmax_fixed(scores, scale, shift, data_width) / p_max
            logits = scores * multiplier
            q = np.exp(logits - logits.max(axis=-1, keepdims=True))
            q /= q.sum(axis=-1, keepdims=True)
            worst = max(worst, float(np.abs(p - q).max()))
            lost = max(lost, float(np.abs(p.sum(axis=-1) - 1).max()))
    assert worst < 0.02, worst
    # int8 rounds a flat row of 1000 keys to nothing (see the module's NB); int16 keeps
    # the mass of every row.
    assert lost < 0.005 if data_width == 16 else lost == 1.0, lost


def test_softmax_scale_applies_the_multiplier_in_base_two():
    for multiplier in (3e-7, 1e-3, 0.125, 1.0, 50.0):
        scale, shift = softmax_scale(multiplier)
        assert 1 << (SCALE_BITS - 1) <= scale < 1 << SCALE_BITS   # full precision kept
        target = multiplier * math.log2(math.e) * (1 << EXP_LUT_BITS)
        assert abs(scale / 2 ** shift / target - 1) < 2 ** -(SCALE_BITS - 1)
    for bad, message in ((0, "positive finite number, got 0"),
                         (float("nan"), "got nan"),
                         (1e4, "too large"),
                         (1e-25, "too small")):
        with pytest.raises(ValueError, match=message):
            softmax_scale(bad)


