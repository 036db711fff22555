"""Fuzz: random tiles, GEMMs and attention ops on the RTL, against numpy and the model.

A seeded generator (not hypothesis: every program of one TileConfig must share one
Verilator build and one simulator start, which a per-example strategy cannot batch)
draws tile shapes (2..8 rows and columns), DRAM bandwidths (rationals from a few bytes
per word up to a word per cycle), latencies and scratchpad sizes, then GEMMs of random
shape (narrow or wide stores) and attention ops that fit each tile. Every program must
be bit-exact and its cycle, byte and busy counters must equal the model's: the model
follows the DRAM channel request by request and was exact on all 200 programs of
``ROOFTILE_FUZZ_CONFIGS=8 ROOFTILE_FUZZ_PROGRAMS=25`` (the contract elsewhere is 5%).

The budget is fixed for CI: :data:`CONFIGS` builds of about 30 s each, with
:data:`PROGRAMS` programs each. ``ROOFTILE_FUZZ_CONFIGS``, ``ROOFTILE_FUZZ_PROGRAMS``
and ``ROOFTILE_FUZZ_SEED`` widen or move it for a longer run by hand, e.g.
``ROOFTILE_FUZZ_CONFIGS=8 ROOFTILE_FUZZ_PROGRAMS=25 pytest -s tests/sim/compile/test_fuzz.py``
(``-s`` prints each config's worst model error).
"""

import os
from fractions import Fraction

import numpy as np
import pytest

from rooftile.hdl.params import TileConfig
from rooftile.sim.compile.attention import AttentionShape, compile_attention
from rooftile.sim.compile.gemm import compile_gemm
from rooftile.sim.run.pipeline import run_programs

SEED = int(os.environ.get("ROOFTILE_FUZZ_SEED", "17"))
CONFIGS = int(os.environ.get("ROOFTILE_FUZZ_CONFIGS", "2"))
PROGRAMS = int(os.environ.get("ROOFTILE_FUZZ_PROGRAMS", "14"))
#: One in this many programs is an attention op.
ATTENTION_EVERY = 5


def random_config(rng):
    """A small tile with a random array shape, bandwidth and latency."""
    rows, cols = (int(x) for x in rng.integers(2, 9, 2))
    word = TileConfig(rows=rows, cols=cols).dram_word_bytes
    # A rational of denominator up to 600 (integers, small fractions and awkward ones
    # like 128/591), log-uniform between a word per 32 cycles and a word per cycle, so
    # that memory-bound and compute-bound programs are both common.
    den = int(rng.choice([1, 2, 4, 3, 7, int(rng.integers(8, 601))]))
    num = max(1, min(word * den, round(word * den * 2.0 ** -rng.uniform(0, 5))))
    return TileConfig(rows=rows, cols=cols, sp_depth=int(rng.choice([64, 128, 256])),
                      acc_depth=int(rng.choice([4, 8, 16])) * rows, dram_depth=8192,
                      dram_bytes_per_cycle=Fraction(num, den),
                      dram_latency=int(rng.integers(1, 41)), program_depth=4096)


def random_gemm(rng, config):
    """A compiled GEMM of random shape that fits ``config``, with its operands."""
    while True:
        m, n = (int(rng.integers(1, 6 * size + 1)) for size in (config.rows, config.cols))
        k = int(rng.integers(1, 3 * config.sp_depth // 4 + 1))
        if rng.random() < 0.25:   # thin: a GEMV or a single block row or column
            m, n = (1, n) if rng.random() < 0.5 else (m, 1)
        out_shift = int(rng.integers(0, 16)) if rng.random() < 0.3 else None
        try:
            return compile_gemm(config, m, k, n, out_shift=out_shift)
        except ValueError:
            continue


def random_attention(rng, config):
    """A compiled attention op that fits ``config``, or None if none of a few draws do."""
    for _ in range(20):
        key_dim = int(rng.integers(1, 25))
        shared = bool(rng.random() < 0.3)
        shape = AttentionShape(int(rng.integers(1, 4)), int(rng.integers(1, 2 * config.cols + 1)),
                               int(rng.integers(1, 4 * config.rows + 1)), key_dim,
                               int(rng.integers(1, key_dim + 1 if shared else 25)),
                               shared_values=shared)
        try:
            return compile_attention(config, shape)
        except ValueError:
            continue
    return None


@pytest.mark.parametrize("index", range(CONFIGS))
def test_random_programs_are_exact_and_match_the_model(index):
    rng = np.random.default_rng([SEED, index])
    config = random_config(rng)
    programs = []
    for p in range(PROGRAMS):
        program = random_attention(rng, config) if p % ATTENTION_EVERY == 1 else None
        programs.append(program or random_gemm(rng, config))
    operands = [program.random_operands(config, rng) for program in programs]
    failures, worst = [], (-1.0, "")
    for result in run_programs(config, programs, operands):
        counters, model = result.counters, result.prediction
        error = (model.cycles - counters.cycles) / counters.cycles
        what = f"{result.program.shape}: model {model.cycles}, RTL {counters.cycles}"
        worst = max(worst, (abs(error), f"{error:+.2%} {what}"))
        if not result.exact:
            failures.append(f"not bit-exact: {what}")
        if model.cycles != counters.cycles:
            failures.append(f"model off by {error:+.2%}: {what}")
        if (model.array_busy, model.bytes_read, model.bytes_written) != \
                (counters.array_busy, counters.bytes_read, counters.bytes_written):
            failures.append(f"busy or byte counters differ from the model: {what}")
    print(f"\n{config.rows}x{config.cols} at {config.dram_bytes_per_cycle} B/cycle, "
          f"latency {config.dram_latency}, sp {config.sp_depth}, acc {config.acc_depth}: "
          f"{len(programs)} programs, worst model error {worst[1]}")
    assert not failures, (config, failures)
