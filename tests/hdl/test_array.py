"""Tier 1: the PE grid in Amaranth's own simulator."""

import numpy as np
from amaranth.sim import Simulator

from rooftile.hdl.array import SystolicArray
from rooftile.hdl.params import TileConfig
from rooftile.sim.model.golden import matmul


def test_array_computes_two_back_to_back_blocks():
    """Feed skewed operands by hand; results leave column j for row i at j + 2i."""
    config = TileConfig(rows=3, cols=2)
    dut = SystolicArray(config)
    rng = np.random.default_rng(0)
    k = 2 * config.rows - 1  # the shortest block that streams without a stall
    blocks = [(rng.integers(-128, 128, (3, k)), rng.integers(-128, 128, (k, 2)))
              for _ in range(2)]
    outputs = {}

    async def bench(ctx):
        steps = [(a[:, s], b[s, :], s == k - 1) for a, b in blocks for s in range(k)]
        for t in range(len(steps) + 3 * config.rows + config.cols + 2):
            for i in range(config.rows):
                s = t - i
                live = 0 <= s < len(steps)
                ctx.set(dut.a_in[i], int(steps[s][0][i]) if live else 0)
                ctx.set(dut.ctl_in[i], {"valid": live, "last": live and steps[s][2]})
            for j in range(config.cols):
                s = t - j
                ctx.set(dut.b_in[j], int(steps[s][1][j]) if 0 <= s < len(steps) else 0)
            for j in range(config.cols):
                result = ctx.get(dut.result_out[j])
                if result.valid:
                    outputs.setdefault(j, []).append(result.value)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    expected = [matmul(a, b, config.acc_width) for a, b in blocks]
    for j in range(config.cols):
        assert outputs[j] == [int(e[i, j]) for e in expected for i in range(config.rows)]
