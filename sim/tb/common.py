"""What every rooftile testbench shares: clock, reset and the job loop.

A testbench module defines ``run_job(dut, config, job) -> dict`` and a cocotb test that
calls :func:`run_jobs`. Jobs come from ``$ROOFTILE_JOBS`` and results go to
``$ROOFTILE_RESULTS`` (see :func:`rooftile.sim.run.flow.run`); a result with an ``"error"``
ends the batch.
"""

import json
import os

from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from rooftile.hdl.params import TileConfig

CLOCK_NS = 10


async def run_jobs(dut, run_job, idle_inputs):
    """Start the clock, hold ``idle_inputs`` low through reset, run every job."""
    config = TileConfig.from_json(json.loads(os.environ["ROOFTILE_CONFIG"]))
    with open(os.environ["ROOFTILE_JOBS"]) as f:
        jobs = json.load(f)
    # Verilator's main (rooftile.sim.run.verilator_main) clocks the design itself; other
    # simulators get the GPI clock. Neither runs Python per cycle.
    if os.environ.get("ROOFTILE_CLOCK", "gpi") == "gpi":
        Clock(dut.clk, CLOCK_NS, unit="ns", impl="gpi").start()
    for name in idle_inputs:
        getattr(dut, name).value = 0
    dut.rst.value = 1
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    results = []
    for job in jobs:
        results.append(await run_job(dut, config, job))
        if "error" in results[-1]:
            break
    with open(os.environ["ROOFTILE_RESULTS"], "w") as f:
        json.dump(results, f)
