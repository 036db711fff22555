import math
from fractions import Fraction

import pytest

from rooftile.analysis import area
from rooftile.analysis.area import (AreaBreakdown, dram_interface_area_mm2, mac_area_mm2,
                                    sram_area_mm2, tile_area, vector_unit_area_mm2)
from rooftile.hdl.params import TileConfig

# Hand calculations straight from the published figures quoted in area.py, so that a wrong
# constant or a wrong formula there shows up here.
N7, N28, N40 = 96.3, 15.3, 7.7                    # MTr/mm², CSET "AI Chips"
ADD_BIT, MUL_BIT2, REG_BIT = 278 / 32, 6350 / 32 ** 2, 5.98  # µm² at 40 nm, Aladdin
TPU_MAC_UM2_N7 = 331 * 0.24 / 65536 * 1e6 * N28 / N7          # TPUv1 MXU, scaled
TPU_CELL_UM2_40 = MUL_BIT2 * 64 + ADD_BIT * 32 + REG_BIT * 56


def hand_mac_um2(w, acc):
    cell_40 = MUL_BIT2 * w * w + ADD_BIT * acc + REG_BIT * (2 * w + 2 + 2 * acc + 1)
    return TPU_MAC_UM2_N7 * cell_40 / TPU_CELL_UM2_40


DRAM_MM2_PER_GBPS = (10.45 + 552.743e6 / (N7 * 1e6)) / 409.6   # HBM2E PHY + controller
SRAM_MM2_PER_MIB = 0.027 / (0.021 * 31.8 * 2 ** 20 / 1e6) * 8 * 2 ** 20 / 1e6


def test_mac_area_matches_hand_calculation():
    assert mac_area_mm2(8, 32) * 1e6 == pytest.approx(hand_mac_um2(8, 32), rel=1e-9)
    assert mac_area_mm2(8, 32) * 1e6 == pytest.approx(223.4, abs=0.1)
    assert mac_area_mm2(16, 48) * 1e6 == pytest.approx(hand_mac_um2(16, 48), rel=1e-9)
    # A TPUv1 cell priced by the model is exactly the calibration point.
    assert area.LAYOUT_OVERHEAD == pytest.approx(TPU_MAC_UM2_N7 / (TPU_CELL_UM2_40 * N40 / N7))
    assert area.LAYOUT_OVERHEAD == pytest.approx(2.385, abs=1e-3)


def test_wider_operands_cost_quadratically_in_the_multiplier_only():
    # Doubling data_width at a fixed accumulator quadruples only the multiplier term.
    delta = mac_area_mm2(16, 32) - mac_area_mm2(8, 32)
    multiplier = area.MULTIPLIER_UM2_PER_BIT2 * (256 - 64)
    registers = area.REGISTER_UM2_PER_BIT * 2 * 8
    assert delta * 1e6 == pytest.approx(area.LAYOUT_OVERHEAD * (multiplier + registers))


def test_sram_density():
    assert sram_area_mm2(2 ** 20) == pytest.approx(SRAM_MM2_PER_MIB)
    assert sram_area_mm2(2 ** 20) == pytest.approx(0.3235, abs=1e-4)
    assert sram_area_mm2(0) == 0
    assert sram_area_mm2(3 * 1024) == pytest.approx(3 * sram_area_mm2(1024))


def test_dram_interface_per_bandwidth():
    # 4 bytes/cycle at 1 GHz = 4 GB/s of HBM2E PHY and controller.
    assert dram_interface_area_mm2(4, 1e9) == pytest.approx(4 * DRAM_MM2_PER_GBPS)
    assert dram_interface_area_mm2(Fraction(1, 2), 2e9) == pytest.approx(DRAM_MM2_PER_GBPS)
    # A whole HBM2E stack's interface: one PHY plus one controller.
    assert dram_interface_area_mm2(409.6, 1e9) == pytest.approx(10.45 + 552.743 / 96.3)


def test_tile_area_of_default_config():
    config = TileConfig()  # 8x8, int8/acc32, sp_depth 1024, acc_depth 256, 4 B/cycle
    got = tile_area(config)
    assert got.array == pytest.approx(64 * hand_mac_um2(8, 32) / 1e6)
    # A and B scratchpads: 1024 x 8 int8 each = 16 KiB; accumulator 256 x 8 x 32 bit = 8 KiB.
    assert got.sram == pytest.approx(24 / 1024 * SRAM_MM2_PER_MIB)
    assert got.dram_interface == pytest.approx(4 * DRAM_MM2_PER_GBPS)
    assert got.vector_unit == pytest.approx(vector_unit_area_mm2(8, 8, 32))
    assert got.total == pytest.approx(got.array + got.sram + got.dram_interface
                                      + got.vector_unit)
    # Bandwidth scales only the interface; the clock likewise.
    faster = tile_area(config, clock_Hz=2e9)
    assert faster.dram_interface == pytest.approx(2 * got.dram_interface)
    assert faster.array == got.array


def test_vector_unit_scales_with_lanes():
    assert vector_unit_area_mm2(16, 8, 32) == pytest.approx(2 * vector_unit_area_mm2(8, 8, 32))
    assert vector_unit_area_mm2(8, 16, 48) > vector_unit_area_mm2(8, 8, 32)


def test_breakdowns_add_by_component():
    a = AreaBreakdown(array=1, sram=2, dram_interface=3, vector_unit=4)
    b = AreaBreakdown(sram=0.5, vector_unit=6)
    total = a + b
    assert total == AreaBreakdown(array=1, sram=2.5, dram_interface=3, vector_unit=10)
    assert total.total == pytest.approx(16.5)


def test_tsv_path_per_bandwidth():
    # 2.5 TSVs per GB/s on a 40 µm pitch plus HBM2E controller logic per GB/s.
    per_gbps = 2.5 * 40 ** 2 / 1e6 + 552.743 / 96.3 / 409.6
    assert area.TSV_PATH_MM2_PER_GBPS == pytest.approx(per_gbps)
    # The internal path is cheaper per GB/s than an off-chip PHY: the point of PIM.
    assert area.TSV_PATH_MM2_PER_GBPS < area.DRAM_INTERFACE_MM2_PER_GBPS


@pytest.mark.parametrize("call, error, words", [
    (lambda: mac_area_mm2(8, 12), ValueError, ["acc_width", "16", "12"]),
    (lambda: mac_area_mm2(0, 32), ValueError, ["data_width", "0"]),
    (lambda: mac_area_mm2(8.0, 32), TypeError, ["data_width", "8.0"]),
    (lambda: mac_area_mm2(True, 32), TypeError, ["data_width", "True"]),
    (lambda: sram_area_mm2(-1), ValueError, ["bytes_", "-1"]),
    (lambda: sram_area_mm2("1k"), TypeError, ["bytes_", "'1k'"]),
    (lambda: dram_interface_area_mm2(0), ValueError, ["bytes_per_cycle", "0"]),
    (lambda: dram_interface_area_mm2(1, math.inf), ValueError, ["clock_Hz", "inf"]),
])
def test_bad_inputs_are_named(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_constants_are_at_one_node():
    assert area.PROCESS_NODE.startswith("TSMC N7")
    assert area.ADDER_UM2_PER_BIT == pytest.approx(ADD_BIT * N40 / N7)
    assert area.SRAM_UM2_PER_BIT == pytest.approx(0.027 / 0.7002, rel=1e-3)
    assert area.DRAM_INTERFACE_MM2_PER_GBPS == pytest.approx(DRAM_MM2_PER_GBPS)
