"""Amaranth -> Verilog -> cocotb runner -> simulator, with builds cached per configuration.

A build lives in ``<cache>/<top>-<simulator>-<config digest>-<source digest>/``; the cache
root is ``$ROOFTILE_CACHE`` or ``~/.cache/rooftile``. A second :func:`build` of the same
configuration finds the compiled simulator and does not regenerate or recompile anything.

:func:`run` executes a batch of jobs in one simulator start (each start costs about a
second), passing them to the cocotb testbench as a JSON file: the testbench runs them
with no Python per clock cycle and writes a JSON file of results back.
"""

import concurrent.futures
import dataclasses
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from ...hdl.errors import InputTypeError, RooftileError, one_of
from ...hdl.params import TileConfig
from .simulators import VERILATOR_MAKEFLAGS, prepare_simulator, simulator_version

__all__ = ["TOPS", "Build", "BuildError", "SimulationError", "cache_root", "build", "run"]


def _harness(config):
    from ...hdl.harness import MatrixHarness
    return MatrixHarness(config)


def _tile(config):
    from ...hdl.tile import Tile
    return Tile(config)


#: Top-level designs: name -> (component factory, cocotb testbench module).
TOPS = {
    "harness": (_harness, "rooftile.sim.tb.harness"),
    "tile": (_tile, "rooftile.sim.tb.tile"),
}


class BuildError(RooftileError, RuntimeError):
    """The simulator build failed; the message carries the end of its log."""


class SimulationError(RooftileError, RuntimeError):
    """The simulation failed or hung; the message carries the testbench's diagnosis."""


def cache_root():
    return Path(os.environ.get("ROOFTILE_CACHE", Path.home() / ".cache" / "rooftile"))


#: Verilator options beyond the runner's own; part of the build-cache key.
VERILATOR_ARGS = (
    "--no-public-flat-rw",  # see _verilator_config
    "-O3",                  # Verilator's own optimisations
    # Amaranth emits width-exact but not lint-clean Verilog (e.g. unused bits).
    "-Wno-fatal",
)


#: Icarus runs `always @*` blocks only on an input event; yosys triggers each once with
#: an initialised dummy reg, which under the runner's -g2012 is set before time zero
#: (SystemVerilog) and triggers nothing, so a block whose inputs never change (an idle
#: unit's FSM outputs) stays X. Verilog-2005 initialises at time zero, an event.
ICARUS_ARGS = ("-g2005",)


def _source_digest():
    """Hash of the HDL sources, build flags and tool versions, so an edited design or a
    changed flag never reuses a stale build."""
    from ... import hdl
    h = hashlib.sha256()
    for path in sorted(Path(hdl.__file__).parent.glob("*.py")):  # primitives included
        h.update(path.name.encode() + path.read_bytes())
    h.update(" ".join(VERILATOR_ARGS + ICARUS_ARGS + (VERILATOR_MAKEFLAGS,)).encode())
    for dist in ("amaranth", "cocotb", "verilator"):
        h.update(f"{dist}={importlib.metadata.version(dist)}".encode())
    return h.hexdigest()[:10]


def _write_if_changed(path, text):
    """Keep the modification time of unchanged files: Verilator and make go by it."""
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _tail(path, lines=40):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclasses.dataclass(frozen=True)
class Build:
    """A compiled simulator for one top-level design and configuration."""
    top: str
    config: TileConfig
    simulator: str
    waves: bool
    directory: Path
    #: Seconds spent this call generating Verilog and compiling (0.0 when cached).
    generate_s: float = 0.0
    compile_s: float = 0.0

    @property
    def test_module(self):
        return TOPS[self.top][1]


def _verilator_config(verilog, top):
    """Make only the top-level ports VPI-visible.

    The runner passes ``--public-flat-rw``, which exposes every signal and made a 16x16
    array simulate ~10x slower; rooftile adds ``--no-public-flat-rw`` and names the ports.
    """
    header = re.search(rf"^module {re.escape(top)}\((.*?)\);", verilog, re.M | re.S)
    ports = [p.strip() for p in header.group(1).split(",")]
    lines = ["`verilator_config"]
    lines += [f'public_flat_rw -module "{top}" -var "{port}"' for port in ports]
    return "\n".join(lines) + "\n"


def build(config, top="harness", *, simulator="verilator", waves=False):
    """Return a (cached) simulator build of ``top`` for ``config``.

    Raises
    ------
    ValueError
        Unknown ``top`` or ``simulator`` (before any work starts).
    SimulatorMissing
        The simulator is not installed.
    BuildError
        Verilog generation succeeded but the simulator build failed.
    """
    if not isinstance(config, TileConfig):
        raise InputTypeError(f"config must be a TileConfig, got {config!r}")
    one_of("top", top, TOPS)
    prepare_simulator(simulator)
    from cocotb_tools.runner import get_runner

    name = f"{top}-{simulator}{'-waves' if waves else ''}-{config.digest}-{_source_digest()}"
    directory = cache_root() / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config.to_json(), indent=1))
    verilog_path = directory / f"{top}.v"
    stamp = directory / "built.stamp"
    began = time.perf_counter()
    if not (stamp.exists() and verilog_path.exists()):
        from amaranth.back import verilog
        factory, _ = TOPS[top]
        from ...hdl.dram import STORAGE_VERILOG
        text = verilog.convert(factory(config), name=top, emit_src=False)
        text += STORAGE_VERILOG  # Verilog primitives the designs instantiate
        _write_if_changed(verilog_path, text)
        _write_if_changed(directory / "ports.vlt", _verilator_config(text, top))
    generated = time.perf_counter()

    sources = [verilog_path]
    build_args = []
    if simulator == "verilator":
        sources.append(directory / "ports.vlt")
        build_args = list(VERILATOR_ARGS)
        if waves:
            build_args.append("--trace-fst")
    else:
        build_args = list(ICARUS_ARGS)
    runner = get_runner(simulator)
    log = directory / "build.log"
    try:
        runner.build(sources=sources, hdl_toplevel=top, build_dir=directory / "sim",
                     build_args=build_args, timescale=("1ns", "1ps"), waves=waves,
                     log_file=log)
    except (RuntimeError, SystemExit) as error:
        raise BuildError(f"{simulator} build of {top} failed ({error}); "
                         f"log {log}:\n{_tail(log)}") from None
    compiled = time.perf_counter()
    stamp.write_text(simulator_version(simulator) + "\n")
    return Build(top, config, simulator, waves, directory,
                 generate_s=generated - began, compile_s=compiled - generated)


def build_many(configs, top="tile", *, simulator="verilator", workers=None):
    """Build several configurations at once, one process each, up to the machine's
    cores, so a study pays for its cold builds in parallel; :func:`build` then finds
    them in the cache. Returns the number of distinct configurations.

    Raises
    ------
    BuildError
        The first build that failed.
    """
    unique = list({config.digest: config for config in configs}.values())
    workers = min(len(unique), workers or os.cpu_count() or 1)
    if workers <= 1:
        for config in unique:
            build(config, top, simulator=simulator)
    else:
        with concurrent.futures.ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(build, config, top, simulator=simulator)
                       for config in unique]
            for future in futures:
                future.result()
    return len(unique)


def run(build, jobs, *, keep=False):
    """Run ``jobs`` (JSON-able dicts, testbench specific) in one simulator start.

    Returns the list of per-job result dicts. With waves enabled or ``keep``, the run
    folder (``dump.fst``, ``sim.log``) is kept and its path is in each result's ``run_dir``.

    Raises
    ------
    SimulationError
        The testbench failed or reported a hang; the message says where it stopped.
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    prepare_simulator(build.simulator)
    runs = build.directory / "runs"
    runs.mkdir(exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(dir=runs))
    jobs_path, results_path = run_dir / "jobs.json", run_dir / "results.json"
    jobs_path.write_text(json.dumps(jobs))
    runner = get_runner(build.simulator)
    log = run_dir / "sim.log"
    results_xml = run_dir / "results.xml"
    try:
        runner.test(
            test_module=build.test_module, hdl_toplevel=build.top,
            hdl_toplevel_lang="verilog", build_dir=build.directory / "sim",
            test_dir=run_dir, results_xml=str(results_xml), waves=build.waves,
            timescale=("1ns", "1ps"), log_file=log,
            extra_env={"ROOFTILE_CONFIG": json.dumps(build.config.to_json()),
                       "ROOFTILE_JOBS": str(jobs_path),
                       "ROOFTILE_RESULTS": str(results_path)})
        _, failed = get_results(results_xml)
    except (RuntimeError, SystemExit) as error:
        raise SimulationError(f"{build.simulator} run of {build.top} did not complete "
                              f"({error}); log {log}:\n{_tail(log)}") from None
    if failed or not results_path.exists():
        raise SimulationError(f"testbench {build.test_module} failed; log {log}:\n{_tail(log)}")
    results = json.loads(results_path.read_text())
    for result in results:
        if "error" in result:
            raise SimulationError(result["error"])
    if keep or build.waves:
        for result in results:
            result["run_dir"] = str(run_dir)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return results
