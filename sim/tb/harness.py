"""cocotb testbench for :class:`~rooftile.hdl.harness.MatrixHarness`.

Runs the jobs in ``$ROOFTILE_JOBS`` (written by :func:`rooftile.sim.run.flow.run`): loads
operands and commands through the host port, starts the batch and sleeps until ``done``
(no Python per simulated cycle), then reads accumulator rows and counters into
``$ROOFTILE_RESULTS``. Checking against numpy happens outside the simulator.
"""

import time

import cocotb
from cocotb.triggers import First, ReadOnly, RisingEdge, Timer

from rooftile.hdl.counters import HARNESS_COUNTERS as COUNTERS
from rooftile.hdl.isa import ExecCommand
from rooftile.sim.tb.common import CLOCK_NS, run_jobs
from rooftile.sim.compile.packing import pack_lanes, pack_struct, unpack_lanes



async def _host_write(dut, addr, **strobes):
    dut.host_addr.value = addr
    for name, value in strobes.items():
        getattr(dut, name).value = value
    await RisingEdge(dut.clk)
    for name in strobes:
        if name.startswith("host_write"):
            getattr(dut, name).value = 0


async def run_job(dut, config, job):
    began = time.perf_counter()
    for addr, row in enumerate(job["a"]):
        await _host_write(dut, addr, host_wdata=pack_lanes(row, config.data_width),
                          host_write_a=1)
    for addr, row in enumerate(job["b"]):
        await _host_write(dut, addr, host_wdata=pack_lanes(row, config.data_width),
                          host_write_b=1)
    layout = ExecCommand(config)
    for addr, command in enumerate(job["commands"]):
        await _host_write(dut, addr, host_cmd=pack_struct(layout, command), host_write_cmd=1)
    loaded = time.perf_counter()
    dut.count.value = len(job["commands"])
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    limit = job["max_cycles"]
    finished = await First(RisingEdge(dut.done), Timer(limit * CLOCK_NS, unit="ns"))
    # Let every register of this edge settle (Icarus fires the edge mid-update).
    await ReadOnly()
    computed = time.perf_counter()
    counters = {name: int(getattr(dut, name).value) for name in COUNTERS}
    if not int(dut.done.value):
        total = sum(command["steps"] for command in job["commands"])
        return {"error": f"harness did not finish within {limit} cycles: "
                         f"{counters['steps']} of {total} reduction steps issued, "
                         f"{counters['drain_stalls']} drain stalls (trigger {finished!r})"}
    acc = []
    await RisingEdge(dut.clk)  # leave the read-only phase before driving the host port
    for addr in range(job["acc_rows"]):
        dut.host_addr.value = addr
        await RisingEdge(dut.clk)
        await RisingEdge(dut.clk)
        acc.append(unpack_lanes(int(dut.host_rdata.value), config.cols, config.acc_width))
    wall = {"load_s": loaded - began, "compute_s": computed - loaded,
            "readback_s": time.perf_counter() - computed}
    return {"acc": acc, "counters": counters, "wall": wall}


@cocotb.test()
async def run_all(dut):
    await run_jobs(dut, run_job, ("host_write_a", "host_write_b", "host_write_cmd", "start"))
