"""A study's layers on the chip: the tile with an attention unit beside it, co-simulated.

The verdict prices each unit from its engine run alone and assumes how the engines
overlap; the chip measures it (:mod:`rooftile.sim.compile.chip`): the layer's attention
on the unit's engine, everything else on the tile, with the whole batch or two
sub-batches interleaved as NeuPIMs does.
"""

import dataclasses

from ...hdl.errors import InputError
from ..compile.chip import ATTENTION, compile_chip_layer
from ..compile.attention import compile_attention
from .spec import StudyError

__all__ = ["SUBBATCHES", "sub_batch", "compile_chip"]

#: Sub-batches a chip layer runs in: the whole batch, and two halves interleaved.
SUBBATCHES = (1, 2)


def sub_batch(op, parts):
    """``op`` (a :class:`~rooftile.sim.study.schedules.ScaledOp`) for one of ``parts``
    equal sub-batches: a GEMM's tokens and the attention's instances divided (at
    least one)."""
    if parts == 1:
        return op
    if op.gemm:
        m, k, n = op.gemm
        return dataclasses.replace(op, gemm=(max(1, m // parts), k, n))
    shape = dataclasses.replace(op.attention,
                                instances=max(1, op.attention.instances // parts))
    return dataclasses.replace(op, attention=shape)


def compile_chip(config, layer, parts=1, compiled=None):
    """Compile ``layer`` (a lowered :class:`~rooftile.sim.study.schedules.Layer`) for the
    chip of ``config`` (a TileConfig with an attention unit) in ``parts`` sub-batches;
    ``compiled`` (a dict) keeps the op programs between calls for the same ``config``.

    Raises
    ------
    StudyError
        The layer does not fit the chip (naming the engine and the field to raise).
    """
    compiled = {} if compiled is None else compiled
    unit_config = config.attention_unit_tile()

    def program(op):
        if op.key not in compiled:
            compiled[op.key] = (compile_attention(unit_config, op.attention)
                                if op.name == ATTENTION else op.program(config))
        return compiled[op.key]

    try:
        ops = [sub_batch(op, parts) for op in layer.scaled]
        tile = {op.name: program(op) for op in ops if op.name != ATTENTION}
        (unit,) = [program(op) for op in ops if op.name == ATTENTION]
        return compile_chip_layer(config, [op.name for op in ops], [tile] * parts,
                                  [unit] * parts)
    except (InputError, ValueError) as error:
        raise StudyError(f"{layer.workload.label} on the chip ({parts} sub-batch(es)): "
                         f"{error}") from None
