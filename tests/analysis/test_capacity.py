"""Capacity formulas pinned to hand calculations from the public model configs."""

import pytest

from rooftile.analysis.capacity import (
    activation_bytes_per_sequence, capacity, kv_bytes_per_token, parameter_counts, weight_bytes_per_device,
)
from rooftile.analysis.mapping import Mapping
from rooftile.analysis.ops import decode_layer_ops
from rooftile.hdl.errors import InputError


def test_kv_bytes_per_token_of_the_paper_models():
    # GPT-3: K and V of 96 heads x 128 in 96 layers, bf16.
    assert kv_bytes_per_token("gpt-3-175b") == 2 * 96 * 128 * 96 * 2 == 4_718_592
    # Llama 4 Maverick: 8 K/V heads x 128, 48 layers.
    assert kv_bytes_per_token("llama-4-maverick") == 2 * 8 * 128 * 48 * 2 == 196_608
    # DeepSeek-R1: latent 512 + RoPE key 64 in 61 layers: the often-quoted ~70 KB per token.
    assert kv_bytes_per_token("deepseek-r1") == (512 + 64) * 61 * 2 == 70_272
    assert kv_bytes_per_token("deepseek-r1", "fp8", layers=1) == 576


def test_flashmla_reads_exactly_the_cache():
    # The cache one token adds is what the read-once form reads per cached token and layer.
    score = next(op for op in decode_layer_ops("deepseek-r1", 1, 1000, attention="flashmla")
                 if op.name == "attn_score")
    assert score.bytes_kv_cache == 1000 * kv_bytes_per_token("deepseek-r1", layers=1)


def test_parameter_counts_match_the_model_cards():
    gpt3 = parameter_counts("gpt-3-175b")
    d = 12288
    assert gpt3["attention"] == 96 * 4 * d * d  # Q, K, V, O
    assert gpt3["dense_ffn"] == 96 * 2 * d * 4 * d  # GELU MLP: up and down
    assert gpt3["embeddings"] == 50257 * d  # tied with the LM head
    assert sum(gpt3.values()) == pytest.approx(175e9, rel=0.01)
    maverick = parameter_counts("llama-4-maverick")
    assert maverick["routed_experts"] == 24 * 128 * 3 * 5120 * 8192
    assert maverick["shared_experts"] == 24 * 3 * 5120 * 8192
    assert maverick["dense_ffn"] == 24 * 3 * 5120 * 16384
    assert sum(maverick.values()) == pytest.approx(400e9, rel=0.01)
    r1 = parameter_counts("deepseek-r1")
    assert r1["routed_experts"] == 58 * 256 * 3 * 7168 * 2048
    assert sum(r1.values()) == pytest.approx(671e9, rel=0.01)


def test_weights_per_device_under_the_paper_mappings():
    r1 = parameter_counts("deepseek-r1")
    non_expert = sum(r1.values()) - r1["routed_experts"]
    # TP1 x DP32 with EP32: every non-expert weight on each device, 8 of the 256 experts.
    assert weight_bytes_per_device("deepseek-r1", Mapping(1, 32, 32)) == pytest.approx(
        2 * (non_expert + 58 * 8 * 3 * 7168 * 2048))
    gpt3 = sum(parameter_counts("gpt-3-175b").values())
    assert weight_bytes_per_device("gpt-3-175b", Mapping(8, 4), "fp8") == pytest.approx(gpt3 / 8)


def test_b_cap_by_hand():
    # GPT-3 on 32 B200 (180 GB), TP8 x DP4, context 4096, bf16.
    weights = 2 * sum(parameter_counts("gpt-3-175b").values()) / 8
    kv = 4_718_592 * 4096 / 8  # K/V heads split over the 8 TP ranks
    act = 2 * (4 * 12288 + 4 * 12288 / 8) + 4 * 50257 / 8  # widest: the FFN up output, 4 d
    assert activation_bytes_per_sequence("gpt-3-175b", tp=8) == pytest.approx(act)
    cap = capacity("gpt-3-175b", "b200", devices=32, context=4096)
    assert cap.weight_bytes_per_device == pytest.approx(weights)
    assert cap.kv_bytes_per_sequence == kv
    assert cap.b_cap == 4 * int((180e9 - weights) // (kv + act))
    assert cap.feasible and cap.mapping == "TP8 x DP4"


def test_mla_cache_is_not_split_by_tp():
    one = capacity("deepseek-r1", "b200", 32, 1024, mapping=Mapping(1, 32, 32))
    eight = capacity("deepseek-r1", "b200", 32, 1024, mapping=Mapping(8, 4, 32))
    assert eight.kv_bytes_per_sequence == one.kv_bytes_per_sequence == 70_272 * 1024


def test_infeasible_results_are_flagged_never_used():
    too_big = capacity("deepseek-r1", "b200", batch=10**6)
    assert not too_big.feasible and "batch 1000000 does not fit" in too_big.reason
    assert f"B_cap = {too_big.b_cap}" in too_big.reason
    with pytest.raises(InputError, match="batch 1000000 does not fit"):
        too_big.require()
    # 671B parameters do not fit 32 x 6 GB at any batch.
    pim = capacity("deepseek-r1", "hbm-pim", devices=32)
    assert pim.b_cap == 0 and not pim.feasible and "weights" in pim.reason


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="gpt-5"), "unknown model 'gpt-5'"),
    (dict(hw="tpu"), "unknown hardware 'tpu'"),
    (dict(mapping=Mapping(8, 2)), r"TP x DP = 16 devices, but the device count is 32"),
    (dict(mapping=Mapping(1, 32, 3)), r"ep must divide the device count 32"),
    (dict(model="qwen3-235b-a22b"), "unknown model with a paper mapping 'qwen3-235b-a22b'"),
])
def test_bad_input_names_the_value(kwargs, message):
    args = dict(model="deepseek-r1", hw="b200") | kwargs
    with pytest.raises(InputError, match=message):
        capacity(args.pop("model"), args.pop("hw"), **args)
