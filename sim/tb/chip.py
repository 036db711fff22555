"""cocotb testbench for :class:`~rooftile.hdl.chip.Chip`.

A job names each engine's DRAM image, program and reads (``job["engines"][name]``, as a
tile job has them) and one cycle bound. The testbench writes the DRAM settings from
``$ROOFTILE_CONFIG`` (the tile's rate on the shared channel, the unit's in its own
memory), fills all four memories from image files in one cycle, starts both engines and
sleeps until both are done, then reads each engine's counters and DRAM ranges. A hang
names the engines still running and the tokens between them.
"""

import time

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from rooftile.hdl.chip import ENGINES, PEER_TOKENS
from rooftile.hdl.counters import COUNTER_WIDTH, COUNTERS, TOKEN_WIDTH, split_lanes
from rooftile.hdl.dram import DramSetting, dram_setting
from rooftile.hdl.tile import ROLES
from rooftile.sim.compile.packing import pack_struct
from rooftile.sim.tb.common import run_jobs
from rooftile.sim.tb.tile import _write_image, lane, load_and_run, read_ranges, read_trace


def _lanes(dut):
    return {name: dict(zip(COUNTERS, split_lanes(lane(dut.counters, index), COUNTER_WIDTH,
                                                 len(COUNTERS))))
            for index, name in enumerate(ENGINES)}


#: The token each engine's LOADs wait for.
WAITS_FOR = {"tile": "unit_to_tile", "unit": "tile_to_unit"}


async def _diagnosis(dut, limit):
    """Which engines still run, and which of them wait for the other's token now."""
    await RisingEdge(dut.clk)
    await ReadOnly()
    done = int(dut.status_done.value)
    waiting = int(dut.status_waiting_peer.value)
    awake = int(dut.status_awake.value)
    pcs = split_lanes(int(dut.status_pc.value), 32, len(ENGINES))
    tokens = dict(zip(PEER_TOKENS, split_lanes(int(dut.status_tokens.value), TOKEN_WIDTH,
                                               len(PEER_TOKENS))))
    running = []
    for i, (name, pc) in enumerate(zip(ENGINES, pcs)):
        if done >> i & 1:
            continue
        running.append(f"{name} (pc={pc}" + ("" if awake >> i & 1 else ", asleep") +
                       (f", its LOAD waits for token {WAITS_FOR[name]})" if waiting >> i & 1
                        else ")"))
    return (f"chip did not finish within {limit} cycles: still running {', '.join(running)}; "
            f"tokens between the engines {tokens}.")


async def run_job(dut, config, job):
    began = time.perf_counter()
    unit = config.attention_unit_tile()
    dut.tile_setting.value = pack_struct(DramSetting(config), dram_setting(config))
    dut.channel_setting.value = pack_struct(DramSetting(config), dram_setting(config))
    dut.unit_setting.value = pack_struct(DramSetting(unit), dram_setting(unit))
    for name in ENGINES:
        _write_image(ROLES[name].dram_image, job["engines"][name]["dram"])
        _write_image(ROLES[name].program_image, enumerate(job["engines"][name]["program"]))
    limit = job["max_cycles"]
    loaded, computed = await load_and_run(dut, limit)
    if not int(dut.done.value):
        return {"error": await _diagnosis(dut, limit)}
    counters = _lanes(dut)
    await RisingEdge(dut.clk)
    reads, trace = {}, {}
    for index, name in enumerate(ENGINES):
        trace[name] = await read_trace(dut, job["engines"][name].get("trace", 0), index)
        reads[name] = await read_ranges(dut, job["engines"][name]["read"], index)
    wall = {"load_s": loaded - began, "compute_s": computed - loaded,
            "readback_s": time.perf_counter() - computed}
    return {"read": reads, "trace": trace, "wall": wall,
            "counters": {"cycles": max(c["cycles"] for c in counters.values()), **counters}}


@cocotb.test()
async def run_all(dut):
    await run_jobs(dut, run_job, ("host_write_dram", "host_load", "start"))
