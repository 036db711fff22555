"""Run the verdict's proxies and hand their records to the analysis.

The tile and the near-memory units of each machine variant have RTL proxies whose compute
to bandwidth ratios follow from the variant (:func:`proxies`): the baseline tile (the
study's own), the baseline tile with its bandwidth scaled to the ridge of a variant that
buys compute or bandwidth, and each unit's engine (a ``lanes x 1`` GEMV engine at the
unit's bandwidth multiple and ops per byte at the study's element width). The unit engines
run on the RTL (their outputs checked bit-exactly); the rescaled tiles are priced by the
tile model on their own configuration, the model the RTL validates within 5%. The pricing,
the decision and the report are pure analysis (:mod:`rooftile.analysis.verdict`).
"""

from fractions import Fraction

from ...analysis.cost import UNITS, variants
from ...analysis.verdict import FullOp, LayerOps, ScaledRun, tile_ratio, verdict
from ...hdl.params import MAX_RATE_DENOMINATOR, AttentionUnit
from .schedules import compile_scaled, lower_workload
from .spec import StudyError, Workload

__all__ = ["unit_chip", "runs_on", "proxies", "compile_proxies", "run_verdict"]

#: The RTL attention unit preset that builds each placement's engine.
_ENGINE_KIND = {"logic-die": "logic-die", "bank": "bank-level"}


#: Instruction memory of a unit engine: a one-lane engine needs about 214k instructions
#: for the default study's absorbed MLA (two instances of 128 queries over 512 keys).
_ENGINE_PROGRAM_DEPTH = 1 << 18
#: DRAM of a unit engine: on the chip its lower half holds the KV cache (the default
#: study's one-lane engine needs 65,728 words for Llama-2-7B's two instances).
_ENGINE_DRAM_DEPTH = 1 << 18


def unit_chip(config, kind, dtype):
    """``config`` with unit ``kind`` (a key of :data:`~rooftile.analysis.cost.UNITS`)
    beside it, as the verdict prices it: its engine is
    ``unit_chip(...).attention_unit_tile()`` and the pair a
    :class:`~rooftile.hdl.chip.Chip`."""
    design = UNITS[kind]
    unit = AttentionUnit(_ENGINE_KIND[design.placement],
                         bandwidth_multiple=Fraction(design.bandwidth_multiple),
                         ops_per_byte=Fraction(design.ops_per_byte(dtype)),
                         program_depth=_ENGINE_PROGRAM_DEPTH, dram_depth=_ENGINE_DRAM_DEPTH)
    return config.replace(attention_unit=unit)


def proxies(spec):
    """``{("tile", ratio) or ("unit", kind): TileConfig}``: the RTL proxy of every
    resource of every variant on the study's machines."""
    out = {}
    for machine in spec.machines:
        all_variants = variants(machine, dtype=spec.dtype)
        for variant in all_variants:
            ratio = tile_ratio(variant, all_variants[0])
            bandwidth = Fraction(spec.config.dram_bytes_per_cycle / Fraction(ratio))
            out[("tile", ratio)] = (spec.config if ratio == 1 else spec.config.replace(
                dram_bytes_per_cycle=bandwidth.limit_denominator(MAX_RATE_DENOMINATOR)))
    for kind in UNITS:
        out[("unit", kind)] = unit_chip(spec.config, kind, spec.dtype).attention_unit_tile()
    return out


def runs_on(kind, op):
    """Does unit ``kind`` run scaled op ``op``?"""
    runs = UNITS[kind].runs
    return op.attention is not None if runs == "attention" else op.group == "routed_experts"


def compile_proxies(spec, layers):
    """``(configs, programs)``: each proxy's configuration and its distinct programs,
    compiled once (the baseline tile's are the study's own and are left out).

    Raises
    ------
    StudyError
        A program that does not fit a proxy (before any build).
    """
    configs = proxies(spec)
    every = [op for layer in layers for op in layer.scaled]
    programs = {}
    for name, config in configs.items():
        if config == spec.config:
            continue
        mine = [op for op in every if runs_on(name[1], op)] if name[0] == "unit" else every
        try:
            programs[name] = compile_scaled(config, mine)
        except StudyError as error:
            raise StudyError(f"verdict proxy {name}: {error}; the verdict runs it beside "
                             f"the tile you chose (--no-verdict skips it)") from None
    return configs, programs


def _layer_ops(spec, layer, chip=()):
    """The analysis record of a lowered layer and of the same layer at half the batch
    (whose ops are priced with the full batch's programs, by op name), with what the
    chip measured of its engines' overlap (``chip``: ChipLayerMeasurement records)."""
    def full(op, key=None):
        kind = ("attention" if op.attention is not None else
                "experts" if op.group == "routed_experts" else "other")
        return FullOp(op.name, key or op.key, kind, op.full_flop, op.full_bytes)
    half = ()
    if layer.workload.batch >= 2:
        keys = {op.name: op.key for op in layer.scaled}
        halved = lower_workload(spec, Workload(layer.workload.model, layer.workload.batch // 2))
        half = tuple(full(op, keys[op.name]) for op in halved.scaled)
    measured = tuple(((c.unit, c.subbatches),
                      c.layer_cycles_measured / c.layer_cycles_analytic)
                     for c in chip if c.workload == layer.workload.label)
    return LayerOps(layer.workload.label, layer.workload.model, layer.attention,
                    layer.workload.batch, tuple(full(op) for op in layer.scaled), half,
                    measured)


def run_verdict(spec, layers, configs, programs, rtl_runs, *, constants=None, chip=()):
    """Price every proxy: the RTL runs of the baseline tile and the unit engines
    (``rtl_runs``, ``{proxy name or "study": {key: ProgramRun}}``, made with the study's
    own by :func:`rooftile.sim.study.measure.run_scaled`), the rescaled tiles with the
    tile model; a unit variant's layer takes the overlap its chip measured (``chip``,
    ChipLayerMeasurement records) where one was run. Returns ``(rows, layer_ops, records)`` for
    :func:`rooftile.analysis.verdict.verdict`.

    Raises
    ------
    StudyError
        An engine's output differs from the numpy golden model.
    """
    every = {op.key: op for layer in layers for op in layer.scaled}
    data_bytes = spec.config.data_bytes
    records = {}
    for name, config in configs.items():
        rtl = config == spec.config or name[0] == "unit"
        if config == spec.config:
            runs = rtl_runs["study"]
        elif rtl:
            runs = rtl_runs[name]
        else:
            runs = {key: program.predict(config) for key, program in programs[name].items()}
        if rtl:
            wrong = [str(key) for key, run in runs.items() if not run.exact]
            if wrong:
                raise StudyError(f"proxy {name}: outputs differ from the numpy golden model: "
                                 f"{', '.join(wrong)}")
        records[name] = {
            key: ScaledRun.of(config, every[key].flop, every[key].ideal_bytes(data_bytes),
                              run.prediction if rtl else run, run.counters if rtl else None)
            for key, run in runs.items()}
    layer_ops = [_layer_ops(spec, layer, chip) for layer in layers]
    extra = {} if constants is None else {"constants": constants}
    rows = verdict(layer_ops, records, spec.machines, spec.dtype, spec.context,
                   spec.ep_devices, **extra)
    return rows, layer_ops, records
