"""``rooftile study``: decode layers of real models on the RTL tile, against the roofline.

A study (:mod:`~rooftile.sim.study.spec`) is a tile configuration and a list of
workloads (model x batch). For each workload the layer's ops are scaled
(:mod:`~rooftile.sim.study.schedules`), every distinct scaled program is compiled once
and runs once on the RTL with its output checked bit-exactly, and each op is reported
with three numbers: RTL cycles, the analytical tile model's cycles and the roofline's.
The analysis layer then extrapolates each op to full size on real machines
(:mod:`rooftile.analysis.extrapolation`) and prices the attention-unit verdict
(:mod:`rooftile.analysis.verdict`).
"""

import contextlib
import dataclasses
import datetime
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ...analysis.comparison import ChipLayerMeasurement, LayerMeasurement
from ...analysis.cost import UNITS
from ...analysis.dataflows import dataflow_rows, plot_dataflow_utilization
from ...analysis.extrapolation import Derates, layer_time_rows
from ...analysis.plots import plot_chip_timeline
from ...analysis.study_report import DPI, write_study
from ...analysis.sensitivity import sensitivity
from ...analysis.verdict import write_verdict
from ..compile.layer import compile_layer
from ...hdl.params import DATAFLOWS
from ..run import flow
from ..run.simulators import simulator_version
from .chip import SUBBATCHES, compile_chip, unit_ops
from .measure import measurement, run_scaled
from .schedules import compile_scaled, lower_workload
from .spec import StudyError
from .verdict import compile_proxies, run_verdict, unit_chip

__all__ = ["run_study", "default_out_dir", "DATAFLOW_TABLE", "DATAFLOW_FIGURE"]

#: The report's table and figure of the same ops under each dataflow
#: (``StudySpec.compare_dataflows``).
DATAFLOW_TABLE = "Output- against weight-stationary: the same scaled ops on both tiles"
DATAFLOW_FIGURE = "dataflows.png"


def _provenance(spec):
    def version(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).parent, check=False)
    return {
        "rooftile_version": version("rooftile"),
        "git_commit": commit.stdout.strip() or "unknown",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "simulator": spec.simulator,
        "simulator_version": simulator_version(spec.simulator),
        "python": platform.python_version(),
        "amaranth": version("amaranth"), "cocotb": version("cocotb"),
        "numpy": version("numpy"),
        "tile_config": spec.config.to_json(),
        "tile_digest": spec.config.digest,
        "study": {k: v for k, v in spec.to_json().items() if k != "config"},
        "seed": spec.seed,
    }


def _measurements(spec, layers, runs):
    """One OpMeasurement per scaled op of every layer, extrapolated to each machine."""
    measurements = []
    for layer in layers:
        w = layer.workload
        for op in layer.scaled:
            run = runs[op.key]
            derates = Derates.predicted(spec.config, op.flop, run.prediction)
            measurements.append(measurement(
                spec.config, op, run, workload=w.label, model=w.model,
                attention=layer.attention, batch=w.batch, full_time_s={
                    name: derates.time_s(op.full_flop, op.full_bytes, name, spec.dtype)
                    for name in spec.machines}))
    return measurements


def _layer_programs(spec, layers, programs):
    """``{workload label: LayerProgram}``: each layer's ops as one program.

    Raises
    ------
    StudyError
        A layer that does not fit the tile's DRAM or program memory.
    """
    out = {}
    for layer in layers:
        try:
            out[layer.workload.label] = compile_layer(
                spec.config, [op.name for op in layer.scaled],
                [programs[op.key] for op in layer.scaled])
        except ValueError as error:
            raise StudyError(f"{layer.workload.label} as one program: {error}") from None
    return out


def _layer_measurements(layers, runs, layer_runs):
    """Each layer program's run against its ops run alone."""
    out = []
    for layer in layers:
        w, run = layer.workload, layer_runs[layer.workload.label]
        out.append(LayerMeasurement(
            workload=w.label, model=w.model, attention=layer.attention, batch=w.batch,
            ops=len(layer.scaled), layer_cycles_measured=run.counters.cycles,
            layer_cycles_isolated_sum=sum(runs[op.key].counters.cycles
                                          for op in layer.scaled),
            layer_cycles_model=run.prediction.cycles,
            load_wait_store=run.counters.load_wait_store, exact=run.exact))
    return out


def _chip_batches(spec, layers):
    """``{("chip", unit): (config, {(workload label, sub-batches): ChipProgram})}`` for
    every unit of ``spec.chip_units``, of the layers it runs ops of (every layer for an
    attention unit, the MoE layers for Duplex); two sub-batches where the batch splits.

    Raises
    ------
    StudyError
        A unit that runs no op of any workload (before any build).
    """
    out = {}
    # Two sub-batches hold every op twice, each with its weights: both engines' DRAM
    # doubled (the tile's program memory too).
    doubled = spec.config.replace(dram_depth=2 * spec.config.dram_depth,
                                  program_depth=2 * spec.config.program_depth)
    for kind in spec.chip_units:
        mine = [layer for layer in layers if unit_ops(kind, layer)]
        if not mine:
            raise StudyError(f"--chip {kind}: {kind} runs a layer's {UNITS[kind].runs} "
                             f"and none of the workloads "
                             f"({', '.join(layer.workload.label for layer in layers)}) has "
                             f"any (the MoE models' layers have routed experts, e.g. "
                             f"deepseek-v3)")
        config, compiled = unit_chip(doubled, kind, spec.dtype), {}
        config = config.replace(attention_unit=dataclasses.replace(
            config.attention_unit, dram_depth=2 * config.attention_unit.dram_depth))
        out[("chip", kind)] = (config, {
            (layer.workload.label, parts): compile_chip(config, kind, layer, parts, compiled)
            for layer in mine for parts in SUBBATCHES
            if parts == 1 or layer.workload.batch >= parts})
    return out


def _chip_measurements(batches, all_runs):
    """Each chip layer's run against the sums and the verdict's composition."""
    out = []
    for name, (config, programs) in batches.items():
        for (label, parts), program in programs.items():
            run = all_runs[name][(label, parts)]
            tile, unit = program.isolated_cycles(config)
            c = run.counters
            out.append(ChipLayerMeasurement(
                workload=label, unit=name[1], subbatches=parts,
                unit_ops=", ".join(program.unit_ops),
                layer_cycles_measured=c.cycles, layer_cycles_isolated_sum=tile + unit,
                layer_cycles_model=run.prediction.cycles,
                layer_cycles_analytic=tile + unit if parts == 1 else max(tile, unit),
                tile_cycles=c.tile.cycles, unit_cycles=c.unit.cycles,
                tile_wait_peer=c.tile.load_wait_peer, unit_wait_peer=c.unit.load_wait_peer,
                tile_dram_wait=c.tile.dram_wait, unit_dram_wait=c.unit.dram_wait,
                exact=run.exact))
    return out


def _other_dataflows(spec, ops):
    """``{dataflow: (config, programs)}`` of the study's scaled ops on its tile with
    each other dataflow, when the spec compares them (compiled before any build, so a
    program that does not fit fails early)."""
    if not spec.compare_dataflows:
        return {}
    others = {}
    for dataflow in DATAFLOWS:
        if dataflow != spec.config.dataflow:
            config = spec.config.replace(dataflow=dataflow)
            try:
                others[dataflow] = (config, compile_scaled(config, ops))
            except ValueError as error:
                raise StudyError(f"the scaled ops do not fit the {dataflow} tile: "
                                 f"{error}") from None
    return others


def _chip_notes(chips, layers):
    """Per chip unit, how far the verdict's composition of the engines is off the chip
    measured on the RTL (what its decisions near the margin must absorb), and which
    layers it skipped for running none of their ops."""
    notes = []
    for unit in dict.fromkeys(c.unit for c in chips):
        mine = [c for c in chips if c.unit == unit]
        errors = [c.analytic_error for c in mine]
        measured = {c.workload for c in mine}
        skipped = [layer.workload.label for layer in layers
                   if layer.workload.label not in measured]
        notes.append(f"Engine overlap measured on the chip with {unit} running "
                     f"{' / '.join(dict.fromkeys(c.unit_ops for c in mine))} "
                     f"({len(errors)} layer runs): the composition of its engines' times is "
                     f"off the RTL by {min(errors):+.1%} to {max(errors):+.1%} (negative: "
                     f"it promises more overlap than the engines get); the {unit} "
                     f"variant's layers take the measured overlap."
                     + (f" Not run for {', '.join(skipped)}: {unit} runs none of their "
                        f"ops." if skipped else ""))
    return notes


def _chip_timelines(batches, all_runs):
    """``(unit, Figure, label)`` per chip unit: the busy timeline of its first layer in
    two sub-batches (one if no batch splits), from the RTL's trace."""
    for name, (_, programs) in batches.items():
        key = next((k for k in programs if k[1] == 2), next(iter(programs)))
        run = all_runs[name][key]
        label = f"{key[0]}, {key[1]} sub-batch(es)"
        yield name[1], plot_chip_timeline(run.program.timeline(run.trace), label), label


def _routing_rows(spec, layers):
    return [{"workload": layer.workload.label, "ep_devices": spec.ep_devices,
             **{k: (round(v, 2) if isinstance(v, float) else v)
                for k, v in layer.routing.items()}}
            for layer in layers if layer.routing]


def _remove_orphans(out):
    """Remove the partial folders of killed runs into ``out`` (their process is gone)."""
    for partial in out.parent.glob(f".{out.name}.*.partial"):
        pid = partial.name[len(out.name) + 2:].split(".")[0]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(partial, ignore_errors=True)
        except PermissionError:
            pass    # another user's live process


@contextlib.contextmanager
def _results_folder(out_dir, overwrite):
    """A private folder beside ``out_dir`` to write into, renamed to ``out_dir`` when the
    body finishes and removed when it fails: a results folder is complete or absent.

    Raises
    ------
    StudyError
        ``out_dir`` is a file, is a non-empty folder and ``overwrite`` is false, or its
        parent cannot be written (checked before any work).
    """
    out = Path(out_dir).absolute()
    if out.exists() and not out.is_dir():
        raise StudyError(f"--out {out_dir} is a file; name a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise StudyError(f"--out {out_dir} is not empty; name a new folder, or pass "
                         f"--overwrite to replace it")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphans(out)
        private = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.",
                                        suffix=".partial", dir=out.parent))
    except OSError as error:
        raise StudyError(f"cannot write the results folder {out_dir}: {error}") from None
    try:
        yield private
        if out.exists():
            old = out.with_name(f".{out.name}.replaced")
            os.rename(out, old)
            os.rename(private, out)
            shutil.rmtree(old)
        else:
            os.rename(private, out)
    except BaseException:
        shutil.rmtree(private, ignore_errors=True)
        raise


def _within(paths, private, out):
    """``paths`` written into ``private``, as they are after the rename to ``out``."""
    return {kind: Path(out) / Path(path).relative_to(private) for kind, path in paths.items()}


def run_study(spec, out_dir, *, progress=print, verdict=True, comparison=True,
              overwrite=False, engine=None):
    """Run ``spec`` and write its results folder; return the written paths by kind.

    ``verdict`` adds the attention-unit comparison (:mod:`rooftile.sim.study.verdict`);
    ``comparison=False`` writes only the verdict's files. The folder appears complete
    or not at all; an existing non-empty one is replaced only with ``overwrite``.
    ``engine`` runs the simulator starts (:mod:`rooftile.sim.run.engine`; default: local
    threads).

    Raises
    ------
    StudyError
        A bad ``out_dir``, a workload whose scaled ops do not fit the tile or a variant
        (raised before any build), or an output that differs from the numpy golden model.
    """
    with _results_folder(out_dir, overwrite) as private:
        paths = _run_study(spec, private, out_dir, progress, verdict, comparison, engine)
    return _within(paths, private, Path(out_dir).absolute())


def _run_study(spec, out_dir, final_dir, progress, verdict, comparison, engine):
    began = time.perf_counter()
    layers = [lower_workload(spec, w) for w in spec.workloads]
    every = [op for layer in layers for op in layer.scaled]
    programs = compile_scaled(spec.config, every)
    layer_programs = _layer_programs(spec, layers, programs)
    progress(f"study: {len(spec.workloads)} workloads, {len(every)} ops, "
             f"{len(programs)} distinct programs, {len(layer_programs)} layer programs")
    try:
        proxy_configs, proxy_programs = (compile_proxies(spec, layers) if verdict
                                         else ({}, {}))
    except ValueError as error:
        raise StudyError(f"the verdict's proxies of this tile cannot be built: {error} "
                         f"(--no-verdict skips the verdict)") from None
    # Only the unit engines run on the RTL beside the tile (rooftile.sim.study.verdict),
    # all configurations at once.
    chip_batches = _chip_batches(spec, layers)
    batches = {"study": (spec.config, programs), "layers": (spec.config, layer_programs),
               **chip_batches}
    batches.update({name: (config, proxy_programs[name])
                    for name, config in proxy_configs.items() if name[0] == "unit"})
    others = _other_dataflows(spec, every)
    batches.update({("dataflow", d): (config, compiled_)
                    for d, (config, compiled_) in others.items()})
    # The tiles, built at once; the chips are built by run_scaled (another top).
    configs = {config.digest: config for name, (config, _) in batches.items()
               if name not in chip_batches}
    progress(f"building {len(configs)} configurations (in parallel, cached ones are "
             f"reused)")
    compiled = time.perf_counter()
    if engine is None or engine.local:     # a cluster's workers build into their caches
        flow.build_many(configs.values(), simulator=spec.simulator)
    built = time.perf_counter()
    all_runs = run_scaled(batches, seed=spec.seed, simulator=spec.simulator,
                          progress=progress, engine=engine)
    runs = all_runs["study"]
    simulated = time.perf_counter()

    measurements = _measurements(spec, layers, runs)
    layer_measurements = _layer_measurements(layers, runs, all_runs["layers"])
    chip_measurements = _chip_measurements(chip_batches, all_runs)
    by_dataflow = {spec.config.dataflow: measurements}
    by_dataflow.update({d: _measurements(dataclasses.replace(spec, config=config), layers,
                                         all_runs[("dataflow", d)])
                        for d, (config, _) in others.items()})
    bad = [m for ms in by_dataflow.values() for m in ms if not m.exact]
    bad += [m for m in layer_measurements + chip_measurements if not m.exact]
    provenance = _provenance(spec)
    # Seconds building, simulating (simulator starts, in parallel) and in total; the
    # rest is Python (lowering, compiling, the model, analysis and reports).
    provenance["wall_s"] = {"build": round(built - compiled, 1),
                            "simulate": round(simulated - built, 1),
                            "total": round(time.perf_counter() - began, 1)}
    provenance["all_exact"] = not bad
    extra = {"Full-size decode layer time per machine (model-extrapolated)":
             layer_time_rows(measurements, spec.machines, spec.dtype)}
    if others:
        extra[DATAFLOW_TABLE] = dataflow_rows(by_dataflow)
    routing_rows = _routing_rows(spec, layers)
    if routing_rows:
        extra["MoE routing sample (tokens per expert on device 0)"] = routing_rows
    paths = {}
    if verdict:
        rows, layer_ops, records = run_verdict(spec, layers, proxy_configs, proxy_programs,
                                               all_runs, chip=chip_measurements)
        flips = sensitivity(layer_ops, records, spec.machines, spec.dtype, spec.context,
                            spec.ep_devices)
        errors = [r.model_error for runs_ in records.values() for r in runs_.values()
                  if r.model_error is not None]
        notes = [f"Tile model against the RTL on the {len(errors)} proxy runs: largest "
                 f"cycle error {max(errors):.1%} (the decision margin assumes 5%)."]
        notes += _chip_notes(chip_measurements, layers)
        text, paths = write_verdict(out_dir, rows, spec.machines, flips, notes, records)
        provenance["wall_s"]["total"] = round(time.perf_counter() - began, 1)
    if comparison:
        paths.update(write_study(out_dir, measurements, provenance, extra,
                                 layer_measurements, chip_measurements))
        for kind, figure, label in _chip_timelines(chip_batches, all_runs):
            paths[f"chip_timeline_{kind}"] = Path(out_dir) / f"chip_timeline_{kind}.png"
            figure.savefig(paths[f"chip_timeline_{kind}"], dpi=DPI)
            with paths["report"].open("a") as report:
                report.write(f"![{label}: each engine's ops on the chip with {kind}, from "
                             f"the RTL's trace](chip_timeline_{kind}.png)\n")
        if others:
            paths["dataflows"] = Path(out_dir) / DATAFLOW_FIGURE
            plot_dataflow_utilization(by_dataflow).savefig(paths["dataflows"], dpi=DPI)
            with paths["report"].open("a") as report:
                report.write(f"![Array utilization per op, output- against "
                             f"weight-stationary]({DATAFLOW_FIGURE})\n")
        if verdict:
            report = paths["report"]
            # The report opens with the answer.
            report.write_text(text + "\n\n" + report.read_text())
    written = "report.md" if comparison else "verdict.md"
    progress(f"study: wrote {Path(final_dir) / written} "
             f"({time.perf_counter() - began:.0f} s; "
             f"{'all outputs bit-exact' if not bad else f'{len(bad)} outputs WRONG'})")
    if bad:
        raise StudyError(f"{len(bad)} ops differ from the numpy golden model: "
                         + ", ".join(f"{m.workload}/{getattr(m, 'op', 'whole layer')}"
                                     for m in bad))
    return paths


def default_out_dir():
    """``results/study-<UTC timestamp>`` in the working directory."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("results") / f"study-{stamp}"
