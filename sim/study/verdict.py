"""The verdict: does a dedicated attention unit beat the same area spent on the tile?

For each attention-unit preset (:data:`~rooftile.hdl.params.ATTENTION_UNIT_PRESETS`) the
unit's area (:func:`~rooftile.analysis.area.attention_unit_area`) buys two iso-area
alternatives for the baseline tile (:func:`~rooftile.analysis.area.iso_area_alternatives`):
a bigger array or more DRAM bandwidth. Every variant runs the study's scaled ops on the
RTL (the unit's engine runs the attention, the tile the rest), and each op is carried to
full size on each machine with the derates the model predicts for it
(:class:`~rooftile.sim.study.run.Derates`). A machine with the unit gets the unit's bandwidth
multiple and ops per byte over the machine's own bandwidth; a machine with an
alternative gets the alternative's extra compute or bandwidth, in proportion.

Layer time with the unit: the fused attention ``a`` on the unit, the rest ``b`` (naive
MLA's up-projection of the cache included) on the tile. Run one
after the other, ``a + b``; or, with the batch split into two sub-batches interleaved
across layers (as NeuPIMs does), ``max(a, b2)`` in steady state, where ``b2`` is the
tile's time for two half-batch layers (weights are read once per sub-batch). The
scheduler takes the faster; a batch of 1 cannot be split.
"""

import dataclasses

from matplotlib.figure import Figure

from ...analysis.area import attention_unit_area, iso_area_alternatives, tile_area
from ...analysis.hardware import HardwareSpec, get_hardware
from ...analysis.study_report import markdown_table
from ...hdl.params import ATTENTION_UNIT_PRESETS, AttentionUnit
from .schedules import run_scaled
from .run import Derates, Workload, lower_workload

__all__ = ["Variant", "variants", "run_verdict", "thesis_paragraph", "plot_speedup",
           "plot_time_breakdown"]


@dataclasses.dataclass(frozen=True)
class Variant:
    """One machine organisation at (about) the area of the baseline plus one unit.

    ``tile`` runs every op but the attention when ``unit`` (the attention unit's engine)
    is set. ``compute_scale`` and ``bandwidth_scale`` relate ``tile`` to the baseline,
    and scale a real machine the same way.
    """
    name: str
    kind: str            # the unit preset this variant is sized against
    tile: object
    unit: object
    area_mm2: float
    unspent_mm2: float
    compute_scale: float
    bandwidth_scale: float


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
            _engine_sram_bytes(engine), kind=kind, acc_width=config.acc_width).total
        out.append(Variant(f"unit {kind}", kind, config, engine, base_area + unit_area,
                           0.0, 1.0, 1.0))
        for name, alternative in iso_area_alternatives(config, unit_area).items():
            tile = alternative.config
            out.append(Variant(
                f"{name.replace('_', ' ')} (= {kind})", kind, tile, None, alternative.area.total,
                alternative.unspent_mm2, tile.peak_macs_per_cycle / config.peak_macs_per_cycle,
                float(tile.dram_bytes_per_cycle / config.dram_bytes_per_cycle)))
    return out


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


def _half_batch_times(spec, layer, derates, hw):
    """Seconds of the non-attention ops of two half-batch layers, with the derates of
    the full-batch ops (same shapes but half the rows)."""
    half = lower_workload(spec, Workload(layer.workload.model, layer.workload.batch // 2))
    return 2 * sum(derates[op.name].time_s(op.full_flop, op.full_bytes, hw, spec.dtype)
                   for op in half.scaled if not op.attention)


def run_verdict(spec, layers, base_results, *, progress=print):
    """Run every variant's programs and return ``(rows, breakdown)``.

    ``rows``: per workload, machine and unit preset, the layer times of the unit and
    the two alternatives against the baseline, speedups and the verdict. ``breakdown``:
    per workload, machine and variant, the layer time split into attention and the rest.
    """
    every = [op for layer in layers for op in layer.scaled]
    attention = [op for op in every if op.attention]   # the fused attention programs
    results = {}
    for variant in variants(spec.config):
        if variant.name == "baseline":
            results[variant.name] = base_results
        elif variant.unit is not None:
            progress(f"verdict: {variant.name}: {variant.unit.rows}x1 GEMV engine at "
                     f"{float(variant.unit.dram_bytes_per_cycle):.3g} B/cycle")
            results[variant.name] = run_scaled(variant.unit, attention, seed=spec.seed,
                                               simulator=spec.simulator, progress=progress)
        else:
            progress(f"verdict: {variant.name}: {variant.tile.rows}x{variant.tile.cols} "
                     f"array at {float(variant.tile.dram_bytes_per_cycle):.3g} B/cycle")
            results[variant.name] = run_scaled(variant.tile, every, seed=spec.seed,
                                               simulator=spec.simulator, progress=progress)
    wrong = [f"{name}: {key}" for name, runs in results.items()
             for key, run in runs.items() if not run.exact]
    if wrong:
        raise ValueError(f"outputs differ from the numpy golden model: {', '.join(wrong)}")
    all_variants = variants(spec.config)
    breakdown, rows = [], []
    for layer in layers:
        for machine in spec.machines:
            hw = get_hardware(machine)
            times = {}
            for variant in all_variants:
                tile_hw = _machine(hw, variant.compute_scale, variant.bandwidth_scale)
                derates = {op.name: Derates.of(variant.tile, op,
                                               results[variant.name if variant.unit is None
                                                       else "baseline"][op.key])
                           for op in layer.scaled}
                rest = sum(derates[op.name].time_s(op.full_flop, op.full_bytes, tile_hw,
                                                   spec.dtype)
                           for op in layer.scaled if not op.attention)
                (att,) = [op for op in layer.scaled if op.attention]
                if variant.unit is None:
                    a = derates["attention"].time_s(att.full_flop, att.full_bytes, tile_hw,
                                                    spec.dtype)
                    total = a + rest
                else:
                    a = Derates.of(variant.unit, att, results[variant.name][att.key]).time_s(
                        att.full_flop, att.full_bytes, _unit_machine(hw, variant.kind),
                        spec.dtype)
                    total = a + rest
                    if layer.workload.batch >= 2:
                        total = min(total, max(a, _half_batch_times(spec, layer, derates,
                                                                    tile_hw)))
                times[variant.name] = total
                breakdown.append({"workload": layer.workload.label, "machine": machine,
                                  "variant": variant.name, "attention_us": a * 1e6,
                                  "other_us": rest * 1e6, "layer_us": total * 1e6,
                                  "area_mm2": variant.area_mm2})
            base = times["baseline"]
            (att,) = [op for op in layer.scaled if op.attention]

            def utilization(config, run):
                """Array and DRAM utilisation of the scaled attention on the RTL."""
                c = run.counters
                return (c["useful_macs"] / (c["cycles"] * config.peak_macs_per_cycle),
                        (c["bytes_read"] + c["bytes_written"])
                        / (c["cycles"] * float(config.dram_bytes_per_cycle)))
            for kind in ATTENTION_UNIT_PRESETS:
                mine = {v.name: v for v in all_variants if v.kind == kind}
                unit_name = f"unit {kind}"
                speedups = {name: base / times[name] for name in mine}
                unit_speedup = speedups.pop(unit_name)
                best = max(speedups, key=speedups.get)
                pays = unit_speedup > max(1.0, speedups[best])
                bigger = speedups[f"bigger array (= {kind})"]
                area_ratio = mine[unit_name].area_mm2 / all_variants[0].area_mm2
                unit_array, unit_dram = utilization(mine[unit_name].unit,
                                                    results[unit_name][att.key])
                tile_array, tile_dram = utilization(spec.config, results["baseline"][att.key])
                rows.append({
                    "workload": layer.workload.label, "attention": layer.attention,
                    "batch": layer.workload.batch, "machine": machine, "unit": kind,
                    "baseline_us": round(base * 1e6, 3),
                    "unit_us": round(times[unit_name] * 1e6, 3),
                    "unit_speedup": round(unit_speedup, 3),
                    "unit_speedup_per_area": round(unit_speedup / area_ratio, 3),
                    # Scaled attention on the RTL: the tile's and the unit's utilisation.
                    "tile_attention_array_util": round(tile_array, 4),
                    "tile_attention_dram_util": round(tile_dram, 4),
                    "unit_array_util": round(unit_array, 4),
                    "unit_dram_util": round(unit_dram, 4),
                    "bigger_array_speedup": round(speedups[f"bigger array (= {kind})"], 3),
                    "more_bandwidth_speedup": round(speedups[f"more bandwidth (= {kind})"], 3),
                    "best_alternative": best.split(" (")[0],
                    "verdict": ("unit pays off" if pays else "spend the area on the tile"),
                    "margin": round(unit_speedup / max(1.0, speedups[best]), 3),
                    # External bandwidth is bounded by HBM stacks and die edge, which the
                    # area model does not charge: the verdict when only compute can grow.
                    "verdict_bandwidth_fixed": ("unit pays off" if unit_speedup > max(1.0, bigger)
                                                else "bigger array"),
                })
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


def write_verdict(out_dir, config, rows, breakdown, machines):
    """Write ``verdict.md``, ``verdict.csv``, ``verdict.json`` and the two figures into
    ``out_dir``; return the Markdown (for the study report) and the paths by kind."""
    import csv
    import json
    from pathlib import Path
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"verdict_json": out / "verdict.json", "verdict_csv": out / "verdict.csv",
             "verdict_md": out / "verdict.md"}
    table = [{"variant": v.name, "array": f"{v.tile.rows}x{v.tile.cols}",
              "dram_bytes_per_cycle": round(float(v.tile.dram_bytes_per_cycle), 4),
              "unit_engine": (f"{v.unit.rows}x1 at {float(v.unit.dram_bytes_per_cycle):.3g} "
                              f"B/cycle" if v.unit else ""),
              "area_mm2": round(v.area_mm2, 4), "unspent_mm2": round(v.unspent_mm2, 4)}
             for v in variants(config)]
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
