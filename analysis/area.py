"""Silicon area of a rooftile tile and of a base-die memory path.

The tile's area by component (array, buffers, DRAM interface, vector unit) in mm², checked
against yosys cell counts by ``scripts/area_crosscheck.py``; the machine-scale variants of
the verdict are priced in dollars by :mod:`rooftile.analysis.cost`, which reads the TSV path
estimate from here (LLMCompass's area model,
``cost_model/cost_model.py``, is the model for its shape: components from published
transistor counts or die-shot areas, one process node, PHYs apart from logic).

**One process node: TSMC N7-class 7 nm.** Every constant below is at that node, or was
published at another node and is scaled to it as its comment says. Logic is scaled by the
ratio of logic transistor densities from one table (:data:`LOGIC_DENSITY_MTR_PER_MM2`); PHYs
are analogue and do not scale, so they are used as published.

Each constant names its source and how the number was derived. Figures that could not be
found in a publication are marked **ESTIMATE** with the reasoning behind them.

NB: what the model ignores: control, instruction
memory and queues, the DMA engine, clock tree and power grid beyond what the layout factor
of :data:`LAYOUT_OVERHEAD` covers, pad ring and packaging. DRAM capacity itself (the
stacks) is not silicon on the tile die and is not counted; only its interface is.
"""

import math
import numbers
from dataclasses import dataclass, fields
from fractions import Fraction

from ..hdl.errors import positive_int

__all__ = [
    "PROCESS_NODE", "LOGIC_DENSITY_MTR_PER_MM2", "LAYOUT_OVERHEAD", "ADDER_UM2_PER_BIT",
    "MULTIPLIER_UM2_PER_BIT2", "REGISTER_UM2_PER_BIT", "SRAM_UM2_PER_BIT",
    "DRAM_INTERFACE_MM2_PER_GBPS", "TSV_PATH_MM2_PER_GBPS",
    "AreaBreakdown", "mac_area_mm2", "pe_register_bits", "sram_area_mm2",
    "dram_interface_area_mm2", "vector_unit_area_mm2", "tile_area", "default_acc_width",
]

PROCESS_NODE = "TSMC N7-class 7 nm"

_UM2_PER_MM2 = 1e6

# --- Logic density: the scale between nodes ------------------------------------------------
#: Logic transistor density in million transistors per mm², per node. Source: S. M. Khan and
#: A. Mann, "AI Chips: What They Are and Why They Matter", CSET, 2020 (the table LLMCompass
#: copies into ``cost_model/supply_chain/supply_chain_model.py``: 40 nm 7.7, 28 nm 15.3,
#: 7 nm 96.3). Area published at node X is scaled to 7 nm by ``density[X] / density[7 nm]``.
LOGIC_DENSITY_MTR_PER_MM2 = {"40nm": 7.7, "28nm": 15.3, "7nm": 96.3}
_N7 = LOGIC_DENSITY_MTR_PER_MM2["7nm"]
_FROM_40NM = LOGIC_DENSITY_MTR_PER_MM2["40nm"] / _N7
_FROM_28NM = LOGIC_DENSITY_MTR_PER_MM2["28nm"] / _N7

# --- Arithmetic and registers (synthesis-level, scaled from 40 nm) -------------------------
# Source: Aladdin's 40 nm component library (Y. S. Shao et al., "Aladdin: a pre-RTL,
# power-performance accelerator simulator", ISCA 2014), as tabulated in Accelergy's
# hwcomponents-library ``aladdin`` table: 32-bit adder 278 µm² (scales linearly in width),
# 32x32 multiplier 6350 µm² (quadratically), register 5.98 µm² per bit.
#: Area of one adder bit at 7 nm: 278 µm² / 32 bits, scaled 40 nm -> 7 nm.
ADDER_UM2_PER_BIT = 278.0 / 32 * _FROM_40NM
#: Area of a multiplier per (bit x bit) of its operands at 7 nm: 6350 µm² / 32², scaled.
MULTIPLIER_UM2_PER_BIT2 = 6350.0 / 32 ** 2 * _FROM_40NM
#: Area of one flip-flop bit at 7 nm: 5.98 µm², scaled.
REGISTER_UM2_PER_BIT = 5.98 * _FROM_40NM

# --- From synthesis-level to laid-out area: calibrated on a real systolic array ------------
# Source: N. P. Jouppi et al., "In-Datacenter Performance Analysis of a Tensor Processing
# Unit", ISCA 2017: 28 nm, die <= 331 mm², the Matrix Multiply Unit (256 x 256 = 65,536
# int8 MACs) is 24 % of the die (floor plan, Fig. 2). That is 1212 µm² per MAC at 28 nm,
# 192.6 µm² scaled to 7 nm. The same cell from the component areas above (weight-stationary:
# 8x8 multiplier, 32-bit partial-sum adder, registers for the activation, two weights
# (double-buffered) and the 32-bit partial sum: 56 bits) is 80.7 µm². The ratio, 2.39, is
# what placement utilisation, wiring, clock tree and per-cell control add to bare components;
# the model applies it to every logic block. NB: the TPU die size is an upper bound ("<="),
# so this factor is one too; 32-bit in-array partial sums are an assumption (the paper
# states 32-bit accumulators below the array).
_TPU_V1_DIE_MM2 = 331.0
_TPU_V1_MXU_FRACTION = 0.24
_TPU_V1_MACS = 256 * 256
_TPU_V1_MAC_UM2_N7 = _TPU_V1_DIE_MM2 * _TPU_V1_MXU_FRACTION / _TPU_V1_MACS * _UM2_PER_MM2 \
    * _FROM_28NM
_TPU_V1_CELL_UM2_N7 = (MULTIPLIER_UM2_PER_BIT2 * 8 * 8 + ADDER_UM2_PER_BIT * 32
                       + REGISTER_UM2_PER_BIT * (8 + 2 * 8 + 32))
#: Laid-out area over the sum of synthesis-level component areas (about 2.39).
LAYOUT_OVERHEAD = _TPU_V1_MAC_UM2_N7 / _TPU_V1_CELL_UM2_N7

# --- SRAM -----------------------------------------------------------------------------------
# Bit cell: 0.027 µm², TSMC 7 nm high-density cell (J. Chang et al., "A 7nm 256Mb SRAM in
# high-k metal-gate FinFET technology with write-assist circuitry", ISSCC 2017, paper 12.1).
# Macro efficiency (bit cells over macro area, periphery included): 0.70, derived from the
# IEDM 2022 TSMC figures reported by WikiChip ("IEDM 2022: Did We Just Witness The Death Of
# SRAM?"): a 0.021 µm² N5/N3E cell gives about 31.8 Mib/mm² at macro level, and
# 0.021 µm² x 31.8 x 2**20 per mm² = 0.70.
_SRAM_BITCELL_UM2_N7 = 0.027
_SRAM_MACRO_EFFICIENCY = 0.021 * 31.8 * 2 ** 20 / _UM2_PER_MM2
#: Area per SRAM bit at 7 nm, periphery included (0.0386 µm², i.e. 0.32 mm² per MiB).
#: NB: a large-macro figure. Small macros (a few KiB) carry more periphery per bit, and
#: caches add tags and ECC (LLMCompass charges about 2.5 mm²/MB for 7 nm caches); the model
#: charges every buffer at this one density.
SRAM_UM2_PER_BIT = _SRAM_BITCELL_UM2_N7 / _SRAM_MACRO_EFFICIENCY

# --- Off-chip DRAM interface ---------------------------------------------------------------
# Source: LLMCompass (H. Zhang et al., ISCA 2024), ``cost_model/cost_model.py`` and Table II:
# one 1024-bit HBM2E PHY is 10.45 mm² (from GA100 / Aldebaran die shots; a PHY does not
# scale with the node) and its controller 552,743,000 transistors, 5.74 mm² at 96.3 MTr/mm².
# Bandwidth of one 1024-bit HBM2E interface: 1024 pins x 3.2 Gb/s / 8 = 409.6 GB/s (JEDEC
# JESD235C; the A100 80GB reaches 2039 GB/s over five such stacks on the same GA100 die).
_HBM2E_PHY_MM2 = 10.45
_HBM2E_CTRL_MM2 = 552_743_000 / (_N7 * 1e6)
_HBM2E_GBPS = 1024 * 3.2 / 8
_CONTROLLER_MM2_PER_GBPS = _HBM2E_CTRL_MM2 / _HBM2E_GBPS
#: PHY plus controller per GB/s of DRAM bandwidth (about 0.040 mm² per GB/s).
#: NB: linear in bandwidth, as if PHYs came in any fraction; a real chip buys whole
#: 1024-bit interfaces.
DRAM_INTERFACE_MM2_PER_GBPS = _HBM2E_PHY_MM2 / _HBM2E_GBPS + _CONTROLLER_MM2_PER_GBPS

# --- PIM memory paths ----------------------------------------------------------------------
# ESTIMATE (no published per-bandwidth area of HBM TSV arrays was found): an attention unit
# on the HBM base die reads the DRAM dies through data TSVs instead of a PHY. Assume a TSV
# footprint of one 40 µm x 40 µm pitch cell (HBM2/HBM2E TSV pitches are quoted at 40-55 µm;
# keep-out zone included in the pitch) and that a data TSV carries the HBM2E per-pin rate,
# 3.2 Gb/s: 2.5 TSVs per GB/s, 0.004 mm² per GB/s. The unit also schedules its own bank
# accesses, so it pays an HBM2E controller's logic per GB/s (above).
_TSV_PITCH_UM = 40.0
_TSV_GBITPS = 3.2
#: Logic-die PIM memory path: TSVs plus controller logic per GB/s (about 0.018 mm²).
TSV_PATH_MM2_PER_GBPS = 8 / _TSV_GBITPS * _TSV_PITCH_UM ** 2 / _UM2_PER_MM2 \
    + _CONTROLLER_MM2_PER_GBPS


def _check_real(field: str, value: object, *, minimum: float = 0.0, inclusive: bool = False):
    """Return ``value`` as a float if it is a finite real number above ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{field} must be a number, got {value!r}")
    as_float = float(value)
    too_small = as_float < minimum if inclusive else as_float <= minimum
    if not math.isfinite(as_float) or too_small:
        bound = ">=" if inclusive else ">"
        raise ValueError(f"{field} must be finite and {bound} {minimum:g}, got {value!r}")
    return as_float


def _check_width(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field} must be an int number of bits, got {value!r}")
    if value < 1:
        raise ValueError(f"{field} must be >= 1 bit, got {value!r}")
    return value


@dataclass(frozen=True)
class AreaBreakdown:
    """Area of a design by component, in mm² at :data:`PROCESS_NODE`.

    Members
    -------
    array : float
        The systolic array's PEs (multiplier, accumulator adder and register, operand and
        result pipeline registers). rooftile's array is output-stationary: accumulators
        live in the PEs, so there is no separate accumulator logic.
    sram : float
        Operand scratchpads and accumulator memory.
    dram_interface : float
        PHY and controller for the off-chip DRAM bandwidth.
    vector_unit : float
        The softmax vector unit.
    """

    array: float = 0.0
    sram: float = 0.0
    dram_interface: float = 0.0
    vector_unit: float = 0.0

    @property
    def total(self) -> float:
        """Sum of all components, mm²."""
        return sum(getattr(self, f.name) for f in fields(self))

    def __add__(self, other: "AreaBreakdown") -> "AreaBreakdown":
        """Component-wise sum: two blocks side by side."""
        if not isinstance(other, AreaBreakdown):
            return NotImplemented
        return AreaBreakdown(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                                for f in fields(self)})


def pe_register_bits(data_width: int, acc_width: int) -> int:
    """Flip-flops in one rooftile PE (``hdl/pe.py``).

    A and B operand pipeline registers (``2 * data_width``), the control bits travelling
    with A (``valid``, ``last``: 2), the accumulator (``acc_width``) and the result-chain
    register (``acc_width`` value plus a ``valid`` bit).
    """
    return 2 * data_width + 2 + acc_width + acc_width + 1


def mac_area_mm2(data_width: int, acc_width: int) -> float:
    """Laid-out area of one PE: a ``data_width``-bit signed MAC into ``acc_width`` bits.

    ``LAYOUT_OVERHEAD x (multiplier + adder + registers)``: a ``data_width²`` multiplier, an
    ``acc_width``-bit adder and :func:`pe_register_bits` flip-flops, at the per-bit areas of
    :data:`MULTIPLIER_UM2_PER_BIT2`, :data:`ADDER_UM2_PER_BIT`, :data:`REGISTER_UM2_PER_BIT`.

    NB: the PE's muxes (accumulate or restart, pass a result up) are not components of
    their own; they fall under :data:`LAYOUT_OVERHEAD`.

    Raises
    ------
    TypeError, ValueError
        If a width is not a positive int, or ``acc_width < 2 * data_width`` (too narrow for
        one full product).
    """
    _check_width("data_width", data_width)
    _check_width("acc_width", acc_width)
    if acc_width < 2 * data_width:
        raise ValueError(f"acc_width must be >= 2 * data_width = {2 * data_width} to hold "
                         f"one product, got {acc_width!r}")
    um2 = (MULTIPLIER_UM2_PER_BIT2 * data_width ** 2 + ADDER_UM2_PER_BIT * acc_width
           + REGISTER_UM2_PER_BIT * pe_register_bits(data_width, acc_width))
    return LAYOUT_OVERHEAD * um2 / _UM2_PER_MM2


def sram_area_mm2(bytes_: float) -> float:
    """Area of ``bytes_`` bytes of SRAM at :data:`SRAM_UM2_PER_BIT` (0 for 0 bytes).

    Raises
    ------
    TypeError, ValueError
        If ``bytes_`` is not a finite number >= 0.
    """
    bytes_ = _check_real("bytes_", bytes_, inclusive=True)
    return bytes_ * 8 * SRAM_UM2_PER_BIT / _UM2_PER_MM2


def _gbps(field: str, bytes_per_cycle: object, clock_Hz: object) -> float:
    bytes_per_cycle = _check_real(field, bytes_per_cycle)
    clock_Hz = _check_real("clock_Hz", clock_Hz)
    return bytes_per_cycle * clock_Hz / 1e9


def dram_interface_area_mm2(bytes_per_cycle: "float | Fraction", clock_Hz: float = 1e9) -> float:
    """Area of the HBM PHY and controller that deliver ``bytes_per_cycle`` at ``clock_Hz``.

    Raises
    ------
    TypeError, ValueError
        If either argument is not a finite number > 0.
    """
    return _gbps("bytes_per_cycle", bytes_per_cycle, clock_Hz) * DRAM_INTERFACE_MM2_PER_GBPS


def vector_unit_area_mm2(lanes: int, data_width: int, acc_width: int) -> float:
    """Area of rooftile's softmax vector unit (``hdl/vector_unit.py``) with ``lanes`` lanes.

    Per lane, from the unit's datapath: a ``acc_width x SCALE_BITS`` multiplier (scaled
    exponent) and an ``(exp_bits + 1) x (RECIP_BITS + 1)`` one (``e x R``); adders for the
    running max, the difference to the max, the sum of exps and ``DIV_BITS_PER_CYCLE``
    restoring-divider steps; registers for the max, ``y``, ``e``, sum, remainder and
    reciprocal. Adders and registers of the sum and divider are taken as ``acc_width`` wide.

    NB: ignores the shared 32-entry exp table, command decode and lane masks (small next to
    ``lanes`` copies of the datapath), and the barrel shifter of ``LUT[f] >> n``.
    """
    # Imported here: the analysis layer does not otherwise depend on the RTL package.
    from rooftile.hdl.fixed_point import DIV_BITS_PER_CYCLE, RECIP_BITS, SCALE_BITS, exp_bits

    lanes = positive_int("lanes", lanes)
    _check_width("data_width", data_width)
    _check_width("acc_width", acc_width)
    e_bits = exp_bits(data_width) + 1
    multiplier_bits2 = acc_width * SCALE_BITS + e_bits * (RECIP_BITS + 1)
    adder_bits = acc_width * (3 + DIV_BITS_PER_CYCLE)
    register_bits = 4 * acc_width + 1 + e_bits + RECIP_BITS + 1
    um2 = (MULTIPLIER_UM2_PER_BIT2 * multiplier_bits2 + ADDER_UM2_PER_BIT * adder_bits
           + REGISTER_UM2_PER_BIT * register_bits)
    return lanes * LAYOUT_OVERHEAD * um2 / _UM2_PER_MM2


def tile_area(config, clock_Hz: float | None = None) -> AreaBreakdown:
    """Area of a rooftile tile built from ``config`` (a ``TileConfig``); ``clock_Hz``
    None reads ``config.clock_Hz``.

    - array: ``rows x cols`` PEs of :func:`mac_area_mm2` at the config's widths;
    - sram: operand scratchpads A and B (``sp_depth`` entries of ``rows`` resp. ``cols``
      operands of ``data_width`` bits) and the accumulator memory (``acc_depth`` entries of
      ``cols`` x ``acc_width`` bits);
    - dram_interface: PHY and controller for ``dram_bytes_per_cycle`` at ``clock_Hz``;
    - vector_unit: :func:`vector_unit_area_mm2` with ``cols`` lanes.

    NB: the instruction memory (``program_depth``), queues, DMA and control are not
    counted; the DRAM itself is off the die.
    """
    sp_bits = config.sp_depth * (config.rows + config.cols) * config.data_width
    acc_bits = config.acc_depth * config.cols * config.acc_width
    return AreaBreakdown(
        array=config.rows * config.cols * mac_area_mm2(config.data_width, config.acc_width),
        sram=sram_area_mm2((sp_bits + acc_bits) / 8),
        dram_interface=dram_interface_area_mm2(
            config.dram_bytes_per_cycle, config.clock_Hz if clock_Hz is None else clock_Hz),
        vector_unit=vector_unit_area_mm2(config.cols, config.data_width, config.acc_width),
    )


def default_acc_width(data_width: int) -> int:
    """Accumulator width for a GEMV of ``data_width``-bit operands: the product plus 16 bits
    of headroom (65,536-term reductions); 32 for int8, 48 for int16, as rooftile uses."""
    return 2 * _check_width("data_width", data_width) + 16
