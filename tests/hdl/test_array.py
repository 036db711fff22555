"""Tier 1: the PE grid in Amaranth's own simulator."""

import numpy as np
from amaranth.sim import Simulator

from rooftile.hdl.array import SystolicArray, WeightStationaryArray
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


def test_weight_stationary_array_computes_blocks_with_weights_loaded_under_the_last():
    """Hand-skewed feed at the array's fastest: each block's weights load (tagged, one
    row per cycle) while the block before streams; block ``b + 1`` streams ``rows``
    cycles after its weights start. Column ``j`` delivers activation row ``i`` of a
    block at the bottom edge ``rows + j`` cycles after it entered row 0."""
    config = TileConfig(rows=3, cols=2, dataflow="weight_stationary")
    rows, cols = config.rows, config.cols
    dut = WeightStationaryArray(config)
    rng = np.random.default_rng(5)
    blocks = [(rng.integers(-128, 128, (steps, rows)), rng.integers(-128, 128, (rows, cols)))
              for steps in (1, 4, 3, 2)]
    # Block b's weights enter (unskewed) at load[b], its activations at start[b].
    load, start, end = [], [], 0
    for a, _ in blocks:
        load.append(start[-1] if start else 0)
        start.append(max(load[-1] + rows, end))
        end = start[-1] + len(a)
    arrivals = {}

    async def bench(ctx):
        for t in range(end + 2 * (rows + cols) + 2):
            for i in range(rows):
                live = [(b, t - i - s) for b, s in enumerate(start)
                        if 0 <= t - i - s < len(blocks[b][0])]
                b, step = live[0] if live else (0, None)
                ctx.set(dut.a_in[i], int(blocks[b][0][step, i]) if live else 0)
                ctx.set(dut.swap_in[i], step == 0)
            for j in range(cols):
                loading = [(b, t - j - at) for b, at in enumerate(load) if 0 <= t - j - at < rows]
                b, r = loading[0] if loading else (0, 0)
                ctx.set(dut.w_in[j], {"valid": bool(loading), "row": r,
                                      "value": int(blocks[b][1][r, j])})
            for j in range(cols):
                arrivals[(t, j)] = ctx.get(dut.psum_out[j])
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    for (a, w), s in zip(blocks, start):
        expected = matmul(a, w, config.acc_width)
        for i in range(len(a)):
            for j in range(cols):
                assert arrivals[(s + i + rows + j, j)] == expected[i, j]
