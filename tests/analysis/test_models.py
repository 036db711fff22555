import pytest

from rooftile.analysis.models import MODELS, GQAAttention, MLAAttention, ModelConfig, MoEConfig, get_model


def test_layer_kinds_follow_first_k_dense_replace():
    # DeepSeek-V3: 61 layers, the first 3 dense.
    assert get_model("deepseek-v3").layer_counts == {"dense": 3, "moe": 58}
    assert get_model("kimi-k2").layer_counts == {"dense": 1, "moe": 60}
    assert get_model("mixtral-8x7b").layer_counts == {"moe": 32}
    assert get_model("llama-3-70b").layer_counts == {"dense": 80}


def test_attention_kinds_and_group_sizes():
    assert get_model("llama-2-7b").attention.kind == "mha"
    assert get_model("llama-3-70b").attention.kind == "gqa"
    assert get_model("llama-3-70b").attention.group_size == 64 // 8
    assert get_model("deepseek-v3").attention.kind == "mla"


def test_registry_covers_every_attention_and_ffn_family():
    kinds = {(m.attention.kind, m.moe is not None, "dense" in m.layer_counts) for m in MODELS.values()}
    assert ("mha", False, True) in kinds  # Llama-2-7B
    assert ("gqa", False, True) in kinds  # Llama-3
    assert ("gqa", True, False) in kinds  # Mixtral, Qwen3: every layer MoE
    assert ("mla", True, True) in kinds  # DeepSeek, Kimi: MoE with first-k dense layers
    assert any(m.moe and m.moe.n_shared_experts for m in MODELS.values())
    assert all(m.source.startswith("https://") for m in MODELS.values())


def test_balanced_ep_devices_is_experts_over_top_k():
    assert get_model("deepseek-v3").moe.balanced_ep_devices == 256 // 8
    assert get_model("mixtral-8x7b").moe.balanced_ep_devices == 8 // 2


def test_config_passes_through_get_model():
    model = get_model("llama-2-7b")
    assert get_model(model) is model


def test_unknown_model_lists_known_ones():
    with pytest.raises(ValueError, match=r"unknown model 'foo'; known: llama-2-7b, .*deepseek-v3"):
        get_model("foo")


def test_invalid_configs_name_the_field():
    with pytest.raises(ValueError, match=r"num_attention_heads \(32\) must be a multiple of num_key_value_heads \(5\)"):
        GQAAttention(num_attention_heads=32, num_key_value_heads=5, head_dim=128)
    with pytest.raises(ValueError, match=r"kv_lora_rank must be >= 1, got 0"):
        MLAAttention(num_attention_heads=8, q_lora_rank=None, kv_lora_rank=0, qk_nope_head_dim=8,
                     qk_rope_head_dim=8, v_head_dim=8)
    with pytest.raises(ValueError, match=r"num_experts_per_tok \(9\) must be <= n_routed_experts \(8\)"):
        MoEConfig(n_routed_experts=8, num_experts_per_tok=9, moe_intermediate_size=16)
    attention = GQAAttention(num_attention_heads=4, num_key_value_heads=4, head_dim=8)
    with pytest.raises(ValueError, match=r"has dense layers but no intermediate_size"):
        ModelConfig(name="x", source="", hidden_size=32, num_hidden_layers=2, vocab_size=10, attention=attention)
    with pytest.raises(ValueError, match=r"first_k_dense_replace \(3\) exceeds num_hidden_layers \(2\)"):
        ModelConfig(name="x", source="", hidden_size=32, num_hidden_layers=2, vocab_size=10, attention=attention,
                    intermediate_size=64,
                    moe=MoEConfig(n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                                  first_k_dense_replace=3))


def test_paper_evaluation_models():
    gpt3 = get_model("gpt-3-175b")
    assert (gpt3.num_hidden_layers, gpt3.hidden_size, gpt3.attention.kind) == (96, 12288, "mha")
    assert not gpt3.gated_ffn and gpt3.tie_word_embeddings
    maverick = get_model("llama-4-maverick")
    assert maverick.attention.group_size == 40 // 8
    assert maverick.layer_counts == {"dense": 24, "moe": 24}  # MoE every second layer
    assert (maverick.moe.n_routed_experts, maverick.moe.num_experts_per_tok, maverick.moe.n_shared_experts) == (128, 1, 1)
    r1, v3 = get_model("deepseek-r1"), get_model("deepseek-v3")
    assert (r1.attention, r1.moe, r1.layer_counts) == (v3.attention, v3.moe, v3.layer_counts)
    assert "DeepSeek-R1" in r1.source
