"""Sensitivity of the verdict to each estimated constant: the value at which it flips.

Each constant of :class:`~rooftile.analysis.cost.CostConstants` is swept over the range
:data:`RANGES` documents (default included), the verdict is recomputed with everything else
at its default, and every decision (throughput and energy, per machine, workload, batch and
unit group) that changes is reported with the swept value nearest the default at which it
does, on each side.

NB: the RTL proxies keep the compute to bandwidth ratios of the default constants; a swept
variant takes the derates of the nearest proxy (:func:`~rooftile.analysis.verdict.tile_ratio`).
"""

import dataclasses

from .cost import DEFAULT_CONSTANTS
from .verdict import verdict

__all__ = ["RANGES", "sensitivity"]

#: Swept values per constant, and why that range.
RANGES = {
    "pim_capacity_tax": ((0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5),
                         "Samsung's 25% [S34] halved to doubled"),
    "base_die_logic_penalty": ((0.5, 1.0, 1.5, 2.5, 4.0, 6.3),
                               "N5 base die (1) to 28 nm-class density (6.3) [S27, S53]"),
    "tsv_path_mm2_per_GBps": ((0.0045, 0.009, 0.018, 0.036, 0.072),
                              "the estimate / 4 to x 4"),
    "mac_um2": ((92.0, 183.0, 263.0, 366.0), "5 nm MAC [S29] / 2 to x 2 (263: at 7 nm)"),
    "unit_clock_Hz": ((0.5e9, 1e9, 1.5e9, 2e9), "0.5 to 2 GHz"),
    "link_switch_factor": ((1.0, 2.0, 4.0, 8.0), "PHY alone to 4 switch-side PHYs"),
    "wafer_usd": ((9_346.0, 13_495.0, 16_988.0, 20_000.0), "N7 2020 to N3-class [S53, S69, S70]"),
    "defect_density_per_cm2": ((0.07, 0.11, 0.2), "[S68] to [S53]"),
    "mac_pJ": ((0.047, 0.094, 0.2, 0.71), "half the estimate to H100's whole-chip pJ/FLOP [S3]"),
    "sram_pJ_per_bit": ((0.05, 0.16, 0.3), "[S32] L1 / 3 to L2"),
    "dram_pJ_per_bit": ((3.59, 3.9, 5.5, 7.0), "HBM2-class [S32] to the outlier of [S33]"),
    "logic_die_pJ_per_bit": ((1.56, 3.29, 3.59), "bank-group [S32] to an external read"),
    "bank_pJ_per_bit": ((0.3, 0.55, 1.56), "[S32] bank to bank group"),
    "link_pJ_per_bit": ((1.3, 5.5), "NVLink-C2C [S61] to long-reach SerDes [S61]"),
}

_DECISIONS = ("verdict", "energy_verdict")


def _decisions(rows):
    return {(r["machine"], r["workload"], r["group"], kind): r[kind]
            for r in rows if r["variant"] == r["group"] for kind in _DECISIONS}


def sensitivity(layers, runs, machines, dtype, context, ep_devices, ranges=None):
    """Rows ``{constant, range, machine, workload, group, decision, default, flips}``, one
    per decision that flips inside its constant's range, and one ``"no flip"`` row per
    constant that flips nothing."""
    ranges = RANGES if ranges is None else ranges
    default = _decisions(verdict(layers, runs, machines, dtype, context, ep_devices))
    out = []
    for name, (values, why) in ranges.items():
        at = getattr(DEFAULT_CONSTANTS, name)
        below = sorted((v for v in values if v < at), reverse=True)
        above = sorted(v for v in values if v > at)
        found = {}
        for side in (below, above):
            seen = set()
            for value in side:
                constants = dataclasses.replace(DEFAULT_CONSTANTS, **{name: value})
                got = _decisions(verdict(layers, runs, machines, dtype, context, ep_devices,
                                         constants))
                for key, decision in got.items():
                    if decision != default[key] and key not in seen:
                        seen.add(key)
                        found.setdefault(key, []).append(f"{value:g} -> {decision}")
        for (machine, workload, group, kind), flips in found.items():
            out.append({"constant": name, "default": f"{at:g}", "range": why,
                        "machine": machine, "workload": workload, "group": group,
                        "decision": kind, "verdict_at_default": default[(machine, workload,
                                                                        group, kind)],
                        "flips": "; ".join(flips)})
        if not found:
            out.append({"constant": name, "default": f"{at:g}", "range": why,
                        "flips": f"no flip over {', '.join(f'{v:g}' for v in values)}"})
    return out
