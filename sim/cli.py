"""The ``rooftile`` command line: thin wrappers over the library, one subcommand each."""

import argparse
import sys
from fractions import Fraction

import numpy as np

__all__ = ["main"]


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_tile_arguments(parser):
    """Options that build a TileConfig (defaults from TileConfig itself)."""
    from ..hdl.params import TileConfig
    default = TileConfig()
    group = parser.add_argument_group("tile")
    group.add_argument("--rows", type=_positive, default=default.rows, metavar="R",
                       help="systolic array rows (default: %(default)s)")
    group.add_argument("--cols", type=_positive, default=default.cols, metavar="C",
                       help="systolic array columns (default: %(default)s)")
    group.add_argument("--data-width", type=int, default=default.data_width, metavar="BITS",
                       help="signed operand width, 8 or 16 (default: %(default)s)")
    group.add_argument("--sp-depth", type=_positive, default=default.sp_depth,
                       metavar="ENTRIES", help="scratchpad entries (default: %(default)s)")
    group.add_argument("--acc-depth", type=_positive, default=default.acc_depth,
                       metavar="ROWS", help="accumulator rows (default: %(default)s)")


def add_problem_arguments(parser, *, m, k, n):
    """C[M, N] = A[M, K] @ B[K, N] with random operands from a seed."""
    group = parser.add_argument_group("problem")
    group.add_argument("--m", type=_positive, default=m, metavar="M",
                       help="rows of A and C (default: %(default)s)")
    group.add_argument("--k", type=_positive, default=k, metavar="K",
                       help="reduction depth (default: %(default)s)")
    group.add_argument("--n", type=_positive, default=n, metavar="N",
                       help="columns of B and C (default: %(default)s)")
    group.add_argument("--seed", type=int, default=0, metavar="SEED",
                       help="random seed for A and B (default: %(default)s)")


def add_simulation_arguments(parser):
    from .tools import SIMULATORS
    group = parser.add_argument_group("simulation")
    group.add_argument("--simulator", choices=SIMULATORS, default="verilator",
                       help="HDL simulator (default: %(default)s)")
    group.add_argument("--waves", action="store_true",
                       help="write an FST waveform into the run folder (printed at the end)")


def tile_config(args):
    from ..hdl.params import TileConfig
    return TileConfig(rows=args.rows, cols=args.cols, data_width=args.data_width,
                      sp_depth=args.sp_depth, acc_depth=args.acc_depth)


def run_matmul(args):
    from .matmul import run_matmuls
    config = tile_config(args)
    rng = np.random.default_rng(args.seed)
    lo, hi = -(1 << (config.data_width - 1)), 1 << (config.data_width - 1)
    a = rng.integers(lo, hi, (args.m, args.k))
    b = rng.integers(lo, hi, (args.k, args.n))
    print(f"tile {config.rows}x{config.cols} int{config.data_width}, "
          f"C[{args.m},{args.n}] = A[{args.m},{args.k}] @ B[{args.k},{args.n}], "
          f"seed {args.seed}, {args.simulator}", flush=True)
    (result,) = run_matmuls(config, [(a, b)], simulator=args.simulator, waves=args.waves)
    counters = result.counters
    print(f"result:      {'bit-exact vs numpy' if result.exact else 'MISMATCH vs numpy'}")
    print(f"cycles:      {counters['cycles']} measured, {result.predicted_cycles} predicted")
    print(f"array busy:  {result.array_utilization:.1%} of cycles "
          f"({counters['steps']} reduction steps, {counters['drain_stalls']} drain stalls)")
    print(f"useful MACs: {counters['useful_macs']} = {result.mac_utilization:.1%} of peak")
    if args.waves:
        print(f"waveform:    {result.run_dir}/dump.fst")
    return 0 if result.exact else 1


def run_gemm(args):
    from .gemm import compile_gemm, run_gemms
    from .tile_model import predict_program
    config = tile_config(args).replace(dram_bytes_per_cycle=args.dram_bytes_per_cycle,
                                       dram_latency=args.dram_latency)
    rng = np.random.default_rng(args.seed)
    lo, hi = -(1 << (config.data_width - 1)), 1 << (config.data_width - 1)
    a = rng.integers(lo, hi, (args.m, args.k))
    b = rng.integers(lo, hi, (args.k, args.n))
    program = compile_gemm(config, args.m, args.k, args.n)  # bad shapes fail before a build
    print(f"tile {config.rows}x{config.cols} int{config.data_width}, DRAM "
          f"{config.dram_bytes_per_cycle} B/cycle latency {config.dram_latency}; "
          f"C[{args.m},{args.n}] = A[{args.m},{args.k}] @ B[{args.k},{args.n}] in "
          f"{len(program.instructions)} instructions, seed {args.seed}", flush=True)
    (result,) = run_gemms(config, [(a, b)], simulator=args.simulator, waves=args.waves)
    counters = result.counters
    predicted = predict_program(config, program.commands).cycles
    cycles = counters["cycles"]
    print(f"result:      {'bit-exact vs numpy' if result.exact else 'MISMATCH vs numpy'}")
    print(f"cycles:      {cycles} measured, {predicted} predicted by the tile model "
          f"({predicted / cycles - 1:+.1%})")
    print(f"array busy:  {counters['array_busy'] / cycles:.1%}; useful MACs "
          f"{counters['useful_macs'] / (cycles * config.peak_macs_per_cycle):.1%} of peak")
    moved = counters["bytes_read"] + counters["bytes_written"]
    print(f"DRAM:        {moved} bytes = "
          f"{moved / (cycles * float(config.dram_bytes_per_cycle)):.1%} of bandwidth")
    for name, value in counters.items():
        print(f"  {name:<16} {value}")
    return 0 if result.exact else 1


def build_parser():
    from ..analysis import cli as analysis_cli
    parser = argparse.ArgumentParser(
        prog="rooftile",
        description="RTL-level accelerator tile model: does a dedicated attention unit "
                    "still pay off for MLA and MoE?")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    matmul = commands.add_parser(
        "matmul", help="run one random int matrix product on the RTL array and check it",
        description="Simulate C = A @ B on the systolic array RTL, compare bit-exactly "
                    "with numpy and report cycles against the analytical model.")
    add_problem_arguments(matmul, m=8, k=64, n=8)
    add_tile_arguments(matmul)
    add_simulation_arguments(matmul)
    matmul.set_defaults(run=run_matmul)

    gemm = commands.add_parser(
        "gemm", help="compile and run one random int GEMM on the RTL tile (DRAM, DMA, "
                     "controller) and check it",
        description="Compile C = A @ B into a tile program, run it on the tile RTL, compare "
                    "bit-exactly with numpy and print the performance counters against "
                    "the analytical tile model.")
    add_problem_arguments(gemm, m=32, k=128, n=32)
    gemm.add_argument("--dram-bytes-per-cycle", type=Fraction, default=Fraction(4),
                      metavar="BYTES", help="DRAM bandwidth, e.g. 2 or 7/4 "
                                            "(default: %(default)s)")
    gemm.add_argument("--dram-latency", type=_positive, default=32, metavar="CYCLES",
                      help="DRAM read latency (default: %(default)s)")
    add_tile_arguments(gemm)
    add_simulation_arguments(gemm)
    gemm.set_defaults(run=run_gemm)

    roofline = commands.add_parser(
        "roofline", help="arithmetic intensity and roofline of a model layer on a machine")
    analysis_cli.add_roofline_arguments(roofline)
    roofline.set_defaults(run=analysis_cli.run_roofline)
    return parser


def main(argv=None):
    from .flow import BuildError, SimulationError
    from .tools import SimulatorMissing
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, SimulatorMissing) as error:
        parser.exit(2, f"rooftile {args.command}: error: {error}\n")
    except (BuildError, SimulationError) as error:
        parser.exit(1, f"rooftile {args.command}: {error}\n")


if __name__ == "__main__":
    sys.exit(main())
