"""Files of ``rooftile study``: results as JSON and CSV, three figures and a Markdown report.

:func:`write_study` turns :class:`~rooftile.analysis.comparison.OpMeasurement` records and a
provenance dict into a results folder; :func:`load_study` reads the records back from its
``results.json``. Everything written is a function of those arguments: every number in
``report.md`` comes from a record, the provenance or an extra table.
"""

import csv
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path

from .comparison import (ChipLayerMeasurement, LayerMeasurement, OpMeasurement, by_workload,
                         explain_gap)
from .plots import plot_layer_time, plot_tile_roofline, plot_utilization_comparison

__all__ = ["write_study", "load_study", "markdown_table", "FILES"]

#: Kind -> file name of what :func:`write_study` writes.
FILES = {
    "json": "results.json",
    "csv": "results.csv",
    "report": "report.md",
    "utilization_comparison": "utilization_comparison.png",
    "tile_roofline": "tile_roofline.png",
    "layer_time": "layer_time.png",
}
#: Figure kind -> (function, caption).
FIGURES = {
    "utilization_comparison": (plot_utilization_comparison, "Array utilization: RTL, tile model and roofline"),
    "tile_roofline": (plot_tile_roofline, "Scaled ops on the tile's roofline, with their full-size intensity"),
    "layer_time": (plot_layer_time, "Full-size decode layer time by group, extrapolated"),
}
DPI = 120
#: Record fields that are dicts: flattened into CSV columns of their own.
_NESTED = ("counters", "full_time_s")


def _plain(value):
    """``json.dumps`` fallback: numbers of other types (numpy, Fraction) and paths as plain values."""
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"provenance value {value!r} of type {type(value).__name__} is not JSON-able")


def _finite_or_none(value):
    """An infinite or NaN metric (an op moving no bytes, an array never busy) as JSON ``null``."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _machines(measurements: Sequence[OpMeasurement]) -> list[str]:
    """Machines with an extrapolated time in any measurement, in first-seen order."""
    return list(dict.fromkeys(hw for m in measurements for hw in m.full_time_s))


def _csv_row(m: OpMeasurement, machines: Sequence[str]) -> dict:
    record = m.to_json()
    row = {key: value for key, value in record.items() if key not in _NESTED}
    row.update({f"counter_{key}": value for key, value in record["counters"].items()})
    row.update({f"full_time_s_{hw}": m.full_time_s.get(hw, "") for hw in machines})
    row.update(m.derived())
    return row


def _write_csv(path: Path, measurements: Sequence[OpMeasurement]) -> None:
    """One row per measurement; counters as ``counter_<name>``, times as ``full_time_s_<machine>``."""
    machines = _machines(measurements)
    rows = [_csv_row(m, machines) for m in measurements]
    columns = list(dict.fromkeys(column for row in rows for column in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


# Markdown ------------------------------------------------------------------------------------

def _cycles(value: float) -> str:
    return f"{round(value):,}"


def _percent(value: float) -> str:
    return f"{value:.1%}" if math.isfinite(value) else "n/a"


def _sig3(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "∞"


def _cell(value) -> str:
    """A Markdown table cell for an extra-table value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    if isinstance(value, numbers.Real):
        return f"{float(value):.4g}"  # float(): Fraction has no "g" format
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Lines of a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _provenance_lines(provenance: Mapping, depth: int = 0) -> list[str]:
    """Nested bullet list of ``provenance``; dicts nest, lists are joined."""
    lines = []
    for key, value in provenance.items():
        indent = "  " * depth + "- "
        if isinstance(value, Mapping):
            lines += [f"{indent}**{key}**:"] + _provenance_lines(value, depth + 1)
        elif isinstance(value, (list, tuple)):
            lines.append(f"{indent}**{key}**: {', '.join(_cell(item) for item in value)}")
        else:
            lines.append(f"{indent}**{key}**: {_cell(value)}")
    return lines


_OP_HEADER = ("op", "group", "scaled shape", "full shape", "scaled FLOP/byte", "full FLOP/byte", "bound",
              "measured cycles", "model cycles", "roofline cycles", "measured util", "model util",
              "roofline util", "bandwidth util", "exact", "model error")


def _op_cells(m: OpMeasurement) -> list[str]:
    return [m.op, m.group, m.scaled_shape, m.full_shape, _sig3(m.intensity), _sig3(m.full_intensity), m.bound,
            _cycles(m.measured_cycles), _cycles(m.model_cycles), _cycles(m.roofline_cycles),
            _percent(m.utilization), _percent(m.model_utilization), _percent(m.roofline_utilization),
            _percent(m.bandwidth_utilization), "✓" if m.exact else "✗", f"{m.model_error:+.1%}"]


def _workload_section(workload: str, ops: Sequence[OpMeasurement]) -> list[str]:
    first = ops[0]
    lines = [f"## {workload}", "",
             f"Model {first.model}, attention {first.attention}, batch {first.batch}.", ""]
    lines += _table(_OP_HEADER, [_op_cells(m) for m in ops])
    lines += ["", "Why measured exceeds the roofline:", ""]
    lines += [f"- **{m.op}**: {explain_gap(m)}" for m in ops]
    return lines + [""]


def _times_section(measurements: Sequence[OpMeasurement]) -> list[str]:
    machines = _machines(measurements)
    if not machines:
        return []
    rows = [[m.workload, m.op, m.full_shape] + [_sig3(m.full_time_s[hw] * 1e6) if hw in m.full_time_s else ""
                                                for hw in machines]
            for m in measurements if m.full_time_s]
    return (["## Extrapolated full-size time per layer", ""]
            + _table(["workload", "op", "full shape"] + [f"{hw} [µs]" for hw in machines], rows) + [""])


def markdown_table(rows: Sequence[Mapping]) -> str:
    """A Markdown table of dict rows, columns in first-seen order."""
    columns = list(dict.fromkeys(column for row in rows for column in row))
    return "\n".join(_table(columns, [[_cell(row.get(c)) for c in columns] for row in rows]))


def _extra_section(title: str, rows: Sequence[Mapping]) -> list[str]:
    return [f"## {title}", "", markdown_table(rows), ""]


def _layers_section(layers: Sequence[LayerMeasurement]) -> list[str]:
    """Each layer run as one program against the sum of its ops run alone."""
    if not layers:
        return []
    rows = [{"workload": layer.workload, "ops": layer.ops,
             "measured cycles": layer.layer_cycles_measured,
             "isolated sum": layer.layer_cycles_isolated_sum,
             "tile model": layer.layer_cycles_model,
             "layer - sum": layer.layer_cycles_measured - layer.layer_cycles_isolated_sum,
             "sum off by": f"{layer.composition_error:+.3%}",
             "model error": _percent(layer.model_error),
             "loads waiting on data": layer.load_wait_store} for layer in layers]
    return ["## Whole layers as one program", "",
            "Each scaled layer also runs as one program (`rooftile.sim.compile.layer`): the "
            "next op's loads run under the current op's work, and an op that reads another's "
            "output waits for its stores. The old composition adds the ops run alone; "
            "each op run alone starts with a full DRAM token bucket (a word of credit), "
            "which a layer's later ops do not get.", "",
            markdown_table(rows), ""]


def _chip_section(chips: Sequence[ChipLayerMeasurement]) -> list[str]:
    """Each layer on the chip against the verdict's composition of its engines."""
    if not chips:
        return []
    rows = [{"workload": c.workload, "unit": c.unit, "unit runs": c.unit_ops,
             "sub-batches": c.subbatches,
             "measured cycles": c.layer_cycles_measured,
             "isolated sum": c.layer_cycles_isolated_sum,
             "verdict's composition": c.layer_cycles_analytic,
             "composition off by": f"{c.analytic_error:+.1%}",
             "tile model": c.layer_cycles_model, "model error": f"{c.model_error:+.1%}",
             "tile / unit cycles": f"{c.tile_cycles:,} / {c.unit_cycles:,}",
             "waits on the other engine (tile / unit)":
                 f"{c.tile_wait_peer:,} / {c.unit_wait_peer:,}",
             "DRAM waits (tile / unit)": f"{c.tile_dram_wait:,} / {c.unit_dram_wait:,}"}
            for c in chips]
    return ["## Layers on the chip: the tile and a near-memory unit co-simulated", "",
            "Each layer's ops the unit runs (the attention for an attention unit, the "
            "routed experts for Duplex; a layer with none of them is not run for that "
            "unit) on the unit's engine, the rest on the tile, one program each "
            "(`rooftile.sim.compile.chip`); what the unit exchanges with the tile "
            "(activations and outputs) crosses the tile's external channel, what stays in "
            "its memory (the KV cache, the experts' weights) is read at its own rate. The "
            "verdict's composition adds the engines' times for one batch and takes the "
            "slower engine's for two interleaved sub-batches; the isolated sum runs every "
            "op alone (the tile model).", "",
            markdown_table(rows), ""]


def _report(measurements: Sequence[OpMeasurement], provenance: Mapping,
            extra_tables: Mapping[str, Sequence[Mapping]],
            layers: Sequence[LayerMeasurement] = (),
            chips: Sequence[ChipLayerMeasurement] = ()) -> str:
    lines = ["# rooftile study: RTL tile against tile model and roofline", "", "## Provenance", ""]
    lines += _provenance_lines(provenance) + [""]
    for workload, ops in by_workload(measurements).items():
        lines += _workload_section(workload, ops)
    lines += _layers_section(layers)
    lines += _chip_section(chips)
    lines += _times_section(measurements)
    lines += ["## Figures", ""] + [f"![{caption}]({FILES[kind]})" for kind, (_, caption) in FIGURES.items()] + [""]
    for title, rows in extra_tables.items():
        lines += _extra_section(title, rows)
    return "\n".join(lines)


def write_study(
    out_dir: "str | Path",
    measurements: Sequence[OpMeasurement],
    provenance: Mapping,
    extra_tables: "Mapping[str, Sequence[Mapping]] | None" = None,
    layers: Sequence[LayerMeasurement] = (),
    chips: Sequence[ChipLayerMeasurement] = (),
) -> dict[str, Path]:
    """Write a study's results, figures and report into ``out_dir`` (created if needed).

    Parameters
    ----------
    measurements : sequence of OpMeasurement
        At least one; the report groups them by ``workload`` in first-seen order.
    provenance : dict
        Rendered as a nested list in the report and stored in ``results.json``: version,
        tile configuration, simulator, seeds, workload parameters, whatever it holds. Values
        must be JSON-able; numpy numbers, ``Fraction`` and paths are converted.
    extra_tables : dict or None
        Title -> rows (dicts, columns in first-seen order), each a table of the report.
    layers : sequence of LayerMeasurement
        Whole layers run as one program; stored under ``"layers"`` in ``results.json``.
    chips : sequence of ChipLayerMeasurement
        Layers on the chip; stored under ``"chip_layers"``.

    Returns
    -------
    dict
        Kind (the keys of :data:`FILES`) -> path written. The layer-time figure (for the
        first machine with extrapolated times) is left out when no op has any.

    Raises
    ------
    ValueError
        If ``measurements`` is empty.
    """
    if not measurements:
        raise ValueError("write_study needs at least one measurement, got none")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {kind: out / name for kind, name in FILES.items()}
    data = {
        "provenance": provenance,
        "measurements": [{**m.to_json(), "derived": {key: _finite_or_none(value) for key, value in m.derived().items()}}
                         for m in measurements],
        "layers": [layer.to_json() for layer in layers],
        "chip_layers": [chip.to_json() for chip in chips],
    }
    paths["json"].write_text(json.dumps(data, indent=1, allow_nan=False, default=_plain) + "\n")
    _write_csv(paths["csv"], measurements)
    machines = _machines(measurements)
    if not machines:
        del paths["layer_time"]
    for kind, (plot, _) in FIGURES.items():
        if kind in paths:
            figure = plot(measurements, machines[0]) if kind == "layer_time" else plot(measurements)
            figure.savefig(paths[kind], dpi=DPI)
    paths["report"].write_text(_report(measurements, provenance, extra_tables or {}, layers,
                                       chips) + "\n")
    return paths


def load_study(out_dir: "str | Path") -> tuple[list[OpMeasurement], dict]:
    """The measurements and provenance :func:`write_study` stored in ``out_dir/results.json``.

    The derived metrics stored next to each record are dropped: the properties recompute them.
    """
    data = json.loads((Path(out_dir) / FILES["json"]).read_text())
    records = [{key: value for key, value in entry.items() if key != "derived"} for entry in data["measurements"]]
    return [OpMeasurement.from_json(record) for record in records], data["provenance"]
