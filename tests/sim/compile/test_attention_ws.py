"""Fused attention on the weight-stationary tile under Verilator: bit-exact end to end,
and the tile model exact to the cycle (tolerance 0), on the 4x4 build that
``test_gemm_ws.py`` makes (the 2x3 and 2x2 shapes run in Amaranth's simulator,
``tests/hdl/test_tile.py``)."""

from rooftile.sim.compile.attention import AttentionShape

from test_attention import run_attention
from test_gemm_ws import WS_CONFIG

# MHA over three instances, GQA with a partial query block in two passes (its scores
# do not all fit the accumulator at once), MLA absorbed (values are part of the keys).
SHAPES = [AttentionShape(3, 1, 7, 4, 4), AttentionShape(2, 6, 9, 5, 4),
          AttentionShape(1, 5, 8, 6, 4, shared_values=True)]


def test_weight_stationary_attention_is_bit_exact_and_cycle_exact():
    for result in run_attention(WS_CONFIG, SHAPES, seed=6):
        s, counters, model = result.program.shape, result.counters, result.prediction
        assert result.exact, (s, result.output[0], result.expected[0])
        assert (counters.cycles, counters.array_busy, counters.vector_busy) == \
            (model.cycles, model.array_busy, model.vector_busy), s
        assert counters.vector_busy > 0
        # Bytes counted by hand: K and V once per pass, Q once, O narrow.
        passes = result.program.passes
        assert passes == (2 if s.queries == 6 else 1)
        assert counters.bytes_read == s.instances * (
            passes * s.context * (s.key_dim + s.value_dim) + s.queries * s.key_dim)
        assert counters.bytes_written == s.instances * s.queries * s.value_dim
        assert counters.useful_macs * 2 == s.flop
