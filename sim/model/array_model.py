"""Cycle model of the array harness: exact for output-stationary blocks (tests assert it)."""

from .tile_model import Prediction

__all__ = ["predict_cycles"]


def predict_cycles(config, steps):
    """The harness's counters for blocks of ``steps`` reduction steps each: cycles from
    ``start`` to ``done``, and one busy array cycle per step (no DRAM, no vector unit).

    Two cycles fetch and hand over the first command; each later block's last step
    waits at least ``drain_interval`` after the previous one; the last results then
    cross the array (``2 * rows + cols``: skew in, up the column at one row per two
    cycles, de-skew) and the accumulator write and ``done`` take three more.
    """
    if not steps:
        return Prediction(cycles=2, array_busy=0, bytes_read=0, bytes_written=0,
                          vector_busy=0)
    interval = config.drain_interval
    issue = steps[0] + sum(max(s, interval) for s in steps[1:])
    return Prediction(cycles=2 + issue + 2 * config.rows + config.cols + 1,
                      array_busy=sum(steps), bytes_read=0, bytes_written=0, vector_busy=0)
