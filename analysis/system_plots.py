"""Figures of the system-level quantities: each is ``plot_<name>(rows) -> Figure``.

Kept apart from :mod:`.plots` (per-op roofline figures); the ``rooftile claims`` command
saves these when given ``--out``. Built on ``matplotlib.figure.Figure``, never pyplot.
"""

from collections.abc import Sequence

from matplotlib.figure import Figure

from .system import BalancePoint, TpotPoint

__all__ = ["plot_balance", "plot_tpot_vs_batch"]


def plot_balance(points: Sequence[BalancePoint]) -> Figure:
    """B_cap (solid) and B_MoE (dashed, MoE models only) against context, one colour per model:
    where B_cap falls below B_MoE, memory capacity, not compute, stops the batch."""
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for index, model in enumerate(dict.fromkeys(p.model for p in points)):
        mine = [p for p in points if p.model == model]
        colour = f"C{index}"
        axes.plot([p.context for p in mine], [max(p.b_cap, 1) for p in mine], "o-", color=colour,
                  label=f"{model} B_cap")
        if mine[0].b_moe is not None:
            axes.plot([p.context for p in mine], [p.b_moe for p in mine], "--", color=colour,
                      label=f"{model} B_MoE")
    first = points[0]
    axes.set(xscale="log", yscale="log", xlabel="context (tokens)", ylabel="system batch (sequences)",
             title=f"Capacity vs MoE ridge batch, {first.devices} x {first.machine}")
    axes.legend(fontsize="small")
    axes.grid(True, which="both", alpha=0.3)
    return figure


def plot_tpot_vs_batch(points: Sequence[TpotPoint], target_s: float | None = None) -> Figure:
    """TPOT against system batch, one line per interconnect, with the TPOT target if given."""
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for link in dict.fromkeys(p.interconnect for p in points):
        mine = [p for p in points if p.interconnect == link]
        axes.plot([p.batch for p in mine], [p.tpot_s * 1e3 for p in mine], "o-", label=link)
    if not points:  # not even one sequence fits: say so rather than draw empty axes silently
        axes.text(0.5, 0.5, "no batch fits in memory", ha="center", va="center", transform=axes.transAxes)
        return figure
    if target_s is not None:
        axes.axhline(target_s * 1e3, color="black", linestyle=":", label=f"target {target_s * 1e3:g} ms")
    first = points[0]
    axes.set(xscale="log", yscale="log", xlabel="system batch (sequences)", ylabel="TPOT (ms)",
             title=f"{first.model} decode on {first.machine}, context {first.context}")
    axes.legend(fontsize="small")
    axes.grid(True, which="both", alpha=0.3)
    return figure
