"""Fused attention programs on the tile: scores, softmax and context, bit-exact end to end.

Each program's cycles are checked against the analytical tile model with the same 5%
tolerance as the GEMMs; busy and byte counters must match the model exactly.
"""

from fractions import Fraction

import pytest

import numpy as np

from rooftile.hdl.params import TileConfig
from rooftile.sim.compile.attention import AttentionShape, compile_attention
from rooftile.sim.model.tile_model import predict_program
from rooftile.sim.run.pipeline import run_programs

MODEL_TOLERANCE = 0.05
CONFIG = TileConfig(rows=4, cols=4, sp_depth=512, acc_depth=256, dram_depth=8192,
                    dram_bytes_per_cycle=Fraction(3, 2), dram_latency=9)
# MHA (one query per K/V), GQA with a partial query block, MLA absorbed (values are the
# latent part of the keys, more heads than columns) and contexts off the array grid;
# three and more instances exercise the reuse of every double-buffered region.
# The last needs two passes over K and V: its query blocks' scores do not all fit.
SHAPES = [AttentionShape(3, 1, 21, 8, 8), AttentionShape(4, 6, 17, 10, 6),
          AttentionShape(2, 9, 16, 12, 8, shared_values=True), AttentionShape(2, 16, 52, 8, 8)]


def run_attention(config, shapes, *, seed):
    """Compile each shape and run them with seeded random operands in one start."""
    rng = np.random.default_rng(seed)
    programs = [compile_attention(config, shape) for shape in shapes]
    return run_programs(config, programs, [p.random_operands(config, rng) for p in programs])


def test_attention_is_bit_exact_and_matches_the_model():
    for result in run_attention(CONFIG, SHAPES, seed=5):
        s = result.program.shape
        assert result.exact, (s, result.output[0], result.expected[0])
        counters = result.counters
        model = predict_program(CONFIG, result.program.commands)
        assert abs(model.cycles - counters.cycles) <= MODEL_TOLERANCE * counters.cycles
        assert counters.array_busy == model.array_busy
        assert counters.vector_busy == model.vector_busy > 0
        # Bytes counted by hand: K and V once per pass, Q once, O narrow.
        passes = result.program.passes
        assert passes == (2 if s.queries == 16 else 1)
        assert counters.bytes_read == s.instances * (
            passes * s.context * (s.key_dim + s.value_dim) + s.queries * s.key_dim)
        assert counters.bytes_written == s.instances * s.queries * s.value_dim
        assert counters.useful_macs * 2 == s.flop


def test_probabilities_are_not_all_saturated():
    # The default score multiplier must give a softmax that is neither flat nor one-hot,
    # or the exactness check above would not test the softmax at all.
    (result,) = run_attention(CONFIG, SHAPES[1:2], seed=1)
    values = result.expected
    assert len(set(values.ravel().tolist())) > 20


@pytest.mark.parametrize("shape, message", [
    (AttentionShape(1, 1, 250, 8, 8), r"every score of one query block"),
    (AttentionShape(1, 1, 300, 8, 8), r"two K/V slots .* sp_depth is 512"),
])
def test_shapes_that_do_not_fit_are_refused_before_simulation(shape, message):
    with pytest.raises(ValueError, match=message):
        compile_attention(CONFIG, shape)


def test_bad_shape_names_the_field():
    with pytest.raises(ValueError, match="context must be an integer >= 1, got 0"):
        AttentionShape(1, 1, 0, 8, 8)
