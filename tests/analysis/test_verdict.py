"""The verdict on measurement records: decision rule, symmetric overlap, capacity clipping
and the claims paragraph, by hand and without a simulator."""

import dataclasses
import json
import math
from types import SimpleNamespace

import pytest

from rooftile.analysis.cost import DEFAULT_CONSTANTS, variants
from rooftile.analysis.extrapolation import Derates
from rooftile.analysis.sensitivity import sensitivity
from rooftile.analysis.verdict import (MARGIN, FullOp, LayerOps, ScaledRun, claims, decide,
                                       record_rows, write_verdict,
                                       deployment, layer_time, tile_ratio, verdict)
from rooftile.hdl.errors import InputError
from rooftile.sim.study.spec import balanced_tile


def test_margin_follows_from_the_model_error():
    assert MARGIN == pytest.approx(1.05 / 0.95)


@pytest.mark.parametrize("values, expect", [
    ({"baseline": 1.0, "unit": 1.2, "more_compute": 1.0}, "unit"),
    # 1.10x over the baseline is inside the 1.105 margin: nothing pays off.
    ({"baseline": 1.0, "unit": 1.10, "more_compute": 0.9}, "neither"),
    # Two winners closer than the margin: a tie, named.
    ({"baseline": 1.0, "unit": 1.5, "more_compute": 1.4},
     "unit or more_compute (within the margin)"),
    ({"baseline": None, "unit": None, "more_capacity": 0.5},
     "more_capacity (the baseline does not fit)"),
    ({"baseline": None, "unit": None}, "infeasible"),
    # An infeasible unit never wins, however the others do.
    ({"baseline": 1.0, "unit": None, "more_compute": 1.3}, "more_compute"),
])
def test_decision_rule(values, expect):
    assert decide(values) == expect


def ideal(traffic=1.0):
    return ScaledRun(Derates(mapping=1.0, dram=1.0), traffic, sram_bytes_per_mac=4.0)


def runs_for(keys, traffic=1.0):
    records = {("tile", 1.0): {k: ideal(traffic) for k in keys}}
    for kind in ("logic-die", "bank-level", "duplex"):
        records[("unit", kind)] = {k: ideal(traffic) for k in keys}
    return records


ATT = FullOp("attention", "A", "attention", flop=2e9, bytes=4e9)
PROJ = FullOp("proj", "P", "other", flop=8e12, bytes=1e9)
HALF_ATT = FullOp("attention", "A", "attention", flop=1e9, bytes=2e9)
HALF_PROJ = FullOp("proj", "P", "other", flop=4e12, bytes=1e9)
LAYER = LayerOps("m b=2", "llama-2-7b", "mha", 2, (ATT, PROJ), (HALF_ATT, HALF_PROJ))


def test_overlap_is_symmetric_by_hand():
    """Baseline: co-scheduled attention (memory) and projection (compute) take
    max(sum compute, sum memory); without overlap, the sum of each op's roofline. The
    logic-die unit: min(U + T, 2 max(U_half, T_half)) with overlap, U + T without."""
    by_name = {v.name: v for v in variants("h100")}
    base, unit = by_name["baseline"], by_name["logic-die"]
    runs = runs_for("AP")
    peak, bw = 989.4e12, 3.35e12
    c_att, m_att, c_proj, m_proj = 2e9 / peak, 4e9 / bw, 8e12 / peak, 1e9 / bw
    assert layer_time(base, LAYER, runs, "bf16", overlap=False) == pytest.approx(
        max(c_att, m_att) + max(c_proj, m_proj))
    assert layer_time(base, LAYER, runs, "bf16", overlap=True) == pytest.approx(
        max(c_att + c_proj, m_att + m_proj))
    unit_bw, unit_peak = 4 * 3.35e12, 8 * 4 * 3.35e12
    u = max(2e9 / unit_peak, 4e9 / unit_bw)
    t = max(c_proj, m_proj)
    assert layer_time(unit, LAYER, runs, "bf16", overlap=False) == pytest.approx(u + t)
    u_half = max(1e9 / unit_peak, 2e9 / unit_bw)
    t_half = max(4e12 / peak, 1e9 / bw)
    assert layer_time(unit, LAYER, runs, "bf16", overlap=True) == pytest.approx(
        min(u + t, 2 * max(u_half, t_half)))
    # A batch of one cannot be split: U + T, unless the die alone, co-scheduling its
    # attention with the projection, is faster (here it is).
    single = LayerOps("m b=1", "llama-2-7b", "mha", 1, (ATT, PROJ))
    alone = max(c_att + c_proj, m_att + m_proj)
    assert alone < u + t
    assert layer_time(unit, single, runs, "bf16", overlap=True) == pytest.approx(alone)
    assert layer_time(unit, single, runs, "bf16", overlap=False) == pytest.approx(u + t)


def test_a_unit_slower_than_the_die_is_left_idle():
    """Attention of high intensity (MLA-like: 1000 FLOP/byte) runs 9x slower on the
    logic-die unit (32 FLOP per pin byte) than on the die: its best schedule is the die."""
    heavy = FullOp("attention", "A", "attention", flop=4e12, bytes=4e9)
    layer = LayerOps("m b=1", "deepseek-v3", "mla-absorbed", 1, (heavy, PROJ))
    by_name = {v.name: v for v in variants("h100")}
    runs = runs_for("AP")
    for overlap in (True, False):
        assert layer_time(by_name["logic-die"], layer, runs, "bf16", overlap=overlap) == \
            layer_time(by_name["baseline"], layer, runs, "bf16", overlap=overlap)


def test_extra_traffic_of_the_program_reaches_full_size():
    base = variants("h100")[0]
    once = layer_time(base, LAYER, runs_for("AP", 1.0), "bf16", overlap=False)
    thrice = layer_time(base, LAYER, runs_for("AP", 3.0), "bf16", overlap=False)
    # Attention is memory-bound: three passes over K/V triple its time.
    assert thrice - once == pytest.approx(2 * 4e9 / 3.35e12)


def test_scaled_run_by_hand():
    config = balanced_tile()                                # 8x8, 16-bit operands
    prediction = SimpleNamespace(cycles=10_000, array_busy=500, bytes_read=3000,
                                 bytes_written=1000)
    counters = SimpleNamespace(cycles=10_400, array_busy=500)
    run = ScaledRun.of(config, 64_000, 2000, prediction, counters)
    assert run.traffic == 2.0                               # 4000 moved over 2000 ideal
    assert run.sram_bytes_per_mac == (500 * 16 * 2 + 4000) / 32_000
    assert run.model_error == pytest.approx(400 / 10_400)
    assert run.derates == Derates.predicted(config, 64_000, prediction)


def test_deployment():
    assert str(deployment("deepseek-v3", "h100", "bf16", 32)) == "TP1 x DP32 with EP32"
    assert deployment("llama-2-7b", "h100", "bf16", 32).tp == 1
    # 141 GB of bf16 weights: a quarter leaves half of 80 GB, half of it half of 180 GB.
    assert deployment("llama-3-70b", "h100", "bf16", 32).tp == 4
    assert deployment("llama-3-70b", "b200", "bf16", 32).tp == 2


def llama_layer(batch):
    ops = (FullOp("attention", "A", "attention", 2 * batch * 32 * 4096 * 256,
                  batch * 32 * 4096 * 256 * 2),
           FullOp("proj", "P", "other", 2 * batch * 4096 * 4096 * 12,
                  4096 * 4096 * 12 * 2))
    return LayerOps(f"llama-2-7b b={batch}", "llama-2-7b", "mha", batch, ops)


def test_batches_that_do_not_fit_are_infeasible_without_a_speedup():
    """Llama-2-7B at bf16 and 4096 tokens: 13.48 GB of weights, 2.147 GB of KV cache per
    sequence (2 x 32 heads x 128 x 32 layers x 2 B x 4096); the 80 GB H100 leaves room for
    floor(66.52 / 2.147) = 30 sequences, 106.7 GB (the bank-level unit's price in
    capacity) for floor(93.19 / 2.147) = 43."""
    layers = [llama_layer(8), llama_layer(40)]
    rows = verdict(layers, runs_for("AP"), ["h100"], "bf16", 4096, 32)
    by = {(r["batch"], r["variant"]): r for r in rows}
    assert by[(8, "baseline")]["feasible"] and by[(8, "baseline")]["largest_batch"] == 30
    for name in ("baseline", "logic-die", "bank-level", "more_compute (= bank-level)"):
        row = by[(40, name)]
        assert not row["feasible"]
        assert row["tpot_us"] is row["speedup_with_overlap"] is row["energy_per_token_J"] is None
    more = by[(40, "more_capacity (= bank-level)")]
    assert more["feasible"] and more["largest_batch"] == 43
    assert more["speedup_with_overlap"] is None            # no baseline to compare with
    assert "batch 40 does not fit" in by[(40, "baseline")]["why_infeasible"]
    assert by[(40, "bank-level")]["verdict"] == \
        "more_capacity (= bank-level) (the baseline does not fit)"
    # A feasible row carries every field of verdict.json.
    row = by[(8, "logic-die")]
    for field in ("workload", "machine", "variant", "batch", "feasible", "cost_usd",
                  "cost_breakdown_usd", "area_mm2", "area_breakdown_mm2", "tpot_us",
                  "tokens_per_s_per_device", "energy_per_token_J", "speedup_with_overlap",
                  "speedup_without_overlap", "verdict"):
        assert row[field] is not None, field
    assert row["tokens_per_s_per_device"] == pytest.approx(8 / (row["tpot_us"] * 1e-6), rel=1e-3)


def test_tpot_and_energy_by_hand():
    """One layer, 32 layers, TP 1 (no communication): TPOT = 32 x layer; energy per
    token from the MACs, SRAM bytes and DRAM bytes at the default per-event energies."""
    layer = llama_layer(8)
    runs = runs_for("AP")
    rows = verdict([layer], runs, ["h100"], "bf16", 4096, 32)
    base = next(r for r in rows if r["variant"] == "baseline")
    t = layer_time(variants("h100")[0], layer, runs, "bf16")
    assert base["tpot_us"] == pytest.approx(32 * t * 1e6, rel=1e-6)
    macs = sum(op.flop for op in layer.ops) / 2
    moved = sum(op.bytes for op in layer.ops)
    joules = 1e-12 * (macs * 0.094 + 8 * 4 * macs * 0.16 + 8 * moved * 3.9)
    assert base["energy_per_token_J"] == pytest.approx(32 * joules / 8)
    # The logic-die unit reads the KV cache in the stack at 3.29 pJ/bit, not 3.9.
    unit = next(r for r in rows if r["variant"] == "logic-die")
    saved = 1e-12 * 8 * layer.ops[0].bytes * (3.9 - 3.29)
    assert unit["energy_per_token_J"] == pytest.approx(32 * (joules - saved) / 8)


def test_tile_proxy_ratio_follows_the_variant():
    by_name = {v.name: v for v in variants("h100")}
    base = by_name["baseline"]
    more = by_name["more_compute (= logic-die)"]
    assert tile_ratio(more, base) == round(more.hw.peak_bf16_flop_per_s / 989.4e12, 4)
    assert tile_ratio(by_name["logic-die"], base) == 1.0


def _rows(attention, group, verdicts, speedups=None):
    speedups = speedups or [1.0] * len(verdicts)
    return [{"machine": "h100", "attention": attention, "variant": group, "group": group,
             "batch": batch, "feasible": True, "verdict": v, "speedup_with_overlap": s}
            for batch, v, s in zip((1, 16, 128), verdicts, speedups)]


def test_claims_count_per_batch_not_one_win_anywhere():
    rows = (_rows("mha", "logic-die", ["logic-die", "logic-die", "neither"], [2, 3, 1.05])
            + _rows("mla-absorbed", "logic-die", ["neither"] * 3)
            + _rows("mla-absorbed", "duplex", ["duplex", "neither", "neither"], [1.3, 1, 1]))
    got = {c["claim"]: c for c in claims(rows, "h100")}
    mha = got["MHA decode needs attention hardware"]
    assert mha["agreement"] == "partly" and "batches [1, 16] of [1, 16, 128]" in mha["rooftile"]
    assert got["MLA decode does not need it"]["agreement"] == "agrees"
    assert got["PIM helps MoE only at small batch"]["agreement"] == "agrees"
    rows[-3]["verdict"] = "neither"
    assert {c["claim"]: c for c in claims(rows, "h100")}[
        "PIM helps MoE only at small batch"]["agreement"] == "disagrees"


def test_sensitivity_reports_the_flip_value():
    """The bank-level unit's price grows with the capacity tax; sweeping it moves the
    money its alternatives get, and the report names where a decision changes."""
    layers = [llama_layer(8)]
    runs = runs_for("AP")
    ranges = {"pim_capacity_tax": ((0.01, 0.25, 0.9), "test range")}
    rows = sensitivity(layers, runs, ["h100"], "bf16", 4096, 32, ranges)
    assert all(r["constant"] == "pim_capacity_tax" for r in rows)
    flips = [r for r in rows if "decision" in r]
    # At 0.9 the unit costs 9x the HBM line: more bandwidth wins instead.
    assert any(r["group"] == "bank-level" and r["flips"].startswith("0.9 -> more_bandwidth")
               for r in flips)
    for r in flips:
        assert r["flips"].split(" -> ")[0] in ("0.01", "0.9")
    default = {(r["group"]): r["verdict"] for r in verdict(layers, runs, ["h100"], "bf16",
                                                            4096, 32) if r["variant"] == r["group"]}
    for r in flips:
        if r["decision"] == "verdict":
            assert r["verdict_at_default"] == default[r["group"]]


def test_bad_op_kind_is_refused():
    with pytest.raises(InputError, match="op kind must be one of .* got 'softmax'"):
        FullOp("x", "X", "softmax", 1.0, 1.0)
    assert math.isfinite(MARGIN)


def test_record_rows_show_the_proxies_measurements():
    records = runs_for("AP", traffic=3.0)
    records[("tile", 1.3)] = {"A": ideal()}             # a model-only proxy: left out
    rows = record_rows(records)
    assert len(rows) == 2 * 4                            # baseline tile and 3 unit engines
    assert {r["proxy"] for r in rows} == {"tile 1.0", "unit logic-die", "unit bank-level",
                                          "unit duplex"}
    assert all(r["traffic_over_ideal"] == 3.0 and r["model_error"] is None for r in rows)


def test_a_unit_that_cannot_be_built_is_infeasible():
    big = dataclasses.replace(DEFAULT_CONSTANTS,
                              tsv_path_mm2_per_GBps=4 * DEFAULT_CONSTANTS.tsv_path_mm2_per_GBps)
    rows = verdict([llama_layer(8)], runs_for("AP"), ["b200"], "bf16", 4096, 32, big)
    unit = next(r for r in rows if r["variant"] == "logic-die")
    assert not unit["feasible"] and unit["speedup_with_overlap"] is None
    assert "exceeds the 121 mm² base die" in unit["why_infeasible"]
    assert unit["verdict"] != "logic-die"


def test_write_verdict_opens_with_the_answer(tmp_path):
    rows = verdict([llama_layer(8), llama_layer(40)], runs_for("AP"), ["h100"], "bf16",
                   4096, 32)
    text, paths = write_verdict(tmp_path, rows, ["h100"], notes=["a note"],
                                records=runs_for("AP"))
    assert text.startswith("## The answer: what should the next dollar buy?")
    assert "The claims of arXiv 2507.15465 on h100" in text and "a note" in text
    assert paths["verdict_h100"].stat().st_size > 10_000          # the figure
    saved = json.loads(paths["verdict_json"].read_text())
    assert saved["margin"] == MARGIN and len(saved["verdict"]) == len(rows)
    assert paths["verdict_csv"].read_text().count("\n") == len(rows) + 1


def test_overlap_measured_on_the_chip_replaces_the_composition():
    """A unit variant's schedule with one batch (U + T) or two sub-batches
    (2 max(U_half, T_half)) is scaled by what the chip measured of it; others keep theirs."""
    by_name = {v.name: v for v in variants("h100")}
    base, unit, bank = by_name["baseline"], by_name["logic-die"], by_name["bank-level"]
    runs = runs_for("AP")
    serial = LayerOps("m b=2", "llama-2-7b", "mha", 2, (ATT, PROJ))
    composed = layer_time(unit, serial, runs, "bf16", overlap=False)
    die = layer_time(base, serial, runs, "bf16", overlap=False)
    for factor in (0.5, 1.25):   # the faster of the measured schedule and the die alone
        measured = dataclasses.replace(serial, chip=((("logic-die", 1), factor),))
        assert layer_time(unit, measured, runs, "bf16", overlap=False) == pytest.approx(
            min(factor * composed, die))
    assert 0.5 * composed < die < 1.25 * composed
    for variant in (base, bank):
        assert layer_time(variant, measured, runs, "bf16", overlap=False) == \
            layer_time(variant, serial, runs, "bf16", overlap=False)
    # Two sub-batches: the pipelined schedule is scaled, then the fastest is taken (of
    # one batch, two sub-batches and the die alone).
    piped = dataclasses.replace(LAYER, chip=((("logic-die", 2), 3.0),))
    serial = layer_time(unit, LAYER, runs, "bf16", overlap=False)
    pipelined = layer_time(unit, LAYER, runs, "bf16", overlap=True)
    alone = layer_time(base, LAYER, runs, "bf16", overlap=True)
    assert pipelined < min(serial, alone)
    assert layer_time(unit, piped, runs, "bf16", overlap=True) == pytest.approx(
        min(serial, 3.0 * pipelined, alone))


def test_duplex_takes_the_overlap_measured_on_its_chip():
    """Duplex's schedule of an MoE layer (its routed experts on the unit) is scaled by
    what the chip with Duplex measured, as an attention unit's is."""
    by_name = {v.name: v for v in variants("h100")}
    base, duplex, die_unit = by_name["baseline"], by_name["duplex"], by_name["logic-die"]
    experts = FullOp("expert_down", "E", "experts", flop=2e10, bytes=8e9)
    layer = LayerOps("m b=2", "deepseek-v3", "mla-absorbed", 2, (PROJ, experts))
    runs = runs_for("PE")
    composed = layer_time(duplex, layer, runs, "bf16", overlap=False)
    die = layer_time(base, layer, runs, "bf16", overlap=False)
    assert composed < die
    measured = dataclasses.replace(layer, chip=((("duplex", 1), 0.75),))
    assert layer_time(duplex, measured, runs, "bf16", overlap=False) == pytest.approx(
        0.75 * composed)
    assert layer_time(die_unit, measured, runs, "bf16", overlap=False) == \
        layer_time(die_unit, layer, runs, "bf16", overlap=False)
