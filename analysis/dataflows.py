"""Output- against weight-stationary: the same scaled ops measured on two tiles that
differ only in their dataflow (:data:`~rooftile.hdl.params.DATAFLOWS`).

Both tiles run the same programs' arithmetic on the same array, DRAM and buffers, so
the difference in cycles is the dataflow's alone: which operand a block keeps in the
array, how often it reloads it (weights under WS, partial sums drained under OS) and
how well each op's shape fills the array. Per op the table gives each dataflow's RTL
cycles, overall utilisation (useful MACs over the peak for those cycles) and mapping
efficiency (useful MACs per busy array cycle); the figure plots the utilisations.
"""

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .comparison import OpMeasurement

__all__ = ["SHORT", "dataflow_rows", "plot_dataflow_utilization"]

#: Column prefixes of the dataflows.
SHORT = {"output_stationary": "OS", "weight_stationary": "WS"}


def _aligned(by_dataflow: Mapping[str, Sequence[OpMeasurement]]) -> list[tuple]:
    """The ops as ``(workload, op)`` with each dataflow's measurement of it, checked to
    be the same ops in the same order under every dataflow."""
    if len(by_dataflow) < 2:
        raise ValueError(f"a dataflow comparison needs two dataflows, got "
                         f"{sorted(by_dataflow)}")
    unknown = set(by_dataflow) - set(SHORT)
    if unknown:
        raise ValueError(f"unknown dataflows {sorted(unknown)}; known: {sorted(SHORT)}")
    keys = {name: [(m.workload, m.op) for m in ms] for name, ms in by_dataflow.items()}
    first, *rest = keys.values()
    if any(other != first for other in rest):
        raise ValueError("the dataflows' measurements must be the same ops in the same "
                         "order (one study's workloads run on each)")
    return [(key, {name: by_dataflow[name][i] for name in by_dataflow})
            for i, key in enumerate(first)]


def dataflow_rows(by_dataflow: Mapping[str, Sequence[OpMeasurement]]) -> list[dict]:
    """One row per op: each dataflow's cycles, utilisation and mapping efficiency (in
    percent) and the cycles of every other dataflow over the first one's.

    Raises
    ------
    ValueError
        Fewer than two dataflows, an unknown one, or measurements of different ops.
    """
    rows = []
    names = list(by_dataflow)
    for (workload, op), ms in _aligned(by_dataflow):
        row = {"workload": workload, "op": op, "scaled_shape": ms[names[0]].scaled_shape}
        for name in names:
            m, short = ms[name], SHORT[name]
            row[f"{short}_cycles"] = m.measured_cycles
            row[f"{short}_util_pct"] = round(100 * m.utilization, 1)
            row[f"{short}_mapping_pct"] = round(100 * m.mapping_efficiency, 1)
        for name in names[1:]:
            row[f"{SHORT[name]}/{SHORT[names[0]]}_cycles"] = round(
                ms[name].measured_cycles / ms[names[0]].measured_cycles, 3)
        rows.append(row)
    return rows


def plot_dataflow_utilization(by_dataflow: Mapping[str, Sequence[OpMeasurement]]) -> Figure:
    """Per op (labelled ``workload: op``), one bar per dataflow: the RTL's array
    utilisation."""
    ops = _aligned(by_dataflow)
    labels = [f"{workload}: {op}" for (workload, op), _ in ops]
    fig = Figure(figsize=(max(8, 0.45 * len(ops) + 2), 5.5), layout="constrained")
    ax = fig.add_subplot()
    positions = np.arange(len(ops))
    width = 0.8 / len(by_dataflow)
    for i, name in enumerate(by_dataflow):
        ax.bar(positions + (i - (len(by_dataflow) - 1) / 2) * width,
               [100 * ms[name].utilization for _, ms in ops], width,
               label=name.replace("_", "-"))
    ax.set_xticks(positions, labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("Array utilization on the RTL [%]")
    ax.set_title("Same scaled ops, output- against weight-stationary tile")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig
