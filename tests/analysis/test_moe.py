import pytest

from rooftile.analysis.moe import active_experts, sample_routing, tokens_per_expert


def test_tokens_per_expert_grows_with_batch_top_k_and_ep():
    # DeepSeek-V3: batch 64, top-8 of 256 experts -> 64 * 8 / 256 = 2 tokens per expert.
    assert tokens_per_expert(64, 8, 256) == 2.0
    # Over 32 devices each expert receives the routed tokens of all 32 batches: 2 * 32.
    assert tokens_per_expert(64, 8, 256, ep_devices=32) == 64.0


def test_active_experts():
    # One token activates exactly its top-k experts: 256 * (1 - (1 - 8/256)) = 8.
    assert active_experts(1, 8, 256) == pytest.approx(8)
    # 64 tokens: each expert idle with probability (248/256)**64.
    assert active_experts(64, 8, 256) == pytest.approx(256 * (1 - (248 / 256) ** 64))
    # EP over 32 devices: 8 local experts, 64 * 32 tokens routed.
    assert active_experts(64, 8, 256, 32) == pytest.approx(8 * (1 - (248 / 256) ** 2048))


def test_routing_sample_is_seeded_and_conserves_tokens():
    sample = sample_routing(64, 8, 256, ep_devices=4, seed=7)
    assert sample == sample_routing(64, 8, 256, ep_devices=4, seed=7)
    assert sample.counts != sample_routing(64, 8, 256, ep_devices=4, seed=8).counts
    assert sample.tokens == 256
    assert sum(sample.counts) == 64 * 4 * 8
    assert sample.mean == tokens_per_expert(64, 8, 256, 4)
    assert sample.min <= sample.mean <= sample.max
    assert sample.min < sample.max  # 2048 picks over 256 experts are never exactly even


def test_routing_picks_distinct_experts_per_token():
    # With top_k == n_experts every token must visit every expert exactly once.
    assert sample_routing(3, 8, 8, seed=1).counts == (3,) * 8


def test_skew_concentrates_tokens():
    uniform = sample_routing(256, 8, 256, seed=0)
    skewed = sample_routing(256, 8, 256, seed=0, skew=2.0)
    assert skewed.max > 2 * uniform.max
    assert sum(skewed.counts) == sum(uniform.counts)


def test_routing_arguments_are_checked():
    with pytest.raises(ValueError, match=r"top_k must be <= n_experts \(8\), got 9"):
        tokens_per_expert(1, 9, 8)
    with pytest.raises(ValueError, match=r"ep_devices must be <= n_experts \(8\), got 16"):
        active_experts(1, 2, 8, 16)
    with pytest.raises(ValueError, match=r"tokens must be >= 1, got 0"):
        sample_routing(0, 2, 8)
    with pytest.raises(ValueError, match=r"skew must be >= 0, got -1"):
        sample_routing(1, 2, 8, skew=-1)


def test_large_samples_route_in_chunks_without_losing_tokens():
    # 20000 tokens x 256 experts spans two chunks of 16384 scored tokens.
    sample = sample_routing(20000, 8, 256, seed=2)
    assert sum(sample.counts) == 20000 * 8
    assert max(sample.counts) <= 20000
