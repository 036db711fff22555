"""scripts/scalesim_compare.py: the RTL of both dataflows against SCALE-Sim's formulas
(it shares the 4x4 builds of ``test_gemm.py`` and ``test_gemm_ws.py``)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).parents[3] / "scripts" / "scalesim_compare.py"


def load():
    spec = importlib.util.spec_from_file_location("scalesim_compare", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_formulas_are_scalesims():
    script = load()
    # One fold each: K + R + C - 2 - 1 (OS) and M + 2R + C - 2 - 1 (WS) on 4x4.
    assert script.scalesim_os(4, 10, 4, 4, 4) == 10 + 4 + 4 - 2 - 1
    assert script.scalesim_ws(10, 4, 4, 4, 4) == 10 + 8 + 4 - 2 - 1
    assert script.scalesim_ws(1, 9, 5, 4, 4) == 3 * 2 * (1 + 8 + 4 - 2) - 1


def test_rtl_hides_what_scalesim_counts_for_weight_loads(capsys):
    """A decode GEMV: SCALE-Sim's WS count pays a weight load per fold; the RTL loads the
    next fold's weights under the current one, so WS is within 10% of OS on the tile
    and the model exact on both."""
    script = load()
    assert script.main(["--shapes", "1x32x16", "9x8x5"]) == 0
    out = capsys.readouterr().out
    assert "SCALE-Sim" in out and "1x32x16" in out
    (gemv, ragged) = script.compare(4, 4, [(1, 32, 16), (9, 8, 5)])
    for row in (gemv, ragged):
        assert row["rtl_os"] == row["model_os"] and row["rtl_ws"] == row["model_ws"]
    assert gemv["scalesim_ws"] > 2 * gemv["scalesim_os"]
    assert gemv["rtl_ws"] <= 1.1 * gemv["rtl_os"]
