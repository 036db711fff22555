"""The tile under the plain Verilator C++ harness (no cocotb): the same DRAM words,
counters and cycle counts as the cocotb flow on the same Verilog, bit-exact against numpy."""

import numpy as np
import pytest

from rooftile.hdl.counters import COUNTERS
from rooftile.hdl.params import TileConfig
from rooftile.sim.compile.gemm import compile_gemm
from rooftile.sim.model import golden
from rooftile.sim.run import flow, plain

# The first configuration of tests/sim/compile/test_gemm.py, so both share one cached build.
CONFIG = TileConfig(rows=2, cols=3, sp_depth=32, acc_depth=8, dram_depth=4096,
                    dram_bytes_per_cycle=3, dram_latency=7, program_depth=2048)


def compiled_job(a, b):
    program = compile_gemm(CONFIG, a.shape[0], a.shape[1], b.shape[1])
    return program, program.job(CONFIG, a, b)


def test_plain_tile_matches_cocotb_and_numpy():
    rng = np.random.default_rng(5)
    # Several double-buffered k-tiles and panels, then a GEMV, in one start of each.
    cases = [(rng.integers(-128, 128, (7, 70)), rng.integers(-128, 128, (70, 5))),
             (rng.integers(-128, 128, (1, 13)), rng.integers(-128, 128, (13, 11)))]
    programs, jobs = zip(*(compiled_job(a, b) for a, b in cases))
    sim = flow.build(CONFIG, "tile")
    ours = plain.run_tile_jobs(plain.build(sim), CONFIG, jobs)
    theirs = flow.run(sim, list(jobs))
    for (a, b), program, mine, reference in zip(cases, programs, ours, theirs):
        assert np.array_equal(program.output(CONFIG, mine),
                              golden.matmul(a, b, CONFIG.acc_width))
        assert mine["read"] == reference["read"]
        assert list(mine["counters"]) == list(COUNTERS)
        assert mine["counters"] == reference["counters"]
        assert mine["counters"]["useful_macs"] == a.shape[0] * a.shape[1] * b.shape[1]
        assert mine["run_cycles"] >= mine["counters"]["cycles"] > 0
        assert set(mine["wall"]) == {"load_s", "compute_s", "readback_s"}


def test_plain_tile_reports_a_hang():
    _, job = compiled_job(np.ones((4, 20), int), np.ones((20, 3), int))
    job["max_cycles"] = 20
    with pytest.raises(flow.SimulationError, match="done not raised within 20 cycles"):
        plain.run_tile_jobs(plain.build(flow.build(CONFIG, "tile")), CONFIG, [job])
