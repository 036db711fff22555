"""The verdict: does a dedicated attention unit beat the same area spent on the tile?

For each attention-unit preset (:data:`~rooftile.hdl.params.ATTENTION_UNIT_PRESETS`) the
unit's area (:func:`~rooftile.analysis.area.attention_unit_area`) buys two iso-area
alternatives for the baseline tile (:func:`~rooftile.analysis.area.iso_area_alternatives`):
a bigger array or more DRAM bandwidth (:func:`variants`). Every variant runs the study's
scaled ops on the RTL (the unit's engine runs the attention, the tile the rest), and each
op is carried to full size on each machine with the derates the model predicts for it
(:class:`~rooftile.analysis.extrapolation.Derates`). A machine with the unit gets the
unit's bandwidth multiple and ops per byte over the machine's own bandwidth; a machine
with an alternative gets the alternative's extra compute or bandwidth, in proportion.

Layer time with the unit: the fused attention ``a`` on the unit, the rest ``b`` (naive
MLA's up-projection of the cache included) on the tile. Run one after the other,
``a + b``; or, with the batch split into two sub-batches interleaved across layers (as
NeuPIMs does), ``max(a, b2)`` in steady state, where ``b2`` is the tile's time for two
half-batch layers (weights are read once per sub-batch). The scheduler takes the faster;
a batch of 1 cannot be split.

Everything here is a pure function of measurement records (:class:`ScaledRun`,
:class:`LayerOps`): the study runs the RTL and hands them over.
"""

import csv
import dataclasses
import json
from pathlib import Path

from matplotlib.figure import Figure

from ..hdl.params import ATTENTION_UNIT_PRESETS, AttentionUnit
from .area import attention_unit_area, iso_area_alternatives, tile_area
from .extrapolation import Derates
from .hardware import HardwareSpec, get_hardware
from .study_report import markdown_table

__all__ = ["ROLES", "Variant", "variants", "ScaledRun", "FullOp", "LayerOps", "verdict",
           "thesis_paragraph", "plot_speedup", "plot_time_breakdown", "write_verdict"]

#: What a variant does with the area of one attention unit.
ROLES = ("baseline", "unit", "bigger_array", "more_bandwidth")


@dataclasses.dataclass(frozen=True)
class Variant:
    """One machine organisation at (about) the area of the baseline plus one unit.

    Members
    -------
    role : str
        One of :data:`ROLES`.
    kind : str
        The unit preset this variant is sized against ("" for the baseline).
    tile : TileConfig
        Runs every op but the attention when ``unit`` is set.
    unit : TileConfig or None
        The attention unit's engine.
    area_mm2, unspent_mm2 : float
    compute_scale, bandwidth_scale : float
        ``tile`` against the baseline; a real machine is scaled the same way.
    """
    role: str
    kind: str
    tile: object
    unit: object
    area_mm2: float
    unspent_mm2: float
    compute_scale: float
    bandwidth_scale: float

    @property
    def name(self):
        """The display name, e.g. ``"unit logic-die"`` or ``"bigger array (= logic-die)"``."""
        if self.role == "baseline":
            return "baseline"
        if self.role == "unit":
            return f"unit {self.kind}"
        return f"{self.role.replace('_', ' ')} (= {self.kind})"

    @property
    def config(self):
        """The configuration this variant's RTL runs: the unit's engine or the tile."""
        return self.unit or self.tile


def _engine_sram_bytes(engine):
    return (engine.sp_depth * (engine.rows + engine.cols) * engine.data_bytes
            + engine.acc_depth * engine.cols * engine.acc_bytes)


def variants(config):
    """The baseline, and per unit preset: tile + unit, bigger array, more bandwidth."""
    base_area = tile_area(config).total
    out = [Variant("baseline", "", config, None, base_area, 0.0, 1.0, 1.0)]
    for kind in ATTENTION_UNIT_PRESETS:
        engine = config.replace(attention_unit=AttentionUnit(kind)).attention_unit_tile()
        unit_area = attention_unit_area(
            engine.rows * engine.cols, engine.dram_bytes_per_cycle, config.data_width,
            _engine_sram_bytes(engine), clock_Hz=config.clock_Hz, kind=kind,
            acc_width=config.acc_width).total
        out.append(Variant("unit", kind, config, engine, base_area + unit_area, 0.0, 1.0, 1.0))
        for role, alternative in iso_area_alternatives(config, unit_area).items():
            tile = alternative.config
            out.append(Variant(
                role, kind, tile, None, alternative.area.total, alternative.unspent_mm2,
                tile.peak_macs_per_cycle / config.peak_macs_per_cycle,
                float(tile.dram_bytes_per_cycle / config.dram_bytes_per_cycle)))
    return out


@dataclasses.dataclass(frozen=True)
class ScaledRun:
    """One scaled program on one variant's RTL, as the verdict reads it.

    Members
    -------
    derates : Derates
        What carries the op to full size on this variant.
    array_utilization, dram_utilization : float
        Useful MACs over peak and DRAM bytes over the rate, for the measured cycles.
    """
    derates: Derates
    array_utilization: float
    dram_utilization: float

    @classmethod
    def of(cls, config, flop, counters, prediction):
        """From the RTL ``counters`` (a Counters) and the model's ``prediction`` (has
        ``cycles``, ``array_busy``, ``bytes_read``, ``bytes_written``) of a scaled op of
        ``flop`` on ``config``."""
        derates = Derates.predicted(config, flop, prediction)
        return cls(derates, counters.mac_utilization(config.peak_macs_per_cycle),
                   counters.bandwidth_utilization(config.dram_bytes_per_cycle))


@dataclasses.dataclass(frozen=True)
class FullOp:
    """One op of a decode layer at full size; ``key`` names the scaled program measured
    for it (equal keys, one run)."""
    name: str
    key: object
    attention: bool
    flop: float
    bytes: float


@dataclasses.dataclass(frozen=True)
class LayerOps:
    """A workload's decode layer as the verdict prices it.

    ``half_batch_ops``: the ops of the same layer at half the batch that stay on the
    tile (empty at batch 1, which cannot be split into sub-batches).
    """
    workload: str
    attention: str
    batch: int
    ops: tuple
    half_batch_ops: tuple = ()

    @property
    def attention_op(self):
        (op,) = [op for op in self.ops if op.attention]
        return op


def _machine(hw, compute=1.0, bandwidth=1.0, name=None):
    """``hw`` with its peaks and bandwidth scaled."""
    peaks = {f"peak_{d}_flop_per_s": getattr(hw, f"peak_{d}_flop_per_s") * compute
             for d in ("bf16", "fp8", "int8")}
    return HardwareSpec(name=name or hw.name, bandwidth_bytes_per_s=hw.bandwidth_bytes_per_s
                        * bandwidth, source=f"{hw.name} scaled x{compute:g} compute, "
                        f"x{bandwidth:g} bandwidth", **peaks)


def _unit_machine(hw, kind):
    """The attention unit beside machine ``hw``: the preset's bandwidth multiple of the
    machine's bandwidth, and its ops per byte of that."""
    multiple, ops = ATTENTION_UNIT_PRESETS[kind]
    bandwidth = hw.bandwidth_bytes_per_s * float(multiple)
    peak = bandwidth * float(ops)
    return HardwareSpec(name=f"{hw.name}+{kind}", peak_bf16_flop_per_s=peak,
                        peak_fp8_flop_per_s=peak, peak_int8_flop_per_s=peak,
                        bandwidth_bytes_per_s=bandwidth, source=f"{kind} unit of {hw.name}")


def _layer_time(variant, layer, runs, hw, dtype):
    """Seconds of ``layer`` on ``variant`` beside machine ``hw``: ``(attention, rest,
    layer)`` with the sub-batch overlap where it helps (module docstring)."""
    tile_hw = _machine(hw, variant.compute_scale, variant.bandwidth_scale)
    tile_runs = runs[variant.name if variant.unit is None else "baseline"]
    derates = {op.name: tile_runs[op.key].derates for op in layer.ops}
    rest = sum(derates[op.name].time_s(op.flop, op.bytes, tile_hw, dtype)
               for op in layer.ops if not op.attention)
    att = layer.attention_op
    if variant.unit is None:
        a = derates[att.name].time_s(att.flop, att.bytes, tile_hw, dtype)
        return a, rest, a + rest
    a = runs[variant.name][att.key].derates.time_s(att.flop, att.bytes,
                                                   _unit_machine(hw, variant.kind), dtype)
    total = a + rest
    if layer.half_batch_ops:
        half = 2 * sum(derates[op.name].time_s(op.flop, op.bytes, tile_hw, dtype)
                       for op in layer.half_batch_ops)
        total = min(total, max(a, half))
    return a, rest, total


def _verdict_row(layer, machine, kind, all_variants, times, runs):
    """The unit of preset ``kind`` against its two iso-area alternatives on one layer."""
    base = times["baseline"]
    mine = {v.name: v for v in all_variants if v.kind == kind}
    unit_name = f"unit {kind}"
    speedups = {name: base / times[name] for name in mine}
    unit_speedup = speedups.pop(unit_name)
    best = max(speedups, key=speedups.get)
    pays = unit_speedup > max(1.0, speedups[best])
    bigger = speedups[f"bigger array (= {kind})"]
    area_ratio = mine[unit_name].area_mm2 / all_variants[0].area_mm2
    key = layer.attention_op.key
    unit_run, tile_run = runs[unit_name][key], runs["baseline"][key]
    return {
        "workload": layer.workload, "attention": layer.attention,
        "batch": layer.batch, "machine": machine, "unit": kind,
        "baseline_us": round(base * 1e6, 3),
        "unit_us": round(times[unit_name] * 1e6, 3),
        "unit_speedup": round(unit_speedup, 3),
        "unit_speedup_per_area": round(unit_speedup / area_ratio, 3),
        # Scaled attention on the RTL: the tile's and the unit's utilisation.
        "tile_attention_array_util": round(tile_run.array_utilization, 4),
        "tile_attention_dram_util": round(tile_run.dram_utilization, 4),
        "unit_array_util": round(unit_run.array_utilization, 4),
        "unit_dram_util": round(unit_run.dram_utilization, 4),
        "bigger_array_speedup": round(speedups[f"bigger array (= {kind})"], 3),
        "more_bandwidth_speedup": round(speedups[f"more bandwidth (= {kind})"], 3),
        "best_alternative": best.split(" (")[0],
        "verdict": ("unit pays off" if pays else "spend the area on the tile"),
        "margin": round(unit_speedup / max(1.0, speedups[best]), 3),
        # External bandwidth is bounded by HBM stacks and die edge, which the
        # area model does not charge: the verdict when only compute can grow.
        "verdict_bandwidth_fixed": ("unit pays off" if unit_speedup > max(1.0, bigger)
                                    else "bigger array"),
    }


def verdict(all_variants, layers, runs, machines, dtype):
    """Price every layer on every variant and machine; return ``(rows, breakdown)``.

    ``runs`` maps a variant's name to ``{program key: ScaledRun}`` (a unit variant's holds
    its attention program; its other ops run on the baseline tile). ``rows``: per
    workload, machine and unit preset, the layer times of the unit and the two
    alternatives against the baseline, speedups and the verdict. ``breakdown``: per
    workload, machine and variant, the layer time split into attention and the rest.
    """
    breakdown, rows = [], []
    for layer in layers:
        for machine in machines:
            hw = get_hardware(machine)
            times = {}
            for variant in all_variants:
                a, rest, total = _layer_time(variant, layer, runs, hw, dtype)
                times[variant.name] = total
                breakdown.append({"workload": layer.workload, "machine": machine,
                                  "variant": variant.name, "attention_us": a * 1e6,
                                  "other_us": rest * 1e6, "layer_us": total * 1e6,
                                  "area_mm2": variant.area_mm2})
            rows += [_verdict_row(layer, machine, kind, all_variants, times, runs)
                     for kind in ATTENTION_UNIT_PRESETS]
    return rows, breakdown


def _summary(rows, key, rival):
    """Per attention type: one sentence, and whether the unit won anywhere."""
    sentences, pays = [], {}
    by_attention = {}
    for r in rows:
        by_attention.setdefault(r["attention"], []).append(r)
    for attention, mine in by_attention.items():
        won = [r for r in mine if r[key] == "unit pays off"]
        pays[attention] = bool(won)
        if won:
            where = ", ".join(f"{r['unit']} at batch {r['batch']} ({r['unit_speedup']:.2f}x "
                              f"against {rival(r):.2f}x)" for r in won)
            sentences.append(f"{attention.upper()}: the unit pays off for {where}.")
        else:
            speedups = [r["unit_speedup"] for r in mine]
            sentences.append(
                f"{attention.upper()}: the unit never pays off (layer speedup "
                f"{min(speedups):.2f}x to {max(speedups):.2f}x; the same area on the tile "
                f"gives up to {max(rival(r) for r in mine):.2f}x).")
    return sentences, pays


def _agreement(pays):
    mha = [a for a in pays if a == "mha"]
    mla = [a for a in pays if a.startswith("mla")]
    if not (mha and mla):
        return "The study lacks MHA or MLA workloads to test the thesis against."
    if all(pays[a] for a in mha) and not any(pays[a] for a in mla):
        return ("This agrees with the thesis of arXiv 2507.15465: the unit pays off for "
                "memory-bound MHA attention and not once MLA shares one latent cache across "
                "all heads.")
    return ("This departs from the thesis of arXiv 2507.15465: " + ", ".join(
        f"{a.upper()} {'gains' if pays[a] else 'does not gain'} from the unit"
        for a in mha + mla if pays[a] != (a in mha)) + ".")


def thesis_paragraph(rows, machine):
    """A paragraph, computed from the verdict rows, on whether the results agree with
    arXiv 2507.15465 (MHA decode is memory-bound and motivated attention units; MLA
    raises attention's intensity so that a balanced machine wins), both when the unit's
    area may buy DRAM bandwidth and when only a bigger array is possible."""
    rows = [r for r in rows if r["machine"] == machine]
    free, free_pays = _summary(rows, "verdict", lambda r: max(
        r["bigger_array_speedup"], r["more_bandwidth_speedup"]))
    fixed, fixed_pays = _summary(rows, "verdict_bandwidth_fixed",
                                 lambda r: r["bigger_array_speedup"])
    return (f"On {machine}, when the unit's area may instead buy DRAM bandwidth: "
            + " ".join(free) + " " + _agreement(free_pays)
            + f"\n\nWhen DRAM bandwidth cannot grow (it is bounded by HBM stacks and die "
            f"edge, which the area model does not charge) and the area can only buy a "
            f"bigger array: " + " ".join(fixed) + " " + _agreement(fixed_pays))


def plot_speedup(rows, machine):
    """Layer speedup over the baseline against batch, per attention type: the unit (solid)
    and the best iso-area alternative (dashed), one panel per unit preset."""
    kinds = list(dict.fromkeys(r["unit"] for r in rows))
    fig = Figure(figsize=(6 * len(kinds), 4.5), layout="constrained")
    for index, kind in enumerate(kinds):
        ax = fig.add_subplot(1, len(kinds), index + 1)
        mine = [r for r in rows if r["machine"] == machine and r["unit"] == kind]
        for attention in dict.fromkeys(r["attention"] for r in mine):
            points = sorted((r["batch"], r["unit_speedup"],
                             max(r["bigger_array_speedup"], r["more_bandwidth_speedup"]))
                            for r in mine if r["attention"] == attention)
            batches = [p[0] for p in points]
            line, = ax.plot(batches, [p[1] for p in points], "o-", label=f"{attention}: unit")
            ax.plot(batches, [p[2] for p in points], "s--", color=line.get_color(),
                    label=f"{attention}: best iso-area tile")
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch (sequences per device)")
        ax.set_ylabel("decode-layer speedup over the baseline tile")
        ax.set_title(f"{kind} attention unit on {machine}")
        ax.legend(fontsize=7)
    return fig


def plot_time_breakdown(breakdown, machine):
    """Stacked bars per workload and variant: attention and the rest of the layer."""
    mine = [b for b in breakdown if b["machine"] == machine]
    labels = [f"{b['workload']}\n{b['variant']}" for b in mine]
    fig = Figure(figsize=(max(8, 0.35 * len(mine) + 2), 6), layout="constrained")
    ax = fig.add_subplot()
    positions = range(len(mine))
    attention = [b["attention_us"] for b in mine]
    other = [b["other_us"] for b in mine]
    ax.bar(positions, attention, label="attention (unit or tile)")
    ax.bar(positions, other, bottom=attention, label="projections, FFN, MoE (tile)")
    ax.plot(positions, [b["layer_us"] for b in mine], "k_", markersize=10,
            label="layer time (overlap where it helps)")
    ax.set_xticks(list(positions), labels, rotation=90, fontsize=6)
    ax.set_ylabel(f"time per decode layer on {machine} (us)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    return fig


def write_verdict(out_dir, all_variants, rows, breakdown, machines):
    """Write ``verdict.md``, ``verdict.csv``, ``verdict.json`` and the two figures into
    ``out_dir``; return the Markdown (for the study report) and the paths by kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"verdict_json": out / "verdict.json", "verdict_csv": out / "verdict.csv",
             "verdict_md": out / "verdict.md"}
    table = [{"variant": v.name, "array": f"{v.tile.rows}x{v.tile.cols}",
              "dram_bytes_per_cycle": round(float(v.tile.dram_bytes_per_cycle), 4),
              "unit_engine": (f"{v.unit.rows}x1 at {float(v.unit.dram_bytes_per_cycle):.3g} "
                              f"B/cycle" if v.unit else ""),
              "area_mm2": round(v.area_mm2, 4), "unspent_mm2": round(v.unspent_mm2, 4)}
             for v in all_variants]
    paths["verdict_json"].write_text(json.dumps({"variants": table, "verdict": rows,
                                                 "breakdown": breakdown}, indent=1) + "\n")
    with paths["verdict_csv"].open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    parts = ["## Verdict: does a dedicated attention unit pay off?", "",
             "Variants at equal area (area model: `rooftile.analysis.area`, 7 nm):", "",
             markdown_table(table), ""]
    for machine in machines:
        for kind, plot in (("speedup", plot_speedup), ("breakdown", plot_time_breakdown)):
            path = out / f"verdict_{kind}_{machine}.png"
            (plot(rows, machine) if kind == "speedup" else plot(breakdown, machine)).savefig(
                path, dpi=120)
            paths[f"verdict_{kind}_{machine}"] = path
        parts += [f"### {machine}", "", thesis_paragraph(rows, machine), "",
                  markdown_table([r for r in rows if r["machine"] == machine]), "",
                  f"![speedup against batch](verdict_speedup_{machine}.png)", "",
                  f"![time per layer by variant](verdict_breakdown_{machine}.png)", ""]
    text = "\n".join(parts)
    paths["verdict_md"].write_text(text + "\n")
    return text, paths
