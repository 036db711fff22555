"""The one run pipeline: compiled programs -> jobs -> build -> run -> checked, typed results.

Every path that runs programs on the RTL (the ``gemm`` and ``matmul`` commands, the
study, the verdict's variants, the tests and benchmarks) goes through
:func:`run_programs`. A program is any compiler's output with this protocol:

- ``top``: the design it runs on (a key of :data:`~rooftile.sim.run.flow.TOPS`);
- ``job(config, *operands)``: the testbench job (DRAM image, instructions, reads, bound);
- ``output(config, result)``: the result array, from the testbench's result dict;
- ``expected(config, *operands)``: the numpy golden output;
- ``random_operands(config, rng)``: operands drawn uniformly over the operand range;
- ``predict(config)``: the analytical model's prediction (has ``cycles``).

Programs are compiled once by the caller; their jobs share simulator starts.
"""

import dataclasses
import time

import numpy as np

from ...hdl.counters import Counters, HarnessCounters
from . import flow

__all__ = ["ProgramRun", "run_programs", "random_operands"]

#: The counters record each top's testbench reports.
COUNTER_RECORDS = {"tile": Counters, "harness": HarnessCounters}


@dataclasses.dataclass
class ProgramRun:
    """One compiled program as run on the RTL, next to numpy and the model.

    Members
    -------
    program : the compiled program
    output, expected : numpy.ndarray
        What the RTL wrote and what the golden model computes.
    counters : Counters or HarnessCounters
    prediction : the model's prediction (``prediction.cycles``)
    wall : dict
        Host seconds: loading, free-running compute, readback.
    run_dir : str or None
        Run folder with ``dump.fst`` when waves were requested.
    """
    program: object
    output: np.ndarray
    expected: np.ndarray
    counters: object
    prediction: object
    wall: dict
    run_dir: str | None = None

    @property
    def exact(self):
        return bool(np.array_equal(self.output, self.expected))


def random_operands(config, rng, *shapes):
    """Uniform random integers over the signed operand range, one array per shape."""
    low, high = config.operand_range
    return tuple(rng.integers(low, high + 1, shape) for shape in shapes)


def run_programs(config, programs, operands, *, simulator="verilator", waves=False,
                 starts=1, progress=None):
    """Run ``programs`` (compiled for ``config``) on ``operands`` (one tuple each).

    The jobs share ``starts`` simulator starts (about a second each); with ``progress``
    (a callable taking a message) a long run reports after each start. Returns one
    :class:`ProgramRun` per program, in order.

    Raises
    ------
    ValueError
        Programs for different tops, or a count of operand tuples that does not match.
    """
    programs, operands = list(programs), [tuple(ops) for ops in operands]
    if len(programs) != len(operands):
        raise ValueError(f"{len(programs)} programs but {len(operands)} operand tuples")
    if not programs:
        return []
    tops = {program.top for program in programs}
    if len(tops) != 1:
        raise ValueError(f"programs for several tops in one run: {sorted(tops)}")
    (top,) = tops
    jobs = [program.job(config, *ops) for program, ops in zip(programs, operands)]
    if progress:
        progress(f"building the {top} ({config.rows}x{config.cols}, digest {config.digest})")
    sim = flow.build(config, top, simulator=simulator, waves=waves)
    per_start = max(1, -(-len(jobs) // starts))
    results, cycles, began = [], 0, time.perf_counter()
    for first in range(0, len(jobs), per_start):
        results += flow.run(sim, jobs[first:first + per_start])
        cycles += sum(result["counters"]["cycles"] for result in results[first:])
        if progress:
            progress(f"  {len(results)}/{len(jobs)} programs on {simulator}, "
                     f"{cycles:,} cycles, {time.perf_counter() - began:.0f} s")
    record = COUNTER_RECORDS[top]
    return [ProgramRun(program=program, output=program.output(config, result),
                       expected=program.expected(config, *ops),
                       counters=record(**result["counters"]),
                       prediction=program.predict(config), wall=result["wall"],
                       run_dir=result.get("run_dir"))
            for program, ops, result in zip(programs, operands, results)]
