"""Run a study's compiled programs on the RTL and turn the runs into analysis records."""

import numpy as np

from ...analysis.comparison import OpMeasurement
from ...analysis.hardware import tile_hardware
from ...analysis.roofline import roofline
from ..run.pipeline import run_programs

__all__ = ["RUN_STARTS", "run_scaled", "measurement"]

#: Simulator starts per run_scaled call (progress is reported after each).
RUN_STARTS = 4


def run_scaled(config, programs, *, seed=0, simulator="verilator", progress=None):
    """Run ``programs`` (``{key: program}`` from
    :func:`~rooftile.sim.study.schedules.compile_scaled`) with seeded random operands,
    drawn in key order; return ``{key: ProgramRun}``."""
    rng = np.random.default_rng(seed)
    operands = [program.random_operands(config, rng) for program in programs.values()]
    runs = run_programs(config, programs.values(), operands, simulator=simulator,
                        starts=RUN_STARTS, progress=progress)
    return dict(zip(programs, runs))


def measurement(config, op, run, *, workload, model, attention, batch, full_time_s):
    """The :class:`~rooftile.analysis.comparison.OpMeasurement` of one scaled op."""
    prediction = run.prediction
    moved = prediction.bytes_read + prediction.bytes_written
    point = roofline(op.flop, moved, tile_hardware(config, clock_Hz=1.0))  # s = cycles
    return OpMeasurement(
        workload=workload, model=model, attention=attention, batch=batch, op=op.name,
        group=op.group, scaled_shape=op.scaled_shape, full_shape=op.full_shape,
        count=float(op.count), flop=op.flop, bytes=moved, full_flop=op.full_flop,
        full_bytes=op.full_bytes, measured_cycles=run.counters.cycles,
        model_cycles=prediction.cycles, roofline_cycles=point.time_s,
        bound=point.bound, counters=run.counters.to_json(), exact=run.exact,
        peak_macs_per_cycle=config.peak_macs_per_cycle,
        dram_bytes_per_cycle=config.dram_bytes_per_cycle, full_time_s=full_time_s)
