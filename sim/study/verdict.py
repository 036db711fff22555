"""The verdict's variants on the RTL: the attention unit's engine and the iso-area
tiles. The pricing, the verdict and its report are pure analysis
(:mod:`rooftile.analysis.verdict`); this module compiles the variants' programs and
hands their runs (made with the study's, :func:`rooftile.sim.study.measure.run_scaled`)
over as records.
"""

from ...analysis.verdict import FullOp, LayerOps, ScaledRun, verdict
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


def run_verdict(spec, all_variants, layers, variant_runs):
    """Price the variants from their runs (``{variant name: {key: ProgramRun}}``, the
    baseline's included); return ``(rows, breakdown)`` of
    :func:`rooftile.analysis.verdict.verdict`.

    Raises
    ------
    StudyError
        A variant's output differs from the numpy golden model.
    """
    every = [op for layer in layers for op in layer.scaled]
    flop = {op.key: op.flop for op in every}
    runs = {}
    for variant in all_variants:
        program_runs = variant_runs[variant.name]
        wrong = [str(key) for key, run in program_runs.items() if not run.exact]
        if wrong:
            raise StudyError(f"{variant.name}: outputs differ from the numpy golden model: "
                             f"{', '.join(wrong)}")
        runs[variant.name] = {key: ScaledRun.of(variant.config, flop[key], run.counters,
                                                run.prediction)
                              for key, run in program_runs.items()}
    return verdict(all_variants, [_layer_ops(spec, layer) for layer in layers], runs,
                   spec.machines, spec.dtype)
