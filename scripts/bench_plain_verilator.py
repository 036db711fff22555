"""Simulation speed against its practical limit: the cocotb + Verilator flow and a plain
Verilator C++ harness (no cocotb, no VPI) run the same generated Verilog on the same GEMM.

Per array size it builds both simulators (cached in $ROOFTILE_CACHE, default
~/.cache/rooftile), runs one GEMM of at least --cycles cycles under each (the job of
scripts/bench_array.py), checks both results bit-exactly against numpy and the two cycle
counts against each other, and prints simulated cycles per second, cocotb's fraction of
the plain harness's speed, and the cocotb run's load and readback seconds. Run:
    python scripts/bench_plain_verilator.py [--sizes 8 16] [--cycles 1000000] [--runs 3]
"""

import argparse
import sys

import numpy as np

from bench_array import bench_config, gemm_job
from rooftile.sim.run import flow, plain


def measure(size, cycles, runs):
    """Best of ``runs`` for each simulator (the machine may be busy with other work)."""
    config = bench_config(size)
    sim = flow.build(config)
    harness = plain.build(sim)
    job, expected = gemm_job(config, cycles)
    cocotb_runs = [flow.run(sim, [job])[0] for _ in range(runs)]
    plain_runs = plain.run_harness_jobs(harness, config, [job] * runs)
    for name, results in (("cocotb", cocotb_runs), ("plain", plain_runs)):
        for result in results:
            if not np.array_equal(np.asarray(result["acc"]), expected):
                raise SystemExit(f"{size}x{size}: {name} result differs from numpy")
    counted = {result["counters"]["cycles"] for result in cocotb_runs + plain_runs}
    if len(counted) != 1:
        raise SystemExit(f"{size}x{size}: cycle counts differ between runs: {counted}")
    (cycle_count,) = counted
    best = min(cocotb_runs, key=lambda result: result["wall"]["compute_s"])
    cocotb_rate = cycle_count / best["wall"]["compute_s"]
    # Both from just before the start pulse until done is seen.
    plain_rate = cycle_count / min(result["wall"]["compute_s"] for result in plain_runs)
    return {"size": f"{size}x{size}", "cycles": cycle_count, "cocotb": cocotb_rate,
            "plain": plain_rate, "ratio": cocotb_rate / plain_rate,
            "load_s": best["wall"]["load_s"], "readback_s": best["wall"]["readback_s"]}


def build_parser():
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16], metavar="N",
                        help="square array sizes to run (default: %(default)s)")
    parser.add_argument("--cycles", type=int, default=1_000_000, metavar="CYCLES",
                        help="minimum simulated cycles of the GEMM (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=1, metavar="RUNS",
                        help="runs per simulator, the fastest reported (default: %(default)s)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.runs < 1 or args.cycles < 1:
        raise SystemExit("--runs and --cycles must be >= 1")
    print(f"{'array':>7} {'cycles':>9} {'cocotb cyc/s':>13} {'plain cyc/s':>12} "
          f"{'ratio':>6} {'load s':>7} {'readback ms':>12}", flush=True)
    for size in args.sizes:
        row = measure(size, args.cycles, args.runs)
        print(f"{row['size']:>7} {row['cycles']:>9} {row['cocotb']:>13.0f} "
              f"{row['plain']:>12.0f} {row['ratio']:>6.2f} {row['load_s']:>7.2f} "
              f"{row['readback_s'] * 1000:>12.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
