"""From scaled ops measured on the tile to full-size ops on real machines.

What the model carries to full size: a roofline of the full op on the machine, derated
by two efficiencies the model predicts for the scaled op and the RTL confirms: the
*mapping* efficiency (useful MACs per busy array step: an ``M = 1`` GEMV uses one row of
the array, at any size) on the compute side, and the achieved fraction of the DRAM rate
(latency, softmax and pipeline bubbles) on the memory side when the scaled op is
memory-bound. ``time = max(flop / (peak * mapping), bytes / (bandwidth * dram))``.
"""

import dataclasses
from collections.abc import Iterable, Sequence

from .comparison import OpMeasurement, by_workload
from .hardware import HardwareSpec, get_hardware, tile_hardware
from .roofline import roofline

__all__ = ["Derates", "layer_time_rows"]


@dataclasses.dataclass(frozen=True)
class Derates:
    """What the model, validated on a scaled op, carries to full size (module docstring).

    Members
    -------
    mapping : float
        Useful MACs per busy array step over the array's MACs.
    dram : float
        The achieved fraction of the DRAM rate when the scaled op is memory-bound, else 1.
    """
    mapping: float
    dram: float

    @classmethod
    def of(cls, config, flop, cycles, array_busy, bytes_moved):
        """The derates of a scaled op of ``flop`` on tile ``config`` (a TileConfig) that
        takes ``cycles`` with ``array_busy`` busy array cycles and moves ``bytes_moved``
        DRAM bytes (the tile model's prediction, which the RTL confirms)."""
        mapping = flop / 2 / (array_busy * config.peak_macs_per_cycle)
        scaled = roofline(flop, bytes_moved, tile_hardware(config, clock_Hz=1.0))  # s = cycles
        dram = (min(1.0, bytes_moved / float(config.dram_bytes_per_cycle) / cycles)
                if scaled.bound == "memory" else 1.0)
        return cls(mapping, dram)

    @classmethod
    def predicted(cls, config, flop, prediction):
        """:meth:`of` the tile model's ``prediction`` (``cycles``, ``array_busy``,
        ``bytes_read``, ``bytes_written``) of a scaled op of ``flop`` on ``config``."""
        return cls.of(config, flop, prediction.cycles, prediction.array_busy,
                      prediction.bytes_read + prediction.bytes_written)

    def time_s(self, flop, bytes_, hw: "str | HardwareSpec", dtype):
        """Seconds of a full-size op of ``flop`` and ``bytes_`` on machine ``hw``."""
        hw = get_hardware(hw)
        return max(flop / (hw.peak_flop_per_s(dtype) * self.mapping),
                   bytes_ / (hw.bandwidth_bytes_per_s * self.dram))


def layer_time_rows(measurements: Iterable[OpMeasurement], machines: Sequence[str],
                    dtype: str) -> list[dict]:
    """Per workload and machine: the full-size decode layer's model-extrapolated time,
    its plain roofline time and the attention's share of it."""
    rows = []
    for workload, mine in by_workload(measurements).items():
        for name in machines:
            total = sum(m.full_time_s[name] for m in mine)
            ideal = sum(roofline(m.full_flop, m.full_bytes, name, dtype).time_s for m in mine)
            attention = sum(m.full_time_s[name] for m in mine if m.group == "attention")
            rows.append({"workload": workload, "machine": name,
                         "layer_us": round(total * 1e6, 3),
                         "roofline_layer_us": round(ideal * 1e6, 3),
                         "attention_share_pct": round(100 * attention / total, 1)})
    return rows
