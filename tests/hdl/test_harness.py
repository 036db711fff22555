"""Tier 1: the array-level harness runs a batch of blocks loaded through its host port
and reports the matrix unit's counters."""

import numpy as np
import pytest

from rooftile.hdl.harness import MatrixHarness
from rooftile.hdl.matrix_unit import acc_row
from rooftile.hdl.params import TileConfig
from rooftile.sim.compile.matmul import compile_matmul
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


def run_harness(config, job):
    """A harness job (:meth:`MatmulProgram.job`) through the host port: the
    accumulator rows it fills and the counters."""
    dut = MatrixHarness(config)
    result = {}

    def pack(values):
        return sum((int(v) & 0xFF) << (8 * i) for i, v in enumerate(values))

    async def host(ctx):
        for port, rows in ((dut.host_write_a, job["a"]), (dut.host_write_b, job["b"])):
            ctx.set(port, 1)
            for addr, row in enumerate(rows):
                ctx.set(dut.host_addr, addr)
                ctx.set(dut.host_wdata, pack(row))
                await ctx.tick()
            ctx.set(port, 0)
        ctx.set(dut.host_write_cmd, 1)
        for slot, block in enumerate(job["commands"]):
            ctx.set(dut.host_addr, slot)
            ctx.set(dut.host_cmd, block)
            await ctx.tick()
        ctx.set(dut.host_write_cmd, 0)
        ctx.set(dut.count, len(job["commands"]))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick().until(dut.done)
        result["counters"] = {name: ctx.get(getattr(dut, name))
                              for name in ("cycles", "steps", "useful_macs", "drain_stalls")}
        rows = []
        for i in range(job["acc_rows"]):
            ctx.set(dut.host_addr, i)
            await ctx.tick()
            rows.append(list(acc_row(config).from_bits(ctx.get(dut.host_rdata))))
        result["acc"] = rows

    simulate(dut, [host], cycles=job["max_cycles"] + 1000)
    return result


@pytest.mark.parametrize("shape", [(1, 1, 1), (4, 7, 4), (1, 9, 7), (3, 2, 3)])
def test_weight_stationary_harness_is_bit_exact_and_cycle_exact(shape):
    """Weight-stationary plans (GEMVs, K below and above ``rows``, ragged N) against
    numpy and the harness's cycle model, to the cycle."""
    config = CONFIG.replace(dataflow="weight_stationary")
    program = compile_matmul(config, *shape)
    a, b = program.random_operands(config, np.random.default_rng(sum(shape)))
    result = run_harness(config, program.job(config, a, b))
    assert (program.output(config, result) == program.expected(config, a, b)).all()
    prediction = program.predict(config)
    assert result["counters"]["cycles"] == prediction.cycles
    assert result["counters"]["steps"] == prediction.array_busy
    assert result["counters"]["useful_macs"] == np.prod(shape)
