"""Cold build of a tile configuration: wall seconds and peak memory of the build.

Builds into an empty temporary cache in a child process, so that the peak resident
memory of everything the build ran (Amaranth, yosys, Verilator, the C++ compiler) is
that child's ``RUSAGE_CHILDREN`` maximum. ``rooftile.sim.run.flow.BUILD_PEAK_MIB`` sizes
the parallel builds of a study from this figure.

    python scripts/bench_build.py            # the default study's 8x8 tile
    python scripts/bench_build.py --rows 16 --cols 16
"""

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time


def _build(rows, cols, queue):
    from rooftile.sim.run import flow
    from rooftile.sim.study.spec import balanced_tile
    began = time.perf_counter()
    build = flow.build(balanced_tile(rows=rows, cols=cols), "tile")
    wall = time.perf_counter() - began
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    queue.put((wall, build.generate_s, build.compile_s, own / 1024, children / 1024))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--cols", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["ROOFTILE_CACHE"] = cache
        queue = multiprocessing.get_context("spawn").Queue()
        child = multiprocessing.get_context("spawn").Process(
            target=_build, args=(args.rows, args.cols, queue))
        child.start()
        wall, generate_s, compile_s, own_mib, children_mib = queue.get()
        child.join()
    print(f"{args.rows}x{args.cols} tile, cold build: {wall:.1f} s ({generate_s:.1f} s "
          f"generating Verilog, {compile_s:.1f} s compiling the simulator); peak memory "
          f"{own_mib:.0f} MiB in Python (Amaranth, yosys), {children_mib:.0f} MiB in the "
          f"largest tool process (Verilator, C++ compiler)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
