"""Tier 2: the matrix unit's RTL under cocotb + Verilator, bit-exact against numpy.

One simulator build per array shape serves every case of that shape, and all cases run
in one simulator start. Cycle counts must equal the analytical harness model exactly
(tolerance 0 cycles): the harness has no DRAM, so nothing in it is stochastic.
"""

import shutil

import numpy as np
import pytest

from rooftile.hdl.params import TileConfig
from rooftile.sim.compile.matmul import compile_matmul, plan_matmul
from rooftile.sim.run import flow
from rooftile.sim.run.pipeline import run_programs

SHAPES = [(1, 1), (1, 5), (5, 1), (2, 3), (4, 4), (8, 8), (16, 16)]


def cases_for(config, rng):
    r, c = config.rows, config.cols
    lo, hi = -(1 << (config.data_width - 1)), 1 << (config.data_width - 1)
    cases = [
        # One block, reductions of 1, a prime, and the stall-free minimum 2r - 1.
        (rng.integers(lo, hi, (r, 1)), rng.integers(lo, hi, (1, c))),
        (rng.integers(lo, hi, (r, 13)), rng.integers(lo, hi, (13, c))),
        (rng.integers(lo, hi, (r, 2 * r - 1)), rng.integers(lo, hi, (2 * r - 1, c))),
        # Extremes over a long reduction: (-128) * (-128) summed 300 times.
        (np.full((r, 300), lo), np.full((300, c), lo)),
        (np.full((r, 300), lo), np.full((300, c), hi - 1)),
        # Ragged edges in every dimension, with the reduction split into accumulating
        # chunks short enough to force drain stalls.
        (rng.integers(lo, hi, (2 * r + 1, 17)), rng.integers(lo, hi, (17, c + 2)), 5),
        # GEMV: one row of A against many columns of B.
        (rng.integers(lo, hi, (1, 31)), rng.integers(lo, hi, (31, 3 * c))),
    ]
    return cases


def run_matmuls(config, cases, *, simulator="verilator"):
    """``(a, b)`` or ``(a, b, k_chunk)`` cases, compiled and run in one simulator start."""
    programs = [compile_matmul(config, case[0].shape[0], case[0].shape[1], case[1].shape[1],
                               k_chunk=case[2] if len(case) > 2 else None) for case in cases]
    return run_programs(config, programs, [case[:2] for case in cases], simulator=simulator)


@pytest.mark.parametrize("rows, cols", SHAPES, ids=[f"{r}x{c}" for r, c in SHAPES])
def test_matmul_bit_exact_and_cycle_exact(rows, cols):
    config = TileConfig(rows=rows, cols=cols, sp_depth=1024, acc_depth=256)
    rng = np.random.default_rng(rows * 100 + cols)
    results = run_matmuls(config, cases_for(config, rng))
    for result in results:
        shape = result.program.shape
        assert result.exact, (shape, result.output, result.expected)
        assert result.counters.cycles == result.prediction.cycles, shape
        assert result.counters.steps == result.prediction.array_busy, shape
        m, k, n = shape
        assert result.counters.useful_macs == m * k * n
    long = results[3]
    assert long.counters.array_utilization > 300 / (300 + 2 * rows + cols + 4)


def test_second_build_reuses_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ROOFTILE_CACHE", str(tmp_path))
    config = TileConfig(rows=2, cols=2, sp_depth=16, acc_depth=4)
    first = flow.build(config)
    binary = first.directory / "sim" / "harness"
    stamp = binary.stat().st_mtime_ns
    verilog = (first.directory / "harness.v").stat().st_mtime_ns
    second = flow.build(config)
    assert second.directory == first.directory
    assert binary.stat().st_mtime_ns == stamp
    assert (first.directory / "harness.v").stat().st_mtime_ns == verilog
    assert flow.build(config.replace(cols=3)).directory != first.directory


def test_bad_inputs_fail_before_any_build(tmp_path, monkeypatch):
    monkeypatch.setenv("ROOFTILE_CACHE", str(tmp_path))
    config = TileConfig(rows=2, cols=2, sp_depth=16, acc_depth=4)
    with pytest.raises(ValueError, match="simulator must be one of"):
        flow.build(config, simulator="modelsim")
    with pytest.raises(ValueError, match="top must be one of"):
        flow.build(config, top="gpu")
    with pytest.raises(ValueError, match=r"a\[M, K\] @ b\[K, N\]"):
        plan_matmul(config, np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"outside the signed 8-bit range \[-128, 127\]"):
        plan_matmul(config, np.full((2, 3), 128), np.ones((3, 2)))
    with pytest.raises(ValueError, match="operands need 20 scratchpad entries, sp_depth is 16"):
        plan_matmul(config, np.ones((2, 20)), np.ones((20, 2)))
    assert not any(tmp_path.iterdir())


@pytest.mark.skipif(shutil.which("iverilog") is None,
                    reason="Icarus Verilog is optional (apt-get install iverilog)")
def test_icarus_agrees_on_a_small_tile():
    config = TileConfig(rows=2, cols=3, sp_depth=64, acc_depth=16)
    rng = np.random.default_rng(7)
    cases = cases_for(config, rng)[:3]
    for result in run_matmuls(config, cases, simulator="icarus"):
        assert result.exact
        assert result.counters.cycles == result.prediction.cycles
