import csv
import json
import math

import pytest
from matplotlib.figure import Figure

from rooftile.analysis.claims import intensity_sweep
from rooftile.analysis.plots import (TIMELINE_SHARES, plot_chip_timeline,
                                     plot_intensity_vs_batch, plot_roofline,
                                     plot_time_breakdown)
from rooftile.analysis.report import format_table, layer_rows, write_csv, write_json
from rooftile.analysis.roofline import roofline


@pytest.fixture(scope="module")
def rows():
    return layer_rows("deepseek-v3", "h100", 64, 4096, layer="dense") + layer_rows("deepseek-v3", "h100", 64, 4096)


def test_rows_carry_the_roofline_of_their_op(rows):
    score = next(r for r in rows if r.op == "attn_score")
    moved = score.bytes_weights + score.bytes_kv_cache + score.bytes_activations_in + score.bytes_activations_out
    point = roofline(score.flop, moved, "h100")
    assert (score.time_s, score.bound) == (point.time_s, point.bound)
    assert (score.model, score.hardware, score.batch, score.layer) == ("deepseek-v3", "h100", 64, "dense")
    assert score.ridge_batch is None


def test_prefill_rows_take_context_as_the_prompt():
    rows = layer_rows("llama-2-7b", "h100", 1, 512, q_tokens=7, phase="prefill")
    assert {(r.context, r.q_tokens) for r in rows} == {(512, 512)}
    with pytest.raises(ValueError, match=r"phase must be one of decode, prefill; got 'train'"):
        layer_rows("llama-2-7b", "h100", 1, 512, phase="train")


def test_table_lists_every_op_and_a_total_per_layer(rows):
    table = format_table(rows)
    for row in rows:
        assert row.op in table
    assert table.count("TOTAL") == 2
    assert "never" in table  # decode attention never crosses the ridge


def test_csv_and_json_round_trip(rows, tmp_path):
    write_csv(rows, tmp_path / "ops.csv")
    with open(tmp_path / "ops.csv") as f:
        read = list(csv.DictReader(f))
    assert len(read) == len(rows)
    assert float(read[0]["flop"]) == rows[0].flop
    write_json(rows, tmp_path / "ops.json")
    data = json.loads((tmp_path / "ops.json").read_text())
    softmax = next(d for d in data if d["op"] == "softmax")
    assert softmax["intensity_flop_per_byte"] is None  # infinite: strict JSON has no Infinity
    assert math.isinf(next(r for r in rows if r.op == "softmax").intensity_flop_per_byte)


def test_plots_are_figures_with_labelled_axes(rows):
    roof = plot_roofline(rows, "h100")
    sweep = plot_intensity_vs_batch(intensity_sweep([1, 16, 256]), "h100")
    breakdown = plot_time_breakdown(rows)
    for figure in (roof, sweep, breakdown):
        assert isinstance(figure, Figure)
    assert roof.axes[0].get_xlabel() == "Arithmetic intensity [FLOP/byte]"
    assert roof.axes[0].get_ylabel() == "Attainable performance [FLOP/s]"
    assert sweep.axes[0].get_xlabel() == "Batch size [sequences per device]"
    assert sweep.axes[0].get_ylabel() == "Arithmetic intensity [FLOP/byte]"
    assert breakdown.axes[0].get_ylabel() == "Predicted time per layer [us]"
    # One bar segment per (layer, op): the stack adds up to each layer's total time.
    heights = {}
    for patch in breakdown.axes[0].patches:
        heights[patch.get_x()] = heights.get(patch.get_x(), 0) + patch.get_height()
    totals = sorted(sum(r.time_s for r in rows if r.layer == layer) * 1e6 for layer in ("dense", "moe"))
    assert sorted(heights.values()) == pytest.approx(totals)


def test_chip_timeline_colours_each_op_alike_in_every_sub_batch():
    """A DeepSeek-V3 layer in two sub-batches has more op spans than the palette has
    colours: each op keeps one colour across its sub-batches."""
    counts = dict.fromkeys(TIMELINE_SHARES, 1)
    ops = [f"op{i}" for i in range(12)]
    tile = [(f"{op} /{sb}", 10 * i, 10 * i + 10, counts)
            for i, (sb, op) in enumerate((sb, op) for sb in (1, 2) for op in ops)]
    figure = plot_chip_timeline({"tile": tile, "unit": []}, "two sub-batches")
    colours = [tuple(bars.get_facecolor()[0]) for bars in figure.axes[0].collections]
    assert len(colours) == 24 and colours[:12] == colours[12:]
    assert len(set(colours)) == 12
