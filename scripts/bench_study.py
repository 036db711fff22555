"""Wall time of ``rooftile study``: cold (empty build cache, every build included) and
warm (the same study again, builds cached). Prints seconds per run and their shares:
building, simulating (simulator starts, several at once) and Python (lowering,
compiling, the tile model, analysis and reports), from the study's own provenance.

    python scripts/bench_study.py            # the default study, cold then warm
    python scripts/bench_study.py --warm-only
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(name, out, cache, extra):
    """Run the study; print its wall time and shares."""
    env = {**os.environ, "ROOFTILE_CACHE": str(cache)}
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rooftile.sim.cli", "study", "--out", str(out),
                    *extra], env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - began
    spent = json.loads((out / "results.json").read_text())["provenance"]["wall_s"]
    python = wall - spent["build"] - spent["simulate"]
    print(f"{name:<25} {wall:7.1f} s  (build {spent['build']:.1f} s, simulate "
          f"{spent['simulate']:.1f} s, Python and process start {python:.1f} s)", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-only", action="store_true",
                        help="skip the cold run (uses $ROOFTILE_CACHE or the default cache)")
    parser.add_argument("study_args", nargs="*", metavar="ARG",
                        help="extra arguments for rooftile study (after --)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.warm_only:
            cache = Path(os.environ.get("ROOFTILE_CACHE", Path.home() / ".cache/rooftile"))
        else:
            cache = tmp / "cache"
            run("cold (empty build cache):", tmp / "cold", cache, args.study_args)
        run("warm (builds cached):", tmp / "warm", cache, args.study_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
