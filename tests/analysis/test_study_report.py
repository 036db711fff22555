import csv
import json
import math
from fractions import Fraction

import pytest
from test_comparison import compute_gemm, measurements

from rooftile.analysis.comparison import DERIVED, OpMeasurement, explain_gap
from rooftile.hdl.counters import COUNTERS as COUNTER_KEYS
from rooftile.analysis.plots import plot_layer_time, plot_tile_roofline, plot_utilization_comparison
from rooftile.analysis.study_report import FILES, load_study, write_study

PROVENANCE = {
    "rooftile_version": "0.1.0",
    "tile_config": {"rows": 8, "cols": 8, "dram_bytes_per_cycle": Fraction(4)},
    "simulator": "verilator 5.048",
    "seeds": [0, 1],
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "nested"
    extra = {"Model against RTL": [{"config": "8x8", "mean_error": 0.0425, "ops": 3}]}
    return out, write_study(out, measurements(), PROVENANCE, extra)


def test_writes_every_file(study):
    out, paths = study
    assert set(paths) == set(FILES)
    for kind, name in FILES.items():
        assert paths[kind] == out / name
        assert paths[kind].stat().st_size > 0
        if name.endswith(".png"):
            assert paths[kind].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_csv_has_one_row_per_measurement_with_units_in_columns(study):
    _, paths = study
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert [row["op"] for row in rows] == [m.op for m in measurements()]
    columns = set(rows[0])
    assert {"measured_cycles", "model_cycles", "roofline_cycles", "bytes", "flop", "exact"} <= columns
    assert set(DERIVED) <= columns and {f"counter_{key}" for key in COUNTER_KEYS} <= columns
    assert {"full_time_s_h100", "full_time_s_b200"} <= columns
    first = rows[0]
    assert float(first["bandwidth_bytes_per_cycle"]) == pytest.approx(16_384 / 12_000)
    assert int(first["counter_array_busy"]) == 10_240
    assert rows[2]["full_time_s_h100"] == ""  # the attention op has no extrapolated time


def test_report_holds_every_op_with_its_numbers(study):
    _, paths = study
    report = paths["report"].read_text()
    for m in measurements():
        assert f"| {m.op} |" in report
        assert f"| {m.measured_cycles:,} |" in report
        assert f"| {m.model_cycles:,} |" in report
        assert explain_gap(m) in report
    # Provenance, nested, with the Fraction as a number.
    assert "- **rooftile_version**: 0.1.0" in report
    assert "  - **dram_bytes_per_cycle**: 4" in report
    assert "- **seeds**: 0, 1" in report
    assert "## deepseek-v3 b=64" in report and "## llama-3-8b b=1" in report
    # compute_gemm: 64 FLOP/byte, 68.3% measured, 74.5% model utilization, 34.1% of bandwidth, -8.3% error.
    assert "| 64 | 64 | compute | 12,000 | 11,000 | 8,192 | 68.3% | 74.5% | 100.0% | 34.1% | ✓ | -8.3% |" in report
    assert "| ✗ |" in report  # the attention op is not bit-exact
    times = report[report.index("## Extrapolated full-size time per layer"):report.index("## Figures")]
    assert "| workload | op | full shape | h100 [µs] | b200 [µs] |" in times
    assert "| llama-3-8b b=64 | qkv_proj | M=64 K=4096 N=6144 | 1.5 | 0.8 |" in times
    assert "| llama-3-8b b=1 | o_proj | M=1 K=4096 N=4096 | 5 |  |" in times
    assert "attention" not in times  # no extrapolated time, no row
    for name in ("utilization_comparison.png", "tile_roofline.png", "layer_time.png"):
        assert f"]({name})" in report
    assert "## Model against RTL" in report and "| 8x8 | 0.0425 | 3 |" in report


def test_json_holds_provenance_and_derived_metrics(study):
    _, paths = study
    data = json.loads(paths["json"].read_text())
    assert data["provenance"]["tile_config"]["dram_bytes_per_cycle"] == 4.0
    assert data["measurements"][0]["derived"]["roofline_gap"] == pytest.approx(12_000 / 8_192)


def test_load_study_round_trips(study):
    out, _ = study
    loaded, provenance = load_study(out)
    assert loaded == measurements()
    assert provenance["seeds"] == [0, 1] and provenance["simulator"] == "verilator 5.048"


def test_nonfinite_metrics_are_null_in_json(tmp_path):
    no_bytes = OpMeasurement.from_json({**compute_gemm().to_json(), "full_bytes": 0.0})
    write_study(tmp_path, [no_bytes], {})
    derived = json.loads((tmp_path / "results.json").read_text())["measurements"][0]["derived"]
    assert derived["full_intensity_flop_per_byte"] is None
    assert math.isinf(load_study(tmp_path)[0][0].full_intensity)
    with pytest.raises(ValueError, match="at least one measurement"):
        write_study(tmp_path, [], {})


def test_plots_draw_what_the_records_hold():
    ms = measurements()
    bars = plot_utilization_comparison(ms).axes[0]
    assert bars.get_ylabel() == "Array utilization [%]"
    assert sorted(p.get_height() for p in bars.patches) == pytest.approx(sorted(
        100 * value for m in ms for value in (m.utilization, m.model_utilization, m.roofline_utilization)))

    roof = plot_tile_roofline(ms).axes[0]
    assert (roof.get_xlabel(), roof.get_ylabel()) == ("Arithmetic intensity [FLOP/byte]", "Performance [FLOP/cycle]")
    roof_line = roof.get_lines()[0]
    assert max(roof_line.get_ydata()) == pytest.approx(128)  # 2 x 64 MAC/cycle
    def points(hollow: bool) -> list[tuple[float, float]]:
        return [(x, y) for line in roof.get_lines() if line.get_marker() not in ("None", None, "")
                and (line.get_markerfacecolor() == "none") == hollow
                for x, y in zip(line.get_xdata(), line.get_ydata())]

    for m in ms:  # filled at the scaled intensity, hollow at the full-size one, both at the achieved height
        achieved = m.flop / m.measured_cycles
        assert any(math.isclose(x, m.intensity) and math.isclose(y, achieved) for x, y in points(False))
        assert any(math.isclose(x, m.full_intensity) and math.isclose(y, achieved) for x, y in points(True))
    labels = roof.get_legend_handles_labels()[1]
    assert {"attention: gqa", "attention: mla-absorbed", "group: attention", "group: projection"} <= set(labels)

    stacked = plot_layer_time(ms, "h100").axes[0]
    totals = {}
    for patch in stacked.patches:
        totals[patch.get_x()] = totals.get(patch.get_x(), 0) + patch.get_height()
    # Microseconds per workload on h100: 1.5 and 5.0 from two workloads, none from the third.
    assert sorted(totals.values()) == pytest.approx(sorted([1.5, 5.0, 0.0]))
    with pytest.raises(ValueError, match="one tile"):
        plot_tile_roofline([ms[0], OpMeasurement.from_json({**ms[1].to_json(), "peak_macs_per_cycle": 256})])
