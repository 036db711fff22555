"""Scaled attention GEMMs of real models on the tile: the MHA / GQA / MLA gap on RTL.

MHA and GQA scores run at their bandwidth roofline. MLA's scaled op falls well short of
the full op's intensity, because the tile writes the unfused int32 scores to DRAM and
reloads the latent for each panel row; fusing softmax and P @ V on chip closes that gap.
"""

from fractions import Fraction

import pytest

from rooftile.analysis.ops import decode_layer_ops
from rooftile.hdl.params import TileConfig
from rooftile.sim.schedules import measure_scaled, scale_op

# An 8x8 int8 tile whose ridge point matches an H100's bf16 ridge of about
# 295 FLOP/byte (989.4 TFLOP/s / 3.35 TB/s, NVIDIA H100 SXM5 datasheet):
# 2 * 64 ops/cycle / 295 = 0.434 bytes/cycle.
CONFIG = TileConfig(rows=8, cols=8, dram_bytes_per_cycle=Fraction(128, 295),
                    dram_latency=32, program_depth=4096)


def score_op(model):
    ops = decode_layer_ops(model, batch=4, context=4096, dtype="int8", attention="absorbed")
    (op,) = [op for op in ops if op.name == "attn_score"]
    return op


def test_scaling_keeps_the_rows_that_set_intensity():
    mha, gqa, mla = (scale_op(score_op(m)) for m in ("llama-2-7b", "llama-3-8b",
                                                      "deepseek-v3"))
    # Query rows sharing one key matrix: 1 (MHA), 32/8 = 4 (Llama-3-8B GQA), and all
    # 128 heads of DeepSeek-V3 on its shared latent (model cards' config.json).
    assert (mha.m, gqa.m, mla.m) == (1, 4, 128)
    assert (mla.k, mla.n) == (64, 256)
    with pytest.raises(ValueError, match="more than max_m=64"):
        scale_op(score_op("deepseek-v3"), max_m=64)


def test_attention_scores_on_rtl_against_the_roofline():
    labels = {"llama-2-7b": "MHA", "llama-3-8b": "GQA", "deepseek-v3": "MLA"}
    scaled = [scale_op(score_op(model), label) for model, label in labels.items()]
    results = {r.label: r for r in measure_scaled(CONFIG, scaled)}
    for r in results.values():
        assert r.exact, r.label
        assert abs(r.model_cycles - r.measured_cycles) <= 0.05 * r.measured_cycles, r.label
        # Nothing beats the roofline of the same GEMM on the same tile.
        assert r.measured_cycles >= r.roofline_cycles, r.label
    for label in ("MHA", "GQA"):
        r = results[label]
        # Scaling kept what sets intensity (int8: 2 FLOP/byte per query row sharing K) ...
        assert r.intensity_flop_per_byte == pytest.approx(r.full_intensity_flop_per_byte,
                                                          rel=0.25)
        # ... and a memory-bound GEMV-like op runs at its bandwidth roofline.
        assert r.bound == "memory"
        assert r.roofline_cycles >= 0.9 * r.measured_cycles
    # All heads on one latent use the array far better than one head per key matrix,
    # even though the unfused scores leave the tile as int32 (which caps the scaled
    # MLA op's intensity well below the full-size op's; see rooftile.sim.schedules).
    assert results["MHA"].utilization < results["GQA"].utilization
    assert results["MLA"].utilization > 5 * results["MHA"].utilization
    assert results["MLA"].intensity_flop_per_byte < results["MLA"].full_intensity_flop_per_byte
