# amaranth: UnusedElaboratable=no
"""Tier 1: the skew lines delay each lane by its own number of cycles."""

import pytest
from amaranth.hdl import Module

from rooftile.hdl.skew import Skew

from streams import simulate


def test_skew_delays_each_lane():
    dut = Skew(8, [0, 2, 1])
    seen = []

    async def bench(ctx):
        for t in range(6):
            ctx.set(dut.i, [10 + t, 20 + t, 30 + t])
            seen.append(list(ctx.get(dut.o)))
            await ctx.tick()

    simulate(dut, [bench], cycles=20)
    assert [s[0] for s in seen] == [10, 11, 12, 13, 14, 15]
    assert [s[1] for s in seen][2:] == [20, 21, 22, 23]
    assert [s[2] for s in seen][1:] == [30, 31, 32, 33, 34]


def test_reversed_delays_undo_the_skew():
    """A vector skewed by range(n) and de-skewed by its reverse arrives whole, n - 1
    cycles later."""
    n = 4
    skew, deskew = Skew(8, range(n)), Skew(8, reversed(range(n)))
    m = Module()
    m.submodules.skew, m.submodules.deskew = skew, deskew
    m.d.comb += deskew.i.eq(skew.o)
    seen = []

    async def bench(ctx):
        for t in range(10):
            ctx.set(skew.i, [t * 10 + lane for lane in range(n)])
            seen.append(list(ctx.get(deskew.o)))
            await ctx.tick()

    simulate(m, [bench], cycles=20)
    assert seen[n - 1:] == [[t * 10 + lane for lane in range(n)] for t in range(10 - n + 1)]


def test_negative_delays_are_refused():
    with pytest.raises(ValueError, match=r"delays must be >= 0, got \(0, -1\)"):
        Skew(8, [0, -1])
