"""The verdict: what should the next dollar of a machine buy, per machine and per batch?

Machine variants at equal cost (:mod:`rooftile.analysis.cost`): the baseline; per
near-memory unit (an attention unit on the HBM base die or in the banks, a Duplex-style PIM
that runs the MoE experts) the machine with it; and the baseline with the unit's price spent
on more compute, bandwidth, capacity or a faster interconnect instead.

Each op of a decode layer runs at full size on the resource that owns it (the unit for what
it runs, the compute die for the rest), at its roofline derated by what the RTL proxy of
that resource measured for the scaled op (:class:`ScaledRun`): mapping efficiency, achieved
DRAM rate, and the extra DRAM traffic of the compiled program over the ideal read-once bytes
(passes over K/V, re-read operands). The study hands these records over; everything here is
a pure function of them.

Overlap is symmetric (:func:`layer_time`): without it a layer runs its ops one after the
other; with it every variant gets the best schedule its hardware can run. On the compute
die, memory-bound attention co-runs with compute-bound GEMMs: the layer takes
``max(sum compute, sum memory)``. With a unit, the batch splits into two sub-batches
interleaved across the unit and the die (as NeuPIMs does): ``max(2 U_half, 2 T_half)``
when that beats ``U + T``. A batch of one cannot be split. A unit variant may also leave
its unit idle when the die alone is faster (MLA attention on a low-ops/byte unit).

A decode step (TPOT) is every layer plus its communication (TP all-reduces, MoE
all-to-alls) on the variant's link, not overlapped. Only batches that fit the variant's
memory (:func:`~rooftile.analysis.capacity.capacity`) get a time; the others are
infeasible and get no speedup.

The decision (:func:`decide`) compares tokens/s per device per dollar and needs a lead of
:data:`MARGIN` over the baseline and over the runner-up, the margin that the tile model's
validated error (:data:`MODEL_ERROR`) leaves; otherwise it answers ``"neither"`` or names
the tie.
"""

import csv
import dataclasses
import json
import math
from pathlib import Path

from matplotlib.figure import Figure

from ..hdl.errors import InputError
from .capacity import capacity, weight_bytes_per_device
from .cost import ALTERNATIVES, DEFAULT_CONSTANTS, UNITS, get_machine, variants
from .dtypes import element_bytes
from .energy import Events, energy_J
from .extrapolation import Derates
from .interconnect import a2a_bytes, a2a_time, allreduce_time
from .mapping import Mapping
from .models import get_model
from .study_report import markdown_table

__all__ = ["MODEL_ERROR", "MARGIN", "ScaledRun", "FullOp", "LayerOps", "deployment",
           "tile_ratio", "layer_time", "verdict", "decide", "claims", "thesis_paragraph",
           "plot_throughput", "record_rows", "write_verdict"]

#: The tile model's validated error against the RTL: its cycle count is within 5% of the
#: RTL's on every program the tests run (README, "Analytical model").
MODEL_ERROR = 0.05
#: A variant wins only by more than both times being off by MODEL_ERROR in opposite
#: directions: (1 + e) / (1 - e) = 1.105.
MARGIN = (1 + MODEL_ERROR) / (1 - MODEL_ERROR)


@dataclasses.dataclass(frozen=True)
class ScaledRun:
    """One scaled program on one RTL proxy, as the verdict reads it.

    Members
    -------
    derates : Derates
        Mapping efficiency and achieved DRAM rate (the tile model's, validated on the RTL).
    traffic : float
        The program's DRAM bytes over the op's ideal read-once bytes: passes over K/V
        and re-read operands, carried to full size.
    sram_bytes_per_mac : float
        Scratchpad bytes per useful MAC, from the RTL counters (operand reads of every
        busy array step, plus the DRAM bytes written into and read out of the buffers).
    model_error : float or None
        ``|model - RTL| / RTL`` cycles; None when only the model priced this proxy.
    """
    derates: Derates
    traffic: float
    sram_bytes_per_mac: float
    model_error: float | None = None

    @classmethod
    def of(cls, config, flop, ideal_bytes, prediction, counters=None):
        """From the tile model's ``prediction`` of a scaled op of ``flop`` and
        ``ideal_bytes`` on ``config``, and the RTL ``counters`` when it ran (else the
        prediction's own counts stand in)."""
        moved = prediction.bytes_read + prediction.bytes_written
        source = counters or prediction
        macs = flop / 2
        sram = source.array_busy * (config.rows + config.cols) * config.data_bytes + moved
        error = (abs(prediction.cycles - counters.cycles) / counters.cycles
                 if counters is not None else None)
        return cls(Derates.predicted(config, flop, prediction), moved / ideal_bytes,
                   sram / macs, error)


#: What runs an op: a unit runs ops of its ``runs`` kind, the compute die everything else.
OP_KINDS = ("attention", "experts", "other")


@dataclasses.dataclass(frozen=True)
class FullOp:
    """One op of a decode layer at full size (per TP group); ``key`` names the scaled
    program measured for it."""
    name: str
    key: object
    kind: str
    flop: float
    bytes: float

    def __post_init__(self):
        if self.kind not in OP_KINDS:
            raise InputError(f"op kind must be one of {OP_KINDS}, got {self.kind!r}")


@dataclasses.dataclass(frozen=True)
class LayerOps:
    """A workload's decode layer as the verdict prices it: ``batch`` sequences per TP
    group, its ops, and the ops of the same layer at half the batch (empty at batch 1).

    ``chip`` holds ``((unit, sub-batches), factor)`` pairs measured on the chip
    (``rooftile study --chip``): the layer co-simulated on the RTL over the composition
    below, which the unit variant's schedule with that many sub-batches is multiplied
    by; a unit or schedule not measured keeps the composition."""
    workload: str
    model: str
    attention: str
    batch: int
    ops: tuple
    half_batch_ops: tuple = ()
    chip: tuple = ()


def deployment(model, machine, dtype, ep_devices):
    """How ``model`` is spread over devices of ``machine``.

    MoE models: attention data-parallel (TP 1) and the experts over ``ep_devices`` devices,
    as the paper maps DeepSeek-R1 (Table IV). Dense models: the smallest TP (1, 2, 4 or 8,
    dividing the K/V heads) whose weight share leaves at least half the device's memory
    for the KV cache (a rule of thumb, an estimate of a serving choice).
    """
    model, hw = get_model(model), get_machine(machine).hw
    if model.moe is not None:
        return Mapping(tp=1, dp=ep_devices, ep=ep_devices)
    for tp in (1, 2, 4, 8):
        mapping = Mapping(tp=tp, dp=1)
        if weight_bytes_per_device(model, mapping, dtype) <= hw.memory_bytes / 2:
            return mapping
    raise InputError(f"{model.name} leaves less than half of {hw.name}'s memory at TP 8")


def tile_ratio(variant, base):
    """The variant's compute-die ridge over the baseline's: the compute to bandwidth
    ratio its RTL tile proxy must have (rounded, so equal ratios share one proxy)."""
    ridge = variant.hw.peak_bf16_flop_per_s / variant.hw.bandwidth_bytes_per_s
    return round(ridge / (base.hw.peak_bf16_flop_per_s / base.hw.bandwidth_bytes_per_s), 4)


def _tile_runs(runs, ratio):
    """The tile proxy runs nearest ``ratio`` (exact when the study ran it)."""
    ratios = [key[1] for key in runs if key[0] == "tile"]
    if not ratios:
        raise InputError("the records hold no tile proxy runs")
    return runs[("tile", min(ratios, key=lambda r: abs(math.log(r / ratio))))]


def _owner(variant, op):
    unit = variant.unit
    return "unit" if unit is not None and unit.runs == op.kind else "tile"


def _parts(variant, ops, runs, dtype, tp, ratio, dram_pJ=DEFAULT_CONSTANTS.dram_pJ_per_bit):
    """``[(owner, compute s, memory s, events)]`` of ``ops`` on ``variant``; the compute
    die reads its DRAM at ``dram_pJ`` per bit, a unit at its own."""
    out = []
    tile_runs = _tile_runs(runs, ratio)
    for op in ops:
        owner = _owner(variant, op)
        if owner == "unit":
            run = runs[("unit", variant.unit.kind)][op.key]
            hw, pj = variant.unit.hardware(dtype), variant.unit.pJ_per_bit
        else:
            run = tile_runs[op.key]
            hw, pj = variant.hw, dram_pJ
        flop, moved = op.flop / tp, op.bytes * run.traffic / tp
        compute = flop / (hw.peak_flop_per_s(dtype) * run.derates.mapping)
        memory = moved / (hw.bandwidth_bytes_per_s * run.derates.dram)
        events = Events(macs=flop / 2, sram_bytes=flop / 2 * run.sram_bytes_per_mac,
                        dram_bytes=moved, dram_pJ_per_bit=pj)
        out.append((owner, compute, memory, events))
    return out


def _time(parts, overlap):
    """Seconds of ``parts`` on one resource: one after the other, or co-scheduled."""
    if overlap:
        return max(sum(p[1] for p in parts), sum(p[2] for p in parts))
    return sum(max(p[1], p[2]) for p in parts)


def _schedule(variant, layer, runs, dtype, tp, ratio, overlap):
    """``(seconds, variant as run)`` of one layer: a unit variant also has the schedule
    that leaves its unit idle (the die runs everything), and takes the faster."""
    parts = _parts(variant, layer.ops, runs, dtype, tp, ratio)
    unit = [p for p in parts if p[0] == "unit"]
    tile = [p for p in parts if p[0] == "tile"]
    measured = dict(layer.chip)
    kind = variant.unit.design.name if variant.unit is not None else None
    seconds = (_time(unit, False) + _time(tile, overlap)) * measured.get((kind, 1), 1.0)
    if overlap and unit and layer.half_batch_ops:
        half = _parts(variant, layer.half_batch_ops, runs, dtype, tp, ratio)
        seconds = min(seconds, 2 * max(_time([p for p in half if p[0] == "unit"], False),
                                       _time([p for p in half if p[0] == "tile"], True))
                      * measured.get((kind, 2), 1.0))
    if not unit:
        return seconds, variant
    idle = dataclasses.replace(variant, unit=None)
    alone = _schedule(idle, layer, runs, dtype, tp, ratio, overlap)[0]
    return (seconds, variant) if seconds <= alone else (alone, idle)


def layer_time(variant, layer, runs, dtype, tp=1, ratio=1.0, overlap=True):
    """Seconds of one decode layer on ``variant`` per device (module docstring)."""
    return _schedule(variant, layer, runs, dtype, tp, ratio, overlap)[0]


def _comm(model, mapping, batch, variant, dtype):
    """Seconds and link bytes of one layer's communication per device: two TP
    all-reduces of the group's hidden states; an MoE layer's dispatch and combine, over
    the scale-out link when the experts span more than one scale-up domain."""
    hidden = batch * model.hidden_size * element_bytes(dtype)
    seconds = 2 * allreduce_time(hidden, mapping.tp, variant.link_for(mapping.tp))
    sent = 2 * 2 * (mapping.tp - 1) / mapping.tp * hidden
    if model.moe is not None:
        top_k = model.moe.num_experts_per_tok
        seconds += 2 * a2a_time(batch, model.hidden_size, top_k, mapping.ep,
                                variant.link_for(mapping.ep), dtype)
        sent += 2 * a2a_bytes(batch, model.hidden_size, top_k, mapping.ep, dtype)
    return seconds, sent


def decide(values, margin=MARGIN):
    """The variant that wins on ``values`` (name -> higher is better, None = infeasible;
    ``"baseline"`` among them).

    Returns ``"infeasible"`` when nothing fits; ``"neither"`` when nothing beats the
    baseline by ``margin``; ``"A or B (within the margin)"`` when the best two are closer
    than ``margin``; else the best's name (``"... (the baseline does not fit)"`` when only
    the variants fit).
    """
    feasible = {name: v for name, v in values.items() if v is not None}
    if not feasible:
        return "infeasible"
    base = feasible.pop("baseline", None)
    if not feasible:
        return "neither"
    ranked = sorted(feasible, key=feasible.get, reverse=True)
    best = ranked[0]
    if base is not None and feasible[best] < margin * base:
        return "neither"
    if len(ranked) > 1 and feasible[ranked[1]] * margin > feasible[best]:
        return f"{best} or {ranked[1]} (within the margin)"
    return best if base is not None else f"{best} (the baseline does not fit)"


def _price(layer, machine, variant, base, runs, dtype, context, ep_devices, constants):
    """The row of ``layer`` on ``variant`` of ``machine`` (no decision yet)."""
    model = get_model(layer.model)
    mapping = deployment(model, machine, dtype, ep_devices)
    fit = capacity(model, variant.hw, mapping.devices, context, dtype, mapping,
                   batch=layer.batch * mapping.dp)
    if variant.unit is not None and variant.bound:     # the unit cannot be built
        fit = dataclasses.replace(fit, feasible=False, reason=variant.bound)
    row = {"workload": layer.workload, "attention": layer.attention, "machine": machine,
           "variant": variant.name, "group": variant.group or "baseline",
           "batch": layer.batch, "mapping": str(mapping), "feasible": fit.feasible,
           "why_infeasible": fit.reason,
           "largest_batch": fit.b_cap // mapping.dp,
           "cost_usd": round(variant.cost_usd, 1),
           "cost_breakdown_usd": {k: round(v, 1) for k, v in variant.usd.items()},
           "area_mm2": round(variant.total_area_mm2, 1),
           "area_breakdown_mm2": {k: round(v, 1) for k, v in variant.area_mm2.items()},
           "bound": variant.bound}
    if not row["feasible"]:
        return row | {"tpot_us": None, "tpot_us_no_overlap": None,
                      "tokens_per_s_per_device": None, "energy_per_token_J": None}
    ratio = tile_ratio(variant, base)
    comm_s, sent = _comm(model, mapping, layer.batch, variant, dtype)
    layers = model.num_hidden_layers
    tpot = {overlap: layers * (layer_time(variant, layer, runs, dtype, mapping.tp, ratio,
                                          overlap) + comm_s) for overlap in (True, False)}
    ran = _schedule(variant, layer, runs, dtype, mapping.tp, ratio, True)[1]
    joules = sum(energy_J(p[3], dtype, constants) for p in _parts(
        ran, layer.ops, runs, dtype, mapping.tp, ratio, constants.dram_pJ_per_bit))
    joules += energy_J(Events(link_bytes=sent), dtype, constants)
    tokens = layer.batch / mapping.tp          # tokens per device per step
    return row | {"tpot_us": round(tpot[True] * 1e6, 3),
                  "tpot_us_no_overlap": round(tpot[False] * 1e6, 3),
                  "comm_share": round(layers * comm_s / tpot[True], 4),
                  "tokens_per_s_per_device": round(tokens / tpot[True], 2),
                  "tokens_per_s_per_device_no_overlap": round(tokens / tpot[False], 2),
                  "energy_per_token_J": layers * joules / tokens}


def _per_usd(row, key):
    return None if row.get(key) is None else row[key] / row["cost_usd"]


def verdict(layers, runs, machines, dtype, context, ep_devices, constants=DEFAULT_CONSTANTS,
            kinds=tuple(UNITS)):
    """Price every layer on every variant of every machine and decide per group.

    ``runs`` maps ``("tile", ratio)`` (see :func:`tile_ratio`) and ``("unit", kind)`` to
    ``{program key: ScaledRun}``. Returns one row per layer, machine and variant (the
    fields of ``verdict.json``); each group's rows carry its decisions: ``verdict`` (tokens/s
    per device per dollar, with overlap), ``verdict_no_overlap`` and ``energy_verdict``
    (tokens per joule).
    """
    rows = []
    for machine in machines:
        all_variants = variants(machine, kinds, dtype, constants)
        base = all_variants[0]
        for layer in layers:
            priced = [_price(layer, machine, v, base, runs, dtype, context, ep_devices,
                             constants) for v in all_variants]
            base_row = priced[0]
            for row in priced:
                for mode, key in (("with_overlap", "tokens_per_s_per_device"),
                                  ("without_overlap", "tokens_per_s_per_device_no_overlap")):
                    ok = row.get(key) is not None and base_row.get(key) is not None
                    row[f"speedup_{mode}"] = (round(row[key] / base_row[key], 4) if ok
                                              else None)
            for kind in kinds:
                group = [base_row] + [r for r in priced if r["group"] == kind]

                def values(key, rows=group):
                    return {r["variant"]: _per_usd(r, key) for r in rows}
                decisions = {
                    "verdict": decide(values("tokens_per_s_per_device")),
                    "verdict_no_overlap": decide(values("tokens_per_s_per_device_no_overlap")),
                    "energy_verdict": decide({r["variant"]: (
                        None if r["energy_per_token_J"] is None
                        else 1 / r["energy_per_token_J"]) for r in group})}
                for row in group[1:]:
                    row.update(decisions)
            base_row.update(verdict="baseline", verdict_no_overlap="baseline",
                            energy_verdict="baseline")
            rows += priced
    return rows


def _decisions(rows, machine, workload_kind, group):
    """``[(batch, verdict, unit row)]`` of one unit group on workloads whose attention
    starts with ``workload_kind``, feasible batches only."""
    return sorted((r["batch"], r["verdict"], r) for r in rows
                  if r["machine"] == machine and r["variant"] == group
                  and r["attention"].startswith(workload_kind) and r["feasible"])


def _agreement(hits, total):
    if total == 0:
        return "untested (no feasible batch)"
    return "agrees" if hits == total else "partly" if hits else "disagrees"


def claims(rows, machine):
    """The paper's claims with rooftile's numbers on ``machine``: one dict per claim
    (``claim``, ``rooftile``, ``agreement``)."""
    out = []
    for kind, says, wins_means_agree in (("mha", "MHA decode needs attention hardware", True),
                                         ("mla", "MLA decode does not need it", False)):
        found = [d for g in ("logic-die", "bank-level") for d in _decisions(rows, machine,
                                                                            kind, g)]
        batches = sorted({b for b, _, _ in found})
        won = sorted({b for b, v, r in found if v == r["variant"]})
        hits = len(won) if wins_means_agree else len(batches) - len(won)
        best = max((r["speedup_with_overlap"] for _, _, r in found), default=None)
        text = (f"an attention unit is the verdict at batches {won or 'none'} of "
                f"{batches or 'none'}; best unit speedup {best}x" if found else
                "no feasible batch")
        out.append({"claim": says, "rooftile": text, "agreement": _agreement(hits, len(batches))})
    duplex = _decisions(rows, machine, "mla", "duplex")
    if duplex:
        (small, v_small, r_small), (large, v_large, r_large) = duplex[0], duplex[-1]
        agree = (v_small == "duplex") and (v_large != "duplex") and small != large
        text = (f"Duplex PIM at batch {small}: {r_small['speedup_with_overlap']}x, verdict "
                f"{v_small!r}; at batch {large}: {r_large['speedup_with_overlap']}x, "
                f"verdict {v_large!r}")
        out.append({"claim": "PIM helps MoE only at small batch", "rooftile": text,
                    "agreement": "agrees" if agree else "disagrees"})
    links = [r for r in rows if r["machine"] == machine and r["feasible"]
             and r["variant"].startswith("faster_interconnect") and r["attention"].startswith("mla")]
    if links:
        best = max(links, key=lambda r: r["speedup_with_overlap"])
        share = max(r["comm_share"] for r in rows if r["machine"] == machine and r["feasible"]
                    and r["variant"] == "baseline" and r["attention"].startswith("mla"))
        matters = best["speedup_with_overlap"] >= MARGIN
        out.append({"claim": "Interconnect matters (MoE all-to-all)",
                    "rooftile": f"communication up to {share:.0%} of TPOT; 2x link bandwidth "
                                f"gives up to {best['speedup_with_overlap']}x (batch "
                                f"{best['batch']})",
                    "agreement": "agrees" if matters else "disagrees"})
    return out


def thesis_paragraph(rows, machine):
    """The answer on ``machine`` in one paragraph: each claim of arXiv 2507.15465 with
    rooftile's number and whether the RTL-grounded result agrees."""
    parts = [f"The claims of arXiv 2507.15465 on {machine} (decision margin {MARGIN:.3f}x, "
             f"from the tile model's {MODEL_ERROR:.0%} validated error):"]
    parts += [f"{c['claim']}: {c['rooftile']} ({c['agreement']})." for c in claims(rows, machine)]
    return " ".join(parts)


def plot_throughput(rows, machine):
    """Tokens/s per device per $1000 against batch, one panel per workload: the baseline,
    each unit (solid) and each alternative at the logic-die unit's price (dashed); batches
    the baseline cannot fit are shaded."""
    mine = [r for r in rows if r["machine"] == machine]
    workloads = list(dict.fromkeys(r["workload"].split(" b=")[0] for r in mine))
    fig = Figure(figsize=(5 * len(workloads), 4.5), layout="constrained")
    for index, workload in enumerate(workloads):
        ax = fig.add_subplot(1, len(workloads), index + 1)
        here = [r for r in mine if r["workload"].split(" b=")[0] == workload]
        names = ["baseline", *UNITS, *(f"{a} (= logic-die)" for a in ALTERNATIVES)]
        for name in names:
            points = sorted((r["batch"], 1000 * r["tokens_per_s_per_device"] / r["cost_usd"])
                            for r in here if r["variant"] == name and r["feasible"])
            if points:
                style = "k-o" if name == "baseline" else "-o" if name in UNITS else "--s"
                ax.plot(*zip(*points), style, label=name, markersize=4)
        base = [r for r in here if r["variant"] == "baseline"]
        batches = sorted(r["batch"] for r in here)
        if any(not r["feasible"] for r in base):
            ax.axvspan(max(1, min(r["largest_batch"] for r in base) + 0.5), 2 * batches[-1],
                       color="grey", alpha=0.25, label="baseline does not fit")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlim(0.8 * batches[0], 1.25 * batches[-1])
        ax.set_xlabel("batch (sequences per TP group)")
        ax.set_ylabel("tokens/s per device per $1000")
        ax.set_title(f"{workload} ({here[0]['attention']}) on {machine}")
        ax.legend(fontsize=6)
    return fig


_TABLE = ("workload", "variant", "feasible", "cost_usd", "tpot_us", "tokens_per_s_per_device",
          "energy_per_token_J", "speedup_with_overlap", "speedup_without_overlap", "verdict")


def record_rows(records):
    """Per RTL proxy and program: the traffic factor carried to full size, the derates
    and the model's error against the RTL (None: priced by the model only)."""
    return [{"proxy": f"{name[0]} {name[1]}",
             "program": str(key[1] if isinstance(key, tuple) else key),
             "traffic_over_ideal": round(run.traffic, 3),
             "mapping": round(run.derates.mapping, 4), "dram": round(run.derates.dram, 4),
             "model_error": None if run.model_error is None else round(run.model_error, 4)}
            for name, runs in records.items() for key, run in runs.items()
            if name[0] == "unit" or name[1] == 1.0]


def write_verdict(out_dir, rows, machines, sensitivity_rows=(), notes=(), records=None):
    """Write ``verdict.json``, ``verdict.csv``, ``verdict.md`` and one figure per machine
    into ``out_dir``; return the Markdown (it opens with the answer) and the paths.
    ``records`` (the :class:`ScaledRun` per proxy) adds the table of what the RTL proxies
    measured."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"verdict_json": out / "verdict.json", "verdict_csv": out / "verdict.csv",
             "verdict_md": out / "verdict.md"}
    paths["verdict_json"].write_text(json.dumps(
        {"margin": MARGIN, "model_error": MODEL_ERROR, "verdict": rows,
         "sensitivity": list(sensitivity_rows)}, indent=1) + "\n")
    with paths["verdict_csv"].open("w", newline="") as f:
        columns = list(dict.fromkeys(k for r in rows for k in r))
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    parts = ["## The answer: what should the next dollar buy?", ""]
    for machine in machines:
        path = out / f"verdict_{machine}.png"
        plot_throughput(rows, machine).savefig(path, dpi=120)
        paths[f"verdict_{machine}"] = path
        units = [{k: r.get(k) for k in ("workload", "largest_batch", "group", "verdict",
                                         "verdict_no_overlap", "energy_verdict",
                                         "speedup_with_overlap", "speedup_without_overlap")}
                 for r in rows if r["machine"] == machine and r["variant"] in UNITS]
        parts += [f"### {machine}", "", thesis_paragraph(rows, machine), "",
                  markdown_table(units), "", f"![tokens/s per $ against batch](verdict_{machine}.png)",
                  ""]
    parts += ["### Every variant", "", *notes, "",
              markdown_table([{k: r.get(k) for k in ("machine", *_TABLE)} for r in rows]), ""]
    if records:
        parts += ["### What the RTL proxies measured (the baseline tile and the unit engines)",
                  "", markdown_table(record_rows(records)), ""]
    if sensitivity_rows:
        parts += ["### Sensitivity: where each verdict flips", "",
                  markdown_table(list(sensitivity_rows)), ""]
    text = "\n".join(parts)
    paths["verdict_md"].write_text(text + "\n")
    return text, paths
