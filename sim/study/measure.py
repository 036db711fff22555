"""Run a study's compiled programs on the RTL and turn the runs into analysis records."""

import numpy as np

from ...analysis.comparison import OpMeasurement
from ...analysis.hardware import tile_hardware
from ...analysis.roofline import roofline
from ..run.pipeline import run_batches

__all__ = ["RUN_STARTS", "run_scaled", "measurement"]

#: Simulator starts at least, so that progress is reported along the way.
RUN_STARTS = 4


def run_scaled(batches, *, seed=0, simulator="verilator", progress=None, engine=None,
               starts=RUN_STARTS):
    """Run each configuration's programs, all configurations in parallel processes
    (:func:`~rooftile.sim.run.pipeline.run_batches`, on ``engine``: default local).

    ``batches`` is ``{name: (config, {key: program})}`` (programs from
    :func:`~rooftile.sim.study.schedules.compile_scaled`); each configuration's operands
    are drawn from a generator seeded with ``seed``, in key order. Returns
    ``{name: {key: ProgramRun}}``."""
    work = []
    for config, programs in batches.values():
        rng = np.random.default_rng(seed)
        work.append((config, programs.values(),
                     [program.random_operands(config, rng) for program in programs.values()]))
    runs = run_batches(work, simulator=simulator, starts=starts, progress=progress,
                       engine=engine)
    return {name: dict(zip(programs, program_runs))
            for (name, (_, programs)), program_runs in zip(batches.items(), runs)}


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
