"""The study's element width and the verdict's proxies: checked without a simulator."""

import dataclasses

import pytest

from rooftile.sim.study.spec import StudyError, balanced_tile, default_spec
from rooftile.sim.study.verdict import proxies


def test_default_study_is_bf16_on_a_16_bit_tile_and_fp8_is_an_option():
    spec = default_spec()
    assert spec.dtype == "bf16"
    assert (spec.config.data_width, spec.config.acc_width) == (16, 48)
    # H100's bf16 ridge, 989.4 / 3.35 = 295.3 FLOP/byte, on 128 FLOP per cycle.
    assert float(spec.config.dram_bytes_per_cycle) == pytest.approx(128 / 295.3, rel=1e-3)
    fp8 = default_spec(dtype="fp8")
    assert (fp8.config.data_width, fp8.config.acc_width) == (8, 32)
    assert float(fp8.config.dram_bytes_per_cycle) == pytest.approx(128 / 590.7, rel=1e-3)


def test_width_and_format_must_agree():
    with pytest.raises(StudyError, match="dtype 'fp8' needs a 8-bit tile, got data_width=16"):
        dataclasses.replace(default_spec(), dtype="fp8")
    with pytest.raises(StudyError, match="unknown machine 'h200'; the cost model knows: h100, b200"):
        default_spec(machines=("h200",))


def test_proxies_follow_the_variants_and_the_element_width():
    """Unit engines: 4x the tile's bandwidth, lanes = ops/byte x bandwidth / 2 (8 and 1
    ops/byte at bf16, twice that at fp8 on half the bytes per cycle)."""
    for dtype in ("bf16", "fp8"):
        spec = default_spec(dtype=dtype)
        got = proxies(spec)
        bandwidth = spec.config.dram_bytes_per_cycle
        for kind, lanes in (("logic-die", 7), ("bank-level", 1), ("duplex", 7)):
            engine = got[("unit", kind)]
            assert engine.dram_bytes_per_cycle == 4 * bandwidth
            assert (engine.rows, engine.cols, engine.data_width) == \
                (lanes, 1, spec.config.data_width)
        assert got[("tile", 1.0)] == spec.config
        # A variant that buys compute has a tile with less bandwidth per MAC.
        assert any(ratio > 1.2 and config.dram_bytes_per_cycle < bandwidth
                   for (what, ratio), config in got.items() if what == "tile")
    assert balanced_tile(dtype="fp8").data_width == 8
