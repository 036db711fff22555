"""RTL cycles of both dataflows against SCALE-Sim's stall-free cycle formulas.

For ``C[M, N] = A[M, K] @ B[K, N]`` on an ``R x C`` array SCALE-Sim counts, with no
memory stalls, ``ceil(M/R) * ceil(N/C) * (K + R + C - 2) - 1`` cycles output-stationary
and ``ceil(K/R) * ceil(N/C) * (M + 2R + C - 2) - 1`` weight-stationary (each fold
loads its weights in ``R`` cycles, then streams ``M`` rows through ``R + C - 2`` cycles
of skew). For each shape this runs the compiled GEMM on the tile RTL of each dataflow
(cocotb + Verilator, bit-exact against numpy, one DRAM word per cycle so the array
rather than DRAM sets the pace) and prints its cycles beside the array-only harness's
(operands already in the scratchpads; :func:`rooftile.sim.model.array_model.predict_cycles`,
exact against that RTL in the tests) and the two formulas.

The harness's blocks overlap what SCALE-Sim's folds do not: output-stationary results
drain while the next block computes, weight-stationary weights load while the previous
block streams. So where SCALE-Sim's WS count exceeds its OS count by the weight loads,
the RTL's gap is what remains once they are hidden. Run:
    python scripts/scalesim_compare.py [--rows 4] [--cols 4] [--shapes 1x64x32 ...]
"""

import argparse
import sys

import numpy as np

from rooftile.hdl.params import DATAFLOWS, TileConfig
from rooftile.sim.compile.gemm import compile_gemm
from rooftile.sim.compile.matmul import compile_matmul
from rooftile.sim.run.pipeline import run_programs

#: Decode GEMVs (M = 1), a small batch, square-ish, tall and ragged shapes.
SHAPES = [(1, 64, 32), (4, 64, 32), (16, 32, 16), (64, 16, 16), (8, 128, 8), (31, 17, 13)]


def scalesim_os(m, k, n, rows, cols):
    """SCALE-Sim's stall-free output-stationary cycles."""
    return -(-m // rows) * -(-n // cols) * (k + rows + cols - 2) - 1


def scalesim_ws(m, k, n, rows, cols):
    """SCALE-Sim's stall-free weight-stationary cycles."""
    return -(-k // rows) * -(-n // cols) * (m + 2 * rows + cols - 2) - 1


def shape(text):
    """``MxKxN`` as a tuple of three ints."""
    try:
        m, k, n = (int(part) for part in text.split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MxKxN") from None
    return m, k, n


def main_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=4, metavar="R",
                        help="array rows (default: %(default)s)")
    parser.add_argument("--cols", type=int, default=4, metavar="C",
                        help="array columns (default: %(default)s)")
    parser.add_argument("--shapes", type=shape, nargs="+", default=SHAPES, metavar="MxKxN",
                        help="GEMM shapes (default: " + " ".join(
                            "x".join(map(str, s)) for s in SHAPES) + ")")
    parser.add_argument("--seed", type=int, default=0, metavar="SEED",
                        help="operand seed (default: %(default)s)")
    return parser


def tile_config(rows, cols, dataflow):
    """A small tile with one DRAM word per cycle and a short latency. The buffer sizes
    are those of ``tests/sim/compile/test_gemm.py``'s 4x4 tile, and rate and latency
    are run-time settings, so at 4x4 the tests' builds serve this script."""
    config = TileConfig(rows=rows, cols=cols, dataflow=dataflow, sp_depth=64, acc_depth=32,
                        dram_depth=4096, program_depth=2048, dram_latency=4)
    return config.replace(dram_bytes_per_cycle=config.dram_word_bytes)


def harness_cycles(config, m, k, n):
    """The array-only harness's cycles for the same product, from its exact model (which
    reads only the array shape and the blocks, so the buffers are lifted to fit)."""
    roomy = config.replace(sp_depth=1 << 20, acc_depth=1 << 20)
    return compile_matmul(roomy, m, k, n).predict(roomy).cycles


def compare(rows, cols, shapes, seed=0):
    """One row per shape: RTL (tile) and harness cycles per dataflow, SCALE-Sim's two
    counts; raises if a tile result is not bit-exact."""
    measured = {}
    for dataflow in DATAFLOWS:
        config = tile_config(rows, cols, dataflow)
        programs = [compile_gemm(config, *s) for s in shapes]
        rng = np.random.default_rng(seed)
        operands = [p.random_operands(config, rng) for p in programs]
        for s, result in zip(shapes, run_programs(config, programs, operands)):
            if not result.exact:
                raise SystemExit(f"{dataflow} {s}: the RTL result differs from numpy")
            measured[dataflow, s] = (result.counters.cycles, result.prediction.cycles,
                                     harness_cycles(config, *s))
    rows_out = []
    for s in shapes:
        os_, ws = measured["output_stationary", s], measured["weight_stationary", s]
        rows_out.append({"shape": s, "rtl_os": os_[0], "model_os": os_[1],
                         "harness_os": os_[2], "rtl_ws": ws[0], "model_ws": ws[1],
                         "harness_ws": ws[2], "scalesim_os": scalesim_os(*s, rows, cols),
                         "scalesim_ws": scalesim_ws(*s, rows, cols)})
    return rows_out


def main(argv=None):
    args = main_parser().parse_args(argv)
    table = compare(args.rows, args.cols, args.shapes, args.seed)
    print(f"{args.rows}x{args.cols} array; tile = RTL cycles with DMA at one DRAM word per "
          f"cycle (model in brackets), harness = array only, SCALE-Sim = stall-free formula")
    head = (f"{'M x K x N':>14} | {'OS tile':>13} {'harness':>7} {'SCALE-Sim':>9} | "
            f"{'WS tile':>13} {'harness':>7} {'SCALE-Sim':>9} | {'WS/OS tile':>10} "
            f"{'SCALE-Sim':>9}")
    print(head)
    print("-" * len(head))
    for r in table:
        label = "x".join(map(str, r["shape"]))
        print(f"{label:>14} | {r['rtl_os']:>6} ({r['model_os']:>5}) {r['harness_os']:>7} "
              f"{r['scalesim_os']:>9} | {r['rtl_ws']:>6} ({r['model_ws']:>5}) "
              f"{r['harness_ws']:>7} {r['scalesim_ws']:>9} | "
              f"{r['rtl_ws'] / r['rtl_os']:>10.2f} {r['scalesim_ws'] / r['scalesim_os']:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
