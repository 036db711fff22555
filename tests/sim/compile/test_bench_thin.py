"""scripts/bench_thin.py: with one DRAM word per cycle the tile stays within 10% of the
array-only harness on compute-bound GEMMs, thin ones and GEMVs included (it shares the
8x8 build of ``test_gemm.py``'s compute-bound test)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).parents[3] / "scripts" / "bench_thin.py"


def test_thin_gemms_keep_up_with_the_array(capsys):
    spec = importlib.util.spec_from_file_location("bench_thin", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    worst = bench.main_runner(bench.main_parser().parse_args([]))
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1].startswith("worst tile/harness:")
    assert worst <= 1.10, out
