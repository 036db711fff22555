"""The ``rooftile`` command line: thin wrappers over the library, one subcommand each."""

import argparse
import sys

import numpy as np

from ..hdl.errors import RooftileError
from .run.flow import BuildError, SimulationError
from .run.pipeline import random_operands, run_programs
from .run.simulators import SIMULATORS

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
    from ..hdl.params import DATAFLOWS, TileConfig
    default = TileConfig()
    group = parser.add_argument_group("tile")
    group.add_argument("--dataflow", choices=DATAFLOWS, default=default.dataflow,
                       help="which operand stays in the array (default: %(default)s)")
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
    group.add_argument("--acc-width", type=_positive, default=default.acc_width,
                       metavar="BITS", help="signed accumulator width (default: %(default)s)")
    group.add_argument("--max-reduction", type=_positive, default=default.max_reduction,
                       metavar="K", help="longest reduction accumulated without overflow "
                                         "(default: %(default)s)")


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
    group = parser.add_argument_group("simulation")
    group.add_argument("--simulator", choices=SIMULATORS, default="verilator",
                       help="HDL simulator (default: %(default)s)")
    group.add_argument("--waves", action="store_true",
                       help="write an FST waveform into the run folder (printed at the end)")


def tile_config(args):
    from ..hdl.params import TileConfig
    return TileConfig(rows=args.rows, cols=args.cols, dataflow=args.dataflow,
                      data_width=args.data_width,
                      acc_width=args.acc_width, max_reduction=args.max_reduction,
                      sp_depth=args.sp_depth, acc_depth=args.acc_depth)


def _say(message):
    print(message, flush=True)


def _operands(config, args):
    """Random A[m, k] and B[k, n] over the operand range, from ``--seed``."""
    rng = np.random.default_rng(args.seed)
    return random_operands(config, rng, (args.m, args.k), (args.k, args.n))


def run_matmul(args):
    from .compile.matmul import compile_matmul
    config = tile_config(args)
    program = compile_matmul(config, args.m, args.k, args.n)  # bad shapes fail before a build
    a, b = _operands(config, args)
    print(f"tile {config.rows}x{config.cols} int{config.data_width} {config.dataflow}, "
          f"C[{args.m},{args.n}] = A[{args.m},{args.k}] @ B[{args.k},{args.n}], "
          f"seed {args.seed}, {args.simulator}", flush=True)
    # A first build of a large array takes minutes: say so before it starts.
    (result,) = run_programs(config, [program], [(a, b)], simulator=args.simulator,
                             waves=args.waves, progress=_say)
    counters = result.counters
    print(f"result:      {'bit-exact vs numpy' if result.exact else 'MISMATCH vs numpy'}")
    print(f"cycles:      {counters.cycles} measured, {result.prediction.cycles} predicted")
    print(f"array busy:  {counters.array_utilization:.1%} of cycles "
          f"({counters.steps} reduction steps, {counters.drain_stalls} drain stalls)")
    print(f"useful MACs: {counters.useful_macs} = "
          f"{counters.mac_utilization(config.peak_macs_per_cycle):.1%} of peak")
    if args.waves:
        print(f"waveform:    {result.run_dir}/dump.fst")
    return 0 if result.exact else 1


def run_gemm(args):
    from .compile.gemm import compile_gemm
    config = tile_config(args).replace(dram_bytes_per_cycle=args.dram_bytes_per_cycle,
                                       dram_latency=args.dram_latency)
    program = compile_gemm(config, args.m, args.k, args.n)  # bad shapes fail before a build
    a, b = _operands(config, args)
    print(f"tile {config.rows}x{config.cols} int{config.data_width} {config.dataflow}, DRAM "
          f"{config.dram_bytes_per_cycle} B/cycle latency {config.dram_latency}; "
          f"C[{args.m},{args.n}] = A[{args.m},{args.k}] @ B[{args.k},{args.n}] in "
          f"{len(program.instructions)} instructions, seed {args.seed}", flush=True)
    # A first build of a large array takes minutes: say so before it starts.
    (result,) = run_programs(config, [program], [(a, b)], simulator=args.simulator,
                             waves=args.waves, progress=_say)
    counters = result.counters
    predicted = result.prediction.cycles
    cycles = counters.cycles
    print(f"result:      {'bit-exact vs numpy' if result.exact else 'MISMATCH vs numpy'}")
    print(f"cycles:      {cycles} measured, {predicted} predicted by the tile model "
          f"({predicted / cycles - 1:+.1%})")
    print(f"array busy:  {counters.array_busy / cycles:.1%}; useful MACs "
          f"{counters.mac_utilization(config.peak_macs_per_cycle):.1%} of peak")
    print(f"DRAM:        {counters.bytes_moved} bytes = "
          f"{counters.bandwidth_utilization(config.dram_bytes_per_cycle):.1%} of bandwidth")
    for name, value in counters.to_json().items():
        print(f"  {name:<16} {value}")
    if args.waves:
        print(f"waveform:    {result.run_dir}/dump.fst")
    return 0 if result.exact else 1


def add_study_arguments(parser):
    """Study options; each overrides the TOML file's value, which overrides the default."""
    from ..analysis.cost import MACHINES
    from ..analysis.hardware import HARDWARE
    from ..analysis.models import MODELS
    from ..hdl.params import DATAFLOWS
    from .study.spec import CHIP_UNITS, MLA_FORMS
    parser.add_argument("--config", metavar="FILE",
                        help="TOML file with [tile] and [study] tables (see README)")
    parser.add_argument("--out", metavar="DIR",
                        help="results folder (default: results/study-<UTC time>); written "
                             "completely or not at all")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out if it exists and is not empty")
    group = parser.add_argument_group("workloads")
    group.add_argument("--models", nargs="+", choices=sorted(MODELS), metavar="MODEL",
                       help="models to run (default: llama-2-7b llama-3-70b deepseek-v3); "
                            f"known: {', '.join(sorted(MODELS))}")
    group.add_argument("--batches", nargs="+", type=_positive, metavar="B",
                       help="sequences per device (default: 1 16 128)")
    group.add_argument("--context", type=_positive, metavar="T",
                       help="full-size context tokens (default: 4096)")
    group.add_argument("--ep-devices", type=_positive, metavar="N",
                       help="expert-parallel devices for MoE layers (default: 32)")
    group.add_argument("--attention", choices=MLA_FORMS,
                       help="MLA form (default: absorbed)")
    group.add_argument("--seed", type=int, metavar="SEED",
                       help="seed of operands and routing (default: 0)")
    group.add_argument("--machines", nargs="+", choices=sorted(MACHINES), metavar="HW",
                       help="machines of the cost model to extrapolate full-size ops to "
                            "(default: h100 b200)")
    group.add_argument("--dtype", choices=("bf16", "fp8"),
                       help="element format: bf16 on a 16-bit tile (default) or fp8 on "
                            "an 8-bit tile")
    tile = parser.add_argument_group("tile (bandwidth set so the ridge point matches "
                                     "--balanced-to)")
    tile.add_argument("--rows", type=_positive, metavar="R", help="array rows (default: 8)")
    tile.add_argument("--cols", type=_positive, metavar="C", help="array columns (default: 8)")
    tile.add_argument("--dataflow", choices=DATAFLOWS,
                      help="which operand stays in the array (default: output_stationary)")
    tile.add_argument("--compare-dataflows", action="store_true", default=None,
                      help="also run every scaled op with the other dataflow and report "
                           "them side by side (dataflows.png and a table)")
    tile.add_argument("--balanced-to", choices=sorted(HARDWARE), metavar="HW",
                      help="machine whose ridge point the tile matches (default: h100)")
    parser.add_argument("--simulator", choices=SIMULATORS,
                        help="HDL simulator (default: verilator)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="run the simulator starts on this Dask cluster (default: "
                             "local processes)")
    parser.add_argument("--chip", nargs="+", choices=CHIP_UNITS, metavar="UNIT",
                        help="also co-simulate each layer on the chip: the tile and this "
                             "unit's engine, one program each, for the layers with ops "
                             "the unit runs (duplex: MoE layers) (choices: "
                             f"{', '.join(CHIP_UNITS)}; default: none)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--no-verdict", action="store_true",
                       help="skip the attention-unit verdict (baseline tile only)")
    scope.add_argument("--verdict-only", action="store_true",
                       help="write only the attention-unit verdict (verdict.md, CSV, JSON, "
                            "plots), not the per-op comparison report")


def study_spec(args):
    """The StudySpec of the command line: defaults, then the TOML file, then options."""
    import dataclasses

    from .study.spec import Workload, balanced_tile, default_spec, load_spec
    spec = load_spec(args.config) if args.config else default_spec()
    changes = {name: getattr(args, name) for name in
               ("context", "ep_devices", "attention", "seed", "simulator",
                "compare_dataflows")
               if getattr(args, name) is not None}
    if args.machines:
        changes["machines"] = tuple(args.machines)
    if args.chip:
        changes["chip_units"] = tuple(args.chip)
    if args.models or args.batches:
        models = args.models or list(dict.fromkeys(w.model for w in spec.workloads))
        batches = args.batches or list(dict.fromkeys(w.batch for w in spec.workloads))
        changes["workloads"] = tuple(Workload(m, b) for m in models for b in batches)
    if args.dtype:
        changes["dtype"] = args.dtype
    if args.rows or args.cols or args.balanced_to or args.dtype:
        config = spec.config
        changes["config"] = balanced_tile(args.balanced_to or "h100",
                                          args.dtype or spec.dtype,
                                          rows=args.rows or config.rows,
                                          cols=args.cols or config.cols,
                                          sp_depth=config.sp_depth,
                                          acc_depth=config.acc_depth,
                                          dram_depth=config.dram_depth,
                                          program_depth=config.program_depth,
                                          dram_latency=config.dram_latency,
                                          dataflow=config.dataflow)
    if args.dataflow:
        changes["config"] = changes.get("config", spec.config).replace(dataflow=args.dataflow)
    return dataclasses.replace(spec, **changes)


def run_study_command(args):
    from .run.engine import engine_for
    from .study.run import default_out_dir, run_study
    spec = study_spec(args)
    out = args.out or default_out_dir()
    with engine_for(args.scheduler) as engine:
        run_study(spec, out, progress=_say, verdict=not args.no_verdict,
                  comparison=not args.verdict_only, overwrite=args.overwrite, engine=engine)
    return 0


def run_sweep_command(args):
    from .sweep import EXAMPLE, DaskEngine, load_sweep, run_sweep
    from .sweep.run import check_out
    if args.example:
        print(EXAMPLE, end="")
        return 0
    if not args.config:
        raise ValueError("name a sweep file with --config FILE (rooftile sweep --example "
                         "prints one)")
    sweep = load_sweep(args.config)        # every key and point checked before any work
    out = check_out(args.out or sweep.out or f"results/sweep-{sweep.name}")
    if args.scheduler:
        _say(f"connecting to the Dask scheduler at {args.scheduler}")
    engine = DaskEngine(args.scheduler, args.workers) if args.scheduler or args.workers else None
    try:
        run_sweep(sweep, out, engine=engine, fresh=args.fresh, progress=_say)
    finally:
        if engine is not None:
            engine.close()
    return 0


def add_sweep_arguments(parser):
    parser.add_argument("--config", metavar="FILE",
                        help="sweep file: [sweep], [fixed], [grid] and [[points]] tables "
                             "(see README; --example prints one)")
    parser.add_argument("--example", action="store_true",
                        help="print a small complete sweep file (2 array shapes x 3 DRAM "
                             "rates) and exit")
    parser.add_argument("--out", metavar="DIR",
                        help="results folder (default: [sweep] out, else "
                             "results/sweep-<name>); a rerun resumes it")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="run on this Dask cluster (default: an embedded LocalCluster, "
                             "one worker process per core)")
    parser.add_argument("--workers", type=_positive, metavar="N",
                        help="worker processes of the embedded cluster (default: the cores)")
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_true", default=True,
                        help="skip the points already finished in --out (the default)")
    resume.add_argument("--fresh", action="store_true",
                        help="forget the results in --out and run every point again")


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
    gemm.add_argument("--dram-bytes-per-cycle", default="4",
                      metavar="BYTES", help="DRAM bandwidth, e.g. 2 or 7/4 "
                                            "(default: %(default)s)")
    gemm.add_argument("--dram-latency", type=_positive, default=32, metavar="CYCLES",
                      help="DRAM read latency (default: %(default)s)")
    add_tile_arguments(gemm)
    add_simulation_arguments(gemm)
    gemm.set_defaults(run=run_gemm)

    study = commands.add_parser(
        "study", help="the main job: MHA, GQA, MLA and MoE decode layers on the RTL tile "
                      "against the roofline, with a report",
        description="Scale the decode layers of real models, run every op on the tile RTL "
                    "(outputs checked bit-exactly against numpy), compare the counters "
                    "with the analytical tile model and the roofline, extrapolate to "
                    "full size on real machines, and write JSON, CSV, PNG plots and a "
                    "Markdown report. With no options it runs the built-in default study.")
    add_study_arguments(study)
    study.set_defaults(run=run_study_command)

    sweep = commands.add_parser(
        "sweep", help="run a grid or list of accelerator variants x workloads, locally or "
                      "on a Dask cluster, with a report",
        description="Run every point of a sweep file (tile fields, attention unit, machine, "
                    "model, batch, study options) on the RTL, on an embedded Dask "
                    "LocalCluster or an existing cluster (--scheduler). Results stream to "
                    "DIR/points.jsonl and DIR/summary.csv; a rerun skips finished points; "
                    "the report (report.md, heat maps, Pareto front) is written at the end.")
    add_sweep_arguments(sweep)
    sweep.set_defaults(run=run_sweep_command)

    roofline = commands.add_parser(
        "roofline", help="arithmetic intensity and roofline of a model layer on a machine")
    analysis_cli.add_roofline_arguments(roofline)
    roofline.set_defaults(run=analysis_cli.run_roofline)

    claims = commands.add_parser(
        "claims", help="every quantitative claim of the paper that rooftile computes")
    analysis_cli.add_claims_arguments(claims)
    claims.set_defaults(run=analysis_cli.run_claims)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (BuildError, SimulationError) as error:
        parser.exit(1, f"rooftile {args.command}: {error}\n")
    except (RooftileError, ValueError) as error:
        # Bad input and missing tools: what the user must change, exit 2.
        parser.exit(2, f"rooftile {args.command}: error: {error}\n")


if __name__ == "__main__":
    sys.exit(main())
