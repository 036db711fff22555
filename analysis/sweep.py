"""A sweep's numbers and report: pure functions of its point records.

Per point (``point_metrics``), from what the RTL measured for each scaled op:

- ``layer_time_us``: the scaled decode layer on the variant's tile (one run of each scaled
  op, the attention on the unit's engine when the point has one, one after the other) at
  the tile's clock: RTL cycles, the variant's own evidence;
- ``tokens_per_s``: the batch over that time;
- ``area_mm2``: the tile's area, plus the unit engine's
  (:func:`~rooftile.analysis.area.tile_area`): the *cost* of a tile variant in the Pareto
  front (the machine cost model prices whole machines, not tile shapes);
- ``full_layer_us``: the full-size layer on the point's machine, each op at its roofline
  derated by its scaled run (:class:`~rooftile.analysis.extrapolation.Derates`), the extra
  DRAM traffic of the compiled program included; unit ops on the unit the cost model
  builds into that machine (:func:`~rooftile.analysis.cost.unit_for`);
- ``energy_per_token_J``: the full-size layer's MACs, SRAM and DRAM bytes at the
  per-event energies of :mod:`~rooftile.analysis.energy`, times the model's layers, over
  the batch (dynamic energy only; no link traffic).
"""

import csv
import math
import re
import os
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .area import tile_area
from .cost import DEFAULT_CONSTANTS, get_machine, unit_for
from .energy import Events, energy_J
from .models import get_model
from .study_report import markdown_table

__all__ = ["point_metrics", "summary_rows", "write_csv", "pareto", "plot_heatmaps",
           "plot_pareto", "best_rows", "write_report", "METRICS"]

#: Heat-map metrics: record key -> (title, unit).
METRICS = {"layer_time_us": ("scaled layer time on the tile", "µs"),
           "energy_per_token_J": ("full-size energy per token", "J")}


def point_metrics(ops, *, config, engine, machine, unit_kind, dtype, model, batch):
    """The metrics of one point (module docstring) from its scaled ops.

    ``ops`` are dicts with ``on`` (``"tile"`` or ``"unit"``), ``cycles`` (RTL),
    ``full_flop``, ``full_bytes`` and the scaled run's ``mapping``, ``dram`` (achieved
    fraction of the DRAM rate), ``traffic`` (program bytes over ideal bytes) and
    ``sram_bytes_per_mac``; ``config`` and ``engine`` are the tile and unit TileConfigs
    (``engine`` None without a unit).
    """
    hw = get_machine(machine).hw
    unit = unit_for(machine, unit_kind, dtype)[0] if unit_kind != "none" else None
    cycles = sum(op["cycles"] for op in ops)
    seconds = cycles / config.clock_Hz
    full_s, joules = 0.0, 0.0
    for op in ops:
        on_unit = op["on"] == "unit"
        where = unit.hardware(dtype) if on_unit else hw
        moved = op["full_bytes"] * op["traffic"]
        full_s += max(op["full_flop"] / (where.peak_flop_per_s(dtype) * op["mapping"]),
                      moved / (where.bandwidth_bytes_per_s * op["dram"]))
        macs = op["full_flop"] / 2
        joules += energy_J(Events(macs=macs, sram_bytes=macs * op["sram_bytes_per_mac"],
                                  dram_bytes=moved, dram_pJ_per_bit=(
                                      unit.pJ_per_bit if on_unit
                                      else DEFAULT_CONSTANTS.dram_pJ_per_bit)), dtype)
    area = tile_area(config).total + (tile_area(engine).total if engine else 0.0)
    return {"layer_cycles": cycles, "layer_time_us": seconds * 1e6,
            "tokens_per_s": batch / seconds, "area_mm2": area,
            "full_layer_us": full_s * 1e6,
            "energy_per_token_J": joules * get_model(model).num_hidden_layers / batch}


def latest(records):
    """The last record of each point digest, in first-seen order."""
    out = {}
    for record in records:
        out[record["digest"]] = record
    return list(out.values())


#: Summary columns after the point's values.
SUMMARY = ("status", "layer_cycles", "layer_time_us", "tokens_per_s", "area_mm2",
           "full_layer_us", "energy_per_token_J", "wall_s", "error")


def summary_rows(records, keys):
    """One flat row per point (its latest record): digest, ``keys``' values, metrics."""
    return [{"digest": r["digest"], **{k: r["values"].get(k) for k in keys},
             **{k: r.get(k) for k in SUMMARY}} for r in latest(records)]


def write_csv(path, records, keys):
    """The summary CSV, replaced atomically (written beside it, then renamed)."""
    path = Path(path)
    rows = summary_rows(records, keys)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["digest", *keys, *SUMMARY])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _ok(records):
    return [r for r in latest(records) if r.get("status") == "ok"]


def _workload(record):
    return f"{record['values']['model']} b={record['values']['batch']}"


def _panels(records, axes, keys):
    """Records grouped by every varying key but the two heat-map axes."""
    rest = [k for k in keys if k not in axes]
    groups = {}
    for r in records:
        name = " ".join([_workload(r)] + [f"{k}={r['values'][k]}" for k in rest
                                          if k not in ("model", "batch")])
        groups.setdefault(name, []).append(r)
    return groups


def _order(values):
    values = list(values)
    try:
        return sorted(set(values), key=lambda v: _number(v))
    except (TypeError, ValueError):
        return sorted(set(values), key=str)


def _number(value):
    """A number written as ``"7/4"``, ``"2"`` or 2 as a float."""
    if isinstance(value, str) and "/" in value:
        num, den = value.split("/")
        return float(num) / float(den)
    return float(value)


def plot_heatmaps(records, metric, axes, keys):
    """Heat map of ``metric`` over the two ``axes`` (one varying key: a single row), one
    panel per combination of the other varying ``keys``."""
    records = _ok(records)
    panels = _panels(records, axes, keys)
    x_key = axes[0]
    y_key = axes[1] if len(axes) > 1 else None
    figure = Figure(figsize=(4.8 * min(len(panels), 3), 3.8 * math.ceil(len(panels) / 3)))
    title, unit = METRICS[metric]
    for n, (name, mine) in enumerate(panels.items()):
        ax = figure.add_subplot(math.ceil(len(panels) / 3), min(len(panels), 3), n + 1)
        xs = _order(r["values"][x_key] for r in mine)
        ys = _order(r["values"][y_key] for r in mine) if y_key else [""]
        grid = np.full((len(ys), len(xs)), np.nan)
        for r in mine:
            y = ys.index(r["values"][y_key]) if y_key else 0
            grid[y, xs.index(r["values"][x_key])] = r[metric]
        image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis_r")
        for (y, x), value in np.ndenumerate(grid):
            if not np.isnan(value):
                ax.text(x, y, f"{value:.3g}", ha="center", va="center", color="w", fontsize=8)
        ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        ax.set_yticks(range(len(ys)), [str(y) for y in ys])
        ax.set_xlabel(x_key)
        ax.set_ylabel(y_key or "")
        ax.set_title(name, fontsize=9)
        figure.colorbar(image, ax=ax, label=f"{title} ({unit})")
    figure.tight_layout()
    return figure


def pareto(records):
    """The records no other beats on both area (lower) and tokens/s (higher), by area."""
    front, best = [], -math.inf
    for r in sorted(records, key=lambda r: (r["area_mm2"], -r["tokens_per_s"])):
        if r["tokens_per_s"] > best:
            front.append(r)
            best = r["tokens_per_s"]
    return front


def plot_pareto(records, keys):
    """Tokens/s of the scaled layer against tile area, per workload, front joined."""
    figure = Figure(figsize=(6.4, 4.4))
    ax = figure.add_subplot()
    by = {}
    for r in _ok(records):
        by.setdefault(_workload(r), []).append(r)
    for workload, mine in by.items():
        dots = ax.scatter([r["area_mm2"] for r in mine], [r["tokens_per_s"] for r in mine],
                          alpha=0.5, label=workload)
        front = pareto(mine)
        ax.plot([r["area_mm2"] for r in front], [r["tokens_per_s"] for r in front],
                "-o", color=dots.get_facecolor()[0][:3])
    ax.set_xlabel("tile area (mm², analysis/area.py; unit engine included)")
    ax.set_ylabel("tokens/s of the scaled layer on the tile")
    ax.set_title("Pareto front: performance against cost")
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def best_rows(records, keys):
    """Per workload: the fastest variant, the most tokens/s per mm², the least energy."""
    by = {}
    for r in _ok(records):
        by.setdefault(_workload(r), []).append(r)
    rest = [k for k in keys if k not in ("model", "batch")]

    def name(r):
        return " ".join(f"{k}={r['values'][k]}" for k in rest) or "the only variant"
    rows = []
    for workload, mine in by.items():
        fastest = min(mine, key=lambda r: r["layer_time_us"])
        dense = max(mine, key=lambda r: r["tokens_per_s"] / r["area_mm2"])
        frugal = min(mine, key=lambda r: r["energy_per_token_J"])
        rows.append({"workload": workload, "points": len(mine),
                     "fastest": f"{name(fastest)} ({fastest['layer_time_us']:.3g} µs)",
                     "most tokens/s per mm²": f"{name(dense)} "
                     f"({dense['tokens_per_s'] / dense['area_mm2']:.3g})",
                     "least energy per token": f"{name(frugal)} "
                     f"({frugal['energy_per_token_J']:.3g} J)"})
    return rows


def write_report(out, records, axes, keys, skipped=(), title="sweep"):
    """Write ``report.md`` and its PNGs into ``out``; return the paths by kind."""
    out = Path(out)
    paths = {"report": out / "report.md", "pareto": out / "pareto.png"}
    every = latest(records)
    ok = _ok(records)
    failed = [r for r in every if r.get("status") != "ok"]
    lines = [f"# rooftile sweep: {title}", "",
             f"{len(every)} points: {len(ok)} ok, {len(failed)} failed; "
             f"{len(skipped)} skipped before running.", ""]
    if ok:
        lines += ["## Best variant per workload", "", markdown_table(best_rows(records, keys)),
                  ""]
        for metric, (name, unit) in METRICS.items() if axes else ():    # one point: none
            paths[metric] = out / f"heatmap_{metric}.png"
            plot_heatmaps(records, metric, axes, keys).savefig(paths[metric], dpi=120)
            lines += [f"## {name} ({unit}) over {' x '.join(axes)}", "",
                      f"![{name}]({paths[metric].name})", ""]
        plot_pareto(records, keys).savefig(paths["pareto"], dpi=120)
        front = [{"workload": _workload(r), **{k: r["values"][k] for k in keys},
                  "area_mm2": round(r["area_mm2"], 4), "tokens_per_s": round(r["tokens_per_s"])}
                 for w in dict.fromkeys(map(_workload, ok))
                 for r in pareto([r for r in ok if _workload(r) == w])]
        lines += ["## Pareto front: tokens/s against tile area", "",
                  "Cost is the tile's area (`analysis/area.py`, N7-class), with the unit "
                  "engine's when the point has one: the machine cost model "
                  "(`analysis/cost.py`) prices whole machines, not tile shapes.", "",
                  "![Pareto front](pareto.png)", "", markdown_table(front), ""]
    else:
        del paths["pareto"]
    if failed:
        lines += ["## Failed points", "", markdown_table(
            [{"digest": r["digest"], **{k: r["values"][k] for k in keys},
              "status": r["status"], "error": r.get("error", "")[:300]} for r in failed]), ""]
    if skipped:
        lines += ["## Skipped before running", "", markdown_table(
            [{**{k: v.get(k, "(default)") for k in keys}, "reason": why}
             for v, why in skipped]), ""]
    # The module docstring, its reST roles as Markdown code.
    notes = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", __doc__.split("\n\n", 1)[1])
    lines += ["## What the numbers are", "", notes.replace("``", "`")]
    paths["report"].write_text("\n".join(lines) + "\n")
    return paths
