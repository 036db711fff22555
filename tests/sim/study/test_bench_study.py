"""Smoke run of scripts/bench_study.py on a one-op-group study (warm: the cached build)."""

import importlib.util
import re
from pathlib import Path

SCRIPT = Path(__file__).parents[3] / "scripts" / "bench_study.py"


def test_bench_study_prints_its_timing(capsys):
    spec = importlib.util.spec_from_file_location("bench_study", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--warm-only", "--", "--models", "llama-3-8b", "--batches", "2",
                       "--no-verdict"]) == 0
    out = capsys.readouterr().out
    match = re.fullmatch(r"warm \(builds cached\): +([\d.]+) s  \(build ([\d.]+) s, "
                         r"simulate ([\d.]+) s, Python and process start (-?[\d.]+) s\)\n",
                         out)
    assert match, out
    total, build, simulate, python = map(float, match.groups())
    assert total > 0 and simulate > 0 and build >= 0 and python > 0
    assert abs(build + simulate + python - total) < 0.2
