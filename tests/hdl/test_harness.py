"""Tier 1: the array-level harness runs a batch of blocks loaded through its host port
and reports the matrix unit's counters."""

import numpy as np

from rooftile.hdl.harness import MatrixHarness
from rooftile.hdl.matrix_unit import acc_row
from rooftile.hdl.params import TileConfig
from rooftile.sim.model.golden import matmul

from streams import simulate

CONFIG = TileConfig(rows=2, cols=3, sp_depth=32, acc_depth=8)


def test_harness_runs_a_batch_and_counts():
    dut = MatrixHarness(CONFIG)
    rng = np.random.default_rng(15)
    k = 10
    a, b = rng.integers(-128, 128, (CONFIG.rows, 2 * k)), rng.integers(-128, 128, (2 * k, 3))
    # C = A @ B in two blocks of k steps, the second accumulating onto the first.
    blocks = [{"a_addr": s * k, "b_addr": s * k, "steps": k, "acc_addr": 2, "accumulate": s,
               "rows_used": 2, "cols_used": 3} for s in range(2)]
    result = {}

    async def host(ctx):
        for step in range(2 * k):
            ctx.set(dut.host_addr, step)
            ctx.set(dut.host_wdata, sum((int(v) & 0xFF) << (8 * i)
                                        for i, v in enumerate(a[:, step])))
            ctx.set(dut.host_write_a, 1)
            await ctx.tick()
            ctx.set(dut.host_write_a, 0)
            ctx.set(dut.host_wdata, sum((int(v) & 0xFF) << (8 * j)
                                        for j, v in enumerate(b[step])))
            ctx.set(dut.host_write_b, 1)
            await ctx.tick()
            ctx.set(dut.host_write_b, 0)
        for slot, block in enumerate(blocks):
            ctx.set(dut.host_addr, slot)
            ctx.set(dut.host_cmd, block)
            ctx.set(dut.host_write_cmd, 1)
            await ctx.tick()
        ctx.set(dut.host_write_cmd, 0)
        ctx.set(dut.count, len(blocks))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick().until(dut.done)
        result["counters"] = {name: ctx.get(getattr(dut, name))
                              for name in ("cycles", "steps", "useful_macs", "drain_stalls")}
        rows = []
        for i in range(CONFIG.rows):
            ctx.set(dut.host_addr, 2 + i)
            await ctx.tick()
            rows.append(list(acc_row(CONFIG).from_bits(ctx.get(dut.host_rdata))))
        result["c"] = np.array(rows)

    simulate(dut, [host], cycles=1000)
    assert (result["c"] == matmul(a, b, CONFIG.acc_width)).all()
    counters = result["counters"]
    assert counters["steps"] == 2 * k and counters["drain_stalls"] == 0
    assert counters["useful_macs"] == 2 * k * CONFIG.rows * CONFIG.cols
    # The blocks stream back to back; the rest is the array's fill and drain.
    assert 2 * k < counters["cycles"] < 2 * k + 3 * (CONFIG.rows + CONFIG.cols) + 8
