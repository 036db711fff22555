from dataclasses import dataclass
from fractions import Fraction

import pytest

from rooftile.analysis.hardware import HARDWARE, get_hardware, tile_hardware


@dataclass(frozen=True)
class TileRates:
    """The TileConfig attributes tile_hardware reads, standing in for the HDL config."""

    peak_macs_per_cycle: int
    dram_bytes_per_cycle: object
    clock_Hz: float = 1e9


def test_h100_ridge_point():
    h100 = get_hardware("h100")
    assert h100.ridge_flop_per_byte("bf16") == pytest.approx(989.4e12 / 3.35e12)  # about 295
    assert h100.ridge_flop_per_byte("fp8") == pytest.approx(1978.9e12 / 3.35e12)


def test_presets_are_sourced_and_ordered_by_generation():
    assert all(hw.source for hw in HARDWARE.values())
    assert get_hardware("h200").peak_flop_per_s("bf16") == get_hardware("h100").peak_flop_per_s("bf16")
    assert get_hardware("h200").bandwidth_bytes_per_s > get_hardware("h100").bandwidth_bytes_per_s
    assert get_hardware("b200").peak_flop_per_s("fp8") == 2 * get_hardware("b200").peak_flop_per_s("bf16")


def test_pim_ridge_is_near_one_flop_per_byte():
    # 1.2 TFLOP/s over 4 x 307.2 GB/s: the intensity of MHA decode attention.
    assert get_hardware("hbm-pim").ridge_flop_per_byte("bf16") == pytest.approx(1.2e12 / 1228.8e9)


def test_tile_hardware_from_tile_rates():
    # 16 x 16 array: 256 MACs = 512 FLOP per cycle; 2 bytes per cycle; 500 MHz.
    hw = tile_hardware(TileRates(256, Fraction(2)), clock_Hz=500e6)
    assert hw.peak_flop_per_s("bf16") == 2 * 256 * 500e6
    assert hw.peak_flop_per_s("int8") == hw.peak_flop_per_s("bf16")
    assert hw.bandwidth_bytes_per_s == 2 * 500e6
    assert hw.ridge_flop_per_byte("int8") == 256.0
    assert hw.name == "tile-256mac-2Bpc-500MHz"
    assert tile_hardware(TileRates(64, 1.5), name="small").name == "small"


def test_tile_hardware_rejects_bad_rates():
    with pytest.raises(ValueError, match=r"clock_Hz must be > 0, got 0"):
        tile_hardware(TileRates(256, 2), clock_Hz=0)
    with pytest.raises(ValueError, match=r"peak_macs_per_cycle must be >= 1, got 0"):
        tile_hardware(TileRates(0, 2))
    with pytest.raises(ValueError, match=r"dram_bytes_per_cycle must be > 0, got 0.0"):
        tile_hardware(TileRates(1, 0))


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown hardware 'tpu'; known: h100, h200, b200, hbm-pim"):
        get_hardware("tpu")
    with pytest.raises(ValueError, match=r"dtype must be one of bf16, fp8, int8; got 'fp32'"):
        get_hardware("h100").peak_flop_per_s("fp32")
