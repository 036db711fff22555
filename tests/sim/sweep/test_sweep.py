"""``rooftile sweep``: the file's checks, a real Dask cluster on localhost, a killed and
resumed sweep, failures recorded without stopping it, and the report."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib

import pytest

import numpy as np

from rooftile.sim.cli import main
from rooftile.sim.compile.gemm import compile_gemm
from rooftile.sim.run.pipeline import random_operands, run_programs
from rooftile.sim.sweep import DaskEngine, Point, SweepError, load_sweep, sweep_from_tables
from rooftile.sim.sweep.run import tasks

# One 2x3 tile shape for every RTL test here, so they share one cached build.
FIXED = """
[fixed]
rows = 2
cols = 3
data_width = 8
sp_depth = 1024
acc_depth = 512
dram_depth = 8192
program_depth = 4096
model = "llama-3-8b"
batch = 2
max_context = 32
max_width = 32
max_head_dim = 16
max_instances = 1
"""


def write(tmp_path, text, name="sweep.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def rooftile(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "rooftile.sim.cli", *args], text=True,
                          capture_output=True, **kwargs)


def records(out):
    return [json.loads(line) for line in (out / "points.jsonl").read_text().splitlines()]


def test_the_whole_file_is_checked_before_anything_runs(tmp_path):
    bad = write(tmp_path, FIXED + 'rowz = 2\n[grid]\nbatch = [1, 0]\nmachine = ["h900"]\n')
    with pytest.raises(SweepError) as error:
        load_sweep(bad)
    message = str(error.value)
    # Every problem in one message, each naming the key, the value and what is allowed.
    assert "unknown key 'rowz'" in message and "batch must be >= 1, got 0" in message
    assert "unknown machine 'h900'; known: h100" in message
    result = rooftile("sweep", "--config", str(bad))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "unknown key 'rowz'" in result.stderr
    # Points whose values are fine alone but do not fit together are skipped, with why.
    sweep = load_sweep(write(tmp_path, FIXED + '[grid]\nattention_unit = ["none", '
                             '"logic-die", "bank-level"]\ndram_bytes_per_cycle = ["1", "24"]\n'))
    assert len(sweep.points) == 2
    reasons = [why for _, why in sweep.skipped]
    assert any("dram_bytes_per_cycle must be > 0 and <= one DRAM word (12 bytes)" in r
               for r in reasons)
    assert any("attention unit bank-level" in r for r in reasons)
    with pytest.raises(SweepError, match="every point needs model, batch"):
        sweep_from_tables({"grid": {"rows": [2, 4]}})
    with pytest.raises(SweepError, match="axes must name at most two keys that vary"):
        sweep_from_tables({**tomllib.loads(FIXED), "sweep": {"axes": ["cols"]}})


def test_example_is_a_complete_sweep_of_two_axes(capsys):
    assert main(["sweep", "--example"]) == 0
    sweep = sweep_from_tables(tomllib.loads(capsys.readouterr().out))
    assert len(sweep.points) == 6 and not sweep.skipped
    assert sweep.axes == ("rows", "dram_bytes_per_cycle")
    # The point digest covers the DRAM rate that TileConfig.digest leaves out.
    assert len({p.config.digest for p in sweep.points}) == 2
    assert len({p.digest for p in sweep.points}) == 6
    # Tasks hold one build key's points; the first task of each shape goes out first.
    work = tasks(sweep.points, workers=2)
    keys = [{Point(v).build_key for v in task} for task in work]
    assert all(len(k) == 1 for k in keys) and sum(map(len, work)) == 6
    assert keys[0] != keys[1] and len(work) < 6


@pytest.fixture
def dask_cluster(tmp_path):
    """A real scheduler and two single-thread workers on localhost, stopped at the end."""
    scheduler_file = tmp_path / "scheduler.json"
    dask = shutil.which("dask", path=os.path.dirname(sys.executable)) or "dask"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.2)
        procs += [subprocess.Popen([dask, "worker", "--scheduler-file", str(scheduler_file),
                                    "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                  for _ in range(2)]
        address = json.loads(scheduler_file.read_text())["address"]
        # Both workers registered before the sweep connects (it needs only one to start).
        from distributed import Client
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_a_sweep_runs_on_an_existing_dask_cluster(tmp_path, dask_cluster):
    # The unit's engine has lanes for its bandwidth: one rate, one engine build.
    config = write(tmp_path, FIXED + '[grid]\ndram_bytes_per_cycle = ["1", "3"]\n'
                   '[[points]]\ndram_bytes_per_cycle = "1"\nattention_unit = "logic-die"\n')
    out = tmp_path / "out"
    result = rooftile("sweep", "--config", str(config), "--out", str(out),
                      "--scheduler", dask_cluster, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"2 worker(s) on {dask_cluster}" in result.stdout
    rows = records(out)
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows), rows
    # Every op ran bit-exactly; the unit's attention ran on its engine.
    assert all(op["exact"] for r in rows for op in r["ops"])
    with_unit = [r for r in rows if r["values"]["attention_unit"] == "logic-die"]
    assert {op["on"] for r in with_unit for op in r["ops"] if op["op"] == "attention"} == {"unit"}
    # More DRAM bandwidth never slows the scaled layer; the unit costs area.
    by = {(r["values"]["dram_bytes_per_cycle"], r["values"]["attention_unit"]): r for r in rows}
    assert by[("3", "none")]["layer_cycles"] < by[("1", "none")]["layer_cycles"]
    assert by[("1", "logic-die")]["area_mm2"] > by[("1", "none")]["area_mm2"]
    summary = (out / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("digest,dram_bytes_per_cycle,attention_unit,status")
    assert len(summary) == 4
    report = (out / "report.md").read_text()
    assert "## Best variant per workload" in report and "## Pareto front" in report
    for png in ("heatmap_layer_time_us.png", "heatmap_energy_per_token_J.png", "pareto.png"):
        assert (out / png).stat().st_size > 1000
    # The study's simulator starts run on the same engine: two GEMMs on the cluster.
    config = load_sweep(config).points[0].config
    programs = [compile_gemm(config, 3, 20, 7), compile_gemm(config, 5, 9, 4)]
    rng = np.random.default_rng(0)
    operands = [random_operands(config, rng, (3, 20), (20, 7)),
                random_operands(config, rng, (5, 9), (9, 4))]
    with DaskEngine(dask_cluster) as engine:
        assert engine.workers == 2 and not engine.local
        runs = run_programs(config, programs, operands, engine=engine)
    assert all(run.exact for run in runs)
    assert [run.counters.cycles for run in runs] != [0, 0]


def test_a_killed_sweep_resumes_without_recomputing(tmp_path):
    failing = ('\n[[points]]\nsimulator = "icarus"\n' if shutil.which("iverilog") is None
               else "")
    config = write(tmp_path, FIXED + '[grid]\ndram_bytes_per_cycle = ["1", "2", "3", "4"]\n'
                   + failing)
    out = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-m", "rooftile.sim.cli", "sweep", "--config",
                              str(config), "--out", str(out), "--workers", "1"],
                             start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    jsonl = out / "points.jsonl"
    while not (jsonl.exists() and jsonl.read_text().count("\n") >= 1):
        assert time.monotonic() < deadline and child.poll() is None, "no point finished"
        time.sleep(0.1)
    os.killpg(child.pid, signal.SIGKILL)        # the CLI, its cluster and its workers
    child.wait()
    first = {r["digest"]: r for r in records(out)}
    with open(jsonl, "a") as f:
        f.write('{"digest": "torn')               # a write the kill interrupted
    result = rooftile("sweep", "--config", str(config), "--out", str(out), "--workers", "1",
                      timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    total = 4 + bool(failing)
    finished = len([r for r in first.values() if r["status"] == "ok"])
    assert f"{finished} already finished" in result.stdout
    assert f"[{total - finished}/{total - finished}]" in result.stdout
    rows = records(out)
    # The torn line is gone, the first run's records are kept, no finished point ran
    # again (a failed one is retried), and every point has a result.
    assert rows[:len(first)] == list(first.values())
    done_first = {d for d, r in first.items() if r["status"] == "ok"}
    assert not done_first & {r["digest"] for r in rows[len(first):]}
    assert len({r["digest"] for r in rows}) == total
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == len({r["digest"] for r in ok}) == 4
    if failing:
        # A point that cannot run is recorded with its diagnosis; the sweep went on.
        bad = [r for r in rows if r["status"] == "failed"][-1]
        assert "SimulatorMissing" in bad["error"] and "iverilog" in bad["error"]
        assert re.search(r"\| 1 failed \|", result.stdout)
        assert "## Failed points" in (out / "report.md").read_text()
    # --fresh forgets the results and reruns every point.
    again = rooftile("sweep", "--config", str(config), "--out", str(out), "--workers", "1",
                     "--fresh", timeout=600)
    assert again.returncode == 0 and "0 already finished" in again.stdout


def test_dataflow_is_a_sweep_axis():
    """Both dataflows sweep as any tile field does; an unknown one names the allowed."""
    sweep = sweep_from_tables({
        **tomllib.loads(FIXED), "grid": {"dataflow": ["output_stationary",
                                                       "weight_stationary"]}})
    assert [point.config.dataflow for point in sweep.points] == ["output_stationary",
                                                                 "weight_stationary"]
    assert sweep.points[0].config.digest != sweep.points[1].config.digest
    with pytest.raises(SweepError, match="dataflow must be one of output_stationary, "
                                         "weight_stationary; got 'row_stationary'"):
        sweep_from_tables({**tomllib.loads(FIXED), "grid": {"dataflow": ["row_stationary"]}})
