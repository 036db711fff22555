# amaranth: UnusedElaboratable=no
"""Tier 1: the chip's shared channel (strict priority, one token bucket) and its build
checks."""

from fractions import Fraction

import pytest

from rooftile.hdl.chip import Chip
from rooftile.hdl.dram import SharedChannel
from rooftile.hdl.errors import InputError
from rooftile.hdl.params import TileConfig

from streams import simulate

CONFIG = TileConfig(rows=2, cols=3, dram_bytes_per_cycle=Fraction(5, 2))


def test_shared_channel_serves_ports_in_order_within_the_rate():
    dut = SharedChannel(CONFIG, 2)
    grants, waits = [], []
    cycles = 60

    async def bench(ctx):
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for cycle in range(cycles):
            # Port 1 asks every cycle for 4 bytes; port 0 for 6 in cycles 10..29.
            ctx.set(dut.requests[1].valid, 1)
            ctx.set(dut.requests[1].bytes, 4)
            ctx.set(dut.requests[0].valid, int(10 <= cycle < 30))
            ctx.set(dut.requests[0].bytes, 6)
            grants.append((ctx.get(dut.grants[0]), ctx.get(dut.grants[1])))
            waits.append((ctx.get(dut.waiting[0]), ctx.get(dut.waiting[1])))
            await ctx.tick()

    simulate(dut, [bench], cycles=cycles + 10)
    # While port 0 asks, port 1 never goes, even in cycles port 0 waits for credit.
    assert not any(g1 for g0, g1 in grants[10:30])
    assert sum(g0 for g0, _ in grants) == sum(1 for g0, _ in grants[10:30] if g0) > 0
    assert all(w1 for _, w1 in waits[10:30])
    # Bytes granted never outrun the rate by more than the bucket's full start.
    moved = 0
    for cycle, (g0, g1) in enumerate(grants):
        moved += 6 * g0 + 4 * g1
        assert moved <= CONFIG.dram_bytes_per_cycle * (cycle + 1) + 2 * CONFIG.dram_word_bytes
    assert moved >= CONFIG.dram_bytes_per_cycle * cycles - 2 * CONFIG.dram_word_bytes


def test_a_chip_needs_an_attention_unit():
    with pytest.raises(InputError, match="attention_unit"):
        Chip(CONFIG)
