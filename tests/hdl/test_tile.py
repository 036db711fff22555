# amaranth: UnusedElaboratable=no
"""Tier 1: the whole tile in Amaranth's simulator (DRAM and program memory as Amaranth
memories), running compiled programs bit-exactly with the counters the model predicts;
and the port contract the Verilator testbenches bind to."""

import re
from fractions import Fraction

import numpy as np
import pytest
from amaranth.back import verilog

from rooftile.hdl.counters import COUNTERS, TOKENS, Counters
from rooftile.hdl.isa import Instruction
from rooftile.hdl.params import TileConfig
from rooftile.hdl.tile import Tile
from rooftile.sim.compile.attention import AttentionShape, compile_attention
from rooftile.sim.compile.gemm import compile_gemm

from streams import simulate

CONFIG = TileConfig(rows=2, cols=3, sp_depth=64, acc_depth=32, dram_depth=512,
                    dram_bytes_per_cycle=3, dram_latency=5, program_depth=256)
MODEL_TOLERANCE = 0.05


def run_tile(config, job):
    """The cocotb testbench's job protocol (``sim/tb/tile.py``), in Amaranth's simulator:
    DRAM and program through the host ports, start, done, counters, read-back."""
    dut = Tile(config, storage="memory")
    layout = Instruction(config)
    result = {}

    async def host(ctx):
        ctx.set(dut.host_write_dram, 1)
        for addr, word in job["dram"]:
            ctx.set(dut.host_addr, addr)
            ctx.set(dut.host_wdata, word)
            await ctx.tick()
        ctx.set(dut.host_write_dram, 0)
        ctx.set(dut.host_write_instr, 1)
        for addr, word in enumerate(job["program"]):
            ctx.set(dut.host_addr, addr)
            ctx.set(dut.host_instr, layout.from_bits(word))
            await ctx.tick()
        ctx.set(dut.host_write_instr, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick().until(dut.done)
        result["counters"] = Counters.from_bits(ctx.get(dut.counters).as_value().value)
        result["tokens"] = list(ctx.get(dut.status_tokens))
        result["units"] = ctx.get(dut.status_units)
        reads = []
        for start, count in job["read"]:
            words = []
            for addr in range(start, start + count):
                ctx.set(dut.host_addr, addr)
                await ctx.tick().repeat(2)
                words.append(ctx.get(dut.host_rdata))
            reads.append(words)
        result["read"] = reads

    simulate(dut, [host], cycles=job["max_cycles"] + 20 * config.dram_depth)
    return result


def check_program(config, program, operands):
    result = run_tile(config, program.job(config, *operands))
    assert np.array_equal(program.output(config, result), program.expected(config, *operands))
    counters, model = result["counters"], program.predict(config)
    assert abs(model.cycles - counters.cycles) <= MODEL_TOLERANCE * counters.cycles
    assert (counters.array_busy, counters.bytes_read, counters.bytes_written) == \
        (model.array_busy, model.bytes_read, model.bytes_written)
    # Done means quiet: every unit idle, every queue empty, and no data token left
    # unspent (buffer-free tokens of the last loads may remain).
    assert result["units"].as_value().value == 0
    tokens = dict(zip(TOKENS, result["tokens"]))
    assert tokens["load_to_exec"] == tokens["exec_to_store"] == 0
    return counters


@pytest.mark.parametrize("shape, out_shift", [((3, 10, 4), None), ((1, 7, 5), 6)])
def test_gemm_runs_bit_exactly(shape, out_shift):
    m, k, n = shape
    program = compile_gemm(CONFIG, m, k, n, out_shift=out_shift)
    counters = check_program(CONFIG, program,
                             program.random_operands(CONFIG, np.random.default_rng(16)))
    assert counters.useful_macs == m * k * n


@pytest.mark.parametrize("shape, out_shift", [((3, 10, 4), None), ((1, 7, 5), 6),
                                              ((9, 5, 1), None)])
def test_weight_stationary_gemm_runs_bit_exactly_and_cycle_exactly(shape, out_shift):
    """The second array shape of the weight-stationary GEMM tests (the first runs
    under Verilator, ``tests/sim/compile/test_gemm_ws.py``): the model to the cycle."""
    config = CONFIG.replace(dataflow="weight_stationary")
    program = compile_gemm(config, *shape, out_shift=out_shift)
    counters = check_program(config, program,
                             program.random_operands(config, np.random.default_rng(18)))
    assert counters.useful_macs == np.prod(shape)
    assert counters.cycles == program.predict(config).cycles


def test_attention_runs_bit_exactly():
    config = CONFIG.replace(rows=2, cols=2)
    program = compile_attention(config, AttentionShape(1, 2, 5, 4, 4))
    counters = check_program(config, program,
                             program.random_operands(config, np.random.default_rng(17)))
    assert counters.vector_busy > 0


@pytest.mark.parametrize("cols", [2, 3])
def test_weight_stationary_attention_runs_bit_exactly_and_cycle_exactly(cols):
    """Scores streaming keys through stationary queries, context streaming value
    dimensions through stationary probabilities; shared values (MLA) on 2x2."""
    config = CONFIG.replace(cols=cols, dataflow="weight_stationary")
    shape = AttentionShape(1, 3, 6, 5, 3, shared_values=cols == 2)
    program = compile_attention(config, shape)
    counters = check_program(config, program,
                             program.random_operands(config, np.random.default_rng(19)))
    assert counters.cycles == program.predict(config).cycles
    assert counters.useful_macs * 2 == shape.flop


def test_ports_are_what_the_testbenches_bind():
    text = verilog.convert(Tile(CONFIG), name="tile", emit_src=False)
    header = text[text.index("module tile("):text.index(");")]
    ports = set(re.findall(r"\w+", header)) - {"module", "tile"}
    assert ports == {"clk", "rst", "host_addr", "host_wdata", "host_write_dram",
                     "host_rdata", "host_instr", "host_write_instr", "host_load",
                     "dram_setting",
                     "start", "done", "counters", "status_pc", "status_tokens",
                     "status_units", "trace_addr", "trace_data"}
    # The DRAM's rate and latency are run-time settings: one Verilog serves them all.
    other = CONFIG.replace(dram_bytes_per_cycle=Fraction(5, 7), dram_latency=100)
    assert verilog.convert(Tile(other), name="tile", emit_src=False) == text
    # The Verilator build instantiates the storage primitive, never a big memory.
    assert text.count("rooftile_dram_storage") == 2
    assert len(COUNTERS) * 48 == len(Tile(CONFIG).counters.as_value())


def test_storage_kind_is_checked():
    with pytest.raises(ValueError, match="storage must be one of primitive, memory"):
        Tile(CONFIG, storage="fast")
