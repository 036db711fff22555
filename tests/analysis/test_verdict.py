"""The verdict's text and variants: computed from rows, sized by the area model."""

from rooftile.analysis.area import tile_area
from rooftile.sim.study.spec import balanced_tile
from rooftile.analysis.verdict import thesis_paragraph, variants


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
