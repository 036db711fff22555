"""``rooftile study`` end to end: a small study on the RTL, its files, TOML and errors."""

import json
import signal
import subprocess
import sys

import pytest

from rooftile.analysis.study_report import load_study
from rooftile.sim.cli import main
from rooftile.sim.study.run import _results_folder, run_study
from rooftile.sim.study.spec import StudyError, Workload, default_spec, load_spec

SMALL = default_spec(workloads=(Workload("llama-3-8b", 4), Workload("deepseek-v2-lite", 8)),
                     max_context=128, machines=("h100",))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    messages = []
    paths = run_study(SMALL, out, progress=messages.append)
    return out, paths, messages


def test_study_writes_results_that_reproduce(study):
    out, paths, messages = study
    assert {"json", "csv", "report", "tile_roofline", "utilization_comparison",
            "layer_time"} <= set(paths)
    measurements, provenance = load_study(out)
    assert provenance["all_exact"] is True
    assert provenance["tile_config"] == SMALL.config.to_json()
    assert provenance["study"]["workloads"][1] == {"model": "deepseek-v2-lite", "batch": 8}
    assert "verilator" in provenance["simulator_version"]
    assert any("simulator starts on verilator" in message for message in messages)
    # Every op of both layers, each checked and within the model's tolerance.
    ops = {(m.workload, m.op) for m in measurements}
    assert ("deepseek-v2-lite b=8", "expert_up_gate") in ops
    assert ("llama-3-8b b=4", "attention") in ops
    for m in measurements:
        assert m.exact and abs(m.model_error) <= 0.05, m
        assert m.full_time_s["h100"] > 0
    report = paths["report"].read_text()
    assert "MoE routing sample" in report and "Full-size decode layer time" in report
    rows = json.loads(paths["json"].read_text())["measurements"]
    assert len(rows) == len(measurements)


def test_each_layer_runs_as_one_program(study):
    out, paths, _ = study
    measurements, _ = load_study(out)
    layers = json.loads(paths["json"].read_text())["layers"]
    assert [layer["workload"] for layer in layers] == ["llama-3-8b b=4", "deepseek-v2-lite b=8"]
    for layer in layers:
        mine = [m for m in measurements if m.workload == layer["workload"]]
        assert layer["exact"] is True and layer["ops"] == len(mine)
        assert layer["layer_cycles_isolated_sum"] == sum(m.measured_cycles for m in mine)
        assert abs(layer["layer_cycles_model"] / layer["layer_cycles_measured"] - 1) <= 0.05
        assert layer["composition_error"] == pytest.approx(
            layer["layer_cycles_isolated_sum"] / layer["layer_cycles_measured"] - 1)
    assert "## Whole layers as one program" in paths["report"].read_text()


def test_verdict_prices_machine_variants_on_rtl_proxies(study):
    out, paths, _ = study
    document = json.loads(paths["verdict_json"].read_text())
    rows = document["verdict"]
    # Two workloads x one machine x (baseline + 3 units x (unit + 4 alternatives)).
    assert len(rows) == 2 * 16
    by = {(r["workload"], r["variant"]): r for r in rows}
    for workload in ("llama-3-8b b=4", "deepseek-v2-lite b=8"):
        base = by[(workload, "baseline")]
        assert base["feasible"] and base["speedup_with_overlap"] == 1.0
        for kind in ("logic-die", "bank-level", "duplex"):
            unit = by[(workload, kind)]
            assert unit["cost_usd"] > base["cost_usd"]
            assert unit["verdict"] in {r["variant"] for r in rows} | {"neither"} or \
                "within the margin" in unit["verdict"]
    # A unit variant may leave its unit idle, so it is never slower than the baseline; the
    # alternatives that buy bandwidth speed up these memory-bound decode layers.
    for (workload, variant), row in by.items():
        if variant in ("logic-die", "bank-level", "duplex"):
            assert row["speedup_with_overlap"] >= 1.0
            assert row["speedup_without_overlap"] >= 1.0
        if variant.startswith("more_bandwidth"):
            assert row["speedup_with_overlap"] > 1.0
    report = paths["report"].read_text()
    assert report.startswith("## The answer: what should the next dollar buy?")
    assert "The claims of arXiv 2507.15465 on h100" in report
    assert "Sensitivity: where each verdict flips" in report
    assert "What the RTL proxies measured" in report


def test_extrapolated_layer_time_is_not_below_the_roofline(study):
    out, paths, _ = study
    report = paths["report"].read_text()
    table = report.split("Full-size decode layer time per machine")[1]
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 4 and cells[2] == "h100":
            assert float(cells[3]) >= float(cells[4]) > 0   # layer_us >= roofline_layer_us


def test_cli_runs_a_toml_study(tmp_path, capsys):
    spec = tmp_path / "study.toml"
    spec.write_text('[study]\nmodels = ["llama-3-8b"]\nbatches = [2]\nmax_context = 64\n'
                    'machines = ["b200"]\n')
    assert main(["study", "--config", str(spec), "--out", str(tmp_path / "out")]) == 0
    measurements, provenance = load_study(tmp_path / "out")
    assert {m.batch for m in measurements} == {2}
    assert provenance["study"]["max_context"] == 64
    assert "bit-exact" in capsys.readouterr().out


def test_bad_toml_names_the_key(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text("[study]\nbatch = 3\n")
    with pytest.raises(StudyError, match=r"unknown \[study\] keys \['batch'\]; allowed: "):
        load_spec(spec)
    with pytest.raises(SystemExit) as exit_info:
        main(["study", "--config", str(spec)])
    assert exit_info.value.code == 2
    assert "unknown [study] keys ['batch']" in capsys.readouterr().err


def test_ops_that_do_not_fit_fail_before_the_build(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text("[tile]\nbalanced_to = \"h100\"\nacc_depth = 256\n"
                    "[study]\nmodels = [\"deepseek-v3\"]\nbatches = [1]\n")
    with pytest.raises(StudyError, match=r"does not fit the tile: .* \(acc_depth is 256\)"):
        run_study(load_spec(spec), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_results_folder_is_complete_or_absent(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="killed"):
        with _results_folder(out, overwrite=False) as private:
            (private / "results.json").write_text("{}")
            raise RuntimeError("killed while writing")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with _results_folder(out, overwrite=False) as private:
        (private / "results.json").write_text("{}")
    assert (out / "results.json").exists()
    with pytest.raises(StudyError, match="is not empty; name a new folder, or pass --overwrite"):
        with _results_folder(out, overwrite=False):
            pass
    with _results_folder(out, overwrite=True) as private:
        (private / "report.md").write_text("")
    assert sorted(p.name for p in out.iterdir()) == ["report.md"]   # nothing of the old run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    (tmp_path / "file").write_text("")
    with pytest.raises(StudyError, match="is a file; name a folder"):
        with _results_folder(tmp_path / "file", overwrite=True):
            pass


def test_kill_9_while_writing_results_leaves_no_folder(tmp_path):
    script = ("import sys, time; from pathlib import Path\n"
              "from rooftile.sim.study.run import _results_folder\n"
              "with _results_folder(sys.argv[1], overwrite=False) as private:\n"
              "    (private / 'results.json').write_text('{')\n"
              "    print('writing', flush=True); time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "out")],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert not (tmp_path / "out").exists()
    # A killed run leaves a hidden partial folder, never the results folder; the next
    # run into the same folder removes it.
    assert all(p.name.endswith(".partial") for p in tmp_path.iterdir())
    with _results_folder(tmp_path / "out", overwrite=False) as private:
        (private / "results.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_bad_out_fails_before_any_build(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(["study", "--out", str(tmp_path / "file")])
    assert exit_info.value.code == 2
    assert "is a file; name a folder" in capsys.readouterr().err


def test_a_toml_study_compares_the_dataflows_on_the_same_ops(tmp_path, capsys):
    """``compare_dataflows = true``: every scaled op (a decode GEMV, batched
    projections, attention) runs on the tile of each dataflow, bit-exactly, and the
    report holds their table and utilisation figure. The 2x3 tile is the sweep tests'."""
    from rooftile.sim.study.run import DATAFLOW_FIGURE, DATAFLOW_TABLE
    spec = tmp_path / "study.toml"
    spec.write_text('[tile]\nrows = 2\ncols = 3\ndata_width = 8\nsp_depth = 1024\n'
                    'acc_depth = 512\ndram_depth = 8192\nprogram_depth = 4096\n'
                    'dram_bytes_per_cycle = "1"\n'
                    '[study]\nmodels = ["llama-3-8b"]\nbatches = [1, 8]\ndtype = "fp8"\n'
                    'machines = ["h100"]\nmax_context = 32\nmax_width = 32\n'
                    'max_head_dim = 16\nmax_instances = 1\ncompare_dataflows = true\n')
    out = tmp_path / "out"
    assert main(["study", "--config", str(spec), "--out", str(out), "--no-verdict"]) == 0
    assert "all outputs bit-exact" in capsys.readouterr().out
    report = (out / "report.md").read_text()
    table = report.split(f"## {DATAFLOW_TABLE}")[1]
    rows = [line for line in table.splitlines() if line.startswith("| llama-3-8b")]
    assert len(rows) == 2 * 5 and any("attention" in row for row in rows)
    assert f"]({DATAFLOW_FIGURE})" in report and (out / DATAFLOW_FIGURE).stat().st_size
    with pytest.raises(StudyError, match=r"compare_dataflows must be true or false, "
                                         r"got 'yes'"):
        spec.write_text('[study]\ncompare_dataflows = "yes"\n')
        load_spec(spec)
