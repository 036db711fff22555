"""Tier 1: fetch dispatches a program, in order, to the unit of each opcode; consumers
apply backpressure, and a full queue holds fetch back."""

import numpy as np
import pytest

from rooftile.hdl.fetch import UNITS, Fetch
from rooftile.hdl.isa import Instruction, Opcode, encode
from rooftile.hdl.params import TileConfig

from streams import pauses, simulate, stream_get, stream_rules

CONFIG = TileConfig(rows=2, cols=2, sp_depth=16, acc_depth=4, dram_depth=64,
                    program_depth=64)
UNIT_OF = {opcode: unit for unit, opcodes in UNITS.items() for opcode in opcodes}


def random_program(rng, length):
    """``length`` instructions of every opcode but FINISH, with random arguments."""
    kinds = [
        lambda: encode(CONFIG, "LOAD", ("pop_next",), target="B", dram_addr=int(rng.integers(64)),
                       stride=1, sp_addr=int(rng.integers(16)), rows=int(rng.integers(1, 5)),
                       elems=2),
        lambda: encode(CONFIG, "EXEC", ("push_next",), a_addr=int(rng.integers(16)), b_addr=0,
                       steps=int(rng.integers(1, 16)), acc_addr=1, rows_used=2, cols_used=1),
        lambda: encode(CONFIG, "STORE", ("pop_prev",), acc_addr=int(rng.integers(4)),
                       dram_addr=5, stride=2, rows=1, elems=2),
        lambda: encode(CONFIG, "SOFTMAX", (), axis="LANES", src=0, segments=1, count=1,
                       dst=int(rng.integers(16)), scale=100, shift=3),
    ]
    return [kinds[int(k)]() for k in rng.integers(0, len(kinds), length)]


async def load_program(ctx, dut, program):
    """Write ``program`` through the host port."""
    layout = Instruction(CONFIG)
    ctx.set(dut.host_write, 1)
    for addr, word in enumerate(program):
        ctx.set(dut.host_addr, addr)
        ctx.set(dut.host_instr, layout.from_bits(word))
        await ctx.tick()
    ctx.set(dut.host_write, 0)


def run_fetch(program, *, backpressure, units_idle_after=None, start_twice=False):
    """Load ``program`` through the host port, start, and drain every queue; return
    what each unit received and the cycle ``done`` rose (counted from ``start``)."""
    dut = Fetch(CONFIG, storage="memory")
    layout = Instruction(CONFIG)
    expected = {unit: [] for unit in UNITS}
    for word in program:
        opcode = layout.from_bits(word).opcode
        if opcode == Opcode.FINISH:
            break
        expected[UNIT_OF[opcode]].append(word)
    received = {unit: [] for unit in UNITS}
    finish = {}

    async def host(ctx):
        await load_program(ctx, dut, program)
        for _ in range(2 if start_twice else 1):
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            assert ctx.get(dut.running) and ctx.get(dut.fetching) and not ctx.get(dut.done)
        cycle = 0
        while not ctx.get(dut.done):
            drained = all(len(received[u]) == len(expected[u]) for u in UNITS)
            ctx.set(dut.units_idle, drained and not ctx.get(dut.fetching))
            await ctx.tick()
            cycle += 1
        finish["cycle"] = cycle
        finish["pc"] = ctx.get(dut.pc)
        assert not ctx.get(dut.running)

    def consumer(unit):
        async def bench(ctx):
            pause = pauses(backpressure)
            while len(received[unit]) < len(expected[unit]):
                payload = await stream_get(ctx, getattr(dut, unit), pause)
                received[unit].append(payload.as_value().value)
        return bench

    checks = [stream_rules(getattr(dut, u), u) for u in UNITS]
    simulate(dut, [host] + [consumer(u) for u in UNITS], checks, cycles=2000)
    return expected, received, finish


@pytest.mark.parametrize("backpressure", ["none", "alternate", "mostly", "irregular"])
def test_each_unit_gets_its_instructions_in_program_order(backpressure):
    rng = np.random.default_rng(4)
    program = random_program(rng, 40) + [encode(CONFIG, "FINISH")] + random_program(rng, 5)
    expected, received, finish = run_fetch(program, backpressure=backpressure)
    assert received == expected
    assert all(expected.values())
    # Fetch stopped at FINISH: the slot after it was read, nothing beyond.
    assert finish["pc"] == 41


def test_unblocked_fetch_dispatches_one_instruction_per_cycle():
    dut = Fetch(CONFIG, storage="memory")
    block = encode(CONFIG, "EXEC", (), a_addr=0, b_addr=0, steps=1, acc_addr=0, rows_used=1,
                   cols_used=1)
    program = [block] * 8 + [encode(CONFIG, "FINISH")]
    taken = []

    async def bench(ctx):
        await load_program(ctx, dut, program)
        ctx.set(dut.start, 1)
        ctx.set(dut.execute.ready, 1)
        for cycle in range(16):
            await ctx.tick()
            ctx.set(dut.start, 0)
            if ctx.get(dut.execute.valid):
                taken.append(cycle)
            if cycle == 10:
                assert not ctx.get(dut.fetching)
        ctx.set(dut.units_idle, 1)
        await ctx.tick().repeat(2)
        assert ctx.get(dut.done) and not ctx.get(dut.running)

    simulate(dut, [bench], cycles=100)
    # Slot k is read in cycle k, queued in k + 1 and at the head two cycles later (the
    # buffered queue's read latency): one instruction per cycle, no bubble.
    assert taken == list(range(3, 11))


def test_running_off_the_end_stops_fetch():
    rng = np.random.default_rng(5)
    program = random_program(rng, CONFIG.program_depth)
    expected, received, finish = run_fetch(program, backpressure="alternate")
    assert received == expected and finish["pc"] == CONFIG.program_depth


def test_a_full_queue_holds_fetch_back():
    dut = Fetch(CONFIG, storage="memory")
    store = encode(CONFIG, "STORE", (), acc_addr=0, dram_addr=0, stride=1, rows=1, elems=1)

    async def bench(ctx):
        await load_program(ctx, dut, [store] * CONFIG.program_depth)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick().repeat(3 * CONFIG.queue_depth)
        # The store queue is full and fetch holds one more, waiting for room.
        assert ctx.get(dut.queue_levels.store) == CONFIG.queue_depth
        assert ctx.get(dut.pc) == CONFIG.queue_depth + 1 and ctx.get(dut.fetching)
        await stream_get(ctx, dut.store)
        await ctx.tick().repeat(2)
        assert ctx.get(dut.pc) == CONFIG.queue_depth + 2

    simulate(dut, [bench], cycles=500)
