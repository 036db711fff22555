"""The tile running compiled GEMM programs: DRAM, DMA, tokens, counters; bit-exact.

Every program's cycle count is also checked against the analytical tile model
(:mod:`rooftile.sim.model.tile_model`) with a tolerance of 5%.
"""

import shutil

import numpy as np
import pytest

from rooftile.hdl.errors import RooftileError
from rooftile.hdl.isa import encode
from rooftile.hdl.params import TileConfig
from rooftile.sim.compile.gemm import compile_gemm
from rooftile.sim.model.tile_model import predict_program
from rooftile.sim.run import flow
from rooftile.sim.run.pipeline import run_programs

MODEL_TOLERANCE = 0.05

CONFIGS = [
    TileConfig(rows=2, cols=3, sp_depth=32, acc_depth=8, dram_depth=4096,
               dram_bytes_per_cycle=3, dram_latency=7, program_depth=2048),
    TileConfig(rows=4, cols=4, sp_depth=64, acc_depth=32, dram_depth=4096,
               dram_bytes_per_cycle="5/2", dram_latency=12, program_depth=2048),
]
# M, K, N: ones, primes, sizes off the array grid, K beyond half a scratchpad (several
# double-buffered k-tiles) and GEMVs.
SHAPES = [(1, 1, 1), (1, 13, 11), (7, 70, 5), (5, 1, 9), (17, 31, 13), (3, 97, 2)]


def run_gemms(config, cases, *, out_shift=None, simulator="verilator"):
    """Compile each ``(a, b)`` and run them all in one simulator start."""
    programs = [compile_gemm(config, a.shape[0], a.shape[1], b.shape[1], out_shift=out_shift)
                for a, b in cases]
    return run_programs(config, programs, cases, simulator=simulator)


def expected_traffic(config, m, k, n, panel):
    """Bytes the DMA must move, counted by hand from the layout: each panel of
    ``mt x nt`` output blocks reads its A block-rows and B block-columns once over K,
    and every block writes its used int32 results (only the used rows are stored)."""
    r, c = config.rows, config.cols
    mt, nt = panel
    mb, nb = -(-m // r), -(-n // c)
    read = written = 0
    for pm in range(0, mb, mt):
        for pn in range(0, nb, nt):
            rows = [min(r, m - mi * r) for mi in range(pm, min(pm + mt, mb))]
            cols = [min(c, n - nj * c) for nj in range(pn, min(pn + nt, nb))]
            read += k * (sum(rows) + sum(cols)) * config.data_bytes
            written += sum(rows) * sum(cols) * config.acc_bytes
    return read, written


@pytest.mark.parametrize("config", CONFIGS, ids=["2x3", "4x4"])
def test_gemm_programs_are_bit_exact(config):
    rng = np.random.default_rng(config.rows)
    cases = [(rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, n)))
             for m, k, n in SHAPES]
    cases.append((np.full((5, 60), -128), np.full((60, 6), -128)))
    for result in run_gemms(config, cases):
        m, k, n = result.program.shape
        assert result.exact, (result.program.shape, result.output, result.expected)
        counters = result.counters
        assert counters.useful_macs == m * k * n
        panel = compile_gemm(config, m, k, n).panel
        assert (counters.bytes_read, counters.bytes_written) == \
            expected_traffic(config, m, k, n, panel)
        # The DRAM can never beat its configured rate.
        moved = counters.bytes_read + counters.bytes_written
        assert moved <= float(config.dram_bytes_per_cycle) * counters.cycles + \
            config.dram_word_bytes
        assert_model_agrees(config, result)


def assert_model_agrees(config, result):
    predicted = predict_program(config, compile_gemm(config, *result.program.shape).commands)
    measured = result.counters.cycles
    assert abs(predicted.cycles - measured) <= MODEL_TOLERANCE * measured, \
        (result.program.shape, predicted.cycles, measured)
    assert predicted.array_busy == result.counters.array_busy
    assert predicted.bytes_read == result.counters.bytes_read
    assert predicted.bytes_written == result.counters.bytes_written


def test_narrow_stores_requantise_and_saturate():
    """``out_shift`` stores ``clamp(C >> shift)`` as operands: one byte per result."""
    config = CONFIGS[1]
    rng = np.random.default_rng(7)
    cases = [(rng.integers(-128, 128, (6, 20)), rng.integers(-128, 128, (20, 7))),
             (np.full((3, 90), -128), np.full((90, 5), -128)),    # saturates high
             (np.full((2, 90), 127), np.full((90, 3), -128))]     # saturates low
    results = run_gemms(config, cases, out_shift=12)
    for result in results:
        m, k, n = result.program.shape
        assert result.exact, (result.output, result.expected)
        assert result.counters.bytes_written == m * n * config.data_bytes
    assert (results[1].output == 127).all() and (results[2].output == -128).all()
    # Not everything saturates: the shift keeps random products in range.
    assert np.abs(results[0].output).max() < 127


def test_compute_bound_gemm_keeps_the_array_busy():
    """Large reuse and a DRAM word per cycle: the array computes >= 90% of cycles."""
    config = TileConfig(rows=8, cols=8, dram_bytes_per_cycle=32, dram_latency=32)
    rng = np.random.default_rng(1)
    a, b = rng.integers(-128, 128, (64, 256)), rng.integers(-128, 128, (256, 64))
    (result,) = run_gemms(config, [(a, b)])
    assert result.exact
    assert result.counters.array_busy >= 0.9 * result.counters.cycles
    assert_model_agrees(config, result)


def test_memory_bound_gemv_saturates_dram():
    """One byte per cycle: a GEMV moves data at >= 90% of the configured bandwidth."""
    config = TileConfig(rows=8, cols=8, dram_bytes_per_cycle=1, dram_latency=32)
    rng = np.random.default_rng(2)
    a, b = rng.integers(-128, 128, (1, 256)), rng.integers(-128, 128, (256, 128))
    (result,) = run_gemms(config, [(a, b)])
    assert result.exact
    moved = result.counters.bytes_moved
    assert moved >= 0.9 * result.counters.cycles * float(config.dram_bytes_per_cycle)
    assert_model_agrees(config, result)


def test_hung_program_names_the_waiting_unit():
    config = CONFIGS[0]
    program = compile_gemm(config, 2, 4, 3)
    # An execute that waits for a load token no load will ever push.
    stuck = [encode(config, "EXEC", ("pop_prev",), steps=4, rows_used=2, cols_used=3),
             encode(config, "FINISH")]
    job = {"dram": [], "program": stuck, "read": program.read_ranges(config),
           "max_cycles": 200}
    sim = flow.build(config, "tile")
    with pytest.raises(flow.SimulationError,
                       match=r"within 200 cycles.*execute busy \(queue 1\).*'load_to_exec': 0"):
        flow.run(sim, [job])


def test_compiler_rejects_what_does_not_fit():
    config = CONFIGS[0]
    with pytest.raises(ValueError, match="N must be an integer >= 1, got 0"):
        compile_gemm(config, 2, 3, 0)
    # Four entries to a word: A 1 block x 512 words, B 1 x 512, C 1 block x 2 rows.
    with pytest.raises(ValueError, match="need 1026 DRAM words, dram_depth is 1024"):
        compile_gemm(config.replace(dram_depth=1024), 2, 2048, 2)
    small = config.replace(acc_depth=3)
    with pytest.raises(ValueError, match="acc_depth >= 2 \\* rows = 4, got 3"):
        compile_gemm(small, 2, 3, 3)


@pytest.mark.skipif(shutil.which("iverilog") is None,
                    reason="Icarus Verilog is optional (apt-get install iverilog)")
def test_icarus_agrees_on_the_tile():
    config = CONFIGS[0]
    rng = np.random.default_rng(3)
    cases = [(rng.integers(-128, 128, (3, 9)), rng.integers(-128, 128, (9, 4)))]
    (verilator,) = run_gemms(config, cases)
    (icarus,) = run_gemms(config, cases, simulator="icarus")
    assert icarus.exact
    assert icarus.counters == verilator.counters


@pytest.mark.parametrize("a, message", [
    (np.full((2, 4), 200), r"outside the signed 8-bit range \[-128, 127\]: min 200"),
    (np.full((2, 4), -129), r"outside the signed 8-bit range \[-128, 127\]: min -129"),
    (np.full((2, 4), 1.5), "must hold integers, got dtype float64"),
    (np.full((2, 4), np.nan), "must hold integers, got dtype float64"),
    (np.ones((2, 5), int), r"must have shape \(2, 4\) for this program, got \(2, 5\)"),
    (np.ones(8, int), r"must have shape \(2, 4\) for this program, got \(8,\)"),
])
def test_operands_are_checked_before_anything_is_simulated(a, message):
    program = compile_gemm(CONFIGS[0], 2, 4, 3)
    with pytest.raises(RooftileError, match=message):
        program.job(CONFIGS[0], a, np.ones((4, 3), int))
