"""A study's layers on the chip: the tile with a near-memory unit beside it, co-simulated.

The verdict prices each unit from its engine run alone and assumes how the engines
overlap; the chip measures it (:mod:`rooftile.sim.compile.chip`): the layer's ops the
unit runs (the attention for an attention unit, the routed experts for Duplex) on the
unit's engine, everything else on the tile, with the whole batch or two sub-batches
interleaved as NeuPIMs does.
"""

import dataclasses

from ...hdl.errors import InputError
from ..compile.chip import compile_chip_layer
from .spec import StudyError
from .verdict import runs_on

__all__ = ["SUBBATCHES", "sub_batch", "unit_ops", "compile_chip"]

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


def unit_ops(kind, layer):
    """The names of ``layer``'s ops that unit ``kind`` runs (none: the layer has no
    chip with that unit)."""
    return tuple(op.name for op in layer.scaled if runs_on(kind, op))


def compile_chip(config, kind, layer, parts=1, compiled=None):
    """Compile ``layer`` (a lowered :class:`~rooftile.sim.study.schedules.Layer`) for the
    chip of ``config`` (a TileConfig whose attention unit is unit ``kind``'s engine, a
    key of :data:`~rooftile.analysis.cost.UNITS`) in ``parts`` sub-batches; ``compiled``
    (a dict) keeps the op programs between calls for the same ``config``.

    Raises
    ------
    StudyError
        The unit runs none of the layer's ops, or the layer does not fit the chip
        (naming the engine and the field to raise).
    """
    compiled = {} if compiled is None else compiled
    engines = {"tile": config, "unit": config.attention_unit_tile()}
    mine = unit_ops(kind, layer)

    def program(engine, op):
        if (engine, op.key) not in compiled:
            compiled[(engine, op.key)] = op.program(engines[engine])
        return compiled[(engine, op.key)]

    try:
        ops = [sub_batch(op, parts) for op in layer.scaled]
        tile = {op.name: program("tile", op) for op in ops if op.name not in mine}
        unit = {op.name: program("unit", op) for op in ops if op.name in mine}
        return compile_chip_layer(config, [op.name for op in ops], [tile] * parts,
                                  [unit] * parts)
    except (InputError, ValueError) as error:
        raise StudyError(f"{layer.workload.label} on the chip with {kind} ({parts} "
                         f"sub-batch(es)): {error}") from None
