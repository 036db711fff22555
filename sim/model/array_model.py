"""Cycle model of the array harness: exact for both dataflows' blocks (tests assert it)."""

from .tile_model import Prediction, block_timing

__all__ = ["predict_cycles"]

#: Cycles from ``start`` until the matrix unit takes the first command: the command
#: memory's read and the hand-over.
FIRST_TAKE = 2


def predict_cycles(config, steps):
    """The harness's counters for blocks of ``steps`` steps each: cycles from ``start``
    to ``done``, and the busy array cycles (no DRAM, no vector unit).

    The blocks run back to back as :func:`~rooftile.sim.model.tile_model.block_timing`
    times them (the harness always has the next command ready); ``done`` follows the
    last block's last accumulator write by a cycle.
    """
    if not steps:
        return Prediction(cycles=2, array_busy=0, bytes_read=0, bytes_written=0,
                          vector_busy=0)
    take, last, array_busy = FIRST_TAKE, None, 0
    for count in steps:
        last, take, written, busy = block_timing(config, take, count, last)
        array_busy += busy
    return Prediction(cycles=written + 1, array_busy=array_busy, bytes_read=0,
                      bytes_written=0, vector_busy=0)
