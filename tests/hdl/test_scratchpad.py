# amaranth: UnusedElaboratable=no
"""Tier 1: the packed scratchpad: whole-word writes with per-entry enables, single-entry
writes, and single-entry reads one cycle later that hold while ``en`` is low."""

import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.lib import data

from rooftile.hdl.scratchpad import Scratchpad

from streams import simulate

LANES, DEPTH = 3, 24


@pytest.mark.parametrize("pack", [1, 2, 4])
def test_words_and_entries_land_where_reads_find_them(pack):
    dut = Scratchpad(data.ArrayLayout(signed(8), LANES), DEPTH, pack)
    rng = np.random.default_rng(pack)
    expected = {}
    seen = {}

    def entry():
        return [int(v) for v in rng.integers(-128, 128, LANES)]

    async def bench(ctx):
        # Whole words, some with only their first entries enabled.
        for row in range(DEPTH // pack):
            used = int(rng.integers(1, pack + 1))
            entries = [entry() for _ in range(pack)]
            ctx.set(dut.write_word.addr, row)
            ctx.set(dut.write_word.data, entries)
            ctx.set(dut.write_word.en, (1 << used) - 1)
            for i in range(used):
                expected[row * pack + i] = entries[i]
            await ctx.tick()
        ctx.set(dut.write_word.en, 0)
        # Single entries over some of them.
        for addr in rng.permutation(DEPTH)[:DEPTH // 3]:
            values = entry()
            ctx.set(dut.write.addr, int(addr))
            ctx.set(dut.write.data, values)
            ctx.set(dut.write.en, 1)
            expected[int(addr)] = values
            await ctx.tick()
        ctx.set(dut.write.en, 0)
        # Reads in a random order; each is held through a cycle with en low.
        for addr in rng.permutation(sorted(expected)):
            ctx.set(dut.read.addr, int(addr))
            ctx.set(dut.read.en, 1)
            await ctx.tick()
            ctx.set(dut.read.en, 0)
            ctx.set(dut.read.addr, (int(addr) + 1) % DEPTH)
            await ctx.tick()
            seen[int(addr)] = [int(v) for v in ctx.get(dut.read.data)]

    simulate(dut, [bench], cycles=500)
    assert seen == expected


def test_pack_must_be_a_power_of_two():
    with pytest.raises(ValueError):
        Scratchpad(data.ArrayLayout(signed(8), LANES), DEPTH, 3)
