"""Tier 1: the execute unit between behavioural models of the matrix and vector units.

The models accept commands under backpressure and report progress the way the real
units do (``block_fed`` in a block's last step, ``block_written`` some cycles later,
``softmax_done`` when the probabilities are written), so that the unit's ordering and
token rules are checked on their own; the real units are checked in their own files.
"""

from collections import deque

import numpy as np
import pytest

from rooftile.hdl.execute import ExecuteUnit
from rooftile.hdl.isa import Instruction, encode
from rooftile.hdl.params import TileConfig

from streams import pauses, put_instructions, simulate, token_source

CONFIG = TileConfig(rows=2, cols=2, sp_depth=32, acc_depth=8)
WRITE_LATENCY = 9        # cycles from a block's last step to its last row written
BLOCKS_IN_FLIGHT = 3


def random_program(rng, count):
    """``(opcode, fields, deps)`` of blocks with a softmax every few instructions."""
    program = []
    for k in range(count):
        deps = tuple(flag for flag in ("pop_prev", "pop_next", "push_prev", "push_next")
                     if rng.integers(2))
        if k % 5 == 4:
            program.append(("SOFTMAX", dict(axis="LANES", src=0, segments=int(rng.integers(1, 4)),
                                            count=1, dst=0, scale=9, shift=1), deps))
        else:
            program.append(("EXEC", dict(a_addr=k, b_addr=0, steps=int(rng.integers(1, 6)),
                                         acc_addr=0, rows_used=1, cols_used=1), deps))
    return program


@pytest.mark.parametrize("idle, backpressure", [("none", "none"), ("mostly", "alternate"),
                                                ("alternate", "mostly"),
                                                ("irregular", "irregular")])
def test_execute_keeps_program_order_and_token_rules(idle, backpressure):
    dut = ExecuteUnit(CONFIG, BLOCKS_IN_FLIGHT)
    program = random_program(np.random.default_rng(11), 30)
    log = []             # (cycle, event, instruction index)
    pops = {"prev": [], "next": []}
    softmaxes_seen = set()

    async def producer(ctx):
        pause = pauses(idle)
        for opcode, fields, deps in program:
            await put_instructions(ctx, dut.instr, CONFIG, opcode, [(fields, deps)], pause)
        await ctx.tick()
        while not ctx.get(dut.idle):
            await ctx.tick()

    async def matrix(ctx):
        pause, cycle, feeding, writes = pauses(backpressure), 0, None, deque()
        while True:
            fed = feeding is not None and feeding[0] == 1
            written = bool(writes) and writes[0][0] == cycle
            ctx.set(dut.block_fed, fed)
            ctx.set(dut.block_written, written)
            ctx.set(dut.matrix_idle, feeding is None and not writes)
            ready = (feeding is None or fed) and not next(pause)
            ctx.set(dut.block.ready, ready)
            _, _, valid, block = await ctx.tick().sample(dut.block.valid, dut.block.payload)
            if fed:
                log.append((cycle, "fed", feeding[1]))
                writes.append((cycle + WRITE_LATENCY, feeding[1]))
                feeding = None
            elif feeding is not None:
                feeding[0] -= 1
            if written:
                log.append((cycle, "written", writes.popleft()[1]))
            if valid and ready:
                log.append((cycle, "block", block.a_addr))
                feeding = [block.steps, block.a_addr]
            cycle += 1

    async def vector(ctx):
        pause, cycle, done_at, index = pauses(backpressure), 0, None, None
        while True:
            done = done_at == cycle
            ctx.set(dut.softmax_done, done)
            ctx.set(dut.vector_idle, done_at is None)
            ready = done_at is None and not next(pause)
            ctx.set(dut.softmax.ready, ready)
            _, _, valid, command = await ctx.tick().sample(dut.softmax.valid,
                                                         dut.softmax.payload)
            if done:
                log.append((cycle, "softmax_done", index))
                done_at = None
            if valid and ready:
                index = next(k for k in range(len(program)) if k not in softmaxes_seen
                             and program[k][0] == "SOFTMAX")
                softmaxes_seen.add(index)
                log.append((cycle, "softmax", index))
                done_at = cycle + 4 + 3 * command.segments
            cycle += 1


    async def pushes(ctx):
        cycle = 0
        async for _, _, prev, following in ctx.tick().sample(dut.to_prev.valid,
                                                             dut.to_next.valid):
            if prev:
                log.append((cycle, "push_prev", None))
            if following:
                log.append((cycle, "push_next", None))
            cycle += 1

    simulate(dut, [producer], [matrix, vector, pushes,
                               token_source(dut.from_prev, 7, pops["prev"]),
                               token_source(dut.from_next, 11, pops["next"])], cycles=5000)

    # Dispatch in program order (a block is named by its a_addr = its index).
    dispatched = [k for _, event, k in log if event in ("block", "softmax")]
    assert dispatched == list(range(len(program)))
    cycle_of = {(event, k): c for c, event, k in log if k is not None}
    for k, (opcode, _, deps) in enumerate(program):
        start = cycle_of[("block" if opcode == "EXEC" else "softmax", k)]
        earlier = [j for j in range(k) if program[j][0] == "EXEC"]
        if opcode == "SOFTMAX":
            # Every earlier block is written before a softmax starts ...
            assert all(cycle_of[("written", j)] < start for j in earlier)
        # ... and nothing starts before the previous softmax is done.
        softmaxes = [j for j in range(k) if program[j][0] == "SOFTMAX"]
        if softmaxes:
            assert cycle_of[("softmax_done", softmaxes[-1])] < start
    # Tokens: one pop per flag; pushes exactly when the results and buffers are ready.
    assert len(pops["prev"]) == sum("pop_prev" in d for _, _, d in program)
    assert len(pops["next"]) == sum("pop_next" in d for _, _, d in program)
    for side, exec_event in (("prev", "fed"), ("next", "written")):
        expected = sorted(cycle_of[(exec_event if op == "EXEC" else "softmax_done", k)]
                          for k, (op, _, deps) in enumerate(program)
                          if f"push_{side}" in deps)
        assert [c for c, event, _ in log if event == f"push_{side}"] == expected


def test_waits_name_the_missing_token():
    dut = ExecuteUnit(CONFIG, BLOCKS_IN_FLIGHT)
    word = encode(CONFIG, "EXEC", ("pop_prev", "pop_next"), a_addr=0, b_addr=0, steps=1,
                  acc_addr=0, rows_used=1, cols_used=1)

    async def bench(ctx):
        ctx.set(dut.matrix_idle, 1)
        ctx.set(dut.vector_idle, 1)
        ctx.set(dut.block.ready, 1)
        assert ctx.get(dut.idle)
        ctx.set(dut.instr.payload, Instruction(CONFIG).from_bits(word))
        ctx.set(dut.instr.valid, 1)
        for prev, following in ((0, 0), (1, 0), (0, 1)):
            ctx.set(dut.from_prev.valid, prev)
            ctx.set(dut.from_next.valid, following)
            assert (ctx.get(dut.wait_prev), ctx.get(dut.wait_next)) == (not prev, not following)
            assert not ctx.get(dut.block.valid) and not ctx.get(dut.idle)
            await ctx.tick()
        ctx.set(dut.from_prev.valid, 1)
        ctx.set(dut.from_next.valid, 1)
        assert ctx.get(dut.block.valid) and ctx.get(dut.instr.ready)
        assert ctx.get(dut.from_prev.ready) and ctx.get(dut.from_next.ready)

    simulate(dut, [bench], cycles=50)
