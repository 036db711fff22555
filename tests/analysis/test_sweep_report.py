"""The sweep report: pure functions of point records, no simulator."""

import csv

from rooftile.analysis.sweep import best_rows, latest, pareto, write_csv, write_report


def record(digest, rows, rate, time_us, area, energy, status="ok", model="llama-3-8b"):
    return {"digest": digest, "status": status,
            "values": {"rows": rows, "dram_bytes_per_cycle": rate, "model": model, "batch": 4},
            "layer_time_us": time_us, "tokens_per_s": 4 / time_us * 1e6, "area_mm2": area,
            "energy_per_token_J": energy, "error": "" if status == "ok" else "hang"}


RECORDS = [record("a", 2, "1", 25.0, 0.05, 0.07), record("b", 2, "2", 14.0, 0.09, 0.07),
           record("c", 4, "1", 24.0, 0.06, 0.06), record("d", 4, "2", 13.0, 0.08, 0.06),
           record("e", 4, "4", 20.0, 0.17, 0.06),         # dominated: larger and slower
           record("f", 2, "4", 9.0, 0.2, 0.08, status="failed")]
KEYS = ["rows", "dram_bytes_per_cycle"]


def test_pareto_keeps_only_undominated_points():
    front = pareto([r for r in RECORDS if r["status"] == "ok"])
    assert [r["digest"] for r in front] == ["a", "c", "d"]


def test_the_latest_record_of_a_point_wins(tmp_path):
    rerun = record("f", 2, "4", 9.0, 0.2, 0.08)
    assert [r["status"] for r in latest(RECORDS + [rerun]) if r["digest"] == "f"] == ["ok"]
    write_csv(tmp_path / "summary.csv", RECORDS + [rerun], KEYS)
    with open(tmp_path / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and rows[-1]["status"] == "ok"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.csv"]     # no temp left


def test_report_names_the_best_variants_and_the_failures(tmp_path):
    (best,) = best_rows(RECORDS, KEYS)
    assert best["fastest"].startswith("rows=4 dram_bytes_per_cycle=2")
    assert best["most tokens/s per mm²"].startswith("rows=4 dram_bytes_per_cycle=2 (3.85e+06)")
    assert best["least energy per token"].startswith("rows=4")
    paths = write_report(tmp_path, RECORDS, KEYS, KEYS, skipped=[({"rows": 8}, "too big")])
    text = paths["report"].read_text()
    assert "5 ok, 1 failed; 1 skipped" in text and "| hang |" in text and "too big" in text
    for kind in ("pareto", "layer_time_us", "energy_per_token_J"):
        assert paths[kind].stat().st_size > 1000
