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


def test_zipf_probabilities_by_hand():
    from rooftile.analysis.moe import zipf_probabilities
    # Ranks 1..4 with s = 1: 1, 1/2, 1/3, 1/4 over their sum 25/12.
    assert list(zipf_probabilities(4, 1.0)) == pytest.approx([12 / 25, 6 / 25, 4 / 25, 3 / 25])
    assert list(zipf_probabilities(4, 0.0)) == pytest.approx([0.25] * 4)
    with pytest.raises(ValueError, match="zipf s must be >= 0, got -1"):
        zipf_probabilities(4, -1)


def test_expert_placement_fills_devices_equally():
    from rooftile.analysis.moe import expert_placement
    device = expert_placement(256, 32, seed=3)
    assert sorted(device.tolist()) == sorted(list(range(32)) * 8)
    with pytest.raises(ValueError, match="ep_devices must divide the 256 experts, got 3"):
        expert_placement(256, 3)


def test_zipf_imbalance_of_top1_is_the_hottest_share():
    from rooftile.analysis.moe import zipf_imbalance
    # Top-1, one expert per device: the hottest device gets p = 12/25 of the tokens, so
    # Gamma = 4 x 12/25 = 1.92 and its share 0.48 (a large sample lands within 1%).
    report = zipf_imbalance(200_000, 1, 4, 4, zipf_s=1.0, seed=1)
    assert report.gamma == pytest.approx(1.92, rel=0.01)
    assert report.busiest_share == pytest.approx(0.48, rel=0.01)
    assert sum(report.device_pairs) == 200_000
    uniform = zipf_imbalance(200_000, 2, 8, 4, zipf_s=0.0, seed=1)
    assert uniform.gamma == pytest.approx(1.0, abs=0.02)
    assert sum(uniform.device_pairs) == 2 * 200_000
    assert zipf_imbalance(4096, 8, 256, 32, 1.0, seed=5) == zipf_imbalance(4096, 8, 256, 32, 1.0, seed=5)
