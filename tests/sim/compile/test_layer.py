"""Whole layers as one tile program: every op bit-exact, the cycles as the tile model
predicts them, and the next op's loads running under the current op's work."""

from fractions import Fraction

import numpy as np
import pytest

from rooftile.hdl.errors import InputError
from rooftile.hdl.params import TileConfig
from rooftile.sim.compile.attention import AttentionShape, compile_attention
from rooftile.sim.compile.gemm import compile_gemm
from rooftile.sim.compile.layer import compile_layer, layer_waits
from rooftile.sim.run.pipeline import run_programs

MODEL_TOLERANCE = 0.05
# Slow DRAM (every op memory-bound) and fast DRAM (GEMMs compute-bound).
SLOW = TileConfig(rows=4, cols=4, sp_depth=512, acc_depth=256, dram_depth=1 << 14,
                  program_depth=4096, dram_bytes_per_cycle=Fraction(3, 2), dram_latency=9)
FAST = SLOW.replace(dram_bytes_per_cycle=Fraction(16), dram_latency=20)
MHA = ("qkv_proj", "attention", "o_proj", "ffn_up_gate", "ffn_down")


def mha_layer(config, context=21):
    shift = config.data_width + 2
    programs = [compile_gemm(config, 3, 20, 24, out_shift=shift),
                compile_attention(config, AttentionShape(2, 3, context, 8, 8)),
                compile_gemm(config, 3, 16, 20, out_shift=shift),
                compile_gemm(config, 3, 20, 36, out_shift=shift),
                compile_gemm(config, 3, 36, 20, out_shift=shift)]
    return programs, compile_layer(config, MHA, programs)


def test_waits_follow_the_latest_producer_in_load_order():
    assert layer_waits(MHA) == {1: 0, 2: 1, 3: 2, 4: 3}
    mla = ("q_down", "q_up", "kv_down", "q_absorb", "attention", "o_absorb", "o_proj",
           "router", "shared_expert_up_gate", "shared_expert_down", "expert_up_gate",
           "expert_down")
    # kv_down reads the layer input; attention waits for q_absorb (the later of its
    # producers); expert_up_gate's router is already behind shared_expert_down's wait.
    assert layer_waits(mla) == {1: 0, 3: 1, 4: 3, 5: 4, 6: 5, 7: 6, 9: 8, 11: 10}
    with pytest.raises(InputError, match="'lm_head'"):
        layer_waits(("qkv_proj", "lm_head"))


def test_boundary_tokens_are_rewritten():
    programs, layer = mha_layer(SLOW)
    ops = [(op, set(deps), args) for op, deps, args in layer.commands]
    loads = [(deps, args) for op, deps, args in ops if op == "LOAD"]
    # Five ops: four waits on a store, four on the previous op's last operand read.
    assert sum("pop_prev" in deps for deps, _ in loads) == 4
    first = len([c for c in programs[0].commands if c[0] == "LOAD"])
    # The attention's first load is its K (the cache), then Q, which waits on a store.
    assert loads[first][1]["target"] == "A" and "pop_next" in loads[first][0]
    waits = [args["target"] for deps, args in loads if "pop_prev" in deps]
    assert waits == ["B", "A", "A", "A"]
    with pytest.raises(InputError, match="program_depth"):
        compile_layer(SLOW.replace(program_depth=64), MHA, programs)


@pytest.mark.parametrize("config", [SLOW, FAST], ids=["slow-dram", "fast-dram"])
def test_layer_is_bit_exact_and_matches_the_model(config):
    programs, layer = mha_layer(config)
    rng = np.random.default_rng(3)
    operands = [p.random_operands(config, rng) for p in programs]
    runs = run_programs(config, programs + [layer],
                        operands + [tuple(operands)])
    *alone, whole = runs
    # The layer's output is every op's, flattened in order: each bit-exact.
    assert all(run.exact for run in runs)
    assert whole.output.size == sum(run.output.size for run in alone)
    counters = whole.counters
    assert abs(whole.prediction.cycles - counters.cycles) <= MODEL_TOLERANCE * counters.cycles
    assert counters.array_busy == sum(run.counters.array_busy for run in alone)
    assert counters.bytes_read == sum(run.counters.bytes_read for run in alone)
    assert counters.load_wait_store > 0    # the data dependencies held loads back
    isolated = sum(run.counters.cycles for run in alone)
    if config is FAST:   # compute-bound: the next op's loads hide under the compute
        assert counters.cycles < 0.97 * isolated



def test_weight_stationary_layer_is_bit_exact_and_matches_the_model():
    # The weight-stationary tests' tile (its build is shared).
    from test_gemm_ws import WS_CONFIG as config
    programs, layer = mha_layer(config, context=16)
    rng = np.random.default_rng(4)
    operands = tuple(p.random_operands(config, rng) for p in programs)
    (run,) = run_programs(config, [layer], [operands])
    assert run.exact
    assert abs(run.prediction.cycles - run.counters.cycles) <= MODEL_TOLERANCE * run.counters.cycles
