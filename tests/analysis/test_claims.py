import pytest

from rooftile.analysis.claims import (
    attention_intensity, headline_claims, intensity_sweep, moe_dense_crossover, routing_imbalance,
)
from rooftile.analysis.moe import sample_routing

L = 4096


def ffn_intensity(tokens, h, i, active=1.0, e=2):
    """Hand formula of ``active`` SwiGLU FFNs sharing ``tokens``: 3 h x i weights each, and per
    token h in, i out of the up GEMM, i in and h out of the down GEMM."""
    return 2 * 3 * tokens * h * i / ((active * 3 * h * i + tokens * 2 * (h + i)) * e)


def test_mla_absorbed_attention_is_over_100x_mha():
    # Per decode step, batch 1, bf16, written out from the op definitions:
    # MHA (Llama-2-7B): score + context 2 * 2 * 32 * 128 FLOPs and 2 * 32 * 128 * 2 bytes per
    # cached token, softmax 5 * 32 FLOPs; plus the query read and output write.
    mha = (2 * 2 * 32 * 128 * L + 5 * 32 * L) / (2 * 32 * 128 * 2 * L + 2 * 32 * 128 * 2)
    # MLA absorbed (DeepSeek-V3): 128 heads score over 576 and gather over 512 latent dims,
    # one (512 + 64)-element latent read per cached token; query 128 x 576, output 128 x 512.
    mla = ((2 * 128 * 576 + 5 * 128 + 2 * 128 * 512) * L) / (576 * 2 * L + 128 * 576 * 2 + 128 * 512 * 2)
    assert attention_intensity("llama-2-7b", L) == pytest.approx(mha)
    assert attention_intensity("deepseek-v3", L) == pytest.approx(mla)
    claims = headline_claims(batch=1, context=L)
    assert claims.mla_over_mha == pytest.approx(mla / mha)
    assert claims.mla_over_mha > 100


def test_ratio_holds_at_every_element_size():
    for dtype in ("bf16", "fp8", "int8"):
        assert headline_claims(batch=8, context=L, dtype=dtype).mla_over_mha > 100


def test_moe_dense_crossover_matches_hand_search():
    # DeepSeek-V3 at batch 64: the dense FFN (hidden 7168, intermediate 18432) is the target;
    # experts are 2048 wide, top-8 of 256.
    h, target = 7168, ffn_intensity(64, 7168, 18432)

    def experts(batch, devices):
        active = 256 / devices * (1 - (1 - 8 / 256) ** (batch * devices))
        return ffn_intensity(batch * 8, h, 2048, active)

    for devices in (1, 32):
        by_hand = next(b for b in range(1, 10_000) if experts(b, devices) >= target)
        assert moe_dense_crossover("deepseek-v3", 64, ep_devices=devices) == by_hand
    # About batch x experts / top-k without EP, that divided by the EP width with it.
    assert moe_dense_crossover("deepseek-v3", 64) == pytest.approx(64 * 256 / 8, rel=0.05)
    assert moe_dense_crossover("deepseek-v3", 64, ep_devices=32) == pytest.approx(64, rel=0.05)


def test_pure_moe_model_compares_with_an_expert_shaped_dense_ffn():
    # Mixtral: no dense layers; 8 experts of 14336, top-2.
    target = ffn_intensity(16, 4096, 14336)

    def experts(batch):
        active = 8 * (1 - (1 - 2 / 8) ** batch)
        return ffn_intensity(batch * 2, 4096, 14336, active)

    by_hand = next(b for b in range(1, 10_000) if experts(b) >= target)
    assert moe_dense_crossover("mixtral-8x7b", 16) == by_hand


def test_crossover_reports_none_when_out_of_reach():
    assert moe_dense_crossover("deepseek-v3", 64, max_batch=1000) is None


def test_headline_uses_balanced_ep_by_default():
    claims = headline_claims(batch=64, context=L)
    assert claims.ep_devices == 32
    assert claims.moe_dense_crossover_batch_ep == moe_dense_crossover("deepseek-v3", 64, ep_devices=32)
    assert claims.moe_expert_flop_per_byte < claims.moe_expert_ep_flop_per_byte


def test_headline_refuses_models_without_mla_or_moe():
    with pytest.raises(ValueError, match=r"model 'llama-3-8b' does not use MLA"):
        headline_claims(mla_model="llama-3-8b")
    with pytest.raises(ValueError, match=r"model 'llama-3-8b' has no MoE layers"):
        headline_claims(moe_model="llama-3-8b")


def test_routing_imbalance_reports_hottest_and_coldest_experts():
    report = routing_imbalance("deepseek-v3", 64, ep_devices=8, seed=3)
    sample = sample_routing(64, 8, 256, 8, seed=3)
    assert (report.min_tokens, report.max_tokens) == (sample.min, sample.max)
    assert report.expected_tokens_per_expert == 64 * 8 * 8 / 256
    assert report.hottest_flop_per_byte == pytest.approx(ffn_intensity(sample.max, 7168, 2048))
    assert report.coldest_active_flop_per_byte == pytest.approx(ffn_intensity(sample.min_active, 7168, 2048))


def test_intensity_sweep_series():
    points = intensity_sweep([1, 1024], context=L)
    series = {p.series for p in points}
    assert series == {"MHA attention", "GQA attention", "MLA naive attention", "MLA absorbed attention",
                      "dense FFN", "MoE expert", "MoE expert, EP=32"}
    at = {(p.series, p.batch): p.intensity_flop_per_byte for p in points}
    assert at["MHA attention", 1] == pytest.approx(at["MHA attention", 1024], rel=1e-3)  # flat in batch
    assert at["MoE expert", 1024] > 10 * at["MoE expert", 1]
    assert at["MoE expert, EP=32", 1024] > at["MoE expert", 1024]


def test_core_attention_intensity_of_table_iii_by_hand():
    from rooftile.analysis.claims import core_attention_intensity
    L = 4096
    # GPT-3 MHA, batch 1: 96 heads of 128 read their own K and V; plus the query and output.
    flop = 96 * (2 * 2 * 128 * L + 5 * L)
    moved = 96 * 2 * 128 * L * 2 + 2 * 96 * 128 * 2
    assert core_attention_intensity("gpt-3-175b", L) == pytest.approx(flop / moved)
    # Maverick GQA: 5 query heads per K/V head, about 5 FLOP/byte.
    assert core_attention_intensity("llama-4-maverick", L) == pytest.approx(5, rel=0.01)
    # DeepSeek-R1 naive: kv_up excluded; per head over [k_nope, shared rope] and v of 128.
    flop = 128 * (2 * 192 * L + 5 * L + 2 * L * 128)
    moved = (L * 64 + 128 * 192 + L * 128 * 128 + L * 128 * 128 + 128 * 128) * 2
    assert core_attention_intensity("deepseek-r1", L, attention="naive") == pytest.approx(flop / moved)


def test_reordering_speedup_by_hand():
    from rooftile.analysis.claims import reordering_speedup
    L = 4096
    # On the B200 both forms are memory-bound as one kernel (naive ~1.3, flashmla ~229 FLOP/byte
    # < 281), so the speedup is the ratio of their bytes.
    naive = (L * 64 + 128 * 192 + 2 * L * 128 * 128 + 128 * 128) * 2
    flash = (L * 576 + 128 * 576 + 128 * 512) * 2
    assert reordering_speedup("deepseek-r1", "b200", L) == pytest.approx(naive / flash)
    # Charged op by op, the absorbed context's compute is added to the score's memory time.
    assert reordering_speedup("deepseek-r1", "b200", L, fused=False) < naive / flash


REQUIRED_KEYS = (
    [f"ridge.{m}.{d}" for m in ("h100", "h200", "b200") for d in ("bf16", "fp8")]
    + ["attention_intensity.gpt-3-175b.mha", "attention_intensity.llama-4-maverick.gqa"]
    + [f"attention_intensity.deepseek-r1.{f}" for f in ("naive", "unfused", "flashmla", "fused")]
    + [f"kv_bytes_per_token.{m}" for m in ("gpt-3-175b", "llama-4-maverick", "deepseek-r1")]
    + [f"b_moe.{m}.b200" for m in ("deepseek-r1", "qwen3-235b-a22b", "llama-4-maverick")]
    + [f"b_cap.{m}" for m in ("gpt-3-175b", "llama-4-maverick", "deepseek-r1")]
    + [f"a2a_us.{m}.{link}" for m in ("deepseek-r1", "llama-4-maverick")
       for link in ("nvlink4", "nvlink5", "ib-ndr", "ib-xdr")]
    + ["reordering_speedup.deepseek-r1"]
)


def test_paper_claims_have_every_key_with_its_provenance():
    from rooftile.analysis.claims import paper_claims
    claims = {c.key: c for c in paper_claims()}
    assert set(REQUIRED_KEYS) <= set(claims)
    assert all(c.settings and c.formula and c.function for c in claims.values())
    assert claims["ridge.b200.bf16"].value == 281.25
    assert claims["kv_bytes_per_token.deepseek-r1"].value == 70_272
    assert claims["b_moe.deepseek-r1.b200"].value == pytest.approx(9000)
    # One dispatch of 128 tokens x top-8 x 7168 x bf16, 31/32 off-device, over 50 GB/s.
    assert claims["a2a_us.deepseek-r1.ib-ndr"].value == pytest.approx(2 + 128 * 8 * 7168 * 2 * 31 / 32 / 50e9 * 1e6)
    assert claims["mla_over_mha.deepseek-r1"].value > 100  # the headline claim


def test_no_tpot_claim_where_nothing_fits():
    from rooftile.analysis.claims import paper_claims
    # 32 HBM-PIM stacks of 6 GB cannot hold any of the three models' weights.
    claims = {c.key: c.value for c in paper_claims("hbm-pim")}
    assert claims["b_cap.deepseek-r1"] == 0 and claims["b_slo.deepseek-r1.nvlink5"] == 0
    assert not any(key.startswith("tpot_ms.") for key in claims)
