"""Wall time of ``rooftile study``: cold (empty build cache, every build included) and
warm (the same study again, builds cached). Prints seconds per run.

    python scripts/bench_study.py            # the default study, cold then warm
    python scripts/bench_study.py --warm-only
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(out, cache, extra):
    env = {**os.environ, "ROOFTILE_CACHE": str(cache)}
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rooftile.sim.cli", "study", "--out", str(out),
                    *extra], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


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
            cold = run(tmp / "cold", cache, args.study_args)
            print(f"cold (empty build cache): {cold:7.1f} s", flush=True)
        warm = run(tmp / "warm", cache, args.study_args)
        print(f"warm (builds cached):     {warm:7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
