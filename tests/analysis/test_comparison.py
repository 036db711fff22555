import dataclasses
import json
import math
from fractions import Fraction

import numpy as np
import pytest

from rooftile.analysis.comparison import OpMeasurement, explain_gap
from rooftile.hdl.counters import COUNTERS as COUNTER_KEYS

# An 8x8 tile (64 MAC/cycle) with 4 DRAM bytes/cycle: ridge at 128 / 4 = 32 FLOP/byte.
TILE = dict(peak_macs_per_cycle=64, dram_bytes_per_cycle=4.0)


def counters(**nonzero) -> dict:
    return {key: nonzero.get(key, 0) for key in COUNTER_KEYS}


def compute_gemm() -> OpMeasurement:
    """Compute-bound: 524,288 MACs = 8,192 cycles at peak; bytes need only 4,096."""
    return OpMeasurement(
        workload="llama-3-8b b=64", model="llama-3-8b", attention="gqa", batch=64, op="qkv_proj",
        group="projection", scaled_shape="M=64 K=64 N=128", full_shape="M=64 K=4096 N=6144", count=1,
        flop=2 * 64 * 64 * 128, bytes=16_384, full_flop=2 * 64 * 64 * 128 * 100.0, full_bytes=16_384 * 100.0,
        measured_cycles=12_000, model_cycles=11_000, roofline_cycles=8_192.0, bound="compute",
        # 10,240 busy steps at 80% of the PEs: 2,048 cycles lost to mapping; 3,808 lost in all.
        counters=counters(cycles=12_000, array_busy=10_240, useful_macs=524_288, exec_wait_load=600,
                          drain_stalls=300, bytes_read=12_288, bytes_written=4_096, dma_busy=5_000),
        exact=True, full_time_s={"h100": 1.5e-6, "b200": 0.8e-6}, **TILE)


def memory_gemv() -> OpMeasurement:
    """Memory-bound M=1 GEMV: 17,472 bytes = 4,368 cycles at 4 B/cycle; one array row in eight busy."""
    return OpMeasurement(
        workload="llama-3-8b b=1", model="llama-3-8b", attention="gqa", batch=1, op="o_proj",
        group="projection", scaled_shape="M=1 K=64 N=256", full_shape="M=1 K=4096 N=4096", count=1,
        flop=2 * 64 * 256, bytes=17_472, full_flop=2 * 4096 * 4096.0, full_bytes=4096 * 4096 + 2 * 4096.0,
        measured_cycles=5_000, model_cycles=5_100, roofline_cycles=4_368.0, bound="memory",
        counters=counters(cycles=5_000, array_busy=2_048, useful_macs=16_384, load_wait_exec=100,
                          bytes_read=16_448, bytes_written=1_024, dma_busy=4_900),
        exact=True, full_time_s={"h100": 5e-6}, **TILE)


def mla_attention() -> OpMeasurement:
    """Memory-bound attention whose softmax keeps the DMA idle, and whose latent is read twice."""
    return OpMeasurement(
        workload="deepseek-v3 b=64", model="deepseek-v3", attention="mla-absorbed", batch=64,
        op="attention", group="attention", scaled_shape="M=16 K=64 N=128", full_shape="M=128 K=576 N=4096",
        count=64, flop=524_288, bytes=20_000, full_flop=524_288 * 1000.0, full_bytes=10_000 * 1000.0,
        measured_cycles=9_000, model_cycles=8_100, roofline_cycles=5_000.0, bound="memory",
        counters=counters(cycles=9_000, array_busy=8_192, useful_macs=262_144, vector_busy=2_500,
                          load_wait_exec=900, bytes_read=18_000, bytes_written=2_000, dma_busy=6_000),
        exact=False, full_time_s={}, **TILE)


def measurements() -> list[OpMeasurement]:
    return [compute_gemm(), memory_gemv(), mla_attention()]


def test_derived_metrics_match_hand_calculation():
    m = compute_gemm()
    assert m.intensity == pytest.approx(1_048_576 / 16_384)  # 64 FLOP/byte
    assert m.full_intensity == pytest.approx(64)
    assert m.utilization == pytest.approx(524_288 / (12_000 * 64))
    assert m.model_utilization == pytest.approx(524_288 / (11_000 * 64))
    assert m.roofline_utilization == pytest.approx(1.0)
    assert m.mapping_efficiency == pytest.approx(0.8)
    assert m.bandwidth_bytes_per_cycle == pytest.approx(16_384 / 12_000)
    assert m.bandwidth_utilization == pytest.approx(16_384 / 12_000 / 4)
    assert m.model_error == pytest.approx(-1_000 / 12_000)
    assert m.roofline_gap == pytest.approx(12_000 / 8_192)
    assert memory_gemv().mapping_efficiency == pytest.approx(1 / 8)
    assert mla_attention().full_intensity == pytest.approx(2 * mla_attention().intensity)
    assert set(m.derived()) >= {"intensity_flop_per_byte", "bandwidth_bytes_per_cycle", "model_error"}
    assert m.derived()["intensity_flop_per_byte"] == m.intensity


def test_compute_gap_names_mapping_first_and_drops_minor_causes():
    text = explain_gap(compute_gemm())
    # Lost 12,000 - 8,192 = 3,808: mapping 2,048 (17%), unexplained 3,808 - 2,048 - 600 - 300 = 860 (7%);
    # operand waits 600 (5.0%) and drain stalls 300 (2.5%) are not above 5%.
    assert "Measured 12,000 cycles, 1.46x the roofline's 8,192 (compute-bound" in text
    assert "partial-array mapping 17% (busy steps use 80% of the PEs)" in text
    assert "array fill/drain and latency 7%" in text
    assert text.index("partial-array mapping") < text.index("array fill/drain")
    assert "waiting for operands" not in text and "drain stalls" not in text
    assert "intensity" not in text  # scaled and full-size intensities agree


def test_memory_gap_and_exact_mapping_fraction():
    text = explain_gap(memory_gemv())
    # DRAM idle 5,000 - 4,368 = 632: buffer waits 100 (2%), the rest 532 (11%).
    assert ("(memory-bound, DRAM at full bandwidth); DRAM idle: DMA latency and phases the "
            "schedule does not overlap (first loads, last compute, last stores) 11%") in text
    assert "free buffer" not in text
    compute_bound_gemv = dataclasses.replace(memory_gemv(), bound="compute", roofline_cycles=256.0)
    assert "(busy steps use 1 in 8 PEs)" in explain_gap(compute_bound_gemv)


def test_attention_gap_puts_softmax_first_and_flags_the_intensity():
    text = explain_gap(mla_attention())
    # DRAM idle 9,000 - 5,000 = 4,000: softmax 2,500 (28%), buffer waits 900 (10%), rest 600 (7%).
    assert ("softmax on the vector unit while the DMA waits 28%, loads waiting for a free buffer "
            "10%, DMA latency and phases the schedule does not overlap (first loads, last compute, "
            "last stores) 7% of the measured cycles") in text
    assert "intensity, 26.2 FLOP/byte, is 0.50x the full-size op's 52.4" in text
    assert "2.00x the bytes per FLOP" in text


def test_gap_within_five_percent_says_so():
    close = dataclasses.replace(compute_gemm(), measured_cycles=8_500)
    assert explain_gap(close) == "Measured 8,500 cycles, within 5% of the roofline's 8,192 (compute-bound)."


def test_json_round_trip_is_plain_and_equal():
    for m in measurements():
        text = json.dumps(m.to_json(), allow_nan=False)
        assert OpMeasurement.from_json(json.loads(text)) == m
    # A TileConfig Fraction and numpy counters are stored as plain numbers.
    m = dataclasses.replace(compute_gemm(), dram_bytes_per_cycle=Fraction(3, 2),
                            counters={k: np.int64(v) for k, v in compute_gemm().counters.to_json().items()})
    assert m.dram_bytes_per_cycle == 1.5 and isinstance(m.dram_bytes_per_cycle, float)
    assert {type(v) for v in m.counters.to_json().values()} == {int}


def test_bad_records_raise_naming_the_field():
    with pytest.raises(ValueError, match=r"attention must be one of mha, gqa, mla-absorbed, mla-naive; got 'mla'"):
        dataclasses.replace(compute_gemm(), attention="mla")
    with pytest.raises(ValueError, match=r"missing \['vector_busy'\]"):
        dataclasses.replace(compute_gemm(), counters={k: 0 for k in COUNTER_KEYS if k != "vector_busy"})
    with pytest.raises(ValueError, match=r"measured_cycles must be >= 1, got 0"):
        dataclasses.replace(compute_gemm(), measured_cycles=0)
    never_busy = dataclasses.replace(memory_gemv(), counters=counters(cycles=5_000))
    assert math.isnan(never_busy.mapping_efficiency)
