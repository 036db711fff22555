"""Cross-check the area model's array scaling against yosys gate and transistor counts.

The model (``rooftile.analysis.area``) prices an array as ``rows * cols * mac_area(w, acc)``.
This synthesises ``SystolicArray`` for each size and width with yosys (``synth -flatten``,
generic gates, ``stat -tech cmos``) and prints the counts beside the model: if both scale
alike, transistors per modelled µm² is the same for every row. Run:
    python scripts/area_crosscheck.py [--sizes 2 4 8] [--widths 8 16]
"""

import argparse
from collections import defaultdict

from rooftile.analysis.area import default_acc_width
from rooftile.sim.synth.netlist import array_crosscheck, ratio_deviation, spread


def main_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", metavar="N", type=int, nargs="+", default=[2, 4],
                        help="square array sizes to synthesise (default: %(default)s; 8 takes "
                             "about 20 s at 8 bits, 45 s at 16)")
    parser.add_argument("--widths", metavar="BITS", type=int, nargs="+", default=[8, 16],
                        choices=[8, 16],
                        help="operand widths; the accumulator is 2 * BITS + 16 "
                             "(default: %(default)s)")
    return parser


def main_runner(args):
    shapes = [(n, n, w, default_acc_width(w)) for w in args.widths for n in args.sizes]
    rows = array_crosscheck(shapes)
    mean_ratio = sum(r.transistors_per_um2 for r in rows) / len(rows)
    header = (f"{'config':<18}{'cells':>9}{'cells/PE':>10}{'transistors':>13}{'tr/PE':>9}"
              f"{'model um2/PE':>14}{'model mm2':>11}{'tr/um2':>8}{'dev':>8}")
    print(header)
    print("-" * len(header))
    for r in rows:
        per_pe_um2 = r.model_mm2 * 1e6 / r.pes
        print(f"{f'{r.rows}x{r.cols} int{r.data_width}/acc{r.acc_width}':<18}{r.cells:>9}"
              f"{r.cells / r.pes:>10.1f}{r.transistors:>13}{r.transistors / r.pes:>9.1f}"
              f"{per_pe_um2:>14.1f}{r.model_mm2:>11.5f}{r.transistors_per_um2:>8.1f}"
              f"{r.transistors_per_um2 / mean_ratio - 1:>+8.1%}")
    print()
    by_width = defaultdict(list)
    for r in rows:
        by_width[r.data_width].append(r)
    for width, group in by_width.items():
        if len(group) > 1:
            print(f"per-PE spread across sizes, int{width}: cells "
                  f"{spread([r.cells / r.pes for r in group]):.2%}, transistors "
                  f"{spread([r.transistors / r.pes for r in group]):.2%}")
    if len(by_width) > 1:
        narrow, wide = min(by_width), max(by_width)
        n, w = by_width[narrow][0], by_width[wide][0]
        yosys = (w.transistors / w.pes) / (n.transistors / n.pes)
        cells = (w.cells / w.pes) / (n.cells / n.pes)
        model = (w.model_mm2 / w.pes) / (n.model_mm2 / n.pes)
        print(f"int{wide}/int{narrow} per-PE ratio: yosys transistors {yosys:.3f}, "
              f"cells {cells:.3f}, model area {model:.3f} "
              f"(model off by {model / yosys - 1:+.1%} vs transistors)")
    print(f"agreement: transistors per modelled um2 within {ratio_deviation(rows):.2%} "
          f"of their mean over {len(rows)} configs")
    return rows


def main(argv=None):
    return main_runner(main_parser().parse_args(argv))


if __name__ == "__main__":
    main()
