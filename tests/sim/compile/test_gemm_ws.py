"""The weight-stationary tile running compiled GEMM programs under Verilator: bit-exact
against numpy, DMA traffic counted by hand, and the analytical tile model exact to the
cycle (tolerance 0 cycles on every program here). One build (4x4) keeps CI short;
``tests/hdl/test_tile.py`` runs a second array shape (2x3) in Amaranth's simulator."""

import numpy as np
import pytest

from rooftile.hdl.errors import RooftileError
from rooftile.sim.compile.gemm import compile_gemm

from test_gemm import CONFIGS, SHAPES, run_gemms

WS_CONFIG = CONFIGS[1].replace(dataflow="weight_stationary")
# Besides the output-stationary shapes: N of 1, M above a panel, a wide decode GEMV.
WS_SHAPES = SHAPES + [(13, 5, 1), (40, 9, 7), (2, 64, 40), (1, 64, 64)]


def expected_traffic(config, m, k, n, panel):
    """Bytes the DMA must move, from the weight-stationary layout: each panel of ``pm``
    rows of A by ``nt`` column blocks reads those rows of A and those columns of B over
    all of K once, and writes its used results."""
    c = config.cols
    pm, nt = panel
    nb = -(-n // c)
    read = written = 0
    for m0 in range(0, m, pm):
        for pn in range(0, nb, nt):
            rows = min(pm, m - m0)
            cols = sum(min(c, n - nj * c) for nj in range(pn, min(pn + nt, nb)))
            read += k * (rows + cols) * config.data_bytes
            written += rows * cols * config.acc_bytes
    return read, written


def test_weight_stationary_gemms_are_bit_exact_and_cycle_exact():
    config = WS_CONFIG
    rng = np.random.default_rng(config.rows + 40)
    cases = [(rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, n)))
             for m, k, n in WS_SHAPES]
    cases.append((np.full((5, 60), -128), np.full((60, 6), -128)))   # extreme sums
    for result in run_gemms(config, cases):
        m, k, n = shape = result.program.shape
        assert result.exact, (shape, result.output, result.expected)
        counters, predicted = result.counters, result.prediction
        assert counters.useful_macs == m * k * n
        assert (counters.bytes_read, counters.bytes_written) == \
            expected_traffic(config, m, k, n, result.program.panel)
        assert (predicted.cycles, predicted.array_busy) == \
            (counters.cycles, counters.array_busy), shape


def test_weight_stationary_narrow_stores_requantise():
    config = WS_CONFIG
    rng = np.random.default_rng(8)
    cases = [(rng.integers(-128, 128, (6, 20)), rng.integers(-128, 128, (20, 7))),
             (np.full((3, 90), -128), np.full((90, 5), -128))]     # saturates high
    results = run_gemms(config, cases, out_shift=12)
    for result in results:
        m, _, n = result.program.shape
        assert result.exact, (result.output, result.expected)
        assert result.counters.bytes_written == m * n * config.data_bytes
        assert result.counters.cycles == result.prediction.cycles
    assert (results[1].output == 127).all()


def test_weight_stationary_compiler_rejects_what_does_not_fit():
    config = CONFIGS[0].replace(dataflow="weight_stationary")   # 2x3, 4 entries a word
    with pytest.raises(RooftileError, match="M must be an integer >= 1, got 0"):
        compile_gemm(config, 0, 3, 3)
    # A: 1024 k-blocks x 1 word, B: 512 words, C: 2 rows.
    with pytest.raises(ValueError, match="need 1538 DRAM words, dram_depth is 1024"):
        compile_gemm(config.replace(dram_depth=1024), 2, 2048, 2)
    with pytest.raises(ValueError, match="weight_stationary needs acc_depth // 2 >= 4 rows"):
        compile_gemm(config.replace(acc_depth=6), 9, 3, 3)
