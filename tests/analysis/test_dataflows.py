"""The dataflow comparison table and figure, on hand-made measurements."""

import dataclasses

import pytest

from rooftile.analysis.dataflows import dataflow_rows, plot_dataflow_utilization

from test_comparison import counters, measurements


def weight_stationary():
    """The same ops on a WS tile: the GEMV takes twice the cycles, the rest 10% fewer."""
    result = []
    for m in measurements():
        cycles = 2 * m.measured_cycles if m.op == "o_proj" else m.measured_cycles * 9 // 10
        busy = 2 * m.counters.array_busy if m.op == "o_proj" else m.counters.array_busy
        result.append(dataclasses.replace(m, measured_cycles=cycles, counters=counters(
            **{**m.counters.to_json(), "cycles": cycles, "array_busy": busy})))
    return result


def test_rows_put_each_dataflow_beside_the_other():
    rows = dataflow_rows({"output_stationary": measurements(),
                          "weight_stationary": weight_stationary()})
    assert [(r["workload"], r["op"]) for r in rows] == [
        ("llama-3-8b b=64", "qkv_proj"), ("llama-3-8b b=1", "o_proj"),
        ("deepseek-v3 b=64", "attention")]
    gemv = rows[1]
    assert (gemv["OS_cycles"], gemv["WS_cycles"], gemv["WS/OS_cycles"]) == (5000, 10000, 2.0)
    # 16,384 useful MACs over 64 MAC/cycle: 256 cycles of 5,000 and of 10,000.
    assert (gemv["OS_util_pct"], gemv["WS_util_pct"]) == (5.1, 2.6)
    # Useful MACs per busy cycle: 16,384 / (2,048 * 64) and half that.
    assert (gemv["OS_mapping_pct"], gemv["WS_mapping_pct"]) == (12.5, 6.2)
    assert rows[0]["WS/OS_cycles"] == 0.9


def test_mismatched_or_single_dataflows_are_refused():
    with pytest.raises(ValueError, match="needs two dataflows"):
        dataflow_rows({"output_stationary": measurements()})
    with pytest.raises(ValueError, match="same ops in the same order"):
        dataflow_rows({"output_stationary": measurements(),
                       "weight_stationary": weight_stationary()[::-1]})
    with pytest.raises(ValueError, match="unknown dataflows \\['row_stationary'\\]"):
        dataflow_rows({"output_stationary": measurements(), "row_stationary": measurements()})


def test_figure_has_a_bar_per_op_and_dataflow():
    figure = plot_dataflow_utilization({"output_stationary": measurements(),
                                        "weight_stationary": weight_stationary()})
    (ax,) = figure.axes
    assert len(ax.patches) == 2 * 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "output-stationary", "weight-stationary"]
    heights = [p.get_height() for p in ax.patches]
    assert heights[1] == pytest.approx(100 * 16_384 / (5_000 * 64))
