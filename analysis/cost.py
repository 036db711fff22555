"""One machine cost model, in US dollars of bill of materials, and the variants it prices at
equal cost.

A machine (:data:`MACHINES`: H100- and B200-class) is its compute die(s), its HBM stacks and
its package. Every variant of the verdict costs the baseline plus the price of one
*near-memory unit* (:data:`UNITS`): an attention unit on the HBM base die (``logic-die``), an
attention unit in the DRAM banks (``bank-level``), or a Duplex-style PIM on the base die
that runs the MoE experts (``duplex``). The same money spent on the baseline instead buys
more compute, more HBM bandwidth, more capacity or a faster interconnect, each up to the
bound a package can carry (:func:`variants`).

Dollars are the one currency because the parts are unlike (logic mm², DRAM GB, TB/s of
stacks, links); silicon area is reported beside them (``area_mm2``). Tags ``[Sn]`` are the
sources of ``shared/reference/cost-energy-facts.md``; a constant without a source says
*estimate* and how it was made, and :mod:`rooftile.analysis.sensitivity` sweeps it.

NB: no margins, no test or assembly cost beyond the package line, no power delivery or
cooling; a compute die grown past the reticle (858 mm² [S31]) would become another die,
priced here at the same $/good mm².
"""

import dataclasses
import math

from ..hdl.errors import InputError, lookup, name_registry, one_of, positive_float
from .area import TSV_PATH_MM2_PER_GBPS
from .dtypes import element_bytes
from .hardware import HardwareSpec, get_hardware
from .interconnect import InterconnectSpec, get_interconnect

__all__ = ["BASE_DIE_MM2", "CostConstants", "DEFAULT_CONSTANTS", "MachineCost", "MACHINES", "get_machine",
           "UnitDesign", "UNITS", "good_die_usd", "Unit", "Variant", "ALTERNATIVES",
           "variants", "unit_for"]

_WAFER_DIAMETER_MM = 300.0
_WAFER_EDGE_MM = 5.0          # edge exclusion e [S68]
_YIELD_ALPHA = 10.0           # negative-binomial clustering alpha [S68]
#: The most base-die area a unit may take per stack: the 11 x 11 mm HBM3E footprint [S22]
#: (the base die's own area was not found [S27]; its PHY and TSVs share it: an upper bound).
BASE_DIE_MM2 = 121.0


@dataclasses.dataclass(frozen=True)
class CostConstants:
    """The estimated constants of the cost and energy model, in one place so that the
    sensitivity sweep can move each (:func:`dataclasses.replace`).

    Members (each with its source or its estimate)
    -------
    wafer_usd : float
        N5-class wafer, $16,988 (2020) [S53, S68; estimate: CSET]; H100's 4N and B200's 4NP
        are N5-family.
    defect_density_per_cm2 : float
        N5 D0 0.11 /cm² [S68; estimate: Chiplet Actuary] (0.20 in [S53]).
    base_die_logic_penalty : float
        Area of logic on the HBM base die over the same logic on the compute die's node.
        Estimate: 1.0 for a base die on N5 [S27]; about 2.5 on N12FFC+ (N7 96.3 vs
        28 nm 15.3 MTr/mm² [S53] bounds it from above at 6.3).
    tsv_path_mm2_per_GBps : float
        Base-die memory path (data TSVs plus controller) per GB/s of in-stack bandwidth:
        :data:`rooftile.analysis.area.TSV_PATH_MM2_PER_GBPS` (estimate: 40 µm TSV pitch at
        3.2 Gb/s, plus an HBM2E controller per GB/s [S29]).
    mac_um2 : float
        One bf16 MAC at 5 nm, 183 µm² [S29, S53; estimate: LLMCompass FPU model]; an fp8 MAC
        is taken as half (GPUs run fp8 at twice the bf16 rate on the same area [S3]).
    unit_clock_Hz : float
        Clock of a base-die unit. Estimate: 1 GHz (HBM4 base dies are logic dies [S27];
        below the GPU's 1.83 GHz [S3] for thermals under the DRAM stack).
    pim_capacity_tax : float
        Fraction of a stack's capacity a bank-level PIM of Samsung's compute density
        (4 FLOP per pin byte) displaces: 25% (6 GB vs 8 GB) [S34, calc].
    link_switch_factor : float
        A link costs its PHY on the GPU die times this, for the switch port at the other
        end. Estimate: 2 (a port is another PHY of the same size; cables not priced).
    mac_pJ, sram_pJ_per_bit, dram_pJ_per_bit, logic_die_pJ_per_bit, bank_pJ_per_bit,
    link_pJ_per_bit : float
        Energies per event (bf16; an fp8 MAC is half). MAC 0.094 pJ at 7 nm [S50, S52;
        estimate: this sheet, (1.1 + 0.4) / 16]; SRAM 0.16 pJ/bit [S32; estimate: AttAcc];
        external HBM3E read 3.9 pJ/bit [S26]; in-stack reads 3.29 pJ/bit at the base die
        and 0.55 at the bank [S32]; NVLink 1.3 pJ/bit [S60, S61].
    """
    wafer_usd: float = 16_988.0
    defect_density_per_cm2: float = 0.11
    base_die_logic_penalty: float = 1.0
    tsv_path_mm2_per_GBps: float = TSV_PATH_MM2_PER_GBPS
    mac_um2: float = 183.0
    unit_clock_Hz: float = 1e9
    pim_capacity_tax: float = 0.25
    link_switch_factor: float = 2.0
    mac_pJ: float = 0.094
    sram_pJ_per_bit: float = 0.16
    dram_pJ_per_bit: float = 3.9
    logic_die_pJ_per_bit: float = 3.29
    bank_pJ_per_bit: float = 0.55
    link_pJ_per_bit: float = 1.3

    def __post_init__(self):
        for field in dataclasses.fields(self):
            positive_float(field.name, getattr(self, field.name))
        if self.pim_capacity_tax >= 1:
            raise InputError(f"pim_capacity_tax must be below 1 (a fraction of capacity), "
                             f"got {self.pim_capacity_tax!r}")


DEFAULT_CONSTANTS = CostConstants()


def good_die_usd(area_mm2: float, constants: CostConstants = DEFAULT_CONSTANTS) -> float:
    """Dollars of one good die of ``area_mm2``: wafer price over good dies per wafer.

    Dies per wafer ``pi (r - e)^2 / A - pi (d - 2e) / sqrt(2 A)`` and yield
    ``(1 + D0 A / alpha)^-alpha``, alpha = 10 [S68]; no harvesting.
    """
    area = positive_float("area_mm2", area_mm2)
    radius = _WAFER_DIAMETER_MM / 2 - _WAFER_EDGE_MM
    per_wafer = (math.pi * radius ** 2 / area
                 - math.pi * (_WAFER_DIAMETER_MM - 2 * _WAFER_EDGE_MM) / math.sqrt(2 * area))
    if per_wafer < 1:
        raise InputError(f"a die of {area_mm2} mm² does not fit a 300 mm wafer")
    yield_ = (1 + constants.defect_density_per_cm2 * area / 100 / _YIELD_ALPHA) ** -_YIELD_ALPHA
    return constants.wafer_usd / (per_wafer * yield_)


@dataclasses.dataclass(frozen=True)
class MachineCost:
    """A machine as the cost model sees it.

    Members
    -------
    hardware, link : str
        The :mod:`.hardware` and :mod:`.interconnect` presets of its peaks, bandwidth,
        capacity and scale-up link.
    dies, die_mm2 : int, float
        Compute dies and the area of each.
    stacks, stack_GBps : int, float
        Active HBM stacks and the bandwidth of each.
    hbm_usd, package_usd : float
        The HBM and package (interposer, assembly, test) lines of the bill of materials.
    max_bandwidth_Bps, max_memory_bytes : float
        The most HBM bandwidth and capacity a package of this class carries (with source).
    links, link_phy_mm2 : int, float
        Scale-up links and the PHY area of one on the compute die.
    max_link_scale : float
        The fastest interconnect the class can have, over its own (scale-up and
        scale-out links alike).
    domain, scale_out : int, str
        Devices one scale-up (NVLink) domain holds; traffic between domains goes over the
        ``scale_out`` interconnect preset.
    """
    name: str
    hardware: str
    link: str
    dies: int
    die_mm2: float
    stacks: int
    stack_GBps: float
    hbm_usd: float
    package_usd: float
    max_bandwidth_Bps: float
    max_memory_bytes: float
    links: int
    link_phy_mm2: float
    max_link_scale: float
    domain: int
    scale_out: str
    source: str

    @property
    def hw(self) -> HardwareSpec:
        return get_hardware(self.hardware)

    def die_usd_per_mm2(self, constants=DEFAULT_CONSTANTS) -> float:
        """Marginal dollars of one good mm² of compute die, at this die's yield."""
        return good_die_usd(self.die_mm2, constants) / self.die_mm2

    def usd(self, constants=DEFAULT_CONSTANTS) -> dict:
        """The baseline's bill of materials by line."""
        return {"compute_die": self.dies * good_die_usd(self.die_mm2, constants),
                "hbm": self.hbm_usd, "package": self.package_usd}


MACHINES = name_registry((
    MachineCost(
        name="h100", hardware="h100", link="nvlink4",
        dies=1, die_mm2=814.0,                        # GH100 on 4N [S1]
        stacks=5, stack_GBps=670e9,                   # 5 of 6 HBM3 sites, 3.35 TB/s [S3]
        hbm_usd=1_400.0, package_usd=750.0,           # BOM: HBM, CoWoS-S [S30; estimate]
        max_bandwidth_Bps=4.8e12,                     # H200: same die, 6 HBM3e stacks [S4]
        max_memory_bytes=141e9,                       # H200's 141 GB usable [S4]
        links=18, link_phy_mm2=0.965,                 # NVLink4 18 x 50 GB/s [S60]; PHY [S29]
        max_link_scale=2.0,                           # NVLink5, 1.8 TB/s [S60]; IB XDR
                                                      # is twice NDR [S62, S63]
        domain=8, scale_out="ib-ndr",                 # 8-GPU nodes, 400 Gb/s CX7 [S66, S62]
        source="H100 SXM [S1, S3, S30, S60]; bounds from H200 [S4]"),
    MachineCost(
        name="b200", hardware="b200", link="nvlink5",
        dies=2, die_mm2=800.0,                        # estimate: ~800 [S30] (530 in [S8])
        stacks=8, stack_GBps=1e12,                    # 8 HBM3e stacks, 8 TB/s [S7, S10]
        hbm_usd=2_900.0, package_usd=1_100.0,         # BOM: HBM, CoWoS-L [S30; estimate]
        max_bandwidth_Bps=9.6e12,                     # 8 stacks [S17] x 1.2 TB/s HBM3E [S22]
        max_memory_bytes=288e9,                       # B300: 8 x 12-Hi HBM3e [S11]
        links=18, link_phy_mm2=0.965,                 # NVLink5 18 x 100 GB/s [S60]; PHY
                                                      # estimate: NVLink4's [S29]
        max_link_scale=2.0,                           # NVLink6, 3.6 TB/s [S15]; IB XDR
        domain=8, scale_out="ib-ndr",                 # HGX B200: 8 GPUs per node [S10]
        source="B200 [S7, S10, S30, S60]; bounds from [S11, S17, S22]"),
), "machine")


def get_machine(name: "str | MachineCost") -> MachineCost:
    """The :data:`MACHINES` preset called ``name`` (a MachineCost passes through).

    Raises
    ------
    InputError
        No such preset; the message lists the known ones.
    """
    return name if isinstance(name, MachineCost) else lookup(MACHINES, name, "machine")


@dataclasses.dataclass(frozen=True)
class UnitDesign:
    """A near-memory unit's design point.

    Members
    -------
    name : str
    runs : str
        ``"attention"`` or ``"experts"`` (the routed-expert FFNs, Duplex's case).
    bandwidth_multiple : float
        Its in-stack bandwidth over the stacks' pin bandwidth.
    ops_per_byte_bf16 : float
        FLOP per byte of that bandwidth at 16-bit operands; at 8-bit operands the same MACs
        run twice the ops per byte (:meth:`ops_per_byte`).
    placement : str
        ``"logic-die"`` (base die, priced by area) or ``"bank"`` (priced by the capacity it
        displaces).
    """
    name: str
    runs: str
    bandwidth_multiple: float
    ops_per_byte_bf16: float
    placement: str
    source: str

    def ops_per_byte(self, dtype: str) -> float:
        """FLOP per in-stack byte for operands of ``dtype`` (per element width)."""
        return self.ops_per_byte_bf16 * 2 / element_bytes(dtype)


UNITS = name_registry((
    # AttAcc and NeuPIMs put attention in the stack at several times the pin bandwidth
    # [S32, S42]; 4x on the base die and 8 ops/byte at bf16 are estimates of that class
    # (AttAcc's bank-group PIM reaches 8x [S32]; GQA needs 4-8 ops/byte [S44]).
    UnitDesign("logic-die", "attention", 4.0, 8.0, "logic-die",
               "estimate: AttAcc/NeuPIMs class [S32, S42, S44]"),
    # Samsung Aquabolt-XL HBM-PIM: 4x the pin bandwidth inside the stack, 1.2 TFLOP/s FP16
    # over 4 x 307 GB/s, about 1 FLOP per in-stack byte [S34, S45].
    UnitDesign("bank-level", "attention", 4.0, 1.0, "bank",
               "Samsung HBM-PIM [S34, S45]"),
    # Duplex's Logic-PIM on the base die runs the MoE experts (ops/byte >= 1 [S44]); the
    # same hardware as the logic-die unit, so the two are priced alike.
    UnitDesign("duplex", "experts", 4.0, 8.0, "logic-die",
               "Duplex [S44]; hardware of the logic-die unit"),
), "unit")


@dataclasses.dataclass(frozen=True)
class Unit:
    """A unit built into one machine: what it runs and its rates at one operand width."""
    design: UnitDesign
    bandwidth_Bps: float
    peak_flop_per_s: float
    pJ_per_bit: float

    @property
    def kind(self):
        return self.design.name

    @property
    def runs(self):
        return self.design.runs

    def hardware(self, dtype: str) -> HardwareSpec:
        """The unit as a roofline (its peak serves every format: ``peak_flop_per_s`` is
        already the one of ``dtype``)."""
        return HardwareSpec(name=self.kind, peak_bf16_flop_per_s=self.peak_flop_per_s,
                            peak_fp8_flop_per_s=self.peak_flop_per_s,
                            peak_int8_flop_per_s=self.peak_flop_per_s,
                            bandwidth_bytes_per_s=self.bandwidth_Bps,
                            source=self.design.source)


#: What the same money buys instead of a unit, each up to the package's bound.
ALTERNATIVES = ("more_compute", "more_bandwidth", "more_capacity", "faster_interconnect")


@dataclasses.dataclass(frozen=True)
class Variant:
    """One machine organisation and what it costs.

    Members
    -------
    name : str
        ``"baseline"``, a unit kind, or ``"<alternative> (= <unit kind>)"``.
    group : str
        The unit whose price this variant matches ("" for the baseline).
    hw : HardwareSpec
        Peaks, bandwidth and capacity of the compute die and its HBM.
    link, scale_out : InterconnectSpec
        Inside the scale-up domain of ``domain`` devices, and between domains.
    unit : Unit or None
    usd : dict
        Bill of materials by line (``unit`` included when there is one).
    area_mm2 : dict
        Silicon by part: compute die(s), unit on the base die, extra link PHYs.
    bound : str
        Which package bound stopped the spending (empty when the money ran out first); for
        a unit, why it cannot be built (then it is infeasible at every batch).
    """
    name: str
    group: str
    hw: HardwareSpec
    link: InterconnectSpec
    unit: Unit | None
    usd: dict
    area_mm2: dict
    bound: str = ""
    scale_out: InterconnectSpec | None = None
    domain: int = 1

    def link_for(self, devices: int) -> InterconnectSpec:
        """The link a collective over ``devices`` devices crosses."""
        return self.link if devices <= self.domain else self.scale_out

    @property
    def cost_usd(self) -> float:
        return sum(self.usd.values())

    @property
    def total_area_mm2(self) -> float:
        return sum(self.area_mm2.values())


def _unit_area_mm2(machine, design, constants, dtype):
    """Base-die silicon of a logic-die unit over all stacks: its MACs (at the base die's
    logic penalty) and its memory path (TSVs and controller per GB/s)."""
    bandwidth = design.bandwidth_multiple * machine.stack_GBps * machine.stacks
    macs = design.ops_per_byte(dtype) * bandwidth / 2 / constants.unit_clock_Hz
    mac_um2 = constants.mac_um2 * element_bytes(dtype) / 2
    return (macs * mac_um2 / 1e6 * constants.base_die_logic_penalty
            + bandwidth / 1e9 * constants.tsv_path_mm2_per_GBps)


def unit_for(machine, kind, dtype="bf16", constants=DEFAULT_CONSTANTS):
    """``(unit, usd, area_mm2)``: unit ``kind`` built into ``machine`` and its price.

    A logic-die unit costs its base-die area at the compute die's $/good mm² (estimate:
    the base die is on the same N5 family [S27], at a smaller die's better yield, so this
    is an upper bound). A bank-level unit costs the capacity it displaces, restored with
    taller stacks: ``hbm_usd * tax / (1 - tax)`` (fact sheet's ratio 7), where the tax
    grows with the unit's FLOP per pin byte over Samsung's 4 [S34].
    """
    machine, design = get_machine(machine), lookup(UNITS, kind, "unit")
    one_of("dtype", dtype, ("bf16", "fp8"))
    bandwidth = design.bandwidth_multiple * machine.stack_GBps * machine.stacks
    peak = design.ops_per_byte(dtype) * bandwidth
    if design.placement == "bank":
        tax = constants.pim_capacity_tax * design.bandwidth_multiple \
            * design.ops_per_byte_bf16 / 4.0
        if tax >= 1:
            raise InputError(f"unit {kind}: a bank-level PIM of {design.bandwidth_multiple}x "
                             f"at {design.ops_per_byte_bf16} ops/byte displaces {tax:.0%} "
                             f"of the capacity; allowed below 100%")
        usd, area = machine.hbm_usd * tax / (1 - tax), 0.0
        pj = constants.bank_pJ_per_bit
    else:
        area = _unit_area_mm2(machine, design, constants, dtype)
        usd = area * machine.die_usd_per_mm2(constants)
        pj = constants.logic_die_pJ_per_bit
    return Unit(design, bandwidth, peak, pj), usd, area


def _scaled(hw, name, compute=1.0, bandwidth=1.0, memory=1.0):
    peaks = {f"peak_{d}_flop_per_s": getattr(hw, f"peak_{d}_flop_per_s") * compute
             for d in ("bf16", "fp8", "int8")}
    return HardwareSpec(name=name, bandwidth_bytes_per_s=hw.bandwidth_bytes_per_s * bandwidth,
                        memory_bytes=hw.memory_bytes * memory,
                        source=f"{hw.name} x{compute:.4g} compute, x{bandwidth:.4g} bandwidth, "
                        f"x{memory:.4g} capacity", **peaks)


def _alternative(machine, role, group, budget, constants):
    """The baseline with ``budget`` dollars spent on ``role``, up to the package's bound."""
    hw, link = machine.hw, get_interconnect(machine.link)
    scale_out = get_interconnect(machine.scale_out)
    usd, area = machine.usd(constants), {"compute_die": machine.dies * machine.die_mm2}
    name = f"{role} (= {group})"
    scales, bound = {}, ""
    if role == "more_compute":
        extra = budget / machine.die_usd_per_mm2(constants)
        scales["compute"] = 1 + extra / area["compute_die"]
        area["compute_die"] += extra
        usd["compute_die"] += budget
    elif role in ("more_bandwidth", "more_capacity"):
        # HBM bought at the machine's own price per byte/s or per byte, up to the package.
        scale, have, most, what = {
            "more_bandwidth": ("bandwidth", hw.bandwidth_bytes_per_s,
                               machine.max_bandwidth_Bps, "package bandwidth"),
            "more_capacity": ("memory", hw.memory_bytes, machine.max_memory_bytes,
                              "package capacity")}[role]
        usd_per_unit = machine.hbm_usd / have
        wanted = have + budget / usd_per_unit
        got = min(wanted, most)
        bound = what if got < wanted else ""
        scales[scale] = got / have
        usd["hbm"] += (got - have) * usd_per_unit
    elif role == "faster_interconnect":
        per_link_usd = (machine.link_phy_mm2 * constants.link_switch_factor
                        * machine.die_usd_per_mm2(constants))
        wanted = 1 + budget / per_link_usd / machine.links
        scale = min(wanted, machine.max_link_scale)
        bound = "next link generation" if scale < wanted else ""
        extra_links = (scale - 1) * machine.links
        usd["links"] = extra_links * per_link_usd
        area["link_phy"] = extra_links * machine.link_phy_mm2
        link, scale_out = (dataclasses.replace(
            spec, name=f"{spec.name} x{scale:.3g}",
            bandwidth_bytes_per_s=spec.bandwidth_bytes_per_s * scale) for spec in (link, scale_out))
    else:
        raise InputError(f"alternative must be one of {ALTERNATIVES}, got {role!r}")
    return Variant(name, group, _scaled(hw, name, **scales), link, None, usd, area, bound,
                   scale_out, machine.domain)


def variants(machine, kinds=tuple(UNITS), dtype="bf16", constants=DEFAULT_CONSTANTS):
    """The baseline, and per unit kind: the machine with the unit, and the baseline with
    the unit's price spent on each of :data:`ALTERNATIVES` instead.

    A bank-level unit is priced at equal capacity (its variant keeps the baseline's
    capacity, bought back with taller stacks).
    """
    machine = get_machine(machine)
    hw, link = machine.hw, get_interconnect(machine.link)
    base_area = {"compute_die": machine.dies * machine.die_mm2}
    scale_out = get_interconnect(machine.scale_out)
    out = [Variant("baseline", "", _scaled(hw, "baseline"), link, None,
                   machine.usd(constants), base_area, "", scale_out, machine.domain)]
    for kind in kinds:
        unit, usd, area = unit_for(machine, kind, dtype, constants)
        per_stack = area / machine.stacks
        bound = (f"{per_stack:.0f} mm² per stack exceeds the {BASE_DIE_MM2:.0f} mm² base die"
                 if per_stack > BASE_DIE_MM2 else "")
        out.append(Variant(kind, kind, _scaled(hw, kind), link, unit,
                           {**machine.usd(constants), "unit": usd},
                           {**base_area, "unit_base_die": area}, bound, scale_out,
                           machine.domain))
        out += [_alternative(machine, role, kind, usd, constants) for role in ALTERNATIVES]
    return out
