"""The plain Verilator C++ harness (no cocotb): same results and cycle counts as the cocotb
flow on the same Verilog, bit-exact against numpy, and cached builds."""

import numpy as np
import pytest

from rooftile.hdl.params import TileConfig
from rooftile.sim.compile.matmul import _unblock, plan_matmul
from rooftile.sim.model import golden
from rooftile.sim.model.array_model import predict_cycles
from rooftile.sim.run import flow, plain

# int16 operands: host_wdata (5 x 16 = 80 bits) and host_rdata (2 x 48 = 96 bits) are
# VlWide arrays in C++, the other ports plain integers, so both kinds of access run.
CONFIG = TileConfig(rows=5, cols=2, data_width=16, acc_width=48, sp_depth=2048,
                    acc_depth=64)


def test_ports_are_parsed_from_the_top_module_only():
    verilog = ("module top(a, b, clk);\n  input [12:0] a;\n  output b;\n  input clk;\n"
               "endmodule\nmodule inner(x);\n  input [3:0] x;\nendmodule\n")
    assert plain.ports(verilog, "top") == {"a": ("input", 13), "b": ("output", 1),
                                           "clk": ("input", 1)}
    with pytest.raises(ValueError, match="no module 'other'"):
        plain.ports(verilog, "other")


def test_plain_harness_matches_cocotb_and_numpy():
    rng = np.random.default_rng(3)
    a = rng.integers(-1 << 15, 1 << 15, (11, 500))
    b = rng.integers(-1 << 15, 1 << 15, (500, 4))
    # A long job (over 2000 cycles) and one of 2-step chunks, shorter than the drain
    # interval (9 cycles for 5 rows), which forces drain stalls.
    jobs = [plan_matmul(CONFIG, a, b, k_chunk=100),
            plan_matmul(CONFIG, a[:, :9], b[:9], k_chunk=2)]
    sim = flow.build(CONFIG)
    harness = plain.build(sim)
    ours = plain.run_harness_jobs(harness, CONFIG, jobs)
    theirs = flow.run(sim, jobs)
    for job, mine, reference, k in zip(jobs, ours, theirs, (500, 9)):
        expected = golden.matmul(a[:, :k], b[:k], CONFIG.acc_width)
        assert np.array_equal(_unblock(CONFIG, mine["acc"], 11, 4), expected)
        assert mine["acc"] == reference["acc"]
        assert mine["counters"] == reference["counters"]
        assert mine["counters"]["cycles"] == predict_cycles(
            CONFIG, [c["steps"] for c in job["commands"]]).cycles
        assert mine["run_s"] > 0 and mine["run_cycles"] >= mine["counters"]["cycles"]
    assert ours[1]["counters"]["drain_stalls"] > 0
    assert ours[0]["counters"]["cycles"] > 2000


def test_second_build_is_cached_and_a_hang_is_reported():
    sim = flow.build(CONFIG)
    first = plain.build(sim)
    stamp = first.executable.stat().st_mtime_ns
    second = plain.build(sim)
    assert second.compile_s == 0.0
    assert second.executable.stat().st_mtime_ns == stamp
    job = plan_matmul(CONFIG, np.ones((5, 50), int), np.ones((50, 2), int))
    job["max_cycles"] = 20
    with pytest.raises(flow.SimulationError, match="done not raised within 20 cycles"):
        plain.run_harness_jobs(second, CONFIG, [job])
    with pytest.raises(ValueError, match="does not fit 1-bit port 'start'"):
        plain.run_script(second, ["set start 2"])
