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
