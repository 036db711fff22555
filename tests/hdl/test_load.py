"""Tier 1: the load unit against a behavioural DRAM in the testbench.

The DRAM here is a Python model, not :class:`~rooftile.hdl.dram.Dram`: it applies any
backpressure pattern to the read requests and answers after a fixed latency, so the
unit's side of both handshakes is stressed independently of the real DRAM's bandwidth
rules (which ``test_dram.py`` checks on its own).
"""

from collections import deque

import numpy as np
import pytest

from rooftile.hdl.isa import Instruction, Target, encode
from rooftile.hdl.load import LoadUnit
from rooftile.hdl.params import TileConfig

from streams import pauses, put_instructions, simulate, stream_rules, token_source

CONFIG = TileConfig(rows=2, cols=3, sp_depth=16, acc_depth=4, dram_depth=64)
LATENCY = 5


def lanes(word, count, width=CONFIG.data_width):
    """The ``count`` low lanes of ``word`` as unsigned ints."""
    return [(word >> (i * width)) & ((1 << width) - 1) for i in range(count)]


def random_loads(rng, count):
    """``(fields, deps)`` of ``count`` LOADs, every other one waiting for a token."""
    loads = []
    for k in range(count):
        rows = int(rng.integers(1, 10))   # up to three words, the last one partly used
        target = Target(int(rng.integers(2)))
        pack = CONFIG.entries_per_word(CONFIG.rows if target is Target.A else CONFIG.cols)
        fields = dict(target=target, dram_addr=int(rng.integers(0, 40)),
                      stride=int(rng.integers(1, 5)),
                      sp_addr=pack * int(rng.integers(0, (16 - rows) // pack + 1)),
                      rows=rows, elems=int(rng.integers(1, 4)))
        deps = (("pop_next",) if k % 2 else ()) + (("push_next",) if k % 3 != 1 else ())
        loads.append((fields, deps))
    return loads


@pytest.mark.parametrize("idle, backpressure", [("none", "none"), ("mostly", "alternate"),
                                                ("alternate", "mostly"),
                                                ("irregular", "irregular")])
def test_loads_fill_the_scratchpads_and_push_after_the_data(idle, backpressure):
    dut = LoadUnit(CONFIG)
    rng = np.random.default_rng(7)
    loads = random_loads(rng, 10)
    words = [int.from_bytes(rng.bytes(CONFIG.dram_word_bytes), "little")
             for _ in range(CONFIG.dram_depth)]
    requests, writes, pushes, pops = [], [], [], []

    async def producer(ctx):
        pause = pauses(idle)
        await put_instructions(ctx, dut.instr, CONFIG, "LOAD", loads, pause)
        while sum(len(e) for _, _, e in writes) < sum(f["rows"] for f, _ in loads) \
                or not ctx.get(dut.idle):
            await ctx.tick()

    async def dram(ctx):
        """Takes read requests under backpressure, answers LATENCY cycles later."""
        pause, pending, cycle = pauses(backpressure), deque(), 0
        while True:
            ctx.set(dut.read.ready, not next(pause))
            due = bool(pending) and pending[0][0] == cycle
            if due:
                _, addr, tag = pending.popleft()
                ctx.set(dut.response.payload, {"data": words[addr], "tag": tag})
            ctx.set(dut.response.valid, due)
            _, _, valid, ready, request = await ctx.tick().sample(
                dut.read.valid, dut.read.ready, dut.read.payload)
            if valid and ready:
                requests.append((cycle, request.addr, request.bytes))
                pending.append((cycle + LATENCY, request.addr, request.tag))
            cycle += 1

    async def scratchpads(ctx):
        cycle = 0
        async for _, _, a_en, a_addr, a_data, b_en, b_addr, b_data, push in ctx.tick().sample(
                dut.sp_a.en, dut.sp_a.addr, dut.sp_a.data,
                dut.sp_b.en, dut.sp_b.addr, dut.sp_b.data, dut.to_next.valid):
            for en, target, addr, data in ((a_en, Target.A, a_addr, a_data),
                                           (b_en, Target.B, b_addr, b_data)):
                if en:
                    pack = len(data)
                    writes.append((cycle, target, [
                        (addr * pack + i, [v & 0xFF for v in data[i]])
                        for i in range(pack) if en >> i & 1]))
            if push:
                pushes.append(cycle)
            cycle += 1

    simulate(dut, [producer], [dram, token_source(dut.from_next, 13, pops), scratchpads, stream_rules(dut.read, "read")],
             cycles=3000)

    # Every word, in order: its DRAM address, the bytes of its entries, and in one
    # write the scratchpad entries it fills (a whole word's worth, fewer in the last).
    expected_requests, expected_writes, push_words, first_word = [], [], [], []
    for fields, deps in loads:
        width = CONFIG.rows if fields["target"] is Target.A else CONFIG.cols
        pack = CONFIG.entries_per_word(width)
        first_word.append(len(expected_requests))
        for w, row in enumerate(range(0, fields["rows"], pack)):
            addr = fields["dram_addr"] + w * fields["stride"]
            entries = min(pack, fields["rows"] - row)
            expected_requests.append((addr, entries * fields["elems"] * CONFIG.data_bytes))
            expected_writes.append((fields["target"], [
                (fields["sp_addr"] + row + i,
                 lanes(words[addr] >> (i * width * CONFIG.data_width), width))
                for i in range(entries)]))
        if "push_next" in deps:
            push_words.append(len(expected_writes) - 1)
    assert [(a, b) for _, a, b in requests] == expected_requests
    assert [(t, e) for _, t, e in writes] == expected_writes
    # Each response lands LATENCY cycles after its request; a token is pushed with the
    # last word's data, never earlier.
    assert [w[0] for w in writes] == [r[0] + LATENCY for r in requests]
    assert pushes == [writes[word][0] for word in push_words]
    # A LOAD that pops waits for its token: its first request comes after the pop.
    waiting = [k for k, (_, deps) in enumerate(loads) if "pop_next" in deps]
    assert len(pops) == len(waiting)
    for pop, k in zip(pops, waiting):
        assert requests[first_word[k]][0] > pop


def test_waiting_flags_a_load_held_back_by_its_token():
    dut = LoadUnit(CONFIG)
    layout = Instruction(CONFIG)
    word = encode(CONFIG, "LOAD", ("pop_next",), target="A", dram_addr=0, stride=1,
                  sp_addr=0, rows=1, elems=1)

    async def bench(ctx):
        assert ctx.get(dut.idle) and not ctx.get(dut.waiting)
        ctx.set(dut.instr.payload, layout.from_bits(word))
        ctx.set(dut.instr.valid, 1)
        for _ in range(5):
            assert ctx.get(dut.waiting) and not ctx.get(dut.instr.ready)
            assert not ctx.get(dut.idle)
            await ctx.tick()
        ctx.set(dut.from_next.valid, 1)
        assert ctx.get(dut.instr.ready) and ctx.get(dut.from_next.ready)
        assert not ctx.get(dut.waiting)
        await ctx.tick()
        ctx.set(dut.instr.valid, 0)
        assert ctx.get(dut.read.valid) and not ctx.get(dut.idle)

    simulate(dut, [bench], cycles=50)
