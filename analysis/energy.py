"""Energy of events: MACs, SRAM bytes, DRAM bytes (external or in the stack) and link bytes.

The events are counted on the RTL (useful MACs, scratchpad traffic, DRAM bytes) and carried
to full size with the op; the per-event energies are the sourced or estimated constants of
:class:`~rooftile.analysis.cost.CostConstants`.

NB: dynamic energy of these events only: no leakage, clocking, control or the rest of the
chip (an H100 spends about 0.71 pJ per bf16 FLOP at TDP [S3], several times the MAC alone).
"""

import dataclasses

from .cost import DEFAULT_CONSTANTS
from .dtypes import element_bytes

__all__ = ["Events", "energy_J"]


@dataclasses.dataclass(frozen=True)
class Events:
    """What one piece of work does, at full size.

    Members
    -------
    macs : float
    sram_bytes : float
        Scratchpad and accumulator bytes read and written.
    dram_bytes : float
        DRAM bytes moved over the path whose energy is ``dram_pJ_per_bit``.
    dram_pJ_per_bit : float
        External HBM read, or the in-stack read of a near-memory unit.
    link_bytes : float
        Bytes sent over the scale-up interconnect.
    """
    macs: float = 0.0
    sram_bytes: float = 0.0
    dram_bytes: float = 0.0
    dram_pJ_per_bit: float = 0.0
    link_bytes: float = 0.0


def energy_J(events: Events, dtype: str, constants=DEFAULT_CONSTANTS) -> float:
    """Joules of ``events`` with operands of ``dtype`` (an 8-bit MAC costs half a 16-bit
    one, an estimate)."""
    mac = constants.mac_pJ * element_bytes(dtype) / 2
    return 1e-12 * (events.macs * mac
                    + 8 * events.sram_bytes * constants.sram_pJ_per_bit
                    + 8 * events.dram_bytes * events.dram_pJ_per_bit
                    + 8 * events.link_bytes * constants.link_pJ_per_bit)
