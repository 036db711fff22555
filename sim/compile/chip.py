"""A decode layer on a chip (:class:`~rooftile.hdl.chip.Chip`): a contiguous group of
the layer's ops on the unit's engine (the attention for an attention unit, the routed
experts for a Duplex-style MoE engine), everything else on the tile, one program per
engine.

The batch may be cut into sub-batches that interleave across the engines as NeuPIMs
does: the tile runs every sub-batch's ops before the group (``pre``), then every
sub-batch's ops after it (``post``), while the unit runs the sub-batches' groups in
turn; so the unit computes one sub-batch's attention (or experts) while the tile works
on another. Each engine's program is a layer program (:mod:`~rooftile.sim.compile.layer`);
across engines, ``peer`` tokens carry the data dependencies: the STORE of a sub-batch's
last op the group reads lets the unit load its activations, the unit's last STORE of
that sub-batch lets the tile load the group's output (when a later op reads it).

The unit's DRAM keeps what stays in its memory (the KV cache; the experts' weights) in
its lower half, read at its own rate, and what it exchanges with the tile (each
program's ``exchange_ranges``: an attention's queries and outputs) in its upper half,
which the chip routes over the shared channel (:data:`~rooftile.hdl.dram.SHARING`
``"upper"``).

NB: a GEMM on the unit (Duplex's routed experts) exchanges nothing over the channel: as
on Duplex's Logic-PIM, the tile's own STOREs write the activations into the unit's
memory and its own LOADs read the outputs back, both already on the channel, and the
unit reads the activations and weights and writes its outputs at its own rate. Its
per-panel re-reads of the activations are traffic inside the memory.
"""

import dataclasses

import numpy as np

from ...hdl.errors import InputError
from ...hdl.isa import assemble
from ..model.tile_model import predict_chip
from .layer import LAYER_INPUTS, LayerProgram, _join, layer_waits

__all__ = ["ChipProgram", "compile_chip_layer"]

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
    unit_ops: tuple       # the layer's ops the unit runs, in order
    shared: int           # the unit's first shared word
    exchanged: list       # (first word, words) the unit exchanges, before the move
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
        """The unit's job with what it exchanges in its shared half."""
        def move(addr):
            return addr + (self.shared if _in_ranges(addr, self.exchanged) else 0)

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


def _group(names, unit_ops):
    """``(before, group, after)``: the layer's ops before the unit's, the unit's (which
    must be a contiguous run of ``names``) and those after."""
    group = tuple(name for name in names if name in unit_ops)
    if not group:
        raise InputError(f"the unit runs none of the layer's ops {names}")
    at = names.index(group[0])
    if names[at:at + len(group)] != group or len(group) != len(unit_ops):
        raise InputError(f"the unit's ops {sorted(unit_ops)} must be a contiguous run of "
                         f"the layer's ops {names}")
    return names[:at], group, names[at + len(group):]


def _chained(order):
    """``(names, index, waits)`` of one engine's ops ``order`` (``(sub-batch, name)``
    pairs): each op waits for the ops of its sub-batch it reads on the same engine
    (:func:`~rooftile.sim.compile.layer.layer_waits`)."""
    index = {op: i for i, op in enumerate(order)}
    inputs = {i: [index[(sb, p)] for p in LAYER_INPUTS[name] if (sb, p) in index]
              for i, (sb, name) in enumerate(order)}
    names = [name for _, name in order]
    return names, index, layer_waits(names, inputs)


def _in_ranges(addr, ranges):
    return any(first <= addr < first + count for first, count in ranges)


def compile_chip_layer(config, names, tile_programs, unit_programs):
    """Compile one layer for the chip of ``config`` (which has a unit beside the tile):
    the unit runs a contiguous group of the layer's ops (the attention; the routed
    experts for Duplex), the tile the rest.

    Per sub-batch, the tile's last op that the group reads signals the unit, whose first
    op of the group waits for it; the group's last op signals the first tile op after
    it that reads the group, if any (the routed experts end the layer: the tile does not
    wait for them, and the layer ends when both engines are done).

    Parameters
    ----------
    names : sequence of str
        The layer's ops in order, :data:`~rooftile.sim.compile.layer.LAYER_INPUTS` names.
    tile_programs : list of dict
        Per sub-batch, ``{name: program}`` of every op the tile runs, compiled for
        ``config``.
    unit_programs : list of dict
        Per sub-batch, ``{name: program}`` of the unit's ops, compiled for
        ``config.attention_unit_tile()``; each program has ``exchange_ranges``.

    Raises
    ------
    InputError
        No unit, unknown op names, unit ops that are not a contiguous run of the layer
        or read no tile op's output, sub-batches that do not give each engine a program
        for each of its ops, or programs that do not fit an engine.
    """
    if config.attention_unit is None:
        raise InputError("a chip layer needs a TileConfig with an attention_unit")
    names = tuple(names)
    layer_waits(names)   # every name is known
    if len(tile_programs) != len(unit_programs) or not tile_programs:
        raise InputError(f"one tile and one unit program set per sub-batch, got "
                         f"{len(tile_programs)} and {len(unit_programs)}")
    before, group, after = _group(names, set(unit_programs[0]))
    for engine, programs, ops in (("tile", tile_programs, before + after),
                                  ("unit", unit_programs, group)):
        for sb, given in enumerate(programs):
            if set(given) != set(ops):
                raise InputError(f"sub-batch {sb + 1} gives the {engine} programs for ops "
                                 f"{sorted(given)}; it runs {list(ops)}")
    producers = [p for p in before if any(p in LAYER_INPUTS[name] for name in group)]
    consumers = [n for n in after if any(name in LAYER_INPUTS[n] for name in group)]
    if not producers:
        raise InputError(f"the unit's ops {group} read no earlier op of {names}: nothing "
                         f"for the tile to hand them")
    parts = range(len(tile_programs))
    unit_config = config.attention_unit_tile()
    tile_names, tile_index, tile_waits = _chained(
        [(sb, name) for sb in parts for name in before]
        + [(sb, name) for sb in parts for name in after])
    unit_names, unit_index, unit_waits = _chained(
        [(sb, name) for sb in parts for name in group])
    # Per sub-batch: the tile's last producer signals the unit's first op; the unit's
    # last op signals the tile's first consumer, if there is one.
    tile_push = {max(tile_index[(sb, p)] for p in producers) for sb in parts}
    unit_wait = {unit_index[(sb, group[0])] for sb in parts}
    tile_wait = {tile_index[(sb, consumers[0])] for sb in parts} if consumers else set()
    unit_push = {unit_index[(sb, group[-1])] for sb in parts} if consumers else set()
    tile_list = [tile_programs[sb][name] for sb, name in tile_index]
    unit_list = [unit_programs[sb][name] for sb, name in unit_index]
    tile_commands, tile_bases, tile_words = _join(config, tile_list, tile_names,
                                                  tile_waits, tile_push, tile_wait)
    unit_commands, unit_bases, unit_words = _join(unit_config, unit_list, unit_names,
                                                  unit_waits, unit_push, unit_wait)
    shared = _shared_half(unit_config)
    for engine, words, depth in (("tile", tile_words, config.dram_depth),
                                 ("unit", unit_words, shared)):
        if words > depth:
            raise InputError(f"the chip's {engine} needs {words} DRAM words for the layer; "
                             f"it has {depth} (raise dram_depth)")
    # What the unit exchanges with the tile moves to its shared half.
    exchanged = [(base + first, count) for program, base in zip(unit_list, unit_bases)
                 for first, count in program.exchange_ranges(unit_config)]
    unit_commands = [(op, deps, {**args, "dram_addr": args["dram_addr"] + shared})
                     if op in ("LOAD", "STORE") and _in_ranges(args["dram_addr"], exchanged)
                     else (op, deps, args) for op, deps, args in unit_commands]
    tile_commands, tile_instructions = assemble(config, tile_commands, "the chip's tile program",
                                                peer=True)
    unit_commands, unit_instructions = assemble(unit_config, unit_commands,
                                                "the chip's unit program", peer=True)

    def labels(index):
        return tuple(name if len(parts) == 1 else f"{name} /{sb + 1}" for sb, name in index)
    return ChipProgram((
        LayerProgram(labels(tile_index), tile_list, tile_bases, tile_instructions,
                     tile_commands, tile_words),
        LayerProgram(labels(unit_index), unit_list, unit_bases, unit_instructions,
                     unit_commands, unit_words)), group, shared, exchanged, unit_config)
