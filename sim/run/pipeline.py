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

Programs are compiled once by the caller; their jobs share simulator starts, and
independent starts (other programs, other configurations) run in parallel processes
(:func:`run_batches`).
"""

import concurrent.futures
import dataclasses
import time

import numpy as np

from ...hdl.counters import ChipCounters, Counters, HarnessCounters
from ..model.tile_model import cycle_bound
from . import flow
from .engine import LocalEngine

__all__ = ["ProgramRun", "run_programs", "run_batches", "random_operands"]

#: The counters record each top's testbench reports.
COUNTER_RECORDS = {"tile": Counters, "harness": HarnessCounters, "chip": ChipCounters}


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
    trace : dict, list or None
        The counters traced as STOREs ended, when the job asked for them.
    """
    program: object
    output: np.ndarray
    expected: np.ndarray
    counters: object
    prediction: object
    wall: dict
    run_dir: str | None = None
    trace: object = None

    @property
    def exact(self):
        return bool(np.array_equal(self.output, self.expected))


def random_operands(config, rng, *shapes):
    """Uniform random integers over the signed operand range, one array per shape."""
    low, high = config.operand_range
    return tuple(rng.integers(low, high + 1, shape) for shape in shapes)


def run_programs(config, programs, operands, *, simulator="verilator", waves=False,
                 starts=1, workers=None, progress=None, engine=None):
    """Run ``programs`` (compiled for ``config``) on ``operands`` (one tuple each): one
    batch of :func:`run_batches`. Returns one :class:`ProgramRun` per program, in order.

    Raises
    ------
    ValueError
        Programs for different tops, or a count of operand tuples that does not match.
    """
    return run_batches([(config, programs, operands)], simulator=simulator, waves=waves,
                       starts=starts, workers=workers, progress=progress,
                       engine=engine)[0]


def _weight(config, program):
    """A program's share of simulation time, quickly: for the tile, the hang bound of
    its instructions (each run alone); for the array harness, the model's cycles."""
    if program.top == "tile":
        return cycle_bound(config, program.commands)
    return program.predict(config).cycles


def _chunks(jobs, cycles, count):
    """Split job indices into ``count`` runs of about equal predicted cycles, each in
    program order (longest first onto the least loaded run)."""
    runs = [[] for _ in range(count)]
    load = [0] * count
    for index in sorted(range(len(jobs)), key=lambda i: -cycles[i]):
        least = load.index(min(load))
        runs[least].append(index)
        load[least] += cycles[index]
    return [sorted(run) for run in runs if run]


def run_batches(batches, *, simulator="verilator", waves=False, starts=1, workers=None,
                progress=None, engine=None):
    """Run several batches ``(config, programs, operands)`` (one configuration each) in
    parallel simulator processes, and return each batch's :class:`ProgramRun` list, in
    order.

    Every configuration is built first (:func:`~rooftile.sim.run.flow.build_many`, in
    parallel). The jobs are then cut into simulator starts of about equal weight
    (:func:`_weight`; at least ``starts`` in all, and enough that ``workers`` processes,
    default the cores, finish together; each start costs about a second) and run largest
    first, ``workers`` at a time on ``engine`` (default: a
    :class:`~rooftile.sim.run.engine.LocalEngine` of ``workers`` threads; a Dask engine's
    workers build what their own cache lacks). With ``progress`` (a callable taking a
    message) each finished start is reported.

    Raises
    ------
    ValueError
        A batch with programs for different tops, or a count of operand tuples that
        does not match its programs.
    SimulationError, BuildError
        The first start that failed.
    """
    prepared = []
    for config, programs, operands in batches:
        programs, operands = list(programs), [tuple(ops) for ops in operands]
        if len(programs) != len(operands):
            raise ValueError(f"{len(programs)} programs but {len(operands)} operand tuples")
        tops = {program.top for program in programs}
        if len(tops) > 1:
            raise ValueError(f"programs for several tops in one run: {sorted(tops)}")
        prepared.append((config, programs, operands, [_weight(config, p) for p in programs]))
    engine = engine or LocalEngine(workers)
    workers = engine.workers
    groups = {}
    for config, programs, _, _ in prepared:
        if programs:
            groups.setdefault(programs[0].top, []).append(config)
    # Waves: built per run; a cluster's workers build into their own caches.
    for top, configs in (groups.items() if engine.local and not waves else ()):
        if progress:
            progress(f"building {top} configurations (cached ones are reused)")
        count = flow.build_many(configs, top, simulator=simulator, workers=workers)
        if progress:
            progress(f"  {count} {top} configuration(s) ready")

    total = sum(w for *_, weights in prepared for w in weights) or 1
    # A start of at most 1/(2 workers) of the work keeps the processes busy to the end.
    target = max(total / max(starts, 2 * workers if workers > 1 else 1), 1)
    tasks = []   # (batch index, job indices, predicted cycles)
    for b, (config, programs, operands, weights) in enumerate(prepared):
        if not programs:
            continue
        cycles = weights
        count = 1 if waves else min(len(programs), max(1, round(sum(cycles) / target)))
        for indices in _chunks(programs, cycles, count):
            tasks.append((b, indices, sum(cycles[i] for i in indices)))
    tasks.sort(key=lambda task: -task[2])

    results = [[None] * len(programs) for _, programs, _, _ in prepared]
    began, done_cycles, done_tasks = time.perf_counter(), 0, 0

    def run_task(task):
        b, indices, _ = task
        config, programs, operands, _ = prepared[b]
        sim = flow.build(config, programs[0].top, simulator=simulator, waves=waves)
        return flow.run(sim, [programs[i].job(config, *operands[i]) for i in indices])

    # The model's predictions are computed beside the simulators (a thread: the engine's
    # tasks wait on simulator processes or a cluster).
    with concurrent.futures.ThreadPoolExecutor(1) as beside:
        predicting = beside.submit(lambda: [[program.predict(config) for program in programs]
                                            for config, programs, _, _ in prepared])
        for i, outcome, error in engine.run(run_task, tasks):
            if error is not None:
                raise error
            b, indices, _ = tasks[i]
            for index, result in zip(indices, outcome):
                results[b][index] = result
                done_cycles += result["counters"]["cycles"]
            done_tasks += 1
            if progress:
                progress(f"  {done_tasks}/{len(tasks)} simulator starts on {simulator} "
                         f"({engine.description}), {done_cycles:,} cycles, "
                         f"{time.perf_counter() - began:.0f} s")
        predictions = predicting.result()

    runs = []
    for (config, programs, operands, _), outcome, predicted in zip(prepared, results,
                                                                  predictions):
        record = COUNTER_RECORDS[programs[0].top] if programs else None
        runs.append([ProgramRun(program=program, output=program.output(config, result),
                                expected=program.expected(config, *ops),
                                counters=record(**result["counters"]),
                                prediction=prediction, wall=result["wall"],
                                run_dir=result.get("run_dir"), trace=result.get("trace"))
                     for program, ops, result, prediction
                     in zip(programs, operands, outcome, predicted)])
    return runs
