"""Figures of the analysis, one function per figure, each returning a matplotlib Figure.

Figures are built on ``matplotlib.figure.Figure`` directly, never through pyplot, so no
display or global backend state is involved and the caller decides where to save them.
"""

import itertools
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from .claims import SweepPoint
from .comparison import ATTENTIONS, GROUPS, OpMeasurement, by_workload
from .hardware import HardwareSpec, get_hardware
from .report import OpRow

__all__ = ["plot_roofline", "plot_intensity_vs_batch", "plot_time_breakdown", "plot_utilization_comparison",
           "plot_tile_roofline", "plot_layer_time", "plot_chip_timeline"]

#: Marker of each analysis group in :func:`plot_tile_roofline`.
GROUP_MARKERS = dict(zip(GROUPS, "osD^vP"))


def _roof(ax, intensities: Sequence[float], peak: float, bandwidth: float, label: str) -> None:
    """Draw ``min(peak, intensity x bandwidth)`` a decade either side of ``intensities``."""
    x = np.logspace(np.log10(min(intensities)) - 1, np.log10(max(intensities)) + 1, 200)
    ax.loglog(x, np.minimum(peak, x * bandwidth), color="black", label=label)


def _stacked_bars(ax, categories: Sequence[str], series: Sequence[str], value) -> None:
    """One bar per category, stacked from ``value(category, name)`` for each name of ``series``."""
    bottom = np.zeros(len(categories))
    colours = colormaps["tab20"].colors
    for i, name in enumerate(series):
        heights = np.array([value(category, name) for category in categories], dtype=float)
        ax.bar(categories, heights, bottom=bottom, label=name, color=colours[i % len(colours)])
        bottom += heights
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))


def _points(rows: Sequence[OpRow]) -> list[tuple[float, float, str, str]]:
    """Distinct (intensity, attainable, bound, label) points, sorted by intensity.

    Ops at the same point (the attention of a dense and an MoE layer, an expert's up and
    down projections) share one marker and one label listing their names.
    """
    merged: dict[tuple[float, float], tuple[str, list[str]]] = {}
    for row in rows:
        key = (round(np.log10(row.intensity_flop_per_byte), 3), round(np.log10(row.attainable_flop_per_s), 3))
        bound, names = merged.setdefault(key, (row.bound, []))
        if row.op not in names:
            names.append(row.op)
    return sorted((10 ** i, 10 ** a, bound, ", ".join(names)) for (i, a), (bound, names) in merged.items())


def plot_roofline(rows: Sequence[OpRow], hw: "str | HardwareSpec", dtype: str = "bf16") -> Figure:
    """Log-log roofline of ``hw`` with one labelled point per op of ``rows``.

    Ops that move no DRAM bytes (fused softmax) have infinite intensity and are listed in
    the title instead of plotted.
    """
    hw = get_hardware(hw)
    peak, ridge = hw.peak_flop_per_s(dtype), hw.ridge_flop_per_byte(dtype)
    finite = [row for row in rows if np.isfinite(row.intensity_flop_per_byte)]
    omitted = sorted({row.op for row in rows if not np.isfinite(row.intensity_flop_per_byte)})
    intensities = [row.intensity_flop_per_byte for row in finite] + [ridge]

    fig = Figure(figsize=(9, 6), layout="constrained")
    ax = fig.add_subplot()
    _roof(ax, intensities, peak, hw.bandwidth_bytes_per_s, f"{hw.name} roof ({dtype})")
    ax.axvline(ridge, color="grey", linestyle=":", label=f"ridge {ridge:.0f} FLOP/byte")
    # Ops cluster near the same intensity, so points carry numbers and a key names them.
    key = []
    for number, (intensity, attainable, bound, label) in enumerate(_points(finite), 1):
        ax.plot(intensity, attainable, "o", color="tab:red" if bound == "memory" else "tab:blue")
        ax.annotate(str(number), (intensity, attainable), textcoords="offset points",
                    xytext=(5, -10 if number % 2 else 4), fontsize=7)
        key.append(f"{number}: {label} ({intensity:.3g} FLOP/byte)")
    ax.text(0.01, 0.99, "\n".join(key), transform=ax.transAxes, va="top", fontsize=7,
            bbox=dict(facecolor="white", alpha=0.8, edgecolor="grey"))
    ax.plot([], [], "o", color="tab:red", label="memory-bound op")
    ax.plot([], [], "o", color="tab:blue", label="compute-bound op")
    ax.set_xlabel("Arithmetic intensity [FLOP/byte]")
    ax.set_ylabel("Attainable performance [FLOP/s]")
    title = f"Roofline: {rows[0].model} {rows[0].phase}, batch {rows[0].batch}, context {rows[0].context}"
    if omitted:
        title += f"\n(no DRAM bytes, not plotted: {', '.join(omitted)})"
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_intensity_vs_batch(points: Sequence[SweepPoint], hw: "str | HardwareSpec", dtype: str = "bf16") -> Figure:
    """Intensity against batch size, one line per op type, with ``hw``'s ridge point."""
    hw = get_hardware(hw)
    fig = Figure(figsize=(9, 6), layout="constrained")
    ax = fig.add_subplot()
    for series in dict.fromkeys(point.series for point in points):
        line = [point for point in points if point.series == series]
        ax.loglog([p.batch for p in line], [p.intensity_flop_per_byte for p in line], marker=".",
                  label=f"{series} ({line[0].model})")
    ridge = hw.ridge_flop_per_byte(dtype)
    ax.axhline(ridge, color="black", linestyle="--", label=f"{hw.name} ridge {ridge:.0f} FLOP/byte ({dtype})")
    ax.set_xlabel("Batch size [sequences per device]")
    ax.set_ylabel("Arithmetic intensity [FLOP/byte]")
    ax.set_title(f"Decode intensity against batch size ({dtype})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_time_breakdown(rows: Sequence[OpRow]) -> Figure:
    """Stacked bar per layer kind: the roofline time of each op, in microseconds."""
    layers = list(dict.fromkeys(row.layer for row in rows))
    ops = list(dict.fromkeys(row.op for row in rows))
    fig = Figure(figsize=(8, 6), layout="constrained")
    ax = fig.add_subplot()
    _stacked_bars(ax, layers, ops,
                  lambda layer, op: sum(r.time_s for r in rows if r.layer == layer and r.op == op) * 1e6)
    ax.set_xlabel("Layer")
    ax.set_ylabel("Predicted time per layer [us]")
    first = rows[0]
    ax.set_title(f"{first.model} {first.phase} on {first.hardware}: batch {first.batch}, context {first.context}, "
                 f"{first.dtype}, EP={first.ep_devices}", fontsize=10)
    return fig


def plot_utilization_comparison(measurements: Sequence[OpMeasurement]) -> Figure:
    """Per op, grouped by workload: measured, tile-model and roofline array utilisation."""
    series = (("measured (RTL)", "utilization"), ("tile model", "model_utilization"),
              ("roofline", "roofline_utilization"))
    ordered, positions, spans, x = [], [], [], 0
    for workload, ops in by_workload(measurements).items():
        spans.append((x + (len(ops) - 1) / 2, workload))
        ordered += ops
        positions += range(x, x + len(ops))
        x += len(ops) + 1  # a blank slot between workloads
    fig = Figure(figsize=(max(8, 0.5 * x + 2), 5.5), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(series)
    for i, (label, metric) in enumerate(series):
        ax.bar(np.array(positions) + (i - (len(series) - 1) / 2) * width,
               [100 * getattr(m, metric) for m in ordered], width, label=label)
    ax.set_xticks(positions, [m.op for m in ordered], rotation=45, ha="right", fontsize=8)
    for centre, workload in spans:
        ax.text(centre, 1.01, workload, transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("Array utilization [%]")
    ax.set_title("Array utilization of the scaled ops: RTL against tile model and roofline", pad=18)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_tile_roofline(measurements: Sequence[OpMeasurement]) -> Figure:
    """The tile's roofline in FLOP/cycle with each op as measured, and its full-size intensity.

    A filled marker is the scaled op at its own intensity and the performance the RTL
    achieved; a hollow marker at the same height, joined by a dotted line, is the intensity
    of the full-size op it stands for. Colour is the attention type, marker the group.

    Raises
    ------
    ValueError
        If the measurements come from tiles with different peaks or bandwidths.
    """
    tiles = {(m.peak_macs_per_cycle, m.dram_bytes_per_cycle) for m in measurements}
    if len(tiles) != 1:
        raise ValueError(f"measurements must come from one tile, got (MAC/cycle, B/cycle) {sorted(tiles)!r}")
    ((macs, bandwidth),) = tiles
    peak = 2 * macs
    finite = [m for m in measurements if np.isfinite(m.intensity)]
    intensities = ([m.intensity for m in finite] + [m.full_intensity for m in finite if np.isfinite(m.full_intensity)]
                   + [peak / bandwidth])
    colours = dict(zip(ATTENTIONS, colormaps["tab10"].colors))

    fig = Figure(figsize=(9, 6), layout="constrained")
    ax = fig.add_subplot()
    _roof(ax, intensities, peak, bandwidth, f"tile roof: {peak} FLOP/cycle, {bandwidth:g} B/cycle")
    ax.axvline(peak / bandwidth, color="grey", linestyle=":", label=f"ridge {peak / bandwidth:.3g} FLOP/byte")
    # One label per attention point (ops of equal scaled shape share a point; the legend
    # names the groups), so labels do not pile up.
    labels: dict[tuple[float, float], list[str]] = {}
    for m in finite:
        achieved, colour, marker = m.flop / m.measured_cycles, colours[m.attention], GROUP_MARKERS[m.group]
        ax.plot(m.intensity, achieved, marker, color=colour)
        if m.group == "attention":
            labels.setdefault((round(m.intensity, 6), round(achieved, 6)), []).append(m.model)
        if np.isfinite(m.full_intensity):
            ax.plot([m.intensity, m.full_intensity], [achieved, achieved], ":", color=colour, linewidth=0.8)
            ax.plot(m.full_intensity, achieved, marker, color=colour, markerfacecolor="none")
    for (x, y), models in labels.items():
        ax.annotate(", ".join(dict.fromkeys(models)) + ": attention", (x, y), textcoords="offset points",
                    xytext=(6, -10), fontsize=7)
    # Proxy artists: one legend entry per attention type and group present, not per point.
    for attention in dict.fromkeys(m.attention for m in finite):
        ax.plot([], [], "-", color=colours[attention], linewidth=4, label=f"attention: {attention}")
    for group in dict.fromkeys(m.group for m in finite):
        ax.plot([], [], GROUP_MARKERS[group], color="grey", label=f"group: {group}")
    ax.plot([], [], "o", color="grey", label="scaled op, as measured")
    ax.plot([], [], "o", color="grey", markerfacecolor="none", label="full-size op's intensity")
    ax.set_xlabel("Arithmetic intensity [FLOP/byte]")
    ax.set_ylabel("Performance [FLOP/cycle]")
    ax.set_title("Scaled ops on the RTL tile against its roofline")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return fig


def plot_layer_time(measurements: Sequence[OpMeasurement], machine: str) -> Figure:
    """Stacked bar per workload: the full-size layer's extrapolated time on ``machine``,
    by analysis group (ops without a time for ``machine`` are left out)."""
    workloads = list(by_workload(measurements))
    groups = [group for group in GROUPS if any(m.group == group for m in measurements)]

    def micros(workload: str, group: str) -> float:
        return 1e6 * sum(m.full_time_s.get(machine, 0.0) for m in measurements
                         if m.workload == workload and m.group == group)

    fig = Figure(figsize=(max(6, 1.5 * len(workloads) + 3), 6), layout="constrained")
    ax = fig.add_subplot()
    _stacked_bars(ax, workloads, groups, micros)
    ax.set_xlabel("Workload")
    ax.set_ylabel(f"Time per decode layer on {machine} (us)")
    ax.set_title(f"Full-size decode layer on {machine}, extrapolated by the tile model, by group")
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    return fig


#: What a timeline's share panel stacks per op: counter -> label.
TIMELINE_SHARES = {"array_busy": "array computes", "dma_busy": "DRAM moves data",
                   "load_wait_peer": "loads wait for the other engine",
                   "dram_wait": "requests wait for the channel"}


def plot_chip_timeline(timeline: dict, title: str) -> Figure:
    """Per engine, each op's span (from the previous op's last STORE to its own) and,
    below, the shares of that span in which the array computed, DRAM moved data, loads
    waited for the other engine and requests waited for the channel.

    ``timeline`` is ``{engine: [(op, start, end, {counter: cycles in the span})]}``, as
    :meth:`~rooftile.sim.compile.chip.ChipProgram.timeline` reads it from the RTL's trace.
    """
    engines = list(timeline)
    figure = Figure(figsize=(11, 2.2 + 1.4 * len(engines)))
    gantt, shares = figure.subplots(2, 1, gridspec_kw={"height_ratios": [1, 1.4]})
    # One colour per op, its sub-batches alike (labels "op /k"); a layer may have more
    # ops than the palette has colours.
    names = sorted({op.split(" /")[0] for spans in timeline.values() for op, *_ in spans})
    colours = dict(zip(names, itertools.cycle(colormaps["tab20"].colors)))
    for lane, engine in enumerate(engines):
        for op, start, end, _ in timeline[engine]:
            gantt.broken_barh([(start, end - start)], (lane - 0.4, 0.8),
                              color=colours[op.split(" /")[0]])
            if end - start > 0.04 * max(e for spans in timeline.values() for *_, e, _ in spans):
                gantt.text((start + end) / 2, lane, op, ha="center", va="center", fontsize=6)
    gantt.set_yticks(range(len(engines)), engines)
    gantt.set_xlabel("cycle")
    gantt.set_title(title)
    labels, heights = [], {counter: [] for counter in TIMELINE_SHARES}
    for engine in engines:
        for op, start, end, counts in timeline[engine]:
            labels.append(f"{engine}: {op}")
            for counter in TIMELINE_SHARES:
                heights[counter].append(counts[counter] / max(1, end - start))
    x = np.arange(len(labels))
    width = 0.8 / len(TIMELINE_SHARES)
    for i, (counter, label) in enumerate(TIMELINE_SHARES.items()):
        shares.bar(x + (i - 1.5) * width, heights[counter], width, label=label)
    shares.set_xticks(x, labels, rotation=60, ha="right", fontsize=6)
    shares.set_ylabel("share of the op's span")
    shares.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    figure.tight_layout()
    return figure
