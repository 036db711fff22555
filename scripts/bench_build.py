"""Cold build of a tile configuration: wall seconds and peak memory of the build.

Builds into an empty temporary cache, then into one that holds only the first build's
Verilator run-time objects (:mod:`rooftile.sim.run.objcache`: what every build after a
cache's first finds), each in a child process, so that the peak resident
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
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rooftile.sim.run import flow


def _build(rows, cols, queue):
    from rooftile.sim.run import flow
    from rooftile.sim.study.spec import balanced_tile
    began = time.perf_counter()
    build = flow.build(balanced_tile(rows=rows, cols=cols), "tile")
    wall = time.perf_counter() - began
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    queue.put((wall, build.generate_s, build.compile_s, own / 1024, children / 1024))


def _measure(cache, args):
    """Build in a child process with ``cache`` as its cache."""
    os.environ["ROOFTILE_CACHE"] = cache
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_build, args=(args.rows, args.cols, queue))
    child.start()
    figures = queue.get()
    child.join()
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--cols", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as second:
        for where, root in (("an empty cache", cache),
                            ("a cache with Verilator's run-time objects", second)):
            if root == second:   # the first build compiled them
                shutil.copytree(Path(cache) / flow.RUNTIME_OBJECTS,
                                Path(second) / flow.RUNTIME_OBJECTS)
            wall, generate_s, compile_s, own_mib, children_mib = _measure(root, args)
            print(f"{args.rows}x{args.cols} tile, cold build in {where}: {wall:.1f} s "
                  f"({generate_s:.1f} s generating Verilog, {compile_s:.1f} s compiling the "
                  f"simulator); peak memory {own_mib:.0f} MiB in Python (Amaranth, yosys), "
                  f"{children_mib:.0f} MiB in the largest tool process (Verilator, C++ "
                  f"compiler)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
