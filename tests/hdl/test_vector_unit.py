"""Tier 1: the softmax vector unit in Amaranth's simulator, against ``softmax_fixed``."""

import time

import numpy as np
from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from rooftile.hdl.matrix_unit import acc_row, operand_row
from rooftile.hdl.params import TileConfig
from rooftile.hdl.fixed_point import softmax_scale
from rooftile.hdl.isa import KeyAxis, SoftmaxCommand, softmax_command
from rooftile.hdl.vector_unit import DONE_LATENCY, VectorUnit, command_cycles
from rooftile.sim.model.golden import softmax_fixed

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


class SoftmaxBench(wiring.Component):
    """The unit between a real accumulator memory and a real scratchpad memory, as it
    will sit in the tile; the testbench fills and reads the memories directly."""

    def __init__(self, config):
        self._config = config
        self.acc = memory.Memory(shape=acc_row(config), depth=config.acc_depth, init=[])
        self.sp = memory.Memory(shape=operand_row(config, config.cols),
                                depth=config.sp_depth, init=[])
        super().__init__({"cmd": In(stream.Signature(SoftmaxCommand(config))),
                          "done": Out(1), "idle": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit = unit = VectorUnit(self._config)
        m.submodules.acc = self.acc
        m.submodules.sp = self.sp
        wiring.connect(m, unit.acc_read, self.acc.read_port())
        wiring.connect(m, unit.sp_write, self.sp.write_port())
        wiring.connect(m, wiring.flipped(self.cmd), unit.cmd)
        m.d.comb += [self.done.eq(unit.done), self.idle.eq(unit.idle)]
        return m


class Job:
    """One softmax command with its scores, where they sit and what must come out.

    ``LANES``: ``scores[count, L]``, one softmax per row. ``ROWS``: ``scores[count,
    queries, segments]``, one softmax per (group, lane). Padding lanes in the
    accumulator hold ``INT32_MAX`` so that any leak into the max shows.
    """

    def __init__(self, config, axis, scores, *, src, dst, multiplier, row_step=None,
                 seg_step=1):
        self.config = config
        self.axis = KeyAxis[axis]
        self.scores = np.asarray(scores, dtype=np.int64)
        cols = config.cols
        if self.axis is KeyAxis.LANES:
            self.count, length = self.scores.shape
            self.segments = -(-length // cols)
            self.pad = self.segments * cols - length
        else:
            self.count, queries, self.segments = self.scores.shape
            self.pad = cols - queries
        self.scale, self.shift = softmax_scale(multiplier)
        self.src, self.dst = src, dst
        self.row_step = self.segments if row_step is None else row_step
        self.seg_step = seg_step
        self.word = softmax_command(config, axis=self.axis, src=src, segments=self.segments,
                                    count=self.count, dst=dst, scale=self.scale,
                                    shift=self.shift, pad=self.pad, row_step=self.row_step,
                                    seg_step=seg_step)

    def _grid(self, values, fill):
        """``values`` as ``[count, segments, cols]`` (group, accumulator row, lane)."""
        cols, n = self.config.cols, self.segments
        if self.axis is KeyAxis.LANES:
            padded = np.full((self.count, n * cols), fill, dtype=np.int64)
            padded[:, :values.shape[1]] = values
            return padded.reshape(self.count, n, cols)
        grid = np.full((self.count, n, cols), fill, dtype=np.int64)
        grid[:, :, :cols - self.pad] = values.transpose(0, 2, 1)
        return grid

    def acc_rows(self):
        grid = self._grid(self.scores, INT32_MAX)
        return {(self.src + r * self.row_step + s * self.seg_step) % self.config.acc_depth:
                grid[r, s] for r in range(self.count) for s in range(self.segments)}

    def sp_rows(self):
        p = softmax_fixed(self.scores, self.scale, self.shift, self.config.data_width)
        grid = self._grid(p, 0)
        return {self.dst + r * self.segments + s: grid[r, s]
                for r in range(self.count) for s in range(self.segments)}


def run(config, jobs, gaps=None):
    """Run ``jobs`` as commands (an int job is a raw command word), waiting ``gaps[k]``
    cycles before offering command ``k``; check every scratchpad entry bit-exactly (the
    untouched ones keep their fill) and the accept and done cycles against
    :func:`command_cycles`."""
    bench = SoftmaxBench(config)
    gaps = gaps or [0] * len(jobs)
    layout = SoftmaxCommand(config)
    fill = [-1] * config.cols
    acc, expected = {}, {}
    for job in jobs:
        if isinstance(job, Job):
            acc.update(job.acc_rows())
            expected.update(job.sp_rows())
    real = [isinstance(job, Job) for job in jobs]
    accepts, dones, contents = [], [], {}

    async def driver(ctx):
        for addr, row in acc.items():
            ctx.set(bench.acc.data[addr], [int(v) for v in row])
        for addr in range(config.sp_depth):
            ctx.set(bench.sp.data[addr], fill)
        for job, is_real, gap in zip(jobs, real, gaps):
            if gap:
                await ctx.tick().repeat(gap)
            ctx.set(bench.cmd.payload, layout.from_bits(job.word if is_real else job))
            ctx.set(bench.cmd.valid, 1)
            await ctx.tick().until(bench.cmd.ready)
            ctx.set(bench.cmd.valid, 0)

    async def monitor(ctx):
        cycle = 0
        async for _, _, valid, ready, done in ctx.tick().sample(
                bench.cmd.valid, bench.cmd.ready, bench.done):
            if valid and ready:
                accepts.append(cycle)
            if done:
                dones.append(cycle)
            cycle += 1
            if len(dones) == sum(real) and len(accepts) == len(jobs):
                break
        assert ctx.get(bench.idle)   # the last write landed at that edge
        for addr in range(config.sp_depth):
            contents[addr] = list(ctx.get(bench.sp.data[addr]))

    sim = Simulator(bench)
    sim.add_clock(1e-6)
    sim.add_testbench(driver)
    sim.add_testbench(monitor)
    # A bound instead of run(): a hang fails with what got done instead of never ending.
    bound = sum(command_cycles(j.segments, j.count) for j in jobs if isinstance(j, Job))
    sim.run_until(1e-6 * (bound + len(jobs) + sum(gaps) + 20))
    assert contents, f"hung: accepted {accepts}, done {dones}"

    for addr in range(config.sp_depth):
        want = [int(v) for v in expected[addr]] if addr in expected else fill
        assert contents[addr] == want, f"scratchpad entry {addr}"
    # Timing: a command is taken when offered (gaps[k] cycles after the previous one was
    # taken) and the unit is free; a real one is done DONE_LATENCY - 1 cycles after the
    # unit frees up.
    free = 0
    for k, job in enumerate(jobs):
        cycles = command_cycles(job.segments, job.count) if real[k] else 1
        offered = gaps[0] if k == 0 else accepts[k - 1] + 1 + gaps[k]
        taken = max(free, offered)
        assert accepts[k] == taken, f"command {k} accepted at {accepts[k]}, expected {taken}"
        free = taken + cycles
    assert dones == [accepts[k] + command_cycles(job.segments, job.count) - 1 + DONE_LATENCY
                     for k, job in enumerate(jobs) if real[k]]
    return accepts, dones


SMALL = TileConfig(rows=4, cols=4, acc_depth=64, sp_depth=64)


def extreme_rows(rng, length):
    """One row per hard case, as a ``[rows, length]`` int32 score matrix."""
    dominant = rng.integers(-2000, 2000, length)
    dominant[length // 3] = 1 << 20
    return np.stack([
        rng.integers(-4000, 4000, length),                       # typical
        np.full(length, 7),                                      # all equal: uniform
        dominant,                                                # one dominant key
        INT32_MIN + rng.integers(0, 3000, length),               # very negative
        rng.choice([INT32_MIN, INT32_MAX], length),              # int32 edges
        rng.integers(INT32_MIN, INT32_MAX, length, endpoint=True),  # full range
    ])


def test_multi_segment_rows_with_extremes_bit_exact_and_timed():
    rng = np.random.default_rng(5)
    scores = extreme_rows(rng, 11)              # 3 segments of 4 lanes, 1 padding lane
    job = Job(SMALL, "LANES", scores, src=3, dst=5, multiplier=1e-3)
    accepts, dones = run(SMALL, [job])
    assert accepts == [0] and dones == [6 * (3 * 3 + 7) + DONE_LATENCY]
    # The uniform row is exactly uniform and the dominant one takes everything.
    p = softmax_fixed(scores, job.scale, job.shift)
    assert set(p[1]) == {round(127 / 11)} and p[2].max() == 127


def test_back_to_back_commands_of_both_layouts():
    rng = np.random.default_rng(6)
    cfg = SMALL
    jobs = [
        # Contiguous rows, one real lane in the last segment.
        Job(cfg, "LANES", rng.integers(-3000, 3000, (3, 5)), src=0, dst=0,
            multiplier=2e-3),
        # Q @ K^T output blocks: query i of key block j at 6 + j * rows + i.
        Job(cfg, "LANES", rng.integers(-2 ** 20, 2 ** 20, (4, 12)), src=6, dst=6,
            multiplier=3e-6, row_step=1, seg_step=cfg.rows),
        # K @ Q^T: keys down the rows, three queries in lanes, one padding lane.
        Job(cfg, "ROWS", rng.integers(-500, 500, (2, 3, 5)), src=18, dst=18,
            multiplier=1e-2),
        # A command with nothing to do is taken in one cycle and signals nothing.
        SoftmaxCommand(cfg).const({"count": 0, "segments": 3}).as_value().value,
        # One segment, a temperature so low that the scores are nearly uniform.
        Job(cfg, "LANES", rng.integers(-100, 100, (1, 4)), src=28, dst=28,
            multiplier=1e-5),
        Job(cfg, "ROWS", extreme_rows(rng, 6)[None, :4, :], src=29, dst=29,
            multiplier=5e-4),
    ]
    # Offered while the unit is busy (gap hidden) and after it went idle (gap 15 > 11).
    accepts, _ = run(cfg, jobs, gaps=[3, 0, 5, 0, 0, 15])
    assert accepts[0] == 3 and accepts[5] == accepts[4] + 1 + 15


def test_sixteen_bit_probabilities_on_three_lanes():
    # Odd lane count (the pad field can name every lane), 48-bit scores.
    cfg = TileConfig(rows=2, cols=3, data_width=16, acc_width=48, acc_depth=32, sp_depth=32)
    rng = np.random.default_rng(7)
    edges = rng.choice([-(1 << 47), (1 << 47) - 1, 0], (2, 7))
    jobs = [Job(cfg, "LANES", np.concatenate([rng.integers(-9000, 9000, (2, 7)), edges]),
                src=0, dst=0, multiplier=4e-4),
            Job(cfg, "ROWS", rng.integers(-2 ** 40, 2 ** 40, (2, 1, 4)), src=12, dst=12,
                multiplier=3e-12)]
    run(cfg, jobs)


def test_converts_to_verilog():
    start = time.perf_counter()
    text = verilog.convert(VectorUnit(TileConfig(rows=4, cols=4)), name="vector_unit",
                           emit_src=False)
    assert "module vector_unit" in text and "sp_write__data" in text
    # Shared subexpressions are named, so the netlist grows linearly with the lanes.
    assert text.count("\n") < 4000 and time.perf_counter() - start < 10
