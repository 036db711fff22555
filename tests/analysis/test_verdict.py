"""The verdict's text and variants: computed from rows, sized by the area model."""

import math

from rooftile.analysis.area import tile_area
from rooftile.analysis.extrapolation import Derates
from rooftile.analysis.hardware import get_hardware
from rooftile.sim.study.spec import balanced_tile
from rooftile.analysis.verdict import (FullOp, LayerOps, ScaledRun, thesis_paragraph, variants,
                                       verdict)


def row(attention, batch, unit, bigger, bandwidth):
    best = max(bigger, bandwidth, 1.0)
    return {"attention": attention, "batch": batch, "machine": "h100", "unit": "logic-die",
            "unit_speedup": unit, "bigger_array_speedup": bigger,
            "more_bandwidth_speedup": bandwidth,
            "verdict": "unit pays off" if unit > best else "spend the area on the tile",
            "verdict_bandwidth_fixed": ("unit pays off" if unit > max(1.0, bigger)
                                        else "bigger array")}


def test_paragraph_says_where_the_thesis_holds_and_where_not():
    rows = [row("mha", 64, 4.0, 1.0, 3.0), row("mla-absorbed", 64, 0.2, 1.0, 2.0)]
    text = thesis_paragraph(rows, "h100")
    assert "MHA: the unit pays off for logic-die at batch 64 (4.00x against 3.00x)" in text
    assert "MLA-ABSORBED: the unit never pays off (layer speedup 0.20x to 0.20x" in text
    assert text.count("This agrees with the thesis") == 2
    rows[0] = row("mha", 64, 2.0, 1.0, 3.0)    # bandwidth buys more than the unit
    text = thesis_paragraph(rows, "h100")
    assert "This departs from the thesis of arXiv 2507.15465: MHA does not gain" in text
    assert "This agrees with the thesis" in text   # ... unless bandwidth is fixed


def test_variants_spend_the_units_area():
    config = balanced_tile()
    base = tile_area(config).total
    by_name = {v.name: v for v in variants(config)}
    assert by_name["baseline"].area_mm2 == base
    for kind in ("logic-die", "bank-level"):
        unit = by_name[f"unit {kind}"]
        assert unit.unit is not None and unit.unit.cols == 1
        for alternative in ("bigger array", "more bandwidth"):
            v = by_name[f"{alternative} (= {kind})"]
            assert v.area_mm2 <= unit.area_mm2 + 1e-12
            assert v.area_mm2 + v.unspent_mm2 >= unit.area_mm2 - 1e-9
    assert by_name["more bandwidth (= bank-level)"].bandwidth_scale > \
        by_name["more bandwidth (= logic-die)"].bandwidth_scale > 1


def test_layer_times_overlap_the_unit_with_half_batches_by_hand():
    """One layer: attention and one projection. The tile derates are 1 (ideal), so each
    time is max(flop / peak, bytes / bandwidth) on the scaled machine, by hand."""
    config = balanced_tile()
    all_variants = variants(config)
    names = [v.name for v in all_variants]
    ideal = Derates(mapping=1.0, dram=1.0)
    half_mapping = Derates(mapping=0.5, dram=1.0)
    att = FullOp("attention", "A", True, flop=2e9, bytes=4e9)
    proj = FullOp("proj", "P", False, flop=8e12, bytes=1e9)
    half = FullOp("proj", "P", False, flop=4e12, bytes=1e9)
    layer = LayerOps("m b=2", "mha", 2, (att, proj), (half,))
    runs = {name: {"A": ScaledRun(ideal, 0.1, 0.9), "P": ScaledRun(half_mapping, 0.5, 0.2)}
            for name in names}
    rows, breakdown = verdict(all_variants, [layer], runs, ["h100"], "fp8")
    hw = get_hardware("h100")
    peak, bandwidth = hw.peak_flop_per_s("fp8"), hw.bandwidth_bytes_per_s
    # Baseline: attention memory-bound, projection compute-bound at half mapping.
    a = 4e9 / bandwidth
    rest = 8e12 / (peak * 0.5)
    base = {b["variant"]: b for b in breakdown}["baseline"]
    assert math.isclose(base["layer_us"], (a + rest) * 1e6)
    # Logic-die unit: 4x bandwidth at 8 ops/byte; the two half batches overlap it.
    unit_bw = 4 * bandwidth
    a_unit = max(2e9 / (unit_bw * 8), 4e9 / unit_bw)
    half_rest = 2 * max(4e12 / (peak * 0.5), 1e9 / bandwidth)
    unit = {b["variant"]: b for b in breakdown}["unit logic-die"]
    assert math.isclose(unit["attention_us"], a_unit * 1e6)
    assert math.isclose(unit["layer_us"], min(a_unit + rest, max(a_unit, half_rest)) * 1e6)
    (row,) = [r for r in rows if r["unit"] == "logic-die"]
    assert row["unit_speedup"] == round((a + rest) / min(a_unit + rest,
                                                         max(a_unit, half_rest)), 3)
    assert (row["unit_array_util"], row["tile_attention_dram_util"]) == (0.1, 0.9)
    # A batch of one cannot be split: no overlap.
    single = LayerOps("m b=1", "mha", 1, (att, proj))
    _, breakdown = verdict(all_variants, [single], runs, ["h100"], "fp8")
    unit = {b["variant"]: b for b in breakdown}["unit logic-die"]
    assert math.isclose(unit["layer_us"], (a_unit + rest) * 1e6)


def test_derates_of_a_scaled_op_by_hand():
    config = balanced_tile()                      # 64 MACs/cycle, 128/590.7 B/cycle
    bw = float(config.dram_bytes_per_cycle)
    # Memory-bound: 1000 bytes for 2000 FLOP; 8000 cycles, 250 busy array cycles.
    d = Derates.of(config, 2000, 8000, 250, 1000)
    assert math.isclose(d.mapping, 1000 / (250 * 64))
    assert math.isclose(d.dram, 1000 / bw / 8000)
    # Compute-bound: the DRAM side is not derated.
    assert Derates.of(config, 2_000_000, 20_000, 16_000, 100).dram == 1.0
