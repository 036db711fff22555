"""Tier 1: the matrix unit with real scratchpads and accumulator, bit-exact against
numpy, fed by a producer that idles; the block-streaming contract is timed."""

import numpy as np
import pytest
from amaranth.hdl import Module

from rooftile.hdl.matrix_unit import add_matrix_unit
from rooftile.hdl.params import TileConfig
from rooftile.sim.model.golden import matmul

from streams import pauses, simulate, stream_put

CONFIG = TileConfig(rows=3, cols=2, sp_depth=64, acc_depth=12)


def bench(config):
    m = Module()
    unit, sp_a, sp_b, acc = add_matrix_unit(m, config)
    return m, unit, sp_a, sp_b, acc


def run_blocks(config, blocks, sp_a_rows, sp_b_rows, idle="none"):
    """Run ``blocks`` (ExecCommand dicts) and return the accumulator and a per-cycle
    trace of ``(step, useful_macs, drain_stall, block_fed, block_written)``."""
    top, unit, sp_a, sp_b, acc = bench(config)
    trace, result = [], {}

    async def producer(ctx):
        for k, row in enumerate(sp_a_rows):
            ctx.set(sp_a.stored(k), [int(v) for v in row])
        for k, row in enumerate(sp_b_rows):
            ctx.set(sp_b.stored(k), [int(v) for v in row])
        pause = pauses(idle)
        for block in blocks:
            await stream_put(ctx, unit.cmd, block, pause)
        await ctx.tick()
        while not ctx.get(unit.idle):
            await ctx.tick()
        result["acc"] = np.array([list(ctx.get(acc.data[i])) for i in range(config.acc_depth)])

    async def monitor(ctx):
        async for sample in ctx.tick().sample(unit.step, unit.useful_macs, unit.drain_stall,
                                              unit.block_fed, unit.block_written):
            trace.append(tuple(sample[2:]))

    simulate(top, [producer], [monitor], cycles=5000)
    return result["acc"], np.array(trace)


def model(config, blocks, sp_a_rows, sp_b_rows):
    acc = np.zeros((config.acc_depth, config.cols), dtype=np.int64)
    for block in blocks:
        a = sp_a_rows[block["a_addr"]: block["a_addr"] + block["steps"]].T
        b = sp_b_rows[block["b_addr"]: block["b_addr"] + block["steps"]]
        rows = slice(block["acc_addr"], block["acc_addr"] + config.rows)
        c = matmul(a, b, config.acc_width)
        acc[rows] = c + acc[rows] if block["accumulate"] else c
    return acc


@pytest.mark.parametrize("idle", ["none", "alternate", "irregular"])
def test_blocks_accumulate_bit_exactly(idle):
    rng = np.random.default_rng(13)
    sp_a_rows = rng.integers(-128, 128, (CONFIG.sp_depth, CONFIG.rows))
    sp_b_rows = rng.integers(-128, 128, (CONFIG.sp_depth, CONFIG.cols))
    sp_a_rows[:8] = -128                  # the extreme product, many times over
    sp_b_rows[:8] = -128
    blocks = []
    for k in range(12):
        steps = int(rng.integers(1, 12))
        blocks.append({"a_addr": int(rng.integers(0, CONFIG.sp_depth - steps)),
                       "b_addr": int(rng.integers(0, CONFIG.sp_depth - steps)),
                       "steps": steps, "acc_addr": int(rng.choice([0, 3, 6, 9])),
                       "accumulate": int(k % 3 != 0), "rows_used": int(rng.integers(1, 4)),
                       "cols_used": int(rng.integers(1, 3))})
    acc, trace = run_blocks(CONFIG, blocks, sp_a_rows, sp_b_rows, idle)
    assert (acc == model(CONFIG, blocks, sp_a_rows, sp_b_rows)).all()
    step, macs, _, fed, written = trace.T
    assert step.sum() == sum(b["steps"] for b in blocks)
    assert macs.sum() == sum(b["steps"] * b["rows_used"] * b["cols_used"] for b in blocks)
    assert fed.sum() == written.sum() == len(blocks)


def test_long_blocks_stream_without_a_bubble_and_short_ones_stall():
    rng = np.random.default_rng(14)
    sp_a_rows = rng.integers(-128, 128, (CONFIG.sp_depth, CONFIG.rows))
    sp_b_rows = rng.integers(-128, 128, (CONFIG.sp_depth, CONFIG.cols))
    interval = CONFIG.drain_interval
    long = [{"a_addr": 0, "b_addr": 0, "steps": interval, "acc_addr": 3 * (k % 4),
             "accumulate": 0, "rows_used": 3, "cols_used": 2} for k in range(5)]
    acc, trace = run_blocks(CONFIG, long, sp_a_rows, sp_b_rows)
    step = trace[:, 0]
    first = int(np.argmax(step))
    # Blocks of drain_interval steps keep the array busy every cycle.
    assert step[first:first + 5 * interval].all() and trace[:, 2].sum() == 0
    assert (acc == model(CONFIG, long, sp_a_rows, sp_b_rows)).all()

    short = [dict(block, steps=1) for block in long]
    _, trace = run_blocks(CONFIG, short, sp_a_rows, sp_b_rows)
    steps_at = np.flatnonzero(trace[:, 0])
    # One-step blocks wait drain_interval cycles apart, stalling in between.
    assert (np.diff(steps_at) == interval).all()
    assert trace[:, 2].sum() == (len(short) - 1) * (interval - 1)
