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
WS_CONFIG = CONFIG.replace(dataflow="weight_stationary")


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
    """The accumulator after ``blocks``, as :func:`~rooftile.hdl.isa.ExecCommand` defines
    them for ``config.dataflow``."""
    acc = np.zeros((config.acc_depth, config.cols), dtype=np.int64)
    for block in blocks:
        if config.dataflow == "weight_stationary":
            a = sp_a_rows[block["a_addr"]: block["a_addr"] + block["steps"]]
            b = sp_b_rows[block["b_addr"]: block["b_addr"] + config.rows]
            rows = slice(block["acc_addr"], block["acc_addr"] + block["steps"])
        else:
            a = sp_a_rows[block["a_addr"]: block["a_addr"] + block["steps"]].T
            b = sp_b_rows[block["b_addr"]: block["b_addr"] + block["steps"]]
            rows = slice(block["acc_addr"], block["acc_addr"] + config.rows)
        c = matmul(a, b, config.acc_width)
        acc[rows] = c + acc[rows] if block["accumulate"] else c
    return acc


@pytest.mark.parametrize("config", [CONFIG, WS_CONFIG], ids=lambda c: c.dataflow)
@pytest.mark.parametrize("idle", ["none", "alternate", "irregular"])
def test_blocks_accumulate_bit_exactly(config, idle):
    """Random blocks; weight-stationary ones overlap their accumulator rows, so a row is
    read in the cycle the block before writes it."""
    rng = np.random.default_rng(13)
    sp_a_rows = rng.integers(-128, 128, (config.sp_depth, config.rows))
    sp_b_rows = rng.integers(-128, 128, (config.sp_depth, config.cols))
    sp_a_rows[:8] = -128                  # the extreme product, many times over
    sp_b_rows[:8] = -128
    ws = config.dataflow == "weight_stationary"
    blocks = []
    for k in range(12):
        steps = int(rng.integers(1, 12))
        acc_addr = (rng.integers(0, config.acc_depth - steps + 1) if ws
                    else rng.choice([0, 3, 6, 9]))
        blocks.append({"a_addr": int(rng.integers(0, config.sp_depth - steps)),
                       "b_addr": int(rng.integers(0, config.sp_depth - steps)),
                       "steps": steps, "acc_addr": int(acc_addr),
                       "accumulate": int(k % 3 != 0), "rows_used": int(rng.integers(1, 4)),
                       "cols_used": int(rng.integers(1, 3))})
    acc, trace = run_blocks(config, blocks, sp_a_rows, sp_b_rows, idle)
    assert (acc == model(config, blocks, sp_a_rows, sp_b_rows)).all()
    step, macs, _, fed, written = trace.T
    # A weight-stationary unit is also busy while weights load under no step.
    assert (step.sum() == sum(b["steps"] for b in blocks)) if not ws else \
        (step >= (macs > 0)).all() and (macs > 0).sum() == sum(b["steps"] for b in blocks)
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


def test_weight_stationary_blocks_of_rows_steps_stream_unbroken_shorter_ones_wait():
    """Each block's weights (``rows`` cycles) load under the block before: blocks of
    ``rows`` steps or more keep the array busy every cycle after the first load, and
    one-step blocks start ``rows`` cycles apart, the difference counted as stalls."""
    config, rows = WS_CONFIG, WS_CONFIG.rows
    rng = np.random.default_rng(15)
    sp_a_rows = rng.integers(-128, 128, (config.sp_depth, config.rows))
    sp_b_rows = rng.integers(-128, 128, (config.sp_depth, config.cols))
    long = [{"a_addr": 4 * k, "b_addr": 3 * k, "steps": rows + k % 2, "acc_addr": 0,
             "accumulate": int(k > 0), "rows_used": 3, "cols_used": 2} for k in range(5)]
    acc, trace = run_blocks(config, long, sp_a_rows, sp_b_rows)
    streaming, stall = trace[:, 1] > 0, trace[:, 2]     # useful MACs mark the steps
    first, total = int(np.argmax(streaming)), sum(b["steps"] for b in long)
    assert streaming[first:first + total].all() and stall.sum() == rows
    # Busy: the first weight load, then every step.
    assert trace[:, 0].sum() == rows + total
    assert (acc == model(config, long, sp_a_rows, sp_b_rows)).all()

    short = [dict(block, steps=1) for block in long]
    acc, trace = run_blocks(config, short, sp_a_rows, sp_b_rows)
    steps_at = np.flatnonzero(trace[:, 1])
    assert (np.diff(steps_at) == rows).all()
    assert trace[:, 2].sum() == rows + (len(short) - 1) * (rows - 1)
    assert trace[:, 0].sum() == len(short) * rows + 1
    assert (acc == model(config, short, sp_a_rows, sp_b_rows)).all()
