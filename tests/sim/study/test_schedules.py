"""Lowering real decode layers to scaled tile programs, and running them on the RTL.

The RTL runs reproduce the thesis on a tile balanced like an H100 (bf16): per byte of
DRAM traffic, GQA's attention does more work than MHA's and absorbed MLA's far more,
because more query heads share each loaded key.
"""

import pytest

from rooftile.analysis.ops import decode_layer_ops
from rooftile.sim.study.measure import measurement, run_scaled
from rooftile.sim.study.schedules import compile_scaled, lower_layer
from rooftile.sim.study.spec import balanced_tile

CONFIG = balanced_tile()   # the default study's tile: one build serves these tests


def attention_of(model, **scaling):
    ops = decode_layer_ops(model, batch=4, context=4096, dtype="bf16")
    mla = model.startswith("deepseek")
    (op,) = [op for op in lower_layer(ops, mla_absorbed=mla, **scaling) if op.attention]
    return op


def test_lowering_keeps_what_sets_intensity_and_shrinks_the_rest():
    mha, gqa, mla = (attention_of(m) for m in ("llama-2-7b", "llama-3-8b", "deepseek-v3"))
    assert (mha.attention.queries, gqa.attention.queries, mla.attention.queries) == (1, 4, 128)
    assert mla.attention.shared_values and not gqa.attention.shared_values
    assert mla.attention.context == 512 and mla.full[0].gemm_n == 4096
    # The fused op stands for score, softmax and context of the full layer.
    assert [op.name for op in mla.full] == ["attn_score", "softmax", "attn_context"]
    assert mla.full_flop == sum(op.flop for op in mla.full)
    ops = decode_layer_ops("llama-3-8b", batch=4, context=4096, dtype="bf16")
    projections = [op for op in lower_layer(ops, mla_absorbed=False) if op.gemm]
    assert {op.gemm for op in projections} == {(4, 256, 256)}


def test_lowering_refuses_a_layer_without_attention():
    ops = [op for op in decode_layer_ops("llama-3-8b", 4, 4096) if op.name != "attn_context"]
    with pytest.raises(ValueError, match="no attn_context op to fuse"):
        lower_layer(ops, mla_absorbed=False)


def test_attention_intensity_on_the_rtl_orders_mha_gqa_mla():
    ops = {m: attention_of(m, max_context=128) for m in ("llama-2-7b", "llama-3-8b",
                                                         "deepseek-v3")}
    programs = compile_scaled(CONFIG, ops.values())
    results = run_scaled({"tile": (CONFIG, programs)}, seed=3)["tile"]
    achieved = {}
    for model, op in ops.items():
        m = measurement(CONFIG, op, results[op.key], workload=model, model=model,
                        attention="gqa", batch=4, full_time_s={})
        assert m.exact
        assert abs(m.model_error) <= 0.05
        assert m.counters.vector_busy > 0
        achieved[model] = m.flop / m.measured_cycles      # FLOP per cycle
        # Memory-bound on a tile balanced like an H100: DRAM at >= 80% of its rate.
        assert m.bound == "memory" and m.bandwidth_utilization >= 0.8
    assert achieved["llama-3-8b"] > 3 * achieved["llama-2-7b"]
    assert achieved["deepseek-v3"] > 10 * achieved["llama-3-8b"]
