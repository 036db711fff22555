"""The tile running compiled GEMM programs: DRAM, DMA, tokens, counters; bit-exact."""

import numpy as np
import pytest

from rooftile.hdl.isa import encode
from rooftile.hdl.params import TileConfig
from rooftile.sim import flow
from rooftile.sim.gemm import compile_gemm, run_gemms

CONFIGS = [
    TileConfig(rows=2, cols=3, sp_depth=32, acc_depth=8, dram_depth=4096,
               dram_bytes_per_cycle=3, dram_latency=7),
    TileConfig(rows=4, cols=4, sp_depth=64, acc_depth=8, dram_depth=4096,
               dram_bytes_per_cycle="5/2", dram_latency=12),
]
# M, K, N: ones, primes, sizes off the array grid, K beyond half a scratchpad (several
# double-buffered k-tiles) and GEMVs.
SHAPES = [(1, 1, 1), (1, 13, 11), (7, 70, 5), (5, 1, 9), (17, 31, 13), (3, 97, 2)]


def expected_traffic(config, m, k, n):
    """Bytes the DMA must move, counted by hand from the layout: every output block
    reads its A rows and B columns over K, and writes its used int32 results (only the
    used rows are stored)."""
    r, c = config.rows, config.cols
    read = written = 0
    for mi in range(-(-m // r)):
        for nj in range(-(-n // c)):
            rows, cols = min(r, m - mi * r), min(c, n - nj * c)
            read += k * (rows + cols) * config.data_bytes
            written += rows * cols * config.acc_bytes
    return read, written


@pytest.mark.parametrize("config", CONFIGS, ids=["2x3", "4x4"])
def test_gemm_programs_are_bit_exact(config):
    rng = np.random.default_rng(config.rows)
    cases = [(rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, n)))
             for m, k, n in SHAPES]
    cases.append((np.full((5, 60), -128), np.full((60, 6), -128)))
    for result in run_gemms(config, cases):
        m, k, n = result.shape
        assert result.exact, (result.shape, result.output, result.expected)
        counters = result.counters
        assert counters["useful_macs"] == m * k * n
        assert (counters["bytes_read"], counters["bytes_written"]) == \
            expected_traffic(config, m, k, n)
        # The DRAM can never beat its configured rate.
        moved = counters["bytes_read"] + counters["bytes_written"]
        assert moved <= float(config.dram_bytes_per_cycle) * counters["cycles"] + \
            config.dram_word_bytes


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
    # A: 1 block x 2048 words, B: 1 x 2048, C: 1 block x 2 rows = 4098 words.
    with pytest.raises(ValueError, match="need 4098 DRAM words, dram_depth is 4096"):
        compile_gemm(config, 2, 2048, 2)
    small = config.replace(acc_depth=3)
    with pytest.raises(ValueError, match="acc_depth >= 2 \\* rows = 4, got 3"):
        compile_gemm(small, 2, 3, 3)
