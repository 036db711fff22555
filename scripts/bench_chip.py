"""Benchmark the chip against the tile alone at the same array size: one of the default
study's layers as one program on the tile (every op, attention included) and on the
chip (attention on the unit's engine), each under cocotb + Verilator, bit-exact, the
fastest of --runs runs. Prints cycles, seconds and simulated cycles per second of both
and their ratio, and the seconds per layer.

Wall-clock figures on a shared machine vary by 20% and more between runs; with
--instructions each program also runs once under valgrind's callgrind, which counts the
instructions the model's evaluation executes (``Vtop::eval_step``, so neither cocotb nor
Python) in the run, less loading the image files before it (as ``compute_s``): the same
count on every run, whatever else the machine does. Run:
    python scripts/bench_chip.py [--model llama-2-7b] [--batch 16] [--unit logic-die]
                                 [--rows 8] [--cols 8] [--runs 2] [--instructions]
                                 [--engines]
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from rooftile.hdl.params import AttentionUnit
from rooftile.sim.compile.layer import compile_layer
from rooftile.sim.run import flow
from rooftile.sim.study.chip import compile_chip, unit_ops
from rooftile.sim.study.schedules import compile_scaled, lower_workload
from rooftile.sim.study.spec import Workload, balanced_tile, default_spec


def checked_run(config, top, program, prefix=()):
    """One bit-exact run of ``program``: its result dict."""
    operands = program.random_operands(config, np.random.default_rng(0))
    (result,) = flow.run(flow.build(config, top), [program.job(config, *operands)],
                         prefix=prefix)
    if not np.array_equal(program.output(config, result), program.expected(config, *operands)):
        sys.exit(f"{top}: output differs from numpy")
    return result


def fastest(config, top, program, runs):
    """The fastest of ``runs`` runs of ``program``: (cycles, compute seconds)."""
    results = [checked_run(config, top, program) for _ in range(runs)]
    return results[0]["counters"]["cycles"], min(r["wall"]["compute_s"] for r in results)


def instructions(config, top, program):
    """Instructions executed by the model's evaluation in one run of ``program``: the
    run's, and loading the image files' (``VL_READMEM_N``, before the run, which the
    wall-clock ``compute_s`` leaves out too)."""
    for tool in ("valgrind", "callgrind_annotate"):
        if shutil.which(tool) is None:
            sys.exit(f"--instructions needs {tool} (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        checked_run(config, top, program, prefix=(
            "valgrind", "--tool=callgrind", "--toggle-collect=Vtop::eval_step()",
            f"--callgrind-out-file={out}"))
        totals = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
        inclusive = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(out)],
                                   capture_output=True, text=True, check=True).stdout
    loading = re.search(r"^\s*([\d,]+) .*VL_READMEM_N", inclusive, re.M)
    if totals is None or loading is None:
        sys.exit(f"{top}: callgrind wrote no instruction total or none for VL_READMEM_N")
    loading = int(loading.group(1).replace(",", ""))
    return int(totals.group(1)) - loading, loading


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="llama-2-7b", help="%(default)s")
    parser.add_argument("--batch", type=int, default=16, help="%(default)s")
    parser.add_argument("--unit", default="logic-die", help="attention unit kind (%(default)s)")
    parser.add_argument("--rows", type=int, default=8, help="%(default)s")
    parser.add_argument("--cols", type=int, default=8, help="%(default)s")
    parser.add_argument("--runs", type=int, default=2, help="%(default)s")
    parser.add_argument("--instructions", action="store_true",
                        help="also count the model's instructions under callgrind")
    parser.add_argument("--engines", action="store_true",
                        help="also run each engine's ops alone: the tile's on the tile, "
                             "the unit's on the unit's tile (what the chip costs beyond "
                             "its two engines)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    config = default_spec().config
    spec = default_spec(config=balanced_tile(rows=args.rows, cols=args.cols,
                                             sp_depth=config.sp_depth,
                                             acc_depth=config.acc_depth,
                                             dram_depth=config.dram_depth,
                                             program_depth=config.program_depth))
    layer = lower_workload(spec, Workload(args.model, args.batch))
    programs = compile_scaled(spec.config, layer.scaled)
    alone = compile_layer(spec.config, [op.name for op in layer.scaled],
                          [programs[op.key] for op in layer.scaled])
    chip_config = spec.config.replace(attention_unit=AttentionUnit(args.unit))
    chip = compile_chip(chip_config, args.unit, layer)
    runs = [("tile alone", spec.config, "tile", alone),
            (f"chip (+{args.unit} {chip_config.attention_unit_tile().rows}x1)",
             chip_config, "chip", chip)]
    if args.engines:
        mine = unit_ops(args.unit, layer)
        unit_config = chip_config.attention_unit_tile()
        theirs = [op for op in layer.scaled if op.name not in mine]
        runs += [("its tile engine's ops, tile alone", spec.config, "tile",
                  compile_layer(spec.config, [op.name for op in theirs],
                                [programs[op.key] for op in theirs])),
                 (f"its unit engine's ops, {unit_config.rows}x1 alone", unit_config, "tile",
                  compile_layer(unit_config, mine,
                                [op.program(unit_config) for op in layer.scaled
                                 if op.name in mine]))]
    rows = [(name, *fastest(config, top, program, args.runs))
            for name, config, top, program in runs]
    print(f"{layer.workload.label}, {spec.config.rows}x{spec.config.cols} tile, "
          f"fastest of {args.runs} runs")
    for name, cycles, seconds in rows:
        print(f"  {name:32} {cycles:>11,} cycles {seconds:7.2f} s "
              f"{cycles / seconds:>12,.0f} cycles/s")
    ratio = (rows[1][1] / rows[1][2]) / (rows[0][1] / rows[0][2])
    print(f"  chip / tile: {ratio:.2f}x the cycles per second, "
          f"{rows[1][2] / rows[0][2]:.2f}x the seconds per layer")
    if args.instructions:
        print("instructions in the model's evaluation (callgrind)")
        measured = [instructions(config, top, program) for _, config, top, program in runs]
        counts = [run for run, _ in measured]
        for (name, cycles, _), (run, loading) in zip(rows, measured):
            print(f"  {name:32} {run:>15,} instructions {run / cycles:8,.0f} per cycle "
                  f"(+{loading:,} loading the image files)")
        per_cycle = [count / cycles for (_, cycles, _), count in zip(rows, counts)]
        print(f"  chip / tile: {per_cycle[0] / per_cycle[1]:.3f}x the simulated cycles per "
              f"instruction, {counts[1] / counts[0]:.2f}x the instructions per layer")
        if args.engines:
            beyond = counts[1] - counts[2] - counts[3]
            print(f"  chip beyond its engines alone: {beyond:,} instructions "
                  f"({beyond / counts[1]:.1%} of the chip's)")


if __name__ == "__main__":
    main()
