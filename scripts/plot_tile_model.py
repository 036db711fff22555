"""Run GEMMs on the tile RTL and plot the analytical model's predicted cycles against the
measured ones; writes ``model_vs_rtl.png`` and ``model_vs_rtl.csv`` to ``--out``.

    python scripts/plot_tile_model.py [--out results/tile_model]
"""

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from rooftile.hdl.params import TileConfig
from rooftile.sim.compile.gemm import compile_gemm
from rooftile.sim.run.pipeline import run_programs

CONFIGS = {
    "4x4, 5/2 B/cycle": TileConfig(rows=4, cols=4, sp_depth=64, acc_depth=32,
                                    dram_depth=16384, program_depth=4096,
                                    dram_bytes_per_cycle="5/2", dram_latency=12),
    "8x8, 32 B/cycle": TileConfig(rows=8, cols=8, dram_bytes_per_cycle=32, dram_latency=32),
    "8x8, 1 B/cycle": TileConfig(rows=8, cols=8, dram_bytes_per_cycle=1, dram_latency=32),
}
SHAPES = [(1, 256, 64), (8, 64, 8), (17, 31, 13), (32, 128, 32), (64, 96, 48), (3, 97, 40)]


def measure(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for label, config in CONFIGS.items():
        cases = [(rng.integers(-128, 128, (m, k)), rng.integers(-128, 128, (k, n)))
                 for m, k, n in SHAPES]
        programs = [compile_gemm(config, *shape) for shape in SHAPES]
        for result in run_programs(config, programs, cases):
            shape, predicted = result.program.shape, result.prediction
            if not result.exact:
                raise SystemExit(f"{label} {shape}: RTL result differs from numpy")
            measured = result.counters.cycles
            rows.append({"config": label, "M": shape[0], "K": shape[1],
                         "N": shape[2], "measured_cycles": measured,
                         "predicted_cycles": predicted.cycles,
                         "error": predicted.cycles / measured - 1,
                         "array_busy": result.counters.array_busy / measured})
    return rows


def plot_model_vs_rtl(rows):
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for label in CONFIGS:
        points = [r for r in rows if r["config"] == label]
        ax.scatter([r["measured_cycles"] for r in points],
                   [r["predicted_cycles"] for r in points], label=label)
    top = max(max(r["measured_cycles"], r["predicted_cycles"]) for r in rows) * 1.3
    bottom = min(r["measured_cycles"] for r in rows) / 1.3
    ax.plot([bottom, top], [bottom, top], color="grey", lw=0.8, label="exact")
    ax.fill_between([bottom, top], [bottom * 0.95, top * 0.95], [bottom * 1.05, top * 1.05],
                    color="grey", alpha=0.15, label="±5%")
    ax.set(xscale="log", yscale="log", xlabel="measured on RTL [cycles]",
           ylabel="analytical model [cycles]",
           title=f"Tile model vs RTL (max error {max(abs(r['error']) for r in rows):.1%})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/tile_model"), metavar="DIR",
                        help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    rows = measure()
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "model_vs_rtl.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot_model_vs_rtl(rows).savefig(args.out / "model_vs_rtl.png", dpi=120)
    for r in rows:
        print(f"{r['config']:>18} {r['M']:>3}x{r['K']:>3}x{r['N']:<3} measured "
              f"{r['measured_cycles']:>7} predicted {r['predicted_cycles']:>7} "
              f"({r['error']:+.1%}) array busy {r['array_busy']:.0%}")
    print(f"wrote {args.out / 'model_vs_rtl.png'} and {args.out / 'model_vs_rtl.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
