"""The build cache under faults and concurrency: locked, private, published atomically,
verified by its stamp; runs leave nothing behind in the cache."""

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rooftile.hdl.params import TileConfig
from rooftile.sim.compile.gemm import compile_gemm
from rooftile.sim.compile.matmul import compile_matmul
from rooftile.sim.run import flow
from rooftile.sim.run.pipeline import run_programs

CONFIG = TileConfig(rows=2, cols=2, sp_depth=16, acc_depth=4)

# A child process that builds CONFIG into $ROOFTILE_CACHE and prints the folder (and,
# after it, whether this process compiled it).
BUILD = ("from rooftile.hdl.params import TileConfig; from rooftile.sim.run import flow; "
         "b = flow.build(TileConfig(rows=2, cols=2, sp_depth=16, acc_depth=4)); "
         "print(b.directory); print(b.compile_s > 0)")


def check_runs(config=CONFIG):
    """One product on the build: bit-exact, and the cycle model exact."""
    a, b = np.arange(6).reshape(2, 3), np.arange(6).reshape(3, 2)
    (run,) = run_programs(config, [compile_matmul(config, 2, 3, 2)], [(a, b)])
    assert run.exact and run.counters.cycles == run.prediction.cycles


def builds(root):
    """The published builds in the cache ``root``."""
    return [p for p in root.iterdir()
            if not p.name.startswith(".") and p.name != flow.RUNTIME_OBJECTS]


def snapshot(root):
    """Every path below ``root`` with its modification time."""
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_relative_and_empty_cache_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ROOFTILE_CACHE", "relative/cache")
    assert flow.cache_root() == tmp_path / "relative" / "cache"
    monkeypatch.setenv("ROOFTILE_CACHE", "")
    assert flow.cache_root().is_absolute() and flow.cache_root().name == "rooftile"
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("ROOFTILE_CACHE", "a-file")
    with pytest.raises(ValueError, match="ROOFTILE_CACHE=.*a-file' is not a folder"):
        flow.build(CONFIG)


def test_a_finished_build_is_only_read_and_runs_leave_no_trace(tmp_path, monkeypatch):
    monkeypatch.setenv("ROOFTILE_CACHE", str(tmp_path))
    build = flow.build(CONFIG)
    stamp = json.loads((build.directory / flow.STAMP).read_text())
    assert set(stamp["sha256"]) == {"harness.v", "sim/harness"}
    before = snapshot(tmp_path)
    again = flow.build(CONFIG)
    check_runs()
    # Nothing written, nothing left: a read-only cache serves the same build.
    assert again.directory == build.directory and again.compile_s == 0.0
    assert snapshot(tmp_path) == before


def test_a_corrupted_binary_is_reported_and_rebuilt(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("ROOFTILE_CACHE", str(tmp_path))
    build = flow.build(CONFIG)
    binary = build.directory / "sim" / "harness"
    binary.write_bytes(binary.read_bytes()[:1000])       # truncated
    runtime = sorted((tmp_path / flow.RUNTIME_OBJECTS).glob("verilated_vpi-*.o"))
    assert len(runtime) == 1
    runtime[0].write_bytes(runtime[0].read_bytes()[:1000])   # a shared one, truncated
    rebuilt = flow.build(CONFIG)
    assert "sim/harness does not match its checksum" in capfd.readouterr().err
    assert rebuilt.compile_s > 0
    check_runs()
    # The truncated run-time object was compiled again, not linked.
    assert runtime[0].stat().st_size > 100_000
    (build.directory / flow.STAMP).unlink()              # a build that never finished
    flow.build(CONFIG)
    assert "no stamp" in capfd.readouterr().err
    check_runs()


def test_kill_during_a_build_publishes_nothing(tmp_path):
    env = {**os.environ, "ROOFTILE_CACHE": str(tmp_path)}
    child = subprocess.Popen([sys.executable, "-c", BUILD], env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Wait until the C++ compile is under way in the private folder, then kill -9.
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".*.building/sim/*.cpp")):
        assert time.monotonic() < deadline and child.poll() is None, "build never started"
        time.sleep(0.2)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert builds(tmp_path) == []
    # A shared run-time object is either whole (its checksum beside it) or not there.
    for checksum in (tmp_path / flow.RUNTIME_OBJECTS).glob("*.sha256"):
        obj = checksum.with_suffix(".o")
        assert hashlib.sha256(obj.read_bytes()).hexdigest() == checksum.read_text()
    # The next build clears the killed one's private folder and publishes a good build.
    again = subprocess.run([sys.executable, "-c", BUILD], env=env, check=True,
                           capture_output=True, text=True)
    (published,) = builds(tmp_path)
    assert again.stdout.split() == [str(published), "True"]
    assert (published / flow.STAMP).exists()
    assert not list(tmp_path.glob(".*.building"))


def test_concurrent_cold_builds_share_one_result(tmp_path, monkeypatch):
    env = {**os.environ, "ROOFTILE_CACHE": str(tmp_path)}
    children = [subprocess.Popen([sys.executable, "-c", BUILD], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(3)]
    outputs = [child.communicate() for child in children]
    assert all(child.returncode == 0 for child in children), outputs
    # One folder; one process compiled it while the others waited on the lock and reused it.
    assert len({out.split()[0] for out, _ in outputs}) == 1
    assert sorted(out.split()[1] for out, _ in outputs) == ["False", "False", "True"]
    assert "rebuilding" not in "".join(err for _, err in outputs)
    monkeypatch.setenv("ROOFTILE_CACHE", str(tmp_path))
    check_runs()


def test_a_run_goes_under_a_prefix_command(tmp_path):
    """The profiler hook (``bench_chip.py --instructions`` runs callgrind so): the
    simulator runs under the prefix and its results are the same."""
    program = compile_gemm(CONFIG, 2, 3, 2)
    operands = program.random_operands(CONFIG, np.random.default_rng(5))
    build = flow.build(CONFIG, "tile")
    marker = tmp_path / "ran"
    (result,) = flow.run(build, [program.job(CONFIG, *operands)],
                         prefix=("sh", "-c", f'touch "{marker}" && exec "$@"', "sh"))
    assert marker.exists()
    assert np.array_equal(program.output(CONFIG, result), program.expected(CONFIG, *operands))
    with pytest.raises(ValueError, match=r"prefix \['valgrind'\] needs simulator 'verilator'"):
        flow.run(dataclasses.replace(build, simulator="icarus"), [], prefix=("valgrind",))


def test_zero_memories_are_zeroed_by_loops_and_tables_keep_their_values():
    from amaranth.back import verilog
    from amaranth.hdl import Module, Signal
    from amaranth.lib import memory

    def design():
        m, outputs = Module(), []
        m.submodules.zeros = memory.Memory(shape=12, depth=300, init=[])
        m.submodules.wire = memory.Memory(shape=4, depth=20, init=[])   # escaped: \\wire
        m.submodules.table = memory.Memory(shape=8, depth=4, init=[0, 7, 0, 3])
        for name in ("zeros", "wire", "table"):
            port = m.submodules[name].read_port()
            outputs.append(Signal.like(port.data, name=f"{name}_out"))
            m.d.comb += [port.addr.eq(1), outputs[-1].eq(port.data)]
        return m, outputs

    def convert():
        m, outputs = design()
        return verilog.convert(m, ports=outputs, emit_src=False)

    plain = convert()
    assert "zeros[299] = 12'h000;" in plain    # Amaranth and yosys zero word by word
    with flow._zero_memories_uninitialised():
        text = convert()
    assert "zeros[299] =" not in text and "\\wire [19] =" not in text
    looped = flow.zero_arrays(text)
    assert "for (i = 0; i <= 299; i = i + 1) zeros[i] = 12'h0;" in looped
    assert "for (i = 0; i <= 19; i = i + 1) \\wire [i] = 4'h0;" in looped
    # A table with values is kept word for word, and is not zeroed after.
    assert "\\table [1] = 8'h07;" in looped and "\\table [2] = 8'h00;" in looped
    assert "\\table [i]" not in looped
    assert plain.count("\n") > looped.count("\n") + 300
    # Outside the conversion, Amaranth's own emitter is back.
    assert convert() == plain
