"""cocotb testbench for :class:`~rooftile.hdl.tile.Tile`.

Runs the jobs in ``$ROOFTILE_JOBS``: sets the DRAM's rate and latency from
``$ROOFTILE_CONFIG`` (run-time settings of the build), fills DRAM and the program memory
from image files in one cycle (``host_load``), pulses ``start`` and sleeps until
``done`` (no Python per simulated cycle), then reads the counters and the requested DRAM
ranges into ``$ROOFTILE_RESULTS``. A job that outlives its cycle bound reports which
unit waits on which token.
"""

import time

import cocotb
from cocotb.triggers import First, ReadOnly, RisingEdge, Timer

from rooftile.hdl.chip import ENGINES
from rooftile.hdl.counters import COUNTER_WIDTH, COUNTERS, TOKEN_WIDTH, TOKENS, TRACE_DEPTH
from rooftile.hdl.counters import split_lanes
from rooftile.hdl.dram import DRAM_IMAGE, PROGRAM_IMAGE, DramSetting, dram_setting
from rooftile.sim.compile.packing import pack_struct
from rooftile.sim.tb.common import CLOCK_NS, run_jobs


def _diagnosis(dut, limit):
    status = (dut.done, dut.status_pc, dut.status_tokens, dut.status_units)
    if not all(signal.value.is_resolvable for signal in status):
        return (f"tile did not finish within {limit} cycles and its status holds X/Z bits "
                f"(an uninitialised register or memory reached control logic): " +
                ", ".join(f"{signal._name}={signal.value}" for signal in status))
    tokens = dict(zip(TOKENS, split_lanes(int(dut.status_tokens.value), TOKEN_WIDTH, len(TOKENS))))
    units = int(dut.status_units.value)
    fetching, load_busy, exec_busy, store_busy = (units >> i & 1 for i in range(4))
    levels = split_lanes(units >> 4, (len(dut.status_units) - 4) // 3, 3)
    return (f"tile did not finish within {limit} cycles: fetch pc={int(dut.status_pc.value)} "
            f"{'running' if fetching else 'stopped'}; load {'busy' if load_busy else 'idle'} "
            f"(queue {levels[0]}), execute {'busy' if exec_busy else 'idle'} "
            f"(queue {levels[1]}), store {'busy' if store_busy else 'idle'} "
            f"(queue {levels[2]}); tokens {tokens}. A unit with a queued instruction and "
            f"a zero token count is waiting on that token.")


def lane(port, index=None):
    """The value of ``port``, or of its lane ``index``: a chip's per-engine outputs have
    one lane per engine of :data:`~rooftile.hdl.chip.ENGINES`."""
    value = port.value
    if index is None:
        return int(value)
    return split_lanes(int(value), len(value) // len(ENGINES), len(ENGINES))[index]


async def read_trace(dut, count, engine=None):
    """The first ``count`` entries of the tile's trace (counters as each STORE ended),
    or of a chip's ``engine`` (its lane of ``trace_data``)."""
    entries = []
    for index in range(min(count, TRACE_DEPTH)):
        dut.trace_addr.value = index
        await RisingEdge(dut.clk)
        await RisingEdge(dut.clk)
        entries.append(dict(zip(COUNTERS, split_lanes(lane(dut.trace_data, engine),
                                                      COUNTER_WIDTH, len(COUNTERS)))))
    return entries


def _write_image(path, words):
    """``(addr, word)`` pairs as a ``$readmemh`` file: words not named keep their value."""
    with open(path, "w") as f:
        f.writelines(f"@{addr:x} {word:x}\n" for addr, word in words)


async def load_and_run(dut, limit):
    """Fill the memories from their image files (one cycle), pulse ``start`` and sleep
    until ``done`` or ``limit`` cycles; return ``(loaded, computed)`` host times, ``done``
    read in the settled phase of the last edge."""
    dut.host_load.value = 1
    await RisingEdge(dut.clk)
    dut.host_load.value = 0
    loaded = time.perf_counter()
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    await First(RisingEdge(dut.done), Timer(limit * CLOCK_NS, unit="ns"))
    await ReadOnly()  # every register of this edge settled (Icarus fires mid-update)
    return loaded, time.perf_counter()


async def read_ranges(dut, ranges, engine=None):
    """The DRAM words of ``(start, count)`` ranges through the host port, a read every
    two cycles (call after leaving the read-only phase); of a chip's ``engine`` (its
    lane of ``host_rdata``, the engine ``host_engine`` selects for writes)."""
    reads = []
    for start, count in ranges:
        words = []
        for addr in range(start, start + count):
            dut.host_addr.value = addr
            await RisingEdge(dut.clk)
            await RisingEdge(dut.clk)
            words.append(lane(dut.host_rdata, engine))
        reads.append(words)
    return reads


async def run_job(dut, config, job):
    began = time.perf_counter()
    dut.dram_setting.value = pack_struct(DramSetting(config), dram_setting(config))
    # Both memories in one cycle: the storage primitives read their images.
    _write_image(DRAM_IMAGE, job["dram"])
    _write_image(PROGRAM_IMAGE, enumerate(job["program"]))
    limit = job["max_cycles"]
    loaded, computed = await load_and_run(dut, limit)
    if not int(dut.done.value):
        return {"error": _diagnosis(dut, limit)}
    counters = dict(zip(COUNTERS, split_lanes(int(dut.counters.value), COUNTER_WIDTH,
                                         len(COUNTERS))))
    await RisingEdge(dut.clk)  # leave the read-only phase before driving the host port
    trace = await read_trace(dut, job.get("trace", 0))
    reads = await read_ranges(dut, job["read"])
    wall = {"load_s": loaded - began, "compute_s": computed - loaded,
            "readback_s": time.perf_counter() - computed}
    return {"read": reads, "counters": counters, "wall": wall,
            **({"trace": trace} if trace else {})}


@cocotb.test()
async def run_all(dut):
    await run_jobs(dut, run_job, ("host_write_dram", "host_write_instr", "host_load", "start"))
