# amaranth: UnusedElaboratable=no
"""Clock gating changes no cycle: the tile with its matrix and vector units gated runs every
program as with every clock free-running."""

import numpy as np
import pytest

from rooftile.hdl import clock_gate
from rooftile.sim.compile.attention import AttentionShape, compile_attention
from rooftile.sim.compile.gemm import compile_gemm

from test_tile import CONFIG, run_tile


@pytest.mark.parametrize("dataflow", ["output_stationary", "weight_stationary"])
@pytest.mark.parametrize("op", ["gemm", "attention"])
def test_clock_gating_changes_no_cycle_counter_or_output(monkeypatch, dataflow, op):
    """The matrix and vector units sleep while not awake (hdl.clock_gate): the same program
    with every clock free-running gives the same counters, tokens and DRAM, to the bit."""
    config = CONFIG.replace(rows=2, cols=2, dataflow=dataflow)
    program = (compile_gemm(config, 3, 9, 5, out_shift=4) if op == "gemm" else
               compile_attention(config, AttentionShape(1, 2, 5, 4, 4)))
    job = program.job(config, *program.random_operands(config, np.random.default_rng(20)))
    gated = run_tile(config, job)
    monkeypatch.setattr(clock_gate, "GATING", False)
    free = run_tile(config, job)
    assert gated["counters"] == free["counters"]
    assert (gated["tokens"], gated["read"]) == (free["tokens"], free["read"])
    assert gated["units"].as_value().value == free["units"].as_value().value
