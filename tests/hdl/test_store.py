"""Tier 1: the store unit between a real accumulator memory and a behavioural DRAM
that applies backpressure to every write; results whole and requantised."""

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import memory, wiring

from rooftile.hdl.isa import Instruction, encode
from rooftile.hdl.matrix_unit import acc_row
from rooftile.hdl.params import TileConfig
from rooftile.hdl.store import StoreUnit
from rooftile.sim.model.golden import requantize

from streams import (pauses, put_instructions, simulate, stream_put, stream_rules,
                     token_source)

CONFIG = TileConfig(rows=2, cols=3, sp_depth=16, acc_depth=8, dram_depth=64)


def pack(values, width):
    return sum((int(v) & ((1 << width) - 1)) << (j * width) for j, v in enumerate(values))


def bench(config):
    """The unit reading a real accumulator memory, as in the tile."""
    m = Module()
    m.submodules.store = unit = StoreUnit(config)
    m.submodules.acc = acc = memory.Memory(shape=acc_row(config), depth=config.acc_depth,
                                           init=[])
    wiring.connect(m, unit.acc_read, acc.read_port())
    return m, unit, acc


@pytest.mark.parametrize("idle, backpressure", [("none", "none"), ("mostly", "alternate"),
                                                ("alternate", "mostly"),
                                                ("irregular", "irregular")])
def test_stores_write_rows_whole_or_requantised(idle, backpressure):
    top, dut, acc = bench(CONFIG)
    rng = np.random.default_rng(9)
    rows = rng.integers(-(1 << 31), 1 << 31, (CONFIG.acc_depth, CONFIG.cols))
    rows[0] = [(1 << 31) - 1, -(1 << 31), 5]          # saturate both ways when narrowed
    stores = []
    for k in range(8):
        count = int(rng.integers(1, 4))
        narrow = k % 2
        fields = dict(acc_addr=int(rng.integers(0, CONFIG.acc_depth - count + 1)),
                      dram_addr=int(rng.integers(0, 30)), stride=int(rng.integers(1, 6)),
                      rows=count, elems=int(rng.integers(1, CONFIG.cols + 1)), narrow=narrow,
                      shift=int(rng.integers(0, 31)) if narrow else 0)
        deps = (("pop_prev",) if k % 3 else ()) + (("push_prev",) if k % 2 == 0 else ())
        stores.append((fields, deps))
    writes, pushes, pops = [], [], []

    async def producer(ctx):
        for addr, row in enumerate(rows):
            ctx.set(acc.data[addr], [int(v) for v in row])
        pause = pauses(idle)
        await put_instructions(ctx, dut.instr, CONFIG, "STORE", stores, pause)
        while len(writes) < sum(f["rows"] for f, _ in stores) or not ctx.get(dut.idle):
            await ctx.tick()

    async def dram(ctx):
        pause, cycle = pauses(backpressure), 0
        while True:
            ctx.set(dut.write.ready, not next(pause))
            _, _, valid, ready, request, push = await ctx.tick().sample(
                dut.write.valid, dut.write.ready, dut.write.payload, dut.to_prev.valid)
            if valid and ready:
                writes.append((cycle, request.addr, request.data, request.bytes))
            if push:
                pushes.append(cycle)
            cycle += 1

    simulate(top, [producer], [dram, token_source(dut.from_prev, 9, pops), stream_rules(dut.write, "write")], cycles=3000)

    expected, push_rows = [], []
    for fields, deps in stores:
        for r in range(fields["rows"]):
            values = rows[fields["acc_addr"] + r]
            if fields["narrow"]:
                data = pack(requantize(values, fields["shift"], CONFIG.data_width),
                            CONFIG.data_width)
                size = fields["elems"] * CONFIG.data_bytes
            else:
                data, size = pack(values, CONFIG.acc_width), fields["elems"] * CONFIG.acc_bytes
            expected.append((fields["dram_addr"] + r * fields["stride"], data, size))
        if "push_prev" in deps:
            push_rows.append(len(expected) - 1)
    assert [w[1:] for w in writes] == expected
    # The accumulator is free once the DRAM took the last row: the push comes with it.
    assert pushes == [writes[row][0] for row in push_rows]
    assert len(pops) == sum("pop_prev" in deps for _, deps in stores)
    # Narrow stores saturated: row 0 requantised by any shift < 24 keeps the extremes.
    assert requantize(rows[0], 3, 8).tolist() == [127, -128, 0]


def test_each_row_takes_two_cycles_without_backpressure():
    """The accumulator read, then the DRAM write: the contract the cycle model uses."""
    top, dut, _ = bench(CONFIG)
    layout = Instruction(CONFIG)
    word = encode(CONFIG, "STORE", (), acc_addr=0, dram_addr=0, stride=1, rows=5, elems=3)
    accepted = []

    async def driver(ctx):
        ctx.set(dut.write.ready, 1)
        await stream_put(ctx, dut.instr, layout.from_bits(word))
        for cycle in range(14):
            if ctx.get(dut.write.valid):
                accepted.append(cycle)
            await ctx.tick()
        assert ctx.get(dut.idle)

    simulate(top, [driver], cycles=100)
    assert accepted == [1, 3, 5, 7, 9]
