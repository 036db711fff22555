"""Measured against predicted: one simulated op's RTL counters, tile model and roofline.

:class:`OpMeasurement` is the tidy record of one scaled op run by ``rooftile study``: what
it stands for at full size, what the RTL measured (cycles and counters) and what the
analytical tile model and the tile's roofline predicted. Its properties derive the
utilisations the way scale-sim's ``calc_report_data`` keeps them apart (overall, mapping,
bandwidth), and :func:`explain_gap` says from the counters where the cycles above the
roofline went.
"""

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..hdl.counters import Counters
from .ops import MLA_EXECUTION_ORDERS
from ..hdl.errors import one_of, positive_float, positive_int

__all__ = ["ATTENTIONS", "GROUPS", "BOUNDS", "DERIVED", "OpMeasurement", "LayerMeasurement",
           "ChipLayerMeasurement",
           "by_workload", "explain_gap"]

#: Attention types a simulated workload runs (MLA in each execution order).
ATTENTIONS = ("mha", "gqa") + tuple(f"mla-{form}" for form in MLA_EXECUTION_ORDERS)
#: Analysis groups of ``analysis.ops.Op.group``.
GROUPS = ("projection", "attention", "ffn", "router", "shared_expert", "routed_experts")
BOUNDS = ("compute", "memory")
#: Derived metric column (unit in the name) -> :class:`OpMeasurement` property.
DERIVED = {
    "intensity_flop_per_byte": "intensity",
    "full_intensity_flop_per_byte": "full_intensity",
    "utilization": "utilization",
    "model_utilization": "model_utilization",
    "roofline_utilization": "roofline_utilization",
    "mapping_efficiency": "mapping_efficiency",
    "bandwidth_bytes_per_cycle": "bandwidth_bytes_per_cycle",
    "bandwidth_utilization": "bandwidth_utilization",
    "model_error": "model_error",
    "roofline_gap": "roofline_gap",
}
#: A cause, or a gap, smaller than this share of the measured cycles goes unmentioned.
MINOR_SHARE = 0.05
#: Scaled and full-size intensities further apart than this ratio get a sentence of their own.
INTENSITY_TOLERANCE = 0.10


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, infinite for a zero denominator (an op moving no bytes)."""
    return numerator / denominator if denominator else math.inf


@dataclass(frozen=True)
class OpMeasurement:
    """One scaled op as simulated on the RTL tile, next to its two predictions.

    Members
    -------
    workload : str
        E.g. ``"deepseek-v3 b=64"``; the report groups its tables by it.
    model, attention : str
        Model name and one of :data:`ATTENTIONS`.
    batch : int
    op, group : str
        Op name (``"attention"``, ``"qkv_proj"``, ...) and one of :data:`GROUPS`.
    scaled_shape, full_shape : str
        Human-readable shapes, e.g. ``"M=64 K=64 N=128"``.
    count : float
        GEMMs of the full-size op per layer (informational).
    flop : int
        FLOPs of the scaled op as simulated (2 per useful MAC).
    bytes : int
        DRAM bytes the scaled op's schedule moves, read plus written.
    full_flop, full_bytes : float
        The full-size op it stands for, from the analysis layer.
    measured_cycles, model_cycles : int
        RTL and analytical tile model cycles of the scaled op.
    roofline_cycles : float
        ``max(flop / (2 peak), bytes / bandwidth)``; ``bound`` (one of :data:`BOUNDS`) says which.
    counters : Counters
        The RTL's counters (a mapping of every counter name is converted).
    exact : bool
        Output bit-exact against numpy.
    peak_macs_per_cycle : int
    dram_bytes_per_cycle : float
        The tile's rates (a ``Fraction`` from ``TileConfig`` is stored as float).
    full_time_s : dict
        Machine preset name -> extrapolated seconds of the full-size op per layer.

    Raises
    ------
    TypeError, ValueError
        On construction, naming the field and the bad value.
    """

    workload: str
    model: str
    attention: str
    batch: int
    op: str
    group: str
    scaled_shape: str
    full_shape: str
    count: float
    flop: int
    bytes: int
    full_flop: float
    full_bytes: float
    measured_cycles: int
    model_cycles: int
    roofline_cycles: float
    bound: str
    counters: Counters
    exact: bool
    peak_macs_per_cycle: int
    dram_bytes_per_cycle: float
    full_time_s: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        one_of("attention", self.attention, ATTENTIONS)
        one_of("group", self.group, GROUPS)
        one_of("bound", self.bound, BOUNDS)
        positive_int("batch", self.batch)
        positive_int("measured_cycles", self.measured_cycles)
        positive_int("model_cycles", self.model_cycles)
        positive_float("roofline_cycles", self.roofline_cycles)
        positive_int("peak_macs_per_cycle", self.peak_macs_per_cycle)
        if not isinstance(self.counters, Counters):
            object.__setattr__(self, "counters", Counters.from_json(self.counters))
        object.__setattr__(self, "dram_bytes_per_cycle",
                           positive_float("dram_bytes_per_cycle", float(self.dram_bytes_per_cycle)))
        object.__setattr__(self, "full_time_s", {str(hw): float(t) for hw, t in self.full_time_s.items()})

    @property
    def intensity(self) -> float:
        """FLOPs per DRAM byte of the scaled op: where it sits on the tile's roofline."""
        return _ratio(self.flop, self.bytes)

    @property
    def full_intensity(self) -> float:
        """FLOPs per DRAM byte of the full-size op: what the scaled op is meant to keep."""
        return _ratio(self.full_flop, self.full_bytes)

    def _array_share(self, macs: float, cycles: float) -> float:
        return macs / (cycles * self.peak_macs_per_cycle)

    @property
    def utilization(self) -> float:
        """Useful MACs over the array's peak for the measured cycles: the overall utilisation."""
        return self._array_share(self.counters.useful_macs, self.measured_cycles)

    @property
    def model_utilization(self) -> float:
        """The scaled op's MACs over the peak for the model's cycles: the utilisation it predicts."""
        return self._array_share(self.flop / 2, self.model_cycles)

    @property
    def roofline_utilization(self) -> float:
        """The scaled op's MACs over the peak for the roofline's cycles: the best the tile allows."""
        return self._array_share(self.flop / 2, self.roofline_cycles)

    @property
    def mapping_efficiency(self) -> float:
        """Useful MACs per busy array step over the peak: how much of the array the op's shape
        fills (1/rows for a one-row GEMV); NaN when the array never stepped."""
        return self.counters.mapping_efficiency(self.peak_macs_per_cycle)

    @property
    def bandwidth_bytes_per_cycle(self) -> float:
        """DRAM bytes read and written per measured cycle: the bandwidth the op achieved."""
        return self.counters.bytes_moved / self.measured_cycles

    @property
    def bandwidth_utilization(self) -> float:
        """Achieved over available DRAM bandwidth: how busy the op kept memory."""
        return self.bandwidth_bytes_per_cycle / self.dram_bytes_per_cycle

    @property
    def model_error(self) -> float:
        """``(model - measured) / measured``: how far, and which way, the tile model is off."""
        return (self.model_cycles - self.measured_cycles) / self.measured_cycles

    @property
    def roofline_gap(self) -> float:
        """Measured over roofline cycles: how many times slower than the ideal the RTL ran."""
        return self.measured_cycles / self.roofline_cycles

    def derived(self) -> dict[str, float]:
        """The derived metrics by :data:`DERIVED` column name."""
        return {column: getattr(self, name) for column, name in DERIVED.items()}

    def to_json(self) -> dict:
        """The record as JSON-able plain types; :meth:`from_json` reads it back."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping) -> "OpMeasurement":
        """The measurement :meth:`to_json` returned ``data`` for; unknown keys raise TypeError."""
        return cls(**data)


@dataclass(frozen=True)
class LayerMeasurement:
    """A scaled decode layer run as one program on the RTL tile, against its ops run
    one at a time: what the old composition (the sum of isolated op times) misses of
    the overlap between ops and the stalls on their data dependencies.

    Members
    -------
    workload, model, attention : str
    batch, ops : int
        The batch and the scaled ops in the layer (one instance each).
    layer_cycles_measured : int
        RTL cycles of the layer program.
    layer_cycles_isolated_sum : int
        The sum of the RTL cycles of its ops, each run alone.
    layer_cycles_model : int
        The tile model's cycles of the layer program.
    load_wait_store : int
        Cycles the layer's loads waited for a previous op's stores (its data).
    exact : bool
        Every op's output bit-exact against numpy.
    """

    workload: str
    model: str
    attention: str
    batch: int
    ops: int
    layer_cycles_measured: int
    layer_cycles_isolated_sum: int
    layer_cycles_model: int
    load_wait_store: int
    exact: bool

    def __post_init__(self):
        one_of("attention", self.attention, ATTENTIONS)
        for name in ("batch", "ops", "layer_cycles_measured", "layer_cycles_isolated_sum",
                     "layer_cycles_model"):
            positive_int(name, getattr(self, name))

    @property
    def composition_error(self) -> float:
        """How far the sum of isolated op times is off the measured layer (positive: the
        ops overlap, the sum overstates the layer)."""
        return self.layer_cycles_isolated_sum / self.layer_cycles_measured - 1

    @property
    def model_error(self) -> float:
        return self.layer_cycles_model / self.layer_cycles_measured - 1

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "composition_error": self.composition_error,
                "model_error": self.model_error}


@dataclass(frozen=True)
class ChipLayerMeasurement:
    """A scaled decode layer on the chip (the tile and a near-memory unit's engine, each
    running its program), against the compositions the verdict assumes.

    Members
    -------
    workload, unit : str
        The workload and the unit kind.
    subbatches : int
        1: the whole batch; 2: two sub-batches interleaved (NeuPIMs).
    unit_ops : str
        The layer's ops the unit ran, comma-separated (the attention; the routed
        experts for Duplex).
    layer_cycles_measured : int
        RTL cycles until both engines were done.
    layer_cycles_isolated_sum : int
        Every op of both engines run alone, one after the other.
    layer_cycles_model : int
        The tile model's prediction of the chip.
    layer_cycles_analytic : int
        The verdict's composition: the unit's time plus the tile's for one batch, the
        slower engine's for two interleaved sub-batches (perfect overlap).
    tile_cycles, unit_cycles : int
        Each engine's cycles until it was done.
    tile_wait_peer, unit_wait_peer : int
        Cycles each engine's loads waited for the other engine's data.
    tile_dram_wait, unit_dram_wait : int
        Cycles each engine's DRAM requests waited (the ``dram_wait`` counter: for the
        shared channel, or for the credit of the unit's own memory).
    exact : bool
    """

    workload: str
    unit: str
    subbatches: int
    unit_ops: str
    layer_cycles_measured: int
    layer_cycles_isolated_sum: int
    layer_cycles_model: int
    layer_cycles_analytic: int
    tile_cycles: int
    unit_cycles: int
    tile_wait_peer: int
    unit_wait_peer: int
    tile_dram_wait: int
    unit_dram_wait: int
    exact: bool

    def __post_init__(self):
        for name in ("subbatches", "layer_cycles_measured", "layer_cycles_isolated_sum",
                     "layer_cycles_model", "layer_cycles_analytic"):
            positive_int(name, getattr(self, name))

    @property
    def analytic_error(self) -> float:
        """How far the verdict's composition is off the measured chip (negative: it
        promises more overlap than the engines get)."""
        return self.layer_cycles_analytic / self.layer_cycles_measured - 1

    @property
    def model_error(self) -> float:
        return self.layer_cycles_model / self.layer_cycles_measured - 1

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "analytic_error": self.analytic_error,
                "model_error": self.model_error}


def by_workload(measurements: Iterable[OpMeasurement]) -> dict[str, list[OpMeasurement]]:
    """Measurements by workload, workloads in the order they first appear."""
    grouped: dict[str, list[OpMeasurement]] = {}
    for m in measurements:
        grouped.setdefault(m.workload, []).append(m)
    return grouped


def _mapping_detail(efficiency: float) -> str:
    """How much of the array a busy step fills: "1 in 8 PEs" when that is exact, else a share."""
    if not efficiency > 0:  # NaN: the array never stepped
        return "the array never stepped"
    inverse = 1 / efficiency
    if round(inverse) > 1 and math.isclose(inverse, round(inverse), rel_tol=0.01):
        return f"busy steps use 1 in {round(inverse)} PEs"
    return f"busy steps use {efficiency:.0%} of the PEs"


def _causes(m: OpMeasurement) -> tuple[str, str, list[tuple[str, float, str]]]:
    """The roofline's ideal and its lost cycles, named, and those cycles as (cause, cycles, detail).

    Mapping loss is counted inside the array's busy steps, the waits while it is idle; what
    the counters leave unexplained is the last cause, never negative.
    """
    c = m.counters
    if m.bound == "compute":
        ideal = m.flop / 2 / m.peak_macs_per_cycle
        causes = [("partial-array mapping", c.array_busy - c.useful_macs / m.peak_macs_per_cycle,
                   _mapping_detail(m.mapping_efficiency)),
                  ("softmax on the vector unit", c.vector_busy, ""),
                  ("waiting for operands from DMA", c.exec_wait_load, ""),
                  ("drain stalls", c.drain_stalls, "")]
        rest, ideal_is, lost_is = "array fill/drain and latency", "the array at peak", "lost cycles"
    else:
        ideal = m.bytes / m.dram_bytes_per_cycle
        causes = [("softmax on the vector unit while the DMA waits", c.vector_busy, ""),
                  ("loads waiting for a free buffer", c.load_wait_exec, "")]
        rest, ideal_is, lost_is = ("DMA latency and phases the schedule does not overlap "
                                   "(first loads, last compute, last stores)",
                                   "DRAM at full bandwidth", "DRAM idle")
    lost = m.measured_cycles - ideal
    causes.append((rest, max(0.0, lost - sum(cycles for _, cycles, _ in causes)), ""))
    return ideal_is, lost_is, causes


def explain_gap(m: OpMeasurement) -> str:
    """One or two sentences on why ``m``'s measured cycles exceed its roofline's, from its counters.

    Compute-bound ops lose ``measured - flop / 2 / peak`` cycles to partial-array mapping,
    softmax on the vector unit, waits for operands, drain stalls and, for the rest, fill,
    drain and latency. Memory-bound ops leave DRAM idle for ``measured - bytes / bandwidth``
    cycles, through softmax, waits for a free buffer and, for the rest, DMA latency and
    pipeline fill. Each cause is a share of the measured cycles, largest first, and only
    those above :data:`MINOR_SHARE` are named. A last sentence compares the scaled and
    full-size intensities when they differ by more than :data:`INTENSITY_TOLERANCE`.

    NB: the causes come from separate counters and may overlap (softmax can run while the
    DMA streams), so their shares need not add up to the gap.
    """
    head = f"Measured {m.measured_cycles:,} cycles"
    roof = f"the roofline's {m.roofline_cycles:,.0f} ({m.bound}-bound"
    if abs(m.roofline_gap - 1) <= MINOR_SHARE:
        text = f"{head}, within {MINOR_SHARE:.0%} of {roof})."
    elif m.roofline_gap < 1:
        text = (f"{head}, {m.roofline_gap:.2f}x {roof}): faster than the roofline allows, so the "
                f"record's flop or bytes understate what the schedule does.")
    else:
        ideal_is, lost_is, causes = _causes(m)
        shares = sorted(((cycles / m.measured_cycles, name, detail) for name, cycles, detail in causes),
                        key=lambda cause: cause[0], reverse=True)
        named = [f"{name} {share:.0%}" + (f" ({detail})" if detail else "")
                 for share, name, detail in shares if share > MINOR_SHARE]
        why = (", ".join(named) + " of the measured cycles" if named
               else f"no single cause reaches {MINOR_SHARE:.0%} of the measured cycles")
        text = f"{head}, {m.roofline_gap:.2f}x {roof}, {ideal_is}); {lost_is}: {why}."
    scaled, full = m.intensity, m.full_intensity
    if math.isfinite(scaled) and math.isfinite(full) and full > 0 \
            and abs(scaled / full - 1) > INTENSITY_TOLERANCE:
        text += (f" The scaled op's intensity, {scaled:.3g} FLOP/byte, is {scaled / full:.2f}x the "
                 f"full-size op's {full:.3g}: on the tile it moves {full / scaled:.2f}x the bytes per "
                 f"FLOP, so its bound and gap describe the scaled schedule, not the full-size op.")
    return text
