"""Benchmark the array flow: Verilog generation, simulator build, cached rebuild, and
simulated cycles per second of the free-running harness, per array size.

Builds go to a fresh temporary cache so the cold figures are real. Run:
    python scripts/bench_array.py [--sizes 8 16 32] [--cycles 1000000]
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

from rooftile.hdl.params import TileConfig
from rooftile.sim.model import golden
from rooftile.sim.run import flow
from rooftile.sim.compile.matmul import plan_matmul


def bench_config(size):
    """A size x size tile with room for one block reduced over 4096 steps."""
    return TileConfig(rows=size, cols=size, sp_depth=4096, acc_depth=size)


def gemm_job(config, cycles):
    """A harness job of at least ``cycles`` cycles and its expected accumulator rows.

    One output block reduced over the whole scratchpad, re-accumulated until the batch
    is ``cycles`` long: the array stays busy and Python wakes only at start and end.
    """
    k = config.sp_depth
    repeats = max(1, -(-cycles // k))
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (config.rows, k))
    b = rng.integers(-128, 128, (k, config.cols))
    job = plan_matmul(config, a, b)
    (command,) = job["commands"]
    job["commands"] = [dict(command, accumulate=int(i > 0)) for i in range(repeats)]
    job["max_cycles"] = 2 * repeats * k + 1000
    expected = golden.wrap(repeats * golden.matmul(a, b, 64), config.acc_width)
    return job, expected


def bench(size, cycles, simulator):
    config = bench_config(size)
    cold = flow.build(config, simulator=simulator)
    began = time.perf_counter()
    sim = flow.build(config, simulator=simulator)
    cached_s = time.perf_counter() - began
    job, expected = gemm_job(config, cycles)
    began = time.perf_counter()
    (result,) = flow.run(sim, [job])
    run_s = time.perf_counter() - began
    if not np.array_equal(np.asarray(result["acc"]), expected):
        raise SystemExit(f"{size}x{size}: RTL result differs from numpy")
    wall = result["wall"]
    return {
        "size": f"{size}x{size}",
        "generate_s": cold.generate_s,
        "build_s": cold.compile_s,
        "cached_rebuild_s": cached_s,
        "cycles": result["counters"]["cycles"],
        "cycles_per_s": result["counters"]["cycles"] / wall["compute_s"],
        "load_s": wall["load_s"],
        "run_s": run_s,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32], metavar="N")
    parser.add_argument("--cycles", type=int, default=1_000_000, metavar="CYCLES")
    parser.add_argument("--simulator", default="verilator")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["ROOFTILE_CACHE"] = cache
        print(f"{'array':>7} {'verilog s':>10} {'build s':>8} {'cached s':>9} "
              f"{'cycles':>9} {'cycles/s':>10} {'load s':>7} {'run s':>6}", flush=True)
        for size in args.sizes:
            row = bench(size, args.cycles, args.simulator)
            print(f"{row['size']:>7} {row['generate_s']:>10.2f} {row['build_s']:>8.1f} "
                  f"{row['cached_rebuild_s']:>9.2f} {row['cycles']:>9} "
                  f"{row['cycles_per_s']:>10.0f} {row['load_s']:>7.2f} "
                  f"{row['run_s']:>6.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
