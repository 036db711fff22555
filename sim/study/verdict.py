"""Run the verdict's variants on the RTL: the attention unit's engine and the iso-area
tiles. The pricing, the verdict and its report are pure analysis
(:mod:`rooftile.analysis.verdict`); this module only compiles, runs and hands over records.
"""

from ...analysis.verdict import FullOp, LayerOps, ScaledRun, verdict
from .measure import run_scaled
from .schedules import compile_scaled, lower_workload
from .spec import StudyError, Workload

__all__ = ["compile_variants", "run_verdict"]


def compile_variants(all_variants, layers):
    """Each variant's distinct programs, compiled once for its configuration:
    ``{variant name: {key: program}}`` (a unit variant runs the attention only; the
    baseline is compiled by the study).

    Raises
    ------
    StudyError
        A program that does not fit a variant (before any build).
    """
    every = [op for layer in layers for op in layer.scaled]
    attention = [op for op in every if op.attention]
    programs = {}
    for variant in all_variants:
        if variant.role == "baseline":
            continue
        try:
            programs[variant.name] = compile_scaled(variant.config,
                                                    attention if variant.unit else every)
        except StudyError as error:
            raise StudyError(f"verdict variant {variant.name}: {error}; the verdict runs "
                             f"it beside the tile you chose (--no-verdict skips it)") from None
    return programs


def _layer_ops(spec, layer):
    """The analysis record of a lowered layer, with the half-batch layer's tile ops."""
    def full(op):
        return FullOp(op.name, op.key, op.attention is not None, op.full_flop, op.full_bytes)
    half = ()
    if layer.workload.batch >= 2:
        halved = lower_workload(spec, Workload(layer.workload.model, layer.workload.batch // 2))
        half = tuple(full(op) for op in halved.scaled if not op.attention)
    return LayerOps(layer.workload.label, layer.attention, layer.workload.batch,
                    tuple(full(op) for op in layer.scaled), half)


def run_verdict(spec, all_variants, layers, programs, base_runs, *, progress=print):
    """Run every variant's ``programs`` (:func:`compile_variants`) and price them;
    return ``(rows, breakdown)`` of :func:`rooftile.analysis.verdict.verdict`.

    Raises
    ------
    StudyError
        A variant's output differs from the numpy golden model.
    """
    every = [op for layer in layers for op in layer.scaled]
    flop = {op.key: op.flop for op in every}
    runs = {}
    for variant in all_variants:
        config = variant.config
        if variant.role == "baseline":
            program_runs = base_runs
        else:
            what = (f"{config.rows}x1 GEMV engine" if variant.unit else
                    f"{config.rows}x{config.cols} array")
            progress(f"verdict: {variant.name}: {what} at "
                     f"{float(config.dram_bytes_per_cycle):.3g} B/cycle")
            program_runs = run_scaled(config, programs[variant.name], seed=spec.seed,
                                      simulator=spec.simulator, progress=progress)
        wrong = [str(key) for key, run in program_runs.items() if not run.exact]
        if wrong:
            raise StudyError(f"{variant.name}: outputs differ from the numpy golden model: "
                             f"{', '.join(wrong)}")
        runs[variant.name] = {key: ScaledRun.of(config, flop[key], run.counters, run.prediction)
                              for key, run in program_runs.items()}
    return verdict(all_variants, [_layer_ops(spec, layer) for layer in layers], runs,
                   spec.machines, spec.dtype)
