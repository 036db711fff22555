"""The machine cost model, checked against hand computations."""

import dataclasses
import math

import pytest

from rooftile.analysis.cost import (ALTERNATIVES, DEFAULT_CONSTANTS, UNITS, CostConstants,
                                    get_machine, good_die_usd, unit_for, variants)
from rooftile.hdl.errors import InputError


def test_good_die_by_hand():
    # 814 mm² on a 300 mm wafer, 5 mm edge: pi 145² / 814 - pi 290 / sqrt(1628) = 58.57
    # dies; yield (1 + 0.11 * 8.14 / 10)^-10 = 0.4242; $16,988 / (58.57 * 0.4242) = $683.8,
    # inside the fact sheet's $695-1,333 range for its (slightly different) die count.
    assert good_die_usd(814) == pytest.approx(683.8, abs=0.1)
    # A smaller die yields better: cheaper per mm².
    assert good_die_usd(100) / 100 < good_die_usd(814) / 814


def test_logic_die_unit_price_by_hand():
    h100 = get_machine("h100")
    unit, usd, area = unit_for(h100, "logic-die", "bf16")
    bandwidth = 4 * 670e9 * 5                     # 4x the pins of 5 stacks
    assert unit.bandwidth_Bps == bandwidth
    assert unit.peak_flop_per_s == 8 * bandwidth  # 8 ops/byte at bf16
    macs = 8 * bandwidth / 2 / 1e9                # at the 1 GHz unit clock
    expect = macs * 183e-6 + bandwidth / 1e9 * DEFAULT_CONSTANTS.tsv_path_mm2_per_GBps
    assert area == pytest.approx(expect)
    assert usd == pytest.approx(area * 683.8 / 814, rel=1e-4)
    # At fp8 the same area runs twice the ops per byte on half-size MACs.
    fp8, _, fp8_area = unit_for(h100, "logic-die", "fp8")
    assert fp8.peak_flop_per_s == 2 * unit.peak_flop_per_s
    assert fp8_area == pytest.approx(area)


def test_bank_level_unit_is_priced_by_the_capacity_it_displaces(monkeypatch):
    # Samsung's density (4x at 1 op/byte = 4 FLOP per pin byte) displaces 25%; buying it
    # back costs 0.25 / 0.75 of the HBM line.
    unit, usd, area = unit_for("h100", "bank-level")
    assert usd == pytest.approx(1400 / 3) and area == 0.0
    assert unit.pJ_per_bit == 0.55
    # An AttAcc-class bank unit (16x at 1 op/byte) would displace all of it: refused.
    attacc = dataclasses.replace(UNITS["bank-level"], bandwidth_multiple=16.0)
    monkeypatch.setitem(UNITS, "bank-level", attacc)
    with pytest.raises(InputError, match="displaces 100%"):
        unit_for("h100", "bank-level")


def test_alternatives_spend_the_units_price_up_to_the_bounds():
    h100 = get_machine("h100")
    by_name = {v.name: v for v in variants("h100")}
    base = by_name["baseline"]
    assert base.cost_usd == pytest.approx(683.8 + 1400 + 750, abs=0.1)
    for kind in ("logic-die", "bank-level", "duplex"):
        unit = by_name[kind]
        price = unit.usd["unit"]
        for role in ALTERNATIVES:
            alt = by_name[f"{role} (= {kind})"]
            # Equal cost, or less when a package bound stopped the spending.
            assert alt.cost_usd == pytest.approx(unit.cost_usd) if not alt.bound \
                else alt.cost_usd < unit.cost_usd
        compute = by_name[f"more_compute (= {kind})"]
        extra_mm2 = price / h100.die_usd_per_mm2()
        assert compute.hw.peak_bf16_flop_per_s == pytest.approx(989.4e12 * (1 + extra_mm2 / 814))
        bandwidth = by_name[f"more_bandwidth (= {kind})"]
        assert bandwidth.hw.bandwidth_bytes_per_s == pytest.approx(
            min(3.35e12 + price / (1400 / 3.35e12), 4.8e12))
        capacity = by_name[f"more_capacity (= {kind})"]
        assert capacity.hw.memory_bytes == pytest.approx(min(80e9 + price / (1400 / 80e9), 141e9))
    # Links are cheap: every budget reaches the next NVLink generation, the bound.
    link = by_name["faster_interconnect (= logic-die)"]
    assert link.link.bandwidth_bytes_per_s == 2 * 450e9 and link.bound == "next link generation"
    assert link.usd["links"] == pytest.approx(18 * 0.965 * 2 * h100.die_usd_per_mm2())


def test_bandwidth_is_bounded_by_the_package():
    rich = dataclasses.replace(DEFAULT_CONSTANTS, pim_capacity_tax=0.7)  # a big budget
    by_name = {v.name: v for v in variants("b200", kinds=("bank-level",), constants=rich)}
    more = by_name["more_bandwidth (= bank-level)"]
    assert more.hw.bandwidth_bytes_per_s == 9.6e12 and more.bound == "package bandwidth"


@pytest.mark.parametrize("bad, words", [
    (lambda: get_machine("a100"), ["a100", "h100", "b200"]),
    (lambda: unit_for("h100", "in-sram"), ["in-sram", "logic-die"]),
    (lambda: unit_for("h100", "logic-die", "int4"), ["int4", "bf16"]),
    (lambda: CostConstants(mac_pJ=-1), ["mac_pJ", "-1"]),
    (lambda: CostConstants(pim_capacity_tax=1.5), ["pim_capacity_tax", "1.5"]),
])
def test_bad_input_names_the_value(bad, words):
    with pytest.raises(InputError) as error:
        bad()
    assert all(w in str(error.value) for w in words), str(error.value)


def test_unit_kinds_match_their_alternatives():
    names = [v.name for v in variants("b200")]
    assert len(names) == len(set(names)) == 1 + 3 * (1 + len(ALTERNATIVES))
    assert math.isclose(get_machine("b200").usd()["compute_die"], 2 * good_die_usd(800))


def test_a_unit_that_outgrows_the_base_die_is_flagged():
    # x4 the TSV path estimate: the B200's 32 TB/s of in-stack bandwidth needs 2,305 mm²
    # of TSVs and controllers plus 23 mm² of MACs over 8 stacks, 291 mm² per stack.
    big = dataclasses.replace(DEFAULT_CONSTANTS,
                              tsv_path_mm2_per_GBps=4 * DEFAULT_CONSTANTS.tsv_path_mm2_per_GBps)
    by_name = {v.name: v for v in variants("b200", kinds=("logic-die",), constants=big)}
    assert by_name["logic-die"].bound.startswith("291 mm² per stack exceeds the 121 mm²")
    assert {v.name: v for v in variants("b200")}["logic-die"].bound == ""
