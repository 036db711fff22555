"""Benchmark the chip against the tile alone at the same array size: one of the default
study's layers as one program on the tile (every op, attention included) and on the
chip (attention on the unit's engine), each under cocotb + Verilator, bit-exact, the
fastest of --runs runs. Prints cycles, seconds and simulated cycles per second of both
and their ratio. Run:
    python scripts/bench_chip.py [--model llama-2-7b] [--batch 16] [--unit logic-die]
                                 [--rows 8] [--cols 8] [--runs 2]
"""

import argparse
import sys

import numpy as np

from rooftile.hdl.params import AttentionUnit
from rooftile.sim.compile.layer import compile_layer
from rooftile.sim.run import flow
from rooftile.sim.study.chip import compile_chip
from rooftile.sim.study.schedules import compile_scaled, lower_workload
from rooftile.sim.study.spec import Workload, balanced_tile, default_spec


def fastest(config, top, program, runs):
    """The fastest of ``runs`` runs of ``program``: (cycles, compute seconds)."""
    rng = np.random.default_rng(0)
    operands = program.random_operands(config, rng)
    job = program.job(config, *operands)
    build = flow.build(config, top)
    best = None
    for _ in range(runs):
        (result,) = flow.run(build, [job])
        if not np.array_equal(program.output(config, result), program.expected(config, *operands)):
            sys.exit(f"{top}: output differs from numpy")
        seconds = result["wall"]["compute_s"]
        best = seconds if best is None else min(best, seconds)
    return result["counters"]["cycles"], best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="llama-2-7b", help="%(default)s")
    parser.add_argument("--batch", type=int, default=16, help="%(default)s")
    parser.add_argument("--unit", default="logic-die", help="attention unit kind (%(default)s)")
    parser.add_argument("--rows", type=int, default=8, help="%(default)s")
    parser.add_argument("--cols", type=int, default=8, help="%(default)s")
    parser.add_argument("--runs", type=int, default=2, help="%(default)s")
    args = parser.parse_args(argv)
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
    rows = [("tile alone", *fastest(spec.config, "tile", alone, args.runs)),
            (f"chip (+{args.unit} {chip_config.attention_unit_tile().rows}x1)",
             *fastest(chip_config, "chip", chip, args.runs))]
    print(f"{layer.workload.label}, {spec.config.rows}x{spec.config.cols} tile, "
          f"fastest of {args.runs} runs")
    for name, cycles, seconds in rows:
        print(f"  {name:32} {cycles:>11,} cycles {seconds:7.2f} s "
              f"{cycles / seconds:>12,.0f} cycles/s")
    ratio = (rows[1][1] / rows[1][2]) / (rows[0][1] / rows[0][2])
    print(f"  chip / tile: {ratio:.2f}x the cycles per second")


if __name__ == "__main__":
    main()
