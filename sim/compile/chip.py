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
from ..model.tile_model import cycle_bound, predict_chip
from .layer import LAYER_INPUTS, _join, layer_waits

__all__ = ["ChipProgram", "compile_chip_layer"]

ATTENTION = "attention"


def _shared_half(config):
    """The first word of the upper half of ``config``'s DRAM address space."""
    return 1 << ((config.dram_depth - 1).bit_length() - 1)


@dataclasses.dataclass
class ChipProgram:
    """A layer compiled for a chip: each engine's ops, DRAM layout and instructions; runs
    through :func:`~rooftile.sim.run.pipeline.run_programs` with one operand tuple per
    op of each engine (tile ops first, in program order, then the unit's)."""
    names: tuple          # (tile ops, unit ops), in program order, "/k" for sub-batch k
    programs: tuple       # (tile programs, unit programs)
    bases: tuple          # (tile bases, unit bases)
    commands: tuple       # (tile commands, unit commands)
    instructions: tuple
    shared: int           # the unit's first shared word
    unit_config: object
    top = "chip"

    def _exchange(self, config):
        """The unit's words that live in its shared half, as ``(first, words)`` ranges of
        its layout before the move."""
        return [(base + first, count) for program, base in zip(self.programs[1], self.bases[1])
                for first, count in program.exchange_ranges(self.unit_config)]

    def _moved(self, addr, ranges):
        return addr + (self.shared if any(a <= addr < a + n for a, n in ranges) else 0)

    def _engine_job(self, config, engine, operands):
        image, reads = [], []
        for program, base, ops in zip(self.programs[engine], self.bases[engine], operands):
            job = program.job(config, *ops)
            image += [(addr + base, word) for addr, word in job["dram"]]
            reads += [(addr + base, count) for addr, count in job["read"]]
        if engine == 1:
            ranges = self._exchange(config)
            image = [(self._moved(addr, ranges), word) for addr, word in image]
            reads = [(self._moved(addr, ranges), count) for addr, count in reads]
        stores = sum(1 for op, _, _ in self.commands[engine] if op == "STORE")
        return {"dram": image, "program": self.instructions[engine], "read": reads,
                "trace": stores}

    def job(self, config, *operands):
        count = len(self.programs[0])
        tile = self._engine_job(config, 0, operands[:count])
        unit = self._engine_job(self.unit_config, 1, operands[count:])
        bound = (cycle_bound(config, self.commands[0])
                 + cycle_bound(self.unit_config, self.commands[1]))
        return {"engines": {"tile": tile, "unit": unit}, "max_cycles": bound}

    def op_outputs(self, config, result):
        """Each op's output array (tile ops, then the unit's)."""
        outputs = []
        for engine, name, cfg in ((0, "tile", config), (1, "unit", self.unit_config)):
            reads = list(result["read"][name])
            for program in self.programs[engine]:
                count = len(program.read_ranges(cfg))
                outputs.append(program.output(cfg, {**result, "read": reads[:count]}))
                reads = reads[count:]
        return outputs

    def output(self, config, result):
        return np.concatenate([np.ravel(o) for o in self.op_outputs(config, result)])

    def expected(self, config, *operands):
        configs = [config] * len(self.programs[0]) + [self.unit_config] * len(self.programs[1])
        programs = list(self.programs[0]) + list(self.programs[1])
        return np.concatenate([np.ravel(p.expected(c, *ops))
                               for p, c, ops in zip(programs, configs, operands)])

    def random_operands(self, config, rng):
        return (tuple(p.random_operands(config, rng) for p in self.programs[0])
                + tuple(p.random_operands(self.unit_config, rng) for p in self.programs[1]))

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
    return ChipProgram(labels, (tile_list, list(unit_programs)),
                       (tile_bases, unit_bases), (tile_commands, unit_commands),
                       (tile_instructions, unit_instructions), shared, unit_config)
