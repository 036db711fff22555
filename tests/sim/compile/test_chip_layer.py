"""A decode layer on the chip: the tile and the unit's engine (running the attention, or
an MoE layer's routed experts as Duplex does), each running its program, bit-exact,
against the tile model's prediction of the pair."""

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from rooftile.analysis.plots import plot_chip_timeline
from rooftile.hdl import clock_gate
from rooftile.hdl.errors import InputError
from rooftile.hdl.isa import assemble
from rooftile.hdl.params import AttentionUnit, TileConfig
from rooftile.sim.compile.attention import AttentionShape, compile_attention
from rooftile.sim.compile.chip import compile_chip_layer
from rooftile.sim.compile.gemm import compile_gemm
from rooftile.sim.run.flow import SimulationError
from rooftile.sim.run.pipeline import run_programs

MODEL_TOLERANCE = 0.05
SMALL = dict(sp_depth=512, acc_depth=256, dram_depth=1 << 14, program_depth=4096)
CONFIG = TileConfig(rows=4, cols=4, dram_bytes_per_cycle=Fraction(3, 2), dram_latency=9,
                    attention_unit=AttentionUnit("logic-die", **SMALL), **SMALL)
MHA = ("qkv_proj", "attention", "o_proj", "ffn_up_gate", "ffn_down")
MOE = ("o_proj", "router", "shared_expert_up_gate", "shared_expert_down", "expert_up_gate",
       "expert_down")


def mha_chip(config, subbatches, batch=4):
    shift = config.data_width + 2
    m = batch // subbatches
    tiles = [{"qkv_proj": compile_gemm(config, m, 20, 24, out_shift=shift),
              "o_proj": compile_gemm(config, m, 16, 20, out_shift=shift),
              "ffn_up_gate": compile_gemm(config, m, 20, 36, out_shift=shift),
              "ffn_down": compile_gemm(config, m, 36, 20, out_shift=shift)}
             for _ in range(subbatches)]
    units = [{"attention": compile_attention(config.attention_unit_tile(),
                                             AttentionShape(m, 1, 64, 8, 8))}
             for _ in range(subbatches)]
    return compile_chip_layer(config, MHA, tiles, units)


def moe_chip(config, subbatches, batch=4, per_expert=2):
    """The FFN half of an MoE layer with its routed experts on a Duplex-style unit (the
    engine of CONFIG's chip: Duplex has the logic-die unit's hardware)."""
    shift = config.data_width + 2
    m, e = batch // subbatches, per_expert // subbatches
    tiles = [{"o_proj": compile_gemm(config, m, 16, 20, out_shift=shift),
              "router": compile_gemm(config, m, 20, 8, out_shift=shift),
              "shared_expert_up_gate": compile_gemm(config, m, 20, 24, out_shift=shift),
              "shared_expert_down": compile_gemm(config, m, 24, 20, out_shift=shift)}
             for _ in range(subbatches)]
    unit = config.attention_unit_tile()
    units = [{"expert_up_gate": compile_gemm(unit, e, 20, 24, out_shift=shift),
              "expert_down": compile_gemm(unit, e, 24, 20, out_shift=shift)}
             for _ in range(subbatches)]
    return compile_chip_layer(config, MOE, tiles, units)


def run_exact(programs, seed):
    """The chip runs of ``programs``, checked bit-exact and each engine's array and
    DRAM reads as the model counts them."""
    rng = np.random.default_rng(seed)
    runs = run_programs(CONFIG, programs, [p.random_operands(CONFIG, rng) for p in programs])
    for run in runs:
        assert run.exact
        for engine in ("tile", "unit"):
            measured, model = getattr(run.counters, engine), getattr(run.prediction, engine)
            assert measured.array_busy == model.array_busy
            assert measured.bytes_read == model.bytes_read
    return runs


def test_chip_layers_are_bit_exact_and_match_the_model():
    runs = run_exact([mha_chip(CONFIG, 1), mha_chip(CONFIG, 2)], seed=1)
    for run in runs:
        counters, prediction = run.counters, run.prediction
        for engine in ("tile", "unit"):
            measured, model = getattr(counters, engine), getattr(prediction, engine)
            assert abs(model.cycles - measured.cycles) <= MODEL_TOLERANCE * measured.cycles
            assert measured.load_wait_peer > 0     # each waited for the other's data
        assert counters.tile.dram_wait > 0
        # The unit's query loads and output stores wait on the shared channel too.
        assert counters.unit.dram_wait > 0
    one, two = runs
    # Sub-batches read the tile's weights twice: on this memory-bound layer they cost.
    assert two.counters.tile.bytes_read > one.counters.tile.bytes_read
    # The trace: every op's span on each engine, back to back, with its counts.
    timeline = two.program.timeline(two.trace)
    for engine, names in zip(("tile", "unit"), two.program.names):
        spans = timeline[engine]
        assert [op for op, *_ in spans] == list(names)
        assert spans[0][1] == 0 and all(a[2] == b[1] for a, b in zip(spans, spans[1:]))
        counters = getattr(two.counters, engine)
        assert spans[-1][2] < counters.cycles
        assert sum(counts["array_busy"] for *_, counts in spans) == counters.array_busy
    assert names == ("attention /1", "attention /2")
    figure = plot_chip_timeline(timeline, "MHA layer, two sub-batches")
    assert len(figure.axes) == 2


def test_moe_layers_with_experts_on_the_unit_are_bit_exact_and_match_the_model():
    runs = run_exact([moe_chip(CONFIG, 1), moe_chip(CONFIG, 2)], seed=2)
    # The unit exchanges nothing over the shared channel (GemmProgram.exchange_ranges):
    # the channel carries the tile's traffic only, as predict_chip assumes, so the
    # chip's and each engine's cycles are within the tolerance.
    errors = {(parts, engine): (model.cycles - measured.cycles) / measured.cycles
              for parts, run in enumerate(runs, 1)
              for engine, model, measured in (
                  ("chip", run.prediction, run.counters),
                  ("tile", run.prediction.tile, run.counters.tile),
                  ("unit", run.prediction.unit, run.counters.unit))}
    worst = max(errors, key=lambda key: abs(errors[key]))
    assert abs(errors[worst]) <= MODEL_TOLERANCE, (
        f"model off the RTL by {errors[worst]:+.1%} ({worst[1]}, {worst[0]} "
        f"sub-batch(es)); all: {', '.join(f'{k}: {v:+.1%}' for k, v in errors.items())}")
    for run in runs:
        counters = run.counters
        assert run.program.exchanged == []
        assert counters.unit.cycles > counters.tile.cycles
        # The experts end the layer: the tile never waits for them, the unit waits for
        # the router's output, and the layer ends when both engines are done.
        assert counters.tile.load_wait_peer == 0 and counters.unit.load_wait_peer > 0
        assert counters.cycles == max(counters.tile.cycles, counters.unit.cycles)
    one, two = runs
    assert one.program.unit_ops == ("expert_up_gate", "expert_down")
    assert two.program.names[1] == ("expert_up_gate /1", "expert_down /1",
                                    "expert_up_gate /2", "expert_down /2")
    # The tile's shared experts run beside the routed experts: less than the engines'
    # ops one after the other.
    assert one.counters.cycles < sum(one.program.isolated_cycles(CONFIG))


def test_sleeping_engines_change_no_cycle_counter_trace_or_output(monkeypatch, tmp_path):
    """A quiet engine's clock stops (hdl.chip: the unit while it waits for the tile's
    data, either engine once done) while its counters go on: the same layers with every
    clock free-running give the same counters and traces, to the bit, both bit-exact."""
    programs = [mha_chip(CONFIG, 2), moe_chip(CONFIG, 2)]
    gated = run_exact(programs, seed=3)
    # One configuration builds in this process (flow.build_many), which sees the switch.
    monkeypatch.setattr(clock_gate, "GATING", False)
    monkeypatch.setenv("ROOFTILE_CACHE", str(tmp_path))
    free = run_exact(programs, seed=3)
    assert any(tmp_path.iterdir())     # built anew, not taken from the gated build's cache
    for asleep, awake in zip(gated, free):
        assert asleep.counters == awake.counters
        assert asleep.trace == awake.trace


def test_an_engine_waiting_for_its_peer_is_named_in_the_hang_diagnosis():
    program = mha_chip(CONFIG, 1)
    # The tile never signals the unit: drop the peer flag of its stores.
    tile = [(op, tuple(d for d in deps if not (op == "STORE" and d == "peer")), args)
            for op, deps, args in program.commands[0] if op != "FINISH"]
    commands, instructions = assemble(CONFIG, tile, peer=True)
    tile = dataclasses.replace(program.engines[0], commands=commands,
                               instructions=instructions)
    broken = dataclasses.replace(program, engines=(tile, program.engines[1]))
    with pytest.raises(ValueError, match="peer tokens do not match"):
        broken.predict(CONFIG)
    job = broken.job(CONFIG, *program.random_operands(CONFIG, np.random.default_rng(0)))
    job["max_cycles"] = 20_000
    from rooftile.sim.run import flow
    # Both wait for the other: both are quiet, and their clocks stop (hdl.chip).
    with pytest.raises(SimulationError, match=r"tile \(pc=\d+, asleep, its LOAD waits for "
                       r"token unit_to_tile\), unit \(pc=\d+, asleep, its LOAD waits for "
                       r"token tile_to_unit\)"):
        flow.run(flow.build(CONFIG, "chip"), [job])


def test_bad_chip_layers_are_refused():
    with pytest.raises(InputError, match="attention_unit"):
        compile_chip_layer(CONFIG.replace(attention_unit=None), MHA, [{}], [None])
    unit = {"expert_up_gate": None, "expert_down": None}
    tiles = [dict.fromkeys(("o_proj", "router", "shared_expert_up_gate",
                            "shared_expert_down"))]
    with pytest.raises(InputError, match="runs none of the layer's ops"):
        compile_chip_layer(CONFIG, MOE, tiles, [{}])
    with pytest.raises(InputError, match="must be a contiguous run"):
        compile_chip_layer(CONFIG, MOE, tiles, [{"router": None, "expert_up_gate": None}])
    with pytest.raises(InputError, match="must be a contiguous run"):
        compile_chip_layer(CONFIG, MOE, tiles, [{**unit, "q_up": None}])
    with pytest.raises(InputError, match=r"sub-batch 2 gives the unit programs for ops "
                       r"\['expert_up_gate'\]"):
        compile_chip_layer(CONFIG, MOE, tiles * 2, [unit, {"expert_up_gate": None}])
    with pytest.raises(InputError, match="read no earlier op"):
        compile_chip_layer(CONFIG, ("expert_up_gate", "expert_down", "o_proj"),
                           [{"o_proj": None}], [unit])
    with pytest.raises(InputError, match="peer flag"):
        assemble(CONFIG, [("LOAD", ("peer",), {"rows": 1})])
