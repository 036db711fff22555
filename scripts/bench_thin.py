"""Benchmark the tile against the array alone on compute-bound GEMMs, thin ones included.

With one DRAM word per cycle a GEMM whose array work dominates should run on the tile
about as fast as on the array-only harness (operands already in the scratchpads, no
DMA): the tile adds the first loads' latency and the last stores, and must otherwise
keep the array fed. Thin GEMMs (M or N of one or two blocks, decode GEMVs) reuse each
loaded entry least and need the most load requests per array step, so they are where a
load path that moves less than a word per request falls behind.

For each shape it runs the compiled GEMM on the tile (cocotb + Verilator, bit-exact
against numpy) and prints its cycles over the harness's, which
:func:`rooftile.sim.model.array_model.predict_cycles` gives exactly (the harness tests
assert it; it depends only on the array shape and the blocks' steps), and the worst
ratio. Run:
    python scripts/bench_thin.py [--size 8] [--latency 32]
"""

import argparse
import sys

import numpy as np

from rooftile.hdl.params import TileConfig
from rooftile.sim.compile.gemm import compile_gemm
from rooftile.sim.compile.matmul import compile_matmul
from rooftile.sim.run.pipeline import run_programs

#: (M, K, N) in array blocks of the tile's size and K in steps: thin shapes with one or
#: two block rows or columns, GEMVs, and square-ish ones for reference.
SHAPES = [(1, 1024, 8), (2, 1024, 16), (16, 1024, 1), (16, 1024, 2), ("gemv", 2048, 8),
          (8, 2048, "gemv"), (1, 2048, 4), (4, 2048, 1), (8, 512, 8), (8, 256, 8)]


def main_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=8, metavar="N",
                        help="array rows and columns (default: %(default)s)")
    parser.add_argument("--latency", type=int, default=32, metavar="CYCLES",
                        help="DRAM read latency (default: %(default)s)")
    return parser


def bench_config(size, latency):
    """A square tile with one DRAM word per cycle, the other fields at their defaults
    (for 8x8 and latency 32, the build ``tests/sim/compile/test_gemm.py`` makes too)."""
    word = TileConfig(rows=size, cols=size).dram_word_bytes
    return TileConfig(rows=size, cols=size, dram_bytes_per_cycle=word, dram_latency=latency)


def shape_in_elements(config, shape):
    """``(M, K, N)`` from blocks (``"gemv"`` is a single row or column)."""
    m, k, n = shape
    return (1 if m == "gemv" else m * config.rows, k, 1 if n == "gemv" else n * config.cols)


def harness_cycles(config, m, k, n):
    """The array-only harness's cycles for the same blocks (its model is exact and reads
    only the array shape, so scratchpad and accumulator sizes are lifted to fit)."""
    roomy = config.replace(sp_depth=max(config.sp_depth, 1 << 20),
                           acc_depth=max(config.acc_depth, 1 << 20))
    return compile_matmul(roomy, m, k, n).predict(roomy).cycles


def main_runner(args):
    config = bench_config(args.size, args.latency)
    shapes = [shape_in_elements(config, shape) for shape in SHAPES]
    programs = [compile_gemm(config, *shape) for shape in shapes]
    rng = np.random.default_rng(0)
    operands = [program.random_operands(config, rng) for program in programs]
    print(f"{config.rows}x{config.cols} tile, {config.dram_bytes_per_cycle} B/cycle (one "
          f"word), latency {config.dram_latency}")
    print(f"{'M x K x N':>18} {'harness':>9} {'tile':>9} {'model':>9} {'tile/harness':>13}")
    worst = None
    for result in run_programs(config, programs, operands):
        if not result.exact:
            raise SystemExit(f"{result.program.shape}: the tile's result differs from numpy")
        shape = result.program.shape
        harness = harness_cycles(config, *shape)
        tile = result.counters.cycles
        ratio = tile / harness
        worst = max(worst or (0, None), (ratio, shape))
        print(f"{' x '.join(map(str, shape)):>18} {harness:>9} {tile:>9} "
              f"{result.prediction.cycles:>9} {ratio:>13.3f}")
    print(f"worst tile/harness: {worst[0]:.3f} at {' x '.join(map(str, worst[1]))}")
    return worst[0]


def main(argv=None):
    main_runner(main_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
