"""``rooftile roofline``: what a layer costs on a machine, what bounds it, and the headline
claims; ``rooftile claims``: every quantitative claim of the paper rooftile computes.

The ``rooftile`` console script (``sim/cli.py``) mounts these as subcommands through
:func:`add_roofline_arguments` / :func:`run_roofline` and :func:`add_claims_arguments` /
:func:`run_claims`; :func:`main` and :func:`claims_main` run them alone
(``python -m rooftile.analysis.cli``).
"""

import argparse
import math
import json
import sys
from pathlib import Path

from ..hdl.errors import RooftileError
from .claims import PAPER_MODELS, headline_claims, intensity_sweep, paper_claims, routing_imbalance
from .dtypes import DTYPE_BYTES
from .hardware import HARDWARE, HardwareSpec, tile_hardware
from .interconnect import INTERCONNECTS
from .models import MODELS, MLAAttention, get_model
from .ops import ATTENTION_FORMS
from .plots import plot_intensity_vs_batch, plot_roofline, plot_time_breakdown
from .report import PHASES, format_table, layer_rows, write_csv, write_json
from .system import balance_sweep, tpot_sweep
from .system_plots import plot_balance, plot_tpot_vs_batch

__all__ = ["add_roofline_arguments", "run_roofline", "main", "add_claims_arguments", "run_claims", "claims_main"]

#: Batch sizes of the intensity-against-batch figure: powers of two up to 16384.
SWEEP_BATCHES = tuple(2**i for i in range(15))
#: Models the headline claims fall back to when the chosen model lacks MLA or MoE.
DEFAULT_MLA_MODEL = DEFAULT_MOE_MODEL = "deepseek-v3"
#: ``--hw`` name of the rooftile tile.
TILE = "tile"
DPI = 120



def _finite(text: str) -> float:
    """An argparse type: a finite real number (inf and nan name no setting)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value

def add_roofline_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``rooftile roofline`` to ``parser``."""
    parser.add_argument("--model", metavar="NAME", default="deepseek-v3",
                        help=f"model, one of: {', '.join(MODELS)} (default: %(default)s)")
    parser.add_argument("--hw", metavar="NAME", default="h100",
                        help=f"hardware preset, one of: {', '.join(HARDWARE)}, or '{TILE}' for a rooftile "
                        "tile of the default TileConfig (default: %(default)s)")
    parser.add_argument("--clock-hz", metavar="HZ", type=_finite, default=1e9,
                        help=f"clock of --hw {TILE} (default: %(default)g)")
    parser.add_argument("--phase", choices=PHASES, default="decode", help="(default: %(default)s)")
    parser.add_argument("--batch", metavar="N", type=int, default=64,
                        help="sequences per device (default: %(default)s)")
    parser.add_argument("--context", metavar="L", type=int, default=4096,
                        help="decode: tokens each sequence attends to (default: %(default)s)")
    parser.add_argument("--q-tokens", metavar="T", type=int, default=1,
                        help="decode: query tokens per sequence per step, >1 for speculative decoding "
                        "(default: %(default)s)")
    parser.add_argument("--seq", metavar="S", type=int, default=None,
                        help="prefill: prompt length (default: the --context value)")
    parser.add_argument("--dtype", choices=tuple(DTYPE_BYTES), default="bf16",
                        help="element format of weights, KV cache and activations (default: %(default)s)")
    parser.add_argument("--ep", metavar="D", type=int, default=1,
                        help="expert-parallel devices; the figures and headline also show EP at "
                        "n_experts/top_k devices when this is 1 (default: %(default)s)")
    parser.add_argument("--layer", choices=("dense", "moe", "all"), default="all",
                        help="layer kind to analyse; 'all' takes every kind the model has (default: %(default)s)")
    parser.add_argument("--attention", choices=ATTENTION_FORMS, default="absorbed",
                        help="MLA execution and accounting form (see rooftile.analysis.ops.MLA_FORMS; "
                        "ignored by MHA/GQA models) (default: %(default)s)")
    parser.add_argument("--seed", metavar="SEED", type=int, default=0,
                        help="seed of the MoE routing sample (default: %(default)s)")
    parser.add_argument("--skew", metavar="SIGMA", type=_finite, default=0.0,
                        help="std of the per-expert logit bias of the routing sample, 0 = uniform "
                        "(default: %(default)s)")
    parser.add_argument("--out", metavar="DIR", type=Path, default=Path("results/roofline"),
                        help="folder for the CSV/JSON tables and PNG plots (default: %(default)s)")


def _hardware(name: str, clock_Hz: float) -> HardwareSpec:
    """The preset ``name``, or the roofline of the default rooftile tile at ``clock_Hz``."""
    if name == TILE:
        # Imported here: the analysis does not need the HDL layer for any other machine.
        from rooftile.hdl.params import TileConfig

        return tile_hardware(TileConfig(), clock_Hz)
    if name not in HARDWARE:
        raise ValueError(f"unknown hardware {name!r}; known: {', '.join([*HARDWARE, TILE])}")
    return HARDWARE[name]


def _headline_text(claims, routing) -> str:
    c = claims
    crossover = [
        f"{'never (up to 2^20)' if batch is None else batch}{label}"
        for batch, label in ((c.moe_dense_crossover_batch, " without EP"),
                             (c.moe_dense_crossover_batch_ep, f" with EP={c.ep_devices}"))
    ]
    return "\n".join([
        f"Headline claims (decode, {c.dtype}, batch {c.batch}, context {c.context}):",
        f"  MLA absorbed attention ({c.mla_model}): {c.mla_absorbed_attention_flop_per_byte:.1f} FLOP/byte; "
        f"MHA ({c.mha_model}): {c.mha_attention_flop_per_byte:.2f} FLOP/byte; ratio {c.mla_over_mha:.1f}x",
        f"  MLA naive attention ({c.mla_model}): {c.mla_naive_attention_flop_per_byte:.1f} FLOP/byte "
        "(high only because it recomputes per-head K/V from the latent every step)",
        f"  MoE routed experts ({c.moe_model}) at batch {c.batch}: {c.moe_expert_flop_per_byte:.2f} FLOP/byte, "
        f"{c.moe_expert_ep_flop_per_byte:.1f} with EP={c.ep_devices}; dense FFN: {c.dense_ffn_flop_per_byte:.1f}",
        f"  Experts reach the dense FFN's intensity at batch {crossover[0]}, {crossover[1]}",
        f"  Routing sample (seed {routing.seed}, skew {routing.skew:g}, {routing.tokens_routed} tokens): "
        f"tokens per expert min {routing.min_tokens} / mean {routing.mean_tokens:.2f} / max {routing.max_tokens} "
        f"(expected {routing.expected_tokens_per_expert:.2f}); hottest expert "
        f"{routing.hottest_flop_per_byte:.1f} FLOP/byte, coldest active {routing.coldest_active_flop_per_byte:.1f}",
    ])


def run_roofline(args: argparse.Namespace) -> int:
    """Print the per-op table and headline figures, and write tables and plots to ``args.out``.

    Returns 0, or 2 after printing the message when an input is invalid.
    """
    try:
        model, hw = get_model(args.model), _hardware(args.hw, args.clock_hz)
        layers = list(model.layer_counts) if args.layer == "all" else [args.layer]
        context = args.seq if args.phase == "prefill" and args.seq is not None else args.context
        rows = [
            row
            for layer in layers
            for row in layer_rows(model, hw, args.batch, context, args.q_tokens, args.phase, args.dtype,
                                  args.ep, args.attention, layer)
        ]
        mla_model = model if isinstance(model.attention, MLAAttention) else get_model(DEFAULT_MLA_MODEL)
        moe_model = model if model.moe is not None else get_model(DEFAULT_MOE_MODEL)
        figure_ep = args.ep if args.ep > 1 else moe_model.moe.balanced_ep_devices
        claims = headline_claims(args.batch, args.context, args.dtype, figure_ep,
                                 mla_model=mla_model, moe_model=moe_model)
        # Tokens per device per step: batch x query tokens in decode, batch x prompt in prefill.
        routing = routing_imbalance(moe_model, args.batch * rows[0].q_tokens, args.dtype, args.ep, args.seed, args.skew)
        sweep = intensity_sweep(SWEEP_BATCHES, args.context, args.dtype, figure_ep,
                                mla_model=mla_model, moe_model=moe_model)
    except ValueError as error:
        print(f"rooftile roofline: error: {error}", file=sys.stderr)
        return 2

    first = rows[0]
    print(f"{model.name} {args.phase} on {hw.name} ({args.dtype}): batch {args.batch} per device, "
          f"context {first.context}, {first.q_tokens} query token(s) per sequence, EP={args.ep}"
          + (f", MLA {args.attention}" if isinstance(model.attention, MLAAttention) else ""))
    print(format_table(rows))
    if args.layer == "all":
        per_layer = {layer: sum(r.time_s for r in rows if r.layer == layer) for layer in layers}
        total = sum(model.layer_counts[layer] * t for layer, t in per_layer.items())
        counts = " + ".join(f"{n} {layer}" for layer, n in model.layer_counts.items())
        print(f"model total ({counts} layers; embeddings and LM head not counted): {total * 1e3:.3f} ms per step")
    print()
    print(_headline_text(claims, routing))

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "ops.csv")
    write_json(rows, out / "ops.json")
    write_csv(sweep, out / "intensity_vs_batch.csv")
    write_json(claims, out / "headline.json")
    write_json(routing, out / "routing.json")
    figures = {
        "roofline.png": plot_roofline(rows, hw, args.dtype),
        "intensity_vs_batch.png": plot_intensity_vs_batch(sweep, hw, args.dtype),
        "time_breakdown.png": plot_time_breakdown(rows),
    }
    for name, figure in figures.items():
        figure.savefig(out / name, dpi=DPI)
    print(f"\nwrote {', '.join(['ops.csv', 'ops.json', 'intensity_vs_batch.csv', 'headline.json', 'routing.json', *figures])} to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``rooftile roofline`` on ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(prog="rooftile roofline", description=__doc__.splitlines()[0])
    add_roofline_arguments(parser)
    return run_roofline(parser.parse_args(argv))


#: Contexts of the balance figure (B_cap and B_MoE against context): 1K to 128K tokens.
BALANCE_CONTEXTS = tuple(2**i for i in range(10, 18))
#: System batches of the TPOT figure: powers of two up to 64K sequences.
TPOT_BATCHES = tuple(2**i for i in range(17))
#: Model of the TPOT-against-batch figure.
TPOT_MODEL = "deepseek-r1"


def add_claims_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``rooftile claims`` to ``parser``."""
    parser.add_argument("--machine", metavar="NAME", default="b200",
                        help=f"machine, one of: {', '.join(HARDWARE)} (default: %(default)s)")
    parser.add_argument("--devices", metavar="N", type=int, default=32,
                        help="devices of the deployment; each model keeps its paper TP degree "
                        "(default: %(default)s)")
    parser.add_argument("--context", metavar="L", type=int, default=4096,
                        help="tokens each sequence attends to (default: %(default)s)")
    parser.add_argument("--dtype", choices=tuple(DTYPE_BYTES), default="bf16",
                        help="element format of weights, KV cache and activations (default: %(default)s)")
    parser.add_argument("--interconnect", metavar="NAME", default="nvlink5",
                        help=f"link of the TPOT and B_SLO claims, one of: {', '.join(INTERCONNECTS)} "
                        "(default: %(default)s)")
    parser.add_argument("--tpot-ms", metavar="MS", type=_finite, default=50.0,
                        help="TPOT target of B_SLO, a chosen value, not the paper's (default: %(default)s)")
    parser.add_argument("--zipf", metavar="S", type=_finite, default=1.0,
                        help="Zipf exponent of the expert-popularity sample, 0 = uniform (default: %(default)s)")
    parser.add_argument("--seed", metavar="SEED", type=int, default=0,
                        help="seed of the routing sample and expert placement (default: %(default)s)")
    parser.add_argument("--json", metavar="PATH", type=Path, default=None,
                        help="write the claims as one flat JSON object of numbers")
    parser.add_argument("--out", metavar="DIR", type=Path, default=None,
                        help="folder for claims.csv, balance.csv, tpot.csv and their PNG plots")


def run_claims(args: argparse.Namespace) -> int:
    """Print every claim with its settings, formula and function; write ``--json``/``--out``.

    Returns 0, or 2 after printing one line when an input is invalid.
    """
    try:
        claims = paper_claims(args.machine, args.devices, args.context, args.dtype, args.interconnect,
                              args.tpot_ms / 1e3, args.zipf, args.seed)
        if args.out is not None:
            balance = balance_sweep(PAPER_MODELS, args.machine, BALANCE_CONTEXTS, args.devices, args.dtype)
            tpots = tpot_sweep(TPOT_MODEL, args.machine, INTERCONNECTS, TPOT_BATCHES, args.context,
                               args.devices, args.dtype)
    except RooftileError as error:
        print(f"rooftile claims: error: {error}", file=sys.stderr)
        return 2

    width = max(len(c.key) for c in claims)
    for c in claims:
        print(f"{c.key:<{width}}  {c.value:>12.6g} {c.unit}")
        print(f"{'':<{width}}    at {c.settings}; {c.formula}; rooftile.analysis.{c.function}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({c.key: c.value for c in claims}, indent=1) + "\n")
        print(f"\nwrote {len(claims)} claims to {args.json}")
    if args.out is not None:
        out = args.out
        out.mkdir(parents=True, exist_ok=True)
        tables = {"claims.csv": claims, "balance.csv": balance, "tpot.csv": tpots}
        tables = {name: rows for name, rows in tables.items() if rows}  # no batch fits: no TPOT rows
        for name, rows in tables.items():
            write_csv(rows, out / name)
        figures = {"balance.png": plot_balance(balance),
                   "tpot_vs_batch.png": plot_tpot_vs_batch(tpots, args.tpot_ms / 1e3)}
        for name, figure in figures.items():
            figure.savefig(out / name, dpi=DPI)
        print(f"wrote {', '.join([*tables, *figures])} to {out}")
    return 0


def claims_main(argv: list[str] | None = None) -> int:
    """Run ``rooftile claims`` on ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(prog="rooftile claims", description="every quantitative claim of "
                                     "arXiv 2507.15465 that rooftile computes")
    add_claims_arguments(parser)
    return run_claims(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
