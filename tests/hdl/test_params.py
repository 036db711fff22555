from fractions import Fraction

import pytest

from rooftile.hdl.params import AttentionUnit, TileConfig


def test_defaults_are_valid_and_hash_is_stable():
    assert TileConfig().digest == TileConfig().digest
    assert TileConfig(rows=4).digest != TileConfig().digest
    assert TileConfig(dataflow="weight_stationary").digest != TileConfig().digest


def test_one_build_serves_every_dram_rate_latency_clock_and_unit():
    base = TileConfig()
    for changed in (base.replace(dram_bytes_per_cycle=Fraction(7, 3)),
                    base.replace(dram_latency=200), base.replace(clock_Hz=2e9),
                    base.replace(dram_bytes_per_cycle=Fraction(1, 2),
                                 attention_unit=AttentionUnit("logic-die"))):
        assert changed.digest == base.digest
    with pytest.raises(ValueError, match="dram_latency must be <= 256 cycles, got 257"):
        base.replace(dram_latency=257)


def test_json_round_trip_keeps_rational_bandwidth():
    config = TileConfig(dram_bytes_per_cycle=Fraction(7, 4))
    assert TileConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize("field, value, message", [
    ("rows", 0, "rows must be >= 1, got 0"),
    ("cols", -3, "cols must be >= 1, got -3"),
    ("data_width", 12, "data_width must be one of (8, 16), got 12"),
    ("dataflow", "row", "dataflow must be one of ('output_stationary', 'weight_stationary'), "
                        "got 'row'"),
    ("sp_depth", 1, "sp_depth must be >= 2, got 1"),
    ("dram_bytes_per_cycle", 0, "dram_bytes_per_cycle must be > 0"),
])
def test_bad_values_name_field_value_and_allowed(field, value, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TileConfig(**{field: value})


def test_non_integer_size_is_a_type_error():
    with pytest.raises(TypeError, match="rows must be an integer, got 2.5"):
        TileConfig(rows=2.5)


def test_accumulator_must_hold_the_claimed_reduction():
    # (-128)**2 = 2**14 per product; 2**31 - 1 holds 131071 of them, not 131072.
    TileConfig(max_reduction=131071, acc_width=32)
    with pytest.raises(ValueError, match=r"acc_width=32 cannot hold max_reduction=131072 .*"
                                         r"acc_width >= 33 or max_reduction <= 131071"):
        TileConfig(max_reduction=131072, acc_width=32)
    # 16-bit operands: 2**30 per product, so 32 bits hold only one.
    with pytest.raises(ValueError, match="acc_width=32 cannot hold max_reduction=2 "):
        TileConfig(data_width=16, max_reduction=2)


def test_attention_unit_engine_follows_the_presets():
    from fractions import Fraction

    from rooftile.hdl.params import AttentionUnit
    base = TileConfig(dram_bytes_per_cycle=Fraction(1, 2))
    logic = base.replace(attention_unit=AttentionUnit("logic-die")).attention_unit_tile()
    # 4x the bandwidth, 8 ops per byte of it: 2 B/cycle, 16 ops = 8 MACs per cycle.
    assert (logic.dram_bytes_per_cycle, logic.rows, logic.cols) == (2, 8, 1)
    slow = base.replace(dram_bytes_per_cycle=Fraction(1, 4))
    bank = slow.replace(attention_unit=AttentionUnit("bank-level")).attention_unit_tile()
    assert (bank.dram_bytes_per_cycle, bank.rows) == (4, 2)   # 16x, 1 op per byte
    config = slow.replace(attention_unit=AttentionUnit("bank-level"))
    assert TileConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="no attention unit"):
        base.attention_unit_tile()
    with pytest.raises(ValueError, match="kind must be one of"):
        AttentionUnit("hbm")
    # 16x of 4 B/cycle is more than the 1-lane engine's word carries per cycle.
    with pytest.raises(ValueError, match=r"attention unit bank-level \(16x bandwidth"):
        TileConfig(attention_unit=AttentionUnit("bank-level"))
