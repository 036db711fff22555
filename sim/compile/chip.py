"""A decode layer on a chip (:class:`~rooftile.hdl.chip.Chip`): the attention on the
unit's engine, everything else on the tile, one program per engine.

The batch may be cut into sub-batches that interleave across the engines as NeuPIMs
does: the tile runs every sub-batch's ops before the attention (``pre``), then every
sub-batch's ops after it (``post``), while the unit runs the sub-batches' attention in
turn; so the unit computes one sub-batch's attention while the tile projects another.
Each engine's program is a layer program (:mod:`~rooftile.sim.compile.layer`); across
engines, ``peer`` tokens carry the data dependencies: the STORE of a sub-batch's last
op before the attention lets the unit load its queries, the unit's last STORE of that
sub-batch lets the tile load the attention's output.

The unit's DRAM keeps the KV cache in its lower half (read at its own rate) and what it
exchanges with the tile (queries, outputs) in its upper half, which the chip routes over
the shared channel (:data:`~rooftile.hdl.dram.SHARING` ``"upper"``).
"""

import dataclasses

import numpy as np

from ...hdl.errors import InputError
from ...hdl.isa import assemble
from ..model.tile_model import predict_chip
from .layer import LAYER_INPUTS, LayerProgram, _join, layer_waits

__all__ = ["ChipProgram", "compile_chip_layer"]

ATTENTION = "attention"


def _shared_half(config):
    """The first word of the upper half of ``config``'s DRAM address space."""
    return 1 << ((config.dram_depth - 1).bit_length() - 1)


@dataclasses.dataclass
class ChipProgram:
    """A layer compiled for a chip: one :class:`~rooftile.sim.compile.layer.LayerProgram`
    per engine; runs through :func:`~rooftile.sim.run.pipeline.run_programs` with one
    operand tuple per op of each engine (the tile's first, in program order, then the
    unit's)."""
    engines: tuple        # (tile, unit) LayerPrograms; op names "/k" for sub-batch k
    shared: int           # the unit's first shared word
    unit_config: object
    top = "chip"

    @property
    def names(self):
        return tuple(engine.names for engine in self.engines)

    @property
    def programs(self):
        return tuple(engine.programs for engine in self.engines)

    @property
    def commands(self):
        return tuple(engine.commands for engine in self.engines)

    def _configs(self, config):
        return (config, self.unit_config)

    def _moved(self, job):
        """The unit's job with its queries and outputs in its shared half."""
        ranges = [(base + first, count)
                  for program, base in zip(self.engines[1].programs, self.engines[1].bases)
                  for first, count in program.exchange_ranges(self.unit_config)]

        def move(addr):
            return addr + (self.shared if any(a <= addr < a + n for a, n in ranges) else 0)

        return {**job, "dram": [(move(addr), word) for addr, word in job["dram"]],
                "read": [(move(addr), count) for addr, count in job["read"]]}

    def job(self, config, *operands):
        count = len(self.engines[0].programs)
        jobs = [engine.job(cfg, *ops) for engine, cfg, ops in zip(
            self.engines, self._configs(config), (operands[:count], operands[count:]))]
        jobs[1] = self._moved(jobs[1])
        bound = sum(job.pop("max_cycles") for job in jobs)
        for job, engine in zip(jobs, self.engines):
            job["trace"] = sum(1 for op, _, _ in engine.commands if op == "STORE")
        return {"engines": dict(zip(("tile", "unit"), jobs)), "max_cycles": bound}

    def op_outputs(self, config, result):
        """Each op's output array (tile ops, then the unit's)."""
        return [output for engine, cfg, name in zip(self.engines, self._configs(config),
                                                     ("tile", "unit"))
                for output in engine.op_outputs(cfg, {**result, "read": result["read"][name]})]

    def output(self, config, result):
        return np.concatenate([np.ravel(o) for o in self.op_outputs(config, result)])

    def expected(self, config, *operands):
        count = len(self.engines[0].programs)
        return np.concatenate([engine.expected(cfg, *ops) for engine, cfg, ops in zip(
            self.engines, self._configs(config), (operands[:count], operands[count:]))])

    def random_operands(self, config, rng):
        return tuple(ops for engine, cfg in zip(self.engines, self._configs(config))
                     for ops in engine.random_operands(cfg, rng))

    def predict(self, config):
        return predict_chip(config, *self.commands)

    def timeline(self, trace):
        """``{engine: [(op, start, end, {counter: cycles})]}`` from the counters the RTL
        traced at every STORE's end (a chip run's ``trace``): each op spans from its
        engine's previous op's last STORE to its own, with what each counter added in
        between (for :func:`~rooftile.analysis.plots.plot_chip_timeline`). Ops past the
        trace's depth are left out."""
        out = {}
        for engine, name in enumerate(("tile", "unit")):
            entries, spans, previous, stores = trace[name], [], None, 0
            for label, program in zip(self.names[engine], self.programs[engine]):
                stores += sum(1 for op, _, _ in program.commands if op == "STORE")
                if stores > len(entries):
                    break
                now = entries[stores - 1]
                before = previous or dict.fromkeys(now, 0)
                spans.append((label, before["cycles"], now["cycles"],
                              {k: now[k] - before[k] for k in now}))
                previous = now
            out[name] = spans
        return out

    def isolated_cycles(self, config):
        """``(tile, unit)``: the cycles of each engine's ops run one at a time, alone
        (the tile model, exact on single programs)."""
        return (sum(p.predict(config).cycles for p in self.programs[0]),
                sum(p.predict(self.unit_config).cycles for p in self.programs[1]))


def _split(names):
    """``(before, after)``: the ops of a layer before and after its attention."""
    if names.count(ATTENTION) != 1:
        raise InputError(f"a chip layer needs exactly one {ATTENTION!r} op, got ops {names}")
    at = names.index(ATTENTION)
    return names[:at], names[at + 1:]


def compile_chip_layer(config, names, tile_programs, unit_programs):
    """Compile one layer for the chip of ``config`` (which has an attention unit).

    Parameters
    ----------
    names : sequence of str
        The layer's ops in order, :data:`~rooftile.sim.compile.layer.LAYER_INPUTS` names,
        one of them ``"attention"``.
    tile_programs : list of dict
        Per sub-batch, ``{name: program}`` of every op but the attention, compiled for
        ``config``.
    unit_programs : list
        Per sub-batch, the attention compiled for ``config.attention_unit_tile()``.

    Raises
    ------
    InputError
        No attention unit, a layer without one attention op or with unknown op names,
        sub-batch lists of different lengths, or programs that do not fit an engine.
    """
    if config.attention_unit is None:
        raise InputError("a chip layer needs a TileConfig with an attention_unit")
    names = tuple(names)
    before, after = _split(names)
    layer_waits(names)   # every name is known
    if len(tile_programs) != len(unit_programs) or not tile_programs:
        raise InputError(f"one tile and one unit program set per sub-batch, got "
                         f"{len(tile_programs)} and {len(unit_programs)}")
    unit_config = config.attention_unit_tile()
    order = ([(sb, name) for sb in range(len(tile_programs)) for name in before]
             + [(sb, name) for sb in range(len(tile_programs)) for name in after])
    index = {op: i for i, op in enumerate(order)}
    inputs = {i: [index[(sb, p)] for p in LAYER_INPUTS[name] if (sb, p) in index]
              for i, (sb, name) in enumerate(order)}
    producers = [p for p in LAYER_INPUTS[ATTENTION] if p in before]
    consumers = [n for n in after if ATTENTION in LAYER_INPUTS[n]]
    if not producers or not consumers:
        raise InputError(f"the attention of ops {names} reads no earlier op's output or "
                         f"feeds no later op: nothing for the engines to exchange")
    # Per sub-batch: the tile's last producer signals the unit, the first consumer waits.
    push = {max(index[(sb, p)] for p in producers) for sb in range(len(tile_programs))}
    wait = {index[(sb, consumers[0])] for sb in range(len(tile_programs))}
    tile_names = [name for _, name in order]
    parts = len(tile_programs)

    def label(sb, name):
        return name if parts == 1 else f"{name} /{sb + 1}"
    tile_list = [tile_programs[sb][name] for sb, name in order]
    tile_commands, tile_bases, tile_words = _join(
        config, tile_list, tile_names, layer_waits(tile_names, inputs), push, wait)
    unit_names = [ATTENTION] * len(unit_programs)
    everything = set(range(len(unit_programs)))
    unit_commands, unit_bases, unit_words = _join(
        unit_config, list(unit_programs), unit_names, {}, everything, everything)
    shared = _shared_half(unit_config)
    for engine, words, depth in (("tile", tile_words, config.dram_depth),
                                 ("unit", unit_words, shared)):
        if words > depth:
            raise InputError(f"the chip's {engine} needs {words} DRAM words for the layer; "
                             f"it has {depth} (raise dram_depth)")
    # The unit's queries and outputs move to its shared half.
    moved = []
    for op, deps, args in unit_commands:
        if op == "STORE" or (op == "LOAD" and args["target"] == "B"):
            args = {**args, "dram_addr": args["dram_addr"] + shared}
        moved.append((op, deps, args))
    tile_commands, tile_instructions = assemble(config, tile_commands, "the chip's tile program",
                                                peer=True)
    unit_commands, unit_instructions = assemble(unit_config, moved, "the chip's unit program",
                                                peer=True)
    labels = (tuple(label(sb, name) for sb, name in order),
              tuple(label(sb, ATTENTION) for sb in range(parts)))
    return ChipProgram((
        LayerProgram(labels[0], tile_list, tile_bases, tile_instructions, tile_commands,
                     tile_words),
        LayerProgram(labels[1], list(unit_programs), unit_bases, unit_instructions,
                     unit_commands, unit_words)), shared, unit_config)
