"""Every formula pinned to a hand calculation (2 FLOPs per MAC, bytes at the element size)."""

import pytest

from rooftile.analysis.ops import (
    FORMULAS, decode_layer_ops, ffn_ops, moe_ops, ops_in_group, prefill_layer_ops, register_formula,
    total_intensity,
)

L = 4096


def by_name(ops):
    return {op.name: op for op in ops}


def test_mha_decode_score_and_context():
    # Llama-2-7B, batch 1, context 4096, bf16: 32 heads of 128, one K/V head per query head.
    ops = by_name(decode_layer_ops("llama-2-7b", batch=1, context=L))
    score, context = ops["attn_score"], ops["attn_context"]
    assert score.flop == 2 * 32 * 128 * 4096
    assert score.bytes_kv_cache == 4096 * 32 * 128 * 2  # the whole K cache
    assert score.bytes_activations_in == 32 * 128 * 2  # the query
    assert score.bytes_activations_out == 0  # scores stay on chip
    assert (score.gemm_m, score.gemm_n, score.gemm_k, score.gemm_count) == (1, 4096, 128, 32)
    assert context.flop == 2 * 32 * 4096 * 128
    assert context.bytes_kv_cache == 4096 * 32 * 128 * 2  # the whole V cache
    assert context.bytes_activations_out == 32 * 128 * 2
    assert (context.gemm_m, context.gemm_n, context.gemm_k, context.gemm_count) == (1, 128, 4096, 32)
    assert ops["softmax"].flop == 5 * 32 * 4096
    assert ops["softmax"].bytes_total == 0
    attention = (2 * 2 * 32 * 128 * L + 5 * 32 * L) / (2 * L * 32 * 128 * 2 + 2 * 32 * 128 * 2)
    assert total_intensity(ops_in_group(ops.values(), "attention")) == pytest.approx(attention)
    assert attention == pytest.approx(1, abs=0.02)  # MHA decode: about 1 FLOP/byte at bf16


def test_mha_projections_and_ffn():
    ops = by_name(decode_layer_ops("llama-2-7b", batch=1, context=L))
    qkv = ops["qkv_proj"]
    assert qkv.flop == 2 * 4096 * (32 + 2 * 32) * 128
    assert qkv.bytes_weights == 4096 * 12288 * 2
    assert qkv.bytes_activations_in == 4096 * 2
    assert qkv.bytes_activations_out == 12288 * 2
    assert ops["o_proj"].flop == 2 * 4096 * 4096
    up, down = ops["ffn_up_gate"], ops["ffn_down"]
    assert up.flop == 2 * 4096 * 2 * 11008
    assert up.bytes_weights == 4096 * 2 * 11008 * 2
    assert up.bytes_activations_out == 11008 * 2  # silu(gate) * up, taken in the epilogue
    assert down.flop == 2 * 11008 * 4096
    assert down.bytes_activations_in == 11008 * 2


def test_gqa_score_is_one_gemm_per_kv_head_with_the_group_as_rows():
    # Llama-3-70B: 64 query heads share 8 K/V heads, groups of 8; batch 4.
    score = by_name(decode_layer_ops("llama-3-70b", batch=4, context=L))["attn_score"]
    assert (score.gemm_m, score.gemm_n, score.gemm_k, score.gemm_count) == (8, 4096, 128, 4 * 8)
    assert score.flop == 2 * 4 * 64 * 128 * 4096
    assert score.bytes_kv_cache == 4 * 4096 * 8 * 128 * 2
    ops = decode_layer_ops("llama-3-70b", batch=4, context=L)
    # Intensity is about the group size: 8 query heads per K/V read.
    assert total_intensity(ops_in_group(ops, "attention")) == pytest.approx(8, rel=0.02)


def test_speculative_query_tokens_multiply_rows():
    score = by_name(decode_layer_ops("llama-2-7b", batch=2, context=L, q_tokens=4))["attn_score"]
    assert (score.gemm_m, score.gemm_count) == (4, 2 * 32)
    assert score.flop == 2 * 2 * 4 * 32 * 128 * 4096
    assert score.bytes_kv_cache == 2 * 4096 * 32 * 128 * 2


def test_mla_absorbed_decode():
    # DeepSeek-V3, batch 1: 128 heads, latent 512, RoPE key 64, nope 128, v 128, q_lora 1536.
    ops = by_name(decode_layer_ops("deepseek-v3", batch=1, context=L, attention="absorbed"))
    assert ops["q_down"].flop == 2 * 7168 * 1536
    assert ops["q_up"].flop == 2 * 1536 * 128 * (128 + 64)
    assert ops["kv_down"].flop == 2 * 7168 * (512 + 64)
    q_absorb = ops["q_absorb"]  # W_UK: each head's 128-wide q_nope into the 512-wide latent
    assert q_absorb.flop == 2 * 128 * 128 * 512
    assert q_absorb.bytes_weights == 128 * 128 * 512 * 2
    assert (q_absorb.gemm_m, q_absorb.gemm_n, q_absorb.gemm_k, q_absorb.gemm_count) == (1, 512, 128, 128)
    score = ops["attn_score"]  # all 128 heads over one shared latent + rope key per token
    assert (score.gemm_m, score.gemm_n, score.gemm_k, score.gemm_count) == (128, 4096, 576, 1)
    assert score.flop == 2 * 128 * 576 * 4096
    assert score.bytes_kv_cache == 4096 * 576 * 2
    context = ops["attn_context"]
    assert context.flop == 2 * 128 * 4096 * 512
    assert context.bytes_kv_cache == 0  # the latent is already on chip from the score
    assert context.bytes_activations_out == 128 * 512 * 2
    assert ops["o_absorb"].flop == 2 * 128 * 512 * 128
    assert ops["o_proj"].flop == 2 * 128 * 128 * 7168
    assert "kv_up" not in ops


def test_mla_naive_decode_up_projects_the_cache():
    ops = by_name(decode_layer_ops("deepseek-v3", batch=1, context=L, attention="naive"))
    up = ops["kv_up"]
    assert up.flop == 2 * 4096 * 512 * 128 * (128 + 128)
    assert up.bytes_weights == 512 * 128 * 256 * 2  # W_UK and W_UV
    assert up.bytes_kv_cache == 4096 * 512 * 2  # the latents
    assert up.bytes_activations_out == 4096 * 128 * 256 * 2  # per-head K and V
    score = ops["attn_score"]  # per head, like MHA, over K = [k_nope, shared rope key]
    assert (score.gemm_m, score.gemm_n, score.gemm_k, score.gemm_count) == (1, 4096, 192, 128)
    assert score.flop == 2 * 128 * 192 * 4096
    assert score.bytes_kv_cache == 4096 * 64 * 2
    assert score.bytes_activations_in == (128 * 192 + 4096 * 128 * 128) * 2
    assert ops["attn_context"].bytes_activations_in == 4096 * 128 * 128 * 2
    assert "q_absorb" not in ops and "o_absorb" not in ops


def test_mla_without_query_compression():
    # DeepSeek-V2-Lite has q_lora_rank null: queries come straight from the 2048-wide hidden state.
    ops = by_name(decode_layer_ops("deepseek-v2-lite", batch=1, context=L))
    assert "q_down" not in ops
    assert ops["q_up"].flop == 2 * 2048 * 16 * (128 + 64)


def test_prefill_counts_the_full_square():
    score = by_name(prefill_layer_ops("llama-2-7b", batch=2, seq=1024))["attn_score"]
    assert (score.gemm_m, score.gemm_n) == (1024, 1024)
    assert score.flop == 2 * 2 * 32 * 128 * 1024 * 1024
    qkv = by_name(prefill_layer_ops("llama-2-7b", batch=2, seq=1024))["qkv_proj"]
    assert qkv.gemm_m == 2 * 1024


def test_fp8_halves_every_byte():
    bf16 = decode_layer_ops("deepseek-v3", batch=8, context=L, dtype="bf16")
    fp8 = decode_layer_ops("deepseek-v3", batch=8, context=L, dtype="fp8")
    for a, b in zip(bf16, fp8):
        assert b.flop == a.flop
        assert b.bytes_total == a.bytes_total / 2


def test_moe_block():
    # DeepSeek-V3, 64 tokens: hidden 7168, 256 experts of 2048, top-8, one shared expert.
    h, i, e = 7168, 2048, 2
    ops = by_name(moe_ops("deepseek-v3", tokens=64))
    assert ops["router"].flop == 2 * 64 * 7168 * 256
    assert ops["shared_expert_up_gate"].flop == 2 * 64 * h * 2 * i
    active = 256 * (1 - (1 - 8 / 256) ** 64)
    up, down = ops["expert_up_gate"], ops["expert_down"]
    assert up.flop + down.flop == pytest.approx(2 * 3 * 64 * 8 * h * i)
    assert up.bytes_weights + down.bytes_weights == pytest.approx(active * 3 * h * i * e)
    assert up.gemm_count == pytest.approx(active)
    assert up.gemm_m == pytest.approx(64 * 8 / active)
    routed = (2 * 3 * 64 * 8 * h * i) / (active * 3 * h * i * e + 64 * 8 * 2 * (h + i) * e)
    assert total_intensity([up, down]) == pytest.approx(routed)


def test_expert_parallelism_keeps_flops_and_shrinks_weights():
    h, i, e = 7168, 2048, 2
    ops = ops_in_group(moe_ops("deepseek-v3", tokens=64, ep_devices=32), "routed_experts")
    active = 256 / 32 * (1 - (1 - 8 / 256) ** (64 * 32))
    assert sum(op.flop for op in ops) == pytest.approx(2 * 3 * 64 * 8 * h * i)
    assert sum(op.bytes_weights for op in ops) == pytest.approx(active * 3 * h * i * e)
    assert ops[0].gemm_m == pytest.approx(64 * 8 / active)  # about 64 tokens per expert


def test_ffn_ops_count_and_intensity():
    ops = ffn_ops(16, 1024, 4096, "int8", count=3)
    assert sum(op.flop for op in ops) == 3 * 2 * 3 * 16 * 1024 * 4096
    assert sum(op.bytes_weights for op in ops) == 3 * 3 * 1024 * 4096
    assert sum(op.bytes_activations_in + op.bytes_activations_out for op in ops) == 3 * 16 * 2 * (1024 + 4096)


def test_layer_selection():
    names = [op.name for op in decode_layer_ops("deepseek-v3", 1, L, layer="dense")]
    assert "ffn_up_gate" in names and "router" not in names
    assert "router" in [op.name for op in decode_layer_ops("deepseek-v3", 1, L)]  # MoE by default
    with pytest.raises(ValueError, match=r"layer of model 'llama-2-7b' must be one of dense; got 'moe'"):
        decode_layer_ops("llama-2-7b", 1, L, layer="moe")


@pytest.mark.parametrize("field, kwargs", [
    ("batch", dict(batch=0, context=L)),
    ("context", dict(batch=1, context=-5)),
    ("q_tokens", dict(batch=1, context=L, q_tokens=0)),
    ("ep_devices", dict(batch=1, context=L, ep_devices=0)),
])
def test_non_positive_sizes_name_the_field(field, kwargs):
    value = kwargs.get(field)
    with pytest.raises(ValueError, match=rf"{field} must be >= 1, got {value}"):
        decode_layer_ops("deepseek-v3", **kwargs)


def test_prefill_seq_is_checked():
    with pytest.raises(ValueError, match=r"seq must be >= 1, got 0"):
        prefill_layer_ops("llama-2-7b", 1, 0)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match=r"dtype must be one of bf16, fp8, int8; got 'fp4'"):
        decode_layer_ops("llama-2-7b", 1, L, dtype="fp4")
    with pytest.raises(ValueError, match=r"attention must be one of absorbed, naive, naive-expanded, unfused, fused, flashmla; got 'flash'"):
        decode_layer_ops("deepseek-v3", 1, L, attention="flash")
    with pytest.raises(ValueError, match=r"unknown model 'gpt-5'; known: llama-2-7b"):
        decode_layer_ops("gpt-5", 1, L)
    with pytest.raises(ValueError, match=r"has no MoE layers"):
        moe_ops("llama-2-7b", 1)


def test_formula_registry_refuses_a_second_formula_for_a_kind():
    before = dict(FORMULAS)
    with pytest.raises(ValueError, match=r"a formula for op kind 'linear' is already registered"):
        register_formula("linear")(lambda **_: {})
    assert FORMULAS == before


def _core_bytes(form, L=1000):
    ops = by_name(decode_layer_ops("deepseek-r1", batch=1, context=L, attention=form))
    return {name: ops[name] for name in ("attn_score", "softmax", "attn_context")}


def test_mla_accounting_forms_of_the_absorbed_order():
    # DeepSeek-R1, batch 1, 1000 cached tokens, bf16: 128 heads over latent 512 + RoPE 64.
    L, H = 1000, 128
    flash = _core_bytes("flashmla")
    assert flash["attn_score"].bytes_kv_cache == L * 576 * 2
    assert flash["attn_context"].bytes_kv_cache == 0  # the score's latent reused as values
    assert flash["softmax"].bytes_total == 0
    assert _core_bytes("absorbed") == flash  # the default is the FlashMLA accounting
    fused = _core_bytes("fused")
    assert fused["attn_context"].bytes_kv_cache == L * 512 * 2  # the latent read again
    assert fused["softmax"].bytes_total == 0
    unfused = _core_bytes("unfused")
    assert unfused["attn_score"].bytes_activations_out == H * L * 2  # scores written
    assert unfused["softmax"].bytes_activations_in == unfused["softmax"].bytes_activations_out == H * L * 2
    assert unfused["attn_context"].bytes_activations_in == H * L * 2  # probabilities read back
    assert unfused["attn_context"].bytes_kv_cache == L * 512 * 2
    flop = 2 * H * 576 * L + 5 * H * L + 2 * H * L * 512
    for form, moved in [
        ("flashmla", L * 576 * 2),
        ("fused", L * (576 + 512) * 2),
        ("unfused", L * (576 + 512) * 2 + 4 * H * L * 2),
    ]:
        ops = _core_bytes(form).values()
        query_and_output = H * 576 * 2 + H * 512 * 2
        assert sum(op.flop for op in ops) == flop
        assert total_intensity(ops) == pytest.approx(flop / (moved + query_and_output))


def test_naive_rope_key_conventions():
    L, H = 1000, 128
    shared = _core_bytes("naive")["attn_score"]
    assert shared.bytes_kv_cache == L * 64 * 2  # one RoPE key for all heads
    assert shared.bytes_activations_in == (H * 192 + L * H * 128) * 2
    expanded = _core_bytes("naive-expanded")["attn_score"]
    assert expanded.bytes_kv_cache == 0
    assert expanded.bytes_activations_in == (H * 192 + L * H * 192) * 2  # RoPE key read per head
    assert expanded.flop == shared.flop


def test_two_matrix_ffn_of_gpt3():
    ops = by_name(decode_layer_ops("gpt-3-175b", batch=1, context=L))
    d = 12288
    assert "ffn_up_gate" not in ops
    assert ops["ffn_up"].bytes_weights == d * 4 * d * 2
    assert ops["ffn_down"].bytes_weights == 4 * d * d * 2


def test_fused_kernels_follow_the_form():
    from rooftile.analysis.ops import CORE_ATTENTION, fused_kernels
    assert fused_kernels("deepseek-r1", "flashmla") == (CORE_ATTENTION,)
    assert fused_kernels("deepseek-r1", "unfused") == ()
    assert fused_kernels("gpt-3-175b", "unfused") == (CORE_ATTENTION,)  # MHA has one form
