"""Benchmark the tile under cocotb + Verilator: a compute-bound GEMM of about a million
cycles per array size, with DRAM loading and readback times, checked against numpy, and
the same Verilog and job under a plain Verilator C++ harness with no cocotb (the
practical limit, :mod:`rooftile.sim.run.plain`) as a ratio.

Both results must be bit-exact against numpy and their cycle counts equal. Each
simulator runs the job --runs times and the fastest run is reported (the machine may be
busy with other work). Builds go to a fresh temporary cache, so build times are cold.
Run:
    python scripts/bench_tile.py [--sizes 8x8 16x16 2x1 3x1] [--k 4096] [--runs 3]
                                 [--dataflow output_stationary weight_stationary]
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

from rooftile.hdl.params import DATAFLOWS, TileConfig
from rooftile.sim.model import golden
from rooftile.sim.run import flow, plain
from rooftile.sim.compile.gemm import compile_gemm
from rooftile.sim.model.tile_model import predict_program


def bench_config(rows, cols, k, dataflow="output_stationary"):
    """A tile with one DRAM word per cycle, large enough for a 16-block-square GEMM."""
    config = TileConfig(rows=rows, cols=cols, dataflow=dataflow, max_reduction=k,
                        sp_depth=2048,
                        acc_depth=512, dram_latency=32, dram_depth=1 << 18,
                        program_depth=1 << 15)
    return config.replace(dram_bytes_per_cycle=config.dram_word_bytes)


def shape(text):
    """``RxC`` (or ``N`` for NxN) as ``(rows, cols)``."""
    rows, _, cols = text.partition("x")
    try:
        return int(rows), int(cols or rows)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not RxC or N") from None


def bench(rows, cols, k, simulator, runs, dataflow="output_stationary"):
    config = bench_config(rows, cols, k, dataflow)
    m, n = 16 * rows, 16 * cols  # 256 output blocks of k steps each: 256 * k array cycles
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (m, k))
    b = rng.integers(-128, 128, (k, n))
    program = compile_gemm(config, m, k, n)
    job = program.job(config, a, b)
    began = time.perf_counter()
    sim = flow.build(config, "tile", simulator=simulator)
    build_s = time.perf_counter() - began
    results = {"cocotb": [flow.run(sim, [job])[0] for _ in range(runs)]}
    plain_build_s = None
    if simulator == "verilator":
        began = time.perf_counter()
        harness = plain.build(sim)
        plain_build_s = time.perf_counter() - began
        results["plain"] = plain.run_tile_jobs(harness, config, [job] * runs)
    expected = golden.matmul(a, b, config.acc_width)
    for name, outcomes in results.items():
        for result in outcomes:
            if not np.array_equal(program.output(config, result), expected):
                raise SystemExit(f"{rows}x{cols}: {name} result differs from numpy")
    counted = {result["counters"]["cycles"] for outcomes in results.values()
               for result in outcomes}
    if len(counted) != 1:
        raise SystemExit(f"{rows}x{cols}: cycle counts differ between runs: {counted}")
    (cycles,) = counted
    # Rates from just before the start pulse until done is seen, fastest run of each.
    best = {name: min(outcomes, key=lambda result: result["wall"]["compute_s"])
            for name, outcomes in results.items()}
    rates = {name: cycles / result["wall"]["compute_s"] for name, result in best.items()}
    counters, wall = best["cocotb"]["counters"], best["cocotb"]["wall"]
    predicted = predict_program(config, program.commands).cycles
    return {
        "size": f"{rows}x{cols}", "dataflow": dataflow, "gemm": f"{m}x{k}x{n}", "build_s": build_s,
        "plain_build_s": plain_build_s,
        "cycles": cycles, "model_error": predicted / cycles - 1,
        "array_busy": counters["array_busy"] / cycles,
        "cycles_per_s": rates["cocotb"], "plain_cycles_per_s": rates.get("plain"),
        "dram_words": len(job["dram"]), "load_s": wall["load_s"],
        "readback_words": sum(count for _, count in job["read"]),
        "readback_s": wall["readback_s"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--sizes", type=shape, nargs="+",
                        default=[(8, 8), (16, 16), (2, 1), (3, 1)], metavar="RxC",
                        help="array shapes, RxC or N for NxN (default: 8x8 16x16 and the "
                             "attention unit engines' 2x1 3x1)")
    parser.add_argument("--k", type=int, default=4096, metavar="K",
                        help="reduction depth; cycles ~ 256 * K (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=1, metavar="RUNS",
                        help="runs per simulator, the fastest reported (default: %(default)s)")
    parser.add_argument("--simulator", default="verilator", metavar="SIM",
                        help="simulator; the plain harness needs verilator "
                             "(default: %(default)s)")
    parser.add_argument("--dataflow", nargs="+", choices=DATAFLOWS,
                        default=["output_stationary"], metavar="DATAFLOW",
                        help="dataflows to run each size in, of "
                             f"{', '.join(DATAFLOWS)} (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        raise SystemExit("--runs must be >= 1")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["ROOFTILE_CACHE"] = cache
        print(f"{'tile':>6} {'dataflow':>17} {'GEMM':>14} {'build s':>11} {'cycles':>9} {'model':>7} "
              f"{'busy':>5} {'cocotb cyc/s':>12} {'plain cyc/s':>11} {'ratio':>5} "
              f"{'DRAM load':>16} {'readback':>15}", flush=True)
        for (rows, cols), dataflow in [(s, d) for s in args.sizes for d in args.dataflow]:
            r = bench(rows, cols, args.k, args.simulator, args.runs, dataflow)
            builds = f"{r['build_s']:.1f}"
            rates = f"{'-':>11} {'-':>5}"
            if r["plain_cycles_per_s"] is not None:
                builds += f"+{r['plain_build_s']:.1f}"
                rates = (f"{r['plain_cycles_per_s']:>11.0f} "
                         f"{r['cycles_per_s'] / r['plain_cycles_per_s']:>5.2f}")
            print(f"{r['size']:>6} {r['dataflow']:>17} {r['gemm']:>14} {builds:>11} {r['cycles']:>9} "
                  f"{r['model_error']:>+7.1%} {r['array_busy']:>5.0%} "
                  f"{r['cycles_per_s']:>12.0f} {rates} "
                  f"{r['dram_words']:>7} w {r['load_s']:>5.1f} s "
                  f"{r['readback_words']:>6} w {r['readback_s']:>5.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
