import functools
import math

import pytest

from rooftile.analysis.ops import decode_layer_ops
from rooftile.analysis.roofline import crossover_batch, layer_time, ridge_batches, roofline

PEAK, BW = 989.4e12, 3.35e12  # H100 bf16


def test_memory_bound_point():
    point = roofline(1e9, 1e9, "h100")
    assert point.intensity_flop_per_byte == 1.0
    assert point.bound == "memory"
    assert point.attainable_flop_per_s == BW
    assert point.time_s == 1e9 / BW


def test_compute_bound_point():
    point = roofline(1e12, 1e9, "h100")
    assert point.bound == "compute"
    assert point.attainable_flop_per_s == PEAK
    assert point.time_s == 1e12 / PEAK


def test_no_bytes_is_compute_bound_at_infinite_intensity():
    point = roofline(5.0, 0, "h100", "fp8")
    assert math.isinf(point.intensity_flop_per_byte)
    assert point.time_s == 5.0 / 1978.9e12


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match=r"flop and bytes_ must be >= 0 and not both 0, got -1 and 1"):
        roofline(-1, 1, "h100")
    with pytest.raises(ValueError, match=r"not both 0"):
        roofline(0, 0, "h100")


def test_layer_time_is_the_sum_of_op_times():
    ops = decode_layer_ops("llama-2-7b", 1, 4096)
    # Batch 1: every op but softmax is memory-bound, softmax moves no bytes.
    expected = sum(op.bytes_total for op in ops) / BW + ops[2].flop / PEAK
    assert ops[2].name == "softmax"
    assert layer_time(ops, "h100") == pytest.approx(expected)


def test_crossover_batch_finds_the_smallest_batch():
    calls = []

    def linear(batch):
        calls.append(batch)
        return batch

    assert crossover_batch(linear, 100) == 100
    assert len(calls) <= 2 * 20 + 2  # doubling then bisection, not a linear scan
    assert crossover_batch(linear, 0.5) == 1
    assert crossover_batch(linear, 2**20) == 2**20
    assert crossover_batch(linear, 2**20 + 1) is None
    assert crossover_batch(lambda b: 1.0, 2.0, max_batch=1) is None


def test_ridge_batches_of_llama_decode():
    ops_at = functools.partial(decode_layer_ops, "llama-2-7b", context=4096)
    batches = ridge_batches(ops_at, "h100")
    # Decode attention reads its own KV per sequence: never compute-bound.
    assert batches["attn_score"] is None and batches["attn_context"] is None
    assert batches["softmax"] == 1
    # qkv_proj: 2bKN / (2(KN + bK + bN)) >= ridge  <=>  b >= ridge KN / (KN - ridge (K + N)).
    k, n, ridge = 4096, 3 * 4096, PEAK / BW
    assert batches["qkv_proj"] == math.ceil(ridge * k * n / (k * n - ridge * (k + n)))


def test_fused_kernel_is_charged_as_one_op():
    from rooftile.analysis.ops import CORE_ATTENTION, core_attention_ops
    # DeepSeek-R1 flashmla core attention, batch 1, 4096 tokens, on the H100: the score is
    # memory-bound and the context (no DRAM reads) compute-bound; one kernel overlaps them.
    ops = core_attention_ops(decode_layer_ops("deepseek-r1", 1, 4096, attention="flashmla"))
    flop, moved = sum(op.flop for op in ops), sum(op.bytes_total for op in ops)
    assert layer_time(ops, "h100", fused=[CORE_ATTENTION]) == pytest.approx(max(flop / PEAK, moved / BW))
    apart = sum(max(op.flop / PEAK, op.bytes_total / BW) for op in ops)
    assert layer_time(ops, "h100") == pytest.approx(apart)
    assert apart > max(flop / PEAK, moved / BW)
    with pytest.raises(ValueError, match="op 'softmax' is in two fused kernels"):
        layer_time(ops, "h100", fused=[CORE_ATTENTION, ("softmax",)])


def test_b_moe_is_the_ridge_in_tokens_per_expert():
    from rooftile.analysis.roofline import b_moe
    # B200 bf16: ridge 2.25e15 / 8e12 = 281.25 FLOP/byte; an expert's weights reach it at
    # 281.25 x 2 bytes / 2 FLOPs = 281.25 tokens; each gets B x top_k / n_experts.
    assert b_moe("deepseek-r1", "b200") == pytest.approx(281.25 * 256 / 8)  # 9000
    assert b_moe("qwen3-235b-a22b", "b200") == pytest.approx(281.25 * 128 / 8)  # 4500
    assert b_moe("llama-4-maverick", "b200") == pytest.approx(281.25 * 128 / 1)  # 36000
    # fp8 doubles the ridge and halves the bytes per weight: the same batch.
    assert b_moe("deepseek-r1", "b200", "fp8") == pytest.approx(9000)
    assert b_moe("deepseek-r1", "h100") == pytest.approx(989.4e12 / 3.35e12 * 32)
    with pytest.raises(ValueError, match="model 'gpt-3-175b' has no MoE layers, so no B_MoE"):
        b_moe("gpt-3-175b", "b200")
