"""Benchmark the tile under cocotb + Verilator: a compute-bound GEMM of about a million
cycles per array size, with DRAM loading and readback times, checked against numpy.

Builds go to a fresh temporary cache, so build times are cold. Run:
    python scripts/bench_tile.py [--sizes 8 16] [--k 4096]
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

from rooftile.hdl.params import TileConfig
from rooftile.sim import flow, golden
from rooftile.sim.gemm import compile_gemm, cycle_bound
from rooftile.sim.tile_model import predict_program


def bench_config(size, k):
    """A tile with one DRAM word per cycle, large enough for a 16-block-square GEMM."""
    return TileConfig(rows=size, cols=size, max_reduction=k, sp_depth=2048, acc_depth=512,
                      dram_bytes_per_cycle=4 * size, dram_latency=32,
                      dram_depth=1 << 18, program_depth=1 << 15)


def bench(size, k, simulator):
    config = bench_config(size, k)
    m = n = 16 * size  # 256 output blocks of k steps each: 256 * k array cycles
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (m, k))
    b = rng.integers(-128, 128, (k, n))
    program = compile_gemm(config, m, k, n)
    job = {"dram": program.dram_image(config, a, b), "program": program.instructions,
           "read": program.read_ranges(config), "max_cycles": cycle_bound(config, program)}
    began = time.perf_counter()
    sim = flow.build(config, "tile", simulator=simulator)
    build_s = time.perf_counter() - began
    began = time.perf_counter()
    (result,) = flow.run(sim, [job])
    run_s = time.perf_counter() - began
    output = program.output(config, result["read"][0])
    if not np.array_equal(output, golden.matmul(a, b, config.acc_width)):
        raise SystemExit(f"{size}x{size}: RTL result differs from numpy")
    counters, wall = result["counters"], result["wall"]
    predicted = predict_program(config, program.commands).cycles
    return {
        "size": f"{size}x{size}", "gemm": f"{m}x{k}x{n}", "build_s": build_s,
        "cycles": counters["cycles"], "model_error": predicted / counters["cycles"] - 1,
        "array_busy": counters["array_busy"] / counters["cycles"],
        "cycles_per_s": counters["cycles"] / wall["compute_s"],
        "dram_words": len(job["dram"]), "load_s": wall["load_s"],
        "readback_words": sum(count for _, count in job["read"]),
        "readback_s": wall["readback_s"], "run_s": run_s,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16], metavar="N",
                        help="array sizes N (NxN) (default: %(default)s)")
    parser.add_argument("--k", type=int, default=4096, metavar="K",
                        help="reduction depth; cycles ~ 256 * K (default: %(default)s)")
    parser.add_argument("--simulator", default="verilator", metavar="SIM",
                        help="simulator (default: %(default)s)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["ROOFTILE_CACHE"] = cache
        print(f"{'tile':>6} {'GEMM':>14} {'build s':>8} {'cycles':>9} {'model':>7} "
              f"{'busy':>5} {'cycles/s':>9} {'DRAM load':>16} {'readback':>15}", flush=True)
        for size in args.sizes:
            r = bench(size, args.k, args.simulator)
            print(f"{r['size']:>6} {r['gemm']:>14} {r['build_s']:>8.1f} {r['cycles']:>9} "
                  f"{r['model_error']:>+7.1%} {r['array_busy']:>5.0%} "
                  f"{r['cycles_per_s']:>9.0f} {r['dram_words']:>7} w {r['load_s']:>5.1f} s "
                  f"{r['readback_words']:>6} w {r['readback_s']:>5.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
