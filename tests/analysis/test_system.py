"""TPOT and B_SLO pinned to hand calculations."""

import pytest

from rooftile.analysis.capacity import capacity
from rooftile.analysis.mapping import Mapping
from rooftile.analysis.system import b_slo, balance_sweep, tpot, tpot_sweep
from rooftile.hdl.errors import InputError

PEAK, BW = 2.25e15, 8e12  # B200 bf16
NVLINK5 = 900e9


def test_gpt3_decode_step_by_hand():
    # GPT-3 on 32 B200, TP8 x DP4, system batch 4 (one sequence per TP group), 2048 tokens.
    d, V, L, layers = 12288, 50257, 2048, 96
    step = tpot("gpt-3-175b", "b200", "nvlink5", batch=4, context=L)
    layer_flop = 2 * 12 * d * d + 2 * 2 * 96 * 128 * L + 5 * 96 * L  # weights + score/softmax/context
    assert step.compute_s == pytest.approx((layers * layer_flop + 2 * V * d) / 8 / PEAK)
    assert step.weights_s == pytest.approx((layers * 12 * d * d + V * d) * 2 / 8 / BW)
    assert step.kv_s == pytest.approx(layers * L * 2 * 96 * 128 * 2 / 8 / BW)
    # Two ring all-reduces of one 12288-wide bf16 vector per layer over 8 ranks: 14 steps each.
    assert step.comm_s == pytest.approx(layers * 2 * 14 * (0.5e-6 + d * 2 / 8 / NVLINK5))
    # Batch 1 per group: every layer is memory-bound, so TPOT is bytes over bandwidth plus comm.
    assert step.tpot_s == pytest.approx(step.weights_s + step.kv_s + step.activations_s + step.comm_s)


def test_imbalance_stretches_the_all_to_all_of_every_moe_layer():
    # DeepSeek-R1, 128 tokens per device on InfiniBand NDR: the busiest device receives
    # gamma x the mean, in dispatch and in combine, in each of the 58 MoE layers.
    args = ("deepseek-r1", "b200", "ib-ndr", 32 * 128, 4096)
    even, skewed = tpot(*args), tpot(*args, gamma=2.0)
    per_a2a = 128 * 8 * 7168 * 2 * 31 / 32 / 50e9
    assert skewed.comm_s - even.comm_s == pytest.approx(58 * 2 * per_a2a)
    # ... and doubles the routed-expert FLOPs (top-8 of 7168 x 2048 SwiGLU experts).
    expert_flop = 128 * 8 * 2 * 3 * 7168 * 2048
    assert (skewed.compute_s - even.compute_s) * PEAK == pytest.approx(58 * expert_flop)


def test_tpot_refuses_a_batch_beyond_capacity():
    limit = capacity("deepseek-r1", "b200", 32, 4096).b_cap
    tpot("deepseek-r1", "b200", "nvlink5", limit, 4096)
    with pytest.raises(InputError, match=rf"batch {limit + 1} does not fit .*B_cap = {limit}"):
        tpot("deepseek-r1", "b200", "nvlink5", limit + 1, 4096)


def test_b_slo_is_the_largest_batch_meeting_the_target():
    args = ("deepseek-r1", "b200", "ib-ndr")
    found = b_slo(*args, tpot_target_s=0.02, context=4096)
    assert tpot(*args, found, 4096).tpot_s <= 0.02 < tpot(*args, found + 1, 4096).tpot_s
    assert b_slo(*args, tpot_target_s=1e-6, context=4096) is None
    limit = capacity("deepseek-r1", "b200", 32, 4096).b_cap
    assert b_slo(*args, tpot_target_s=10.0, context=4096) == limit  # capacity binds first


@pytest.mark.parametrize("kwargs, message", [
    (dict(link="pcie"), "unknown interconnect 'pcie'"),
    (dict(gamma=0.5), "gamma must be >= 1, got 0.5"),
    (dict(mapping=Mapping(8, 8, 32)), "TP x DP = 64 devices, but the device count is 32"),
    (dict(attention="flash"), "attention must be one of absorbed, naive"),
])
def test_bad_input(kwargs, message):
    args = dict(model="deepseek-r1", hw="b200", link="nvlink5", batch=1, context=1024) | kwargs
    with pytest.raises(InputError, match=message):
        tpot(**args)


def test_sweeps_leave_out_batches_beyond_capacity():
    points = balance_sweep(["gpt-3-175b", "deepseek-r1"], "b200", [1024, 4096])
    assert [(p.model, p.context) for p in points] == [
        ("gpt-3-175b", 1024), ("gpt-3-175b", 4096), ("deepseek-r1", 1024), ("deepseek-r1", 4096)]
    assert points[0].b_moe is None and points[2].b_moe == pytest.approx(9000)
    assert points[1].b_cap == capacity("gpt-3-175b", "b200", 32, 4096).b_cap
    tpots = tpot_sweep("gpt-3-175b", "b200", ["nvlink5"], [1, 64, 4096], 4096)
    assert [p.batch for p in tpots] == [1, 64]  # B_cap is 224
