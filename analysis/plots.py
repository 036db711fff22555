"""Figures of the analysis, one function per figure, each returning a matplotlib Figure.

Figures are built on ``matplotlib.figure.Figure`` directly, never through pyplot, so no
display or global backend state is involved and the caller decides where to save them.
"""

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from .claims import SweepPoint
from .hardware import HardwareSpec, get_hardware
from .report import OpRow

__all__ = ["plot_roofline", "plot_intensity_vs_batch", "plot_time_breakdown"]


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
    x = np.logspace(np.log10(min(intensities)) - 1, np.log10(max(intensities)) + 1, 200)

    fig = Figure(figsize=(9, 6), layout="constrained")
    ax = fig.add_subplot()
    ax.loglog(x, np.minimum(peak, x * hw.bandwidth_bytes_per_s), color="black", label=f"{hw.name} roof ({dtype})")
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
    bottom = np.zeros(len(layers))
    colours = colormaps["tab20"].colors
    for i, op in enumerate(ops):
        times = np.array([sum(r.time_s for r in rows if r.layer == layer and r.op == op) for layer in layers]) * 1e6
        ax.bar(layers, times, bottom=bottom, label=op, color=colours[i % len(colours)])
        bottom += times
    ax.set_xlabel("Layer")
    ax.set_ylabel("Predicted time per layer [us]")
    first = rows[0]
    ax.set_title(f"{first.model} {first.phase} on {first.hardware}: batch {first.batch}, context {first.context}, "
                 f"{first.dtype}, EP={first.ep_devices}", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return fig
