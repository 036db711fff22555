"""A whole layer as one tile program: the ops' programs in order, with the next op's
loads running under the current op's compute and stores.

Each op is compiled on its own (:func:`~rooftile.sim.compile.gemm.compile_gemm`,
:func:`~rooftile.sim.compile.attention.compile_attention`) and placed in a DRAM region of
its own; the layer program joins the instruction streams and rewrites only the
dependency tokens at each boundary, so that the units run ahead across ops exactly as
far as the hardware allows:

- **Scratchpads.** The first LOAD of op ``i + 1`` waits for the last operand read of
  op ``i`` (an ``exec -> load`` token: op ``i``'s last execute-queue instruction is the
  only one whose buffer-free token is left over). Its loads then fill both halves while
  op ``i`` drains its results and stores them.
- **Accumulator.** The first execute-queue instruction of op ``i + 1`` waits for the
  last STORE of op ``i`` (a ``store -> exec`` token, likewise left over only by it):
  the compilers place every op's results from accumulator row 0.
- **Data.** An op that reads another's output waits for that op's last STORE (the
  ``store -> load`` token) at its first LOAD of activations (:attr:`activation_target`
  of its program: A for a GEMM, Q for attention), and its first group of loads
  fetches the weights (or the keys) before the activations, so they are not held back
  by the dependency. The load unit is in order: a load that waits for op ``p``'s stores
  holds every later load back too, so each op waits only when its latest producer is
  later than the one the loads before it waited for (``LAYER_INPUTS``).

NB: every op reads its own operands (placed by the testbench) rather than the previous
op's output: each op's result is checked bit-exactly against numpy on its own inputs,
and the tile's timing does not depend on data values, so the cycles are those of the
chained layer. The cache rows the current token appends are not ordered before the
attention's key loads (one row of ``context``).
"""

import dataclasses

import numpy as np

from ...hdl.errors import InputError
from ...hdl.isa import assemble
from ..model.tile_model import cycle_bound, predict_program

__all__ = ["LAYER_INPUTS", "LayerProgram", "compile_layer", "layer_waits"]

#: The ops of a decode layer whose output each op reads (those present in the layer):
#: the projections that read the layer's input read none.
LAYER_INPUTS = {
    "qkv_proj": (), "q_down": (), "kv_down": (),
    "q_up": ("q_down",),
    "q_absorb": ("q_up",),
    "kv_up": ("kv_down",),
    "attention": ("qkv_proj", "q_up", "q_absorb", "kv_down", "kv_up"),
    "o_absorb": ("attention",),
    "o_proj": ("attention", "o_absorb"),
    "ffn_up_gate": ("o_proj",),
    "ffn_down": ("ffn_up_gate",),
    "router": ("o_proj",),
    "shared_expert_up_gate": ("o_proj",),
    "shared_expert_down": ("shared_expert_up_gate",),
    "expert_up_gate": ("o_proj", "router"),
    "expert_down": ("expert_up_gate",),
}


def layer_waits(names, inputs=None):
    """``{consumer index: producer index}``: which op's first activation LOAD waits for
    which op's last STORE, for ops ``names`` in program order. ``inputs`` (``{index:
    producer indices}``) overrides :data:`LAYER_INPUTS` (a chip's engine, whose
    producers may run on the other engine).

    Raises
    ------
    InputError
        An op name :data:`LAYER_INPUTS` does not know.
    """
    if inputs is None:
        unknown = [name for name in names if name not in LAYER_INPUTS]
        if unknown:
            raise InputError(f"no data dependencies known for op(s) {unknown!r}; "
                             f"known: {', '.join(LAYER_INPUTS)}")
        index = {name: i for i, name in enumerate(names)}
        inputs = {i: [index[p] for p in LAYER_INPUTS[name] if p in index]
                  for i, name in enumerate(names)}
    waits, waited = {}, -1
    for i in range(len(names)):
        producers = [p for p in inputs.get(i, ()) if p < i]
        if producers and max(producers) > waited:
            waits[i] = waited = max(producers)
    return waits


def _token_balance(commands, push_unit, push_flag, pop_unit, pop_flag):
    """Indices of the pushes of one token that no pop of the program takes (the last
    ones: units run in order), in program order."""
    pushes = [i for i, (op, deps, _) in enumerate(commands)
              if op in push_unit and push_flag in deps]
    pops = sum(1 for op, deps, _ in commands if op in pop_unit and pop_flag in deps)
    return pushes[pops:]


_EXEC_QUEUE = ("EXEC", "SOFTMAX")


def _join(config, programs, names, waits, peer_push=(), peer_wait=()):
    """The commands of ``programs`` joined as described in the module docstring, each
    relocated to its DRAM base; ops ``peer_push`` signal the other engine of a chip at
    their last STORE, ops ``peer_wait`` wait for it at their first activation LOAD.
    Returns ``(commands, bases, words)``."""
    producers = set(waits.values())
    joined, bases, base = [], [], 0
    for i, program in enumerate(programs):
        commands = [[op, set(deps), dict(args)] for op, deps, args in program.commands
                    if op != "FINISH"]
        # Leave one buffer-free and one accumulator-free token, from the last
        # instruction that frees each, for the next op's first load and first execute.
        for unit, flag, pop_unit, pop_flag in ((_EXEC_QUEUE, "push_prev", ("LOAD",), "pop_next"),
                                               (("STORE",), "push_prev", _EXEC_QUEUE, "pop_next")):
            for index in _token_balance(commands, unit, flag, pop_unit, pop_flag):
                commands[index][1].discard(flag)
            last = max(j for j, (op, _, _) in enumerate(commands) if op in unit)
            commands[last][1].add(flag)
        stores = [j for j, (op, _, _) in enumerate(commands) if op == "STORE"]
        if i in producers:
            commands[stores[-1]][1].add("push_next")
        if i in peer_push:
            commands[stores[-1]][1].add("peer")
        # The first group of loads: independent ones first, then the activations.
        first_exec = next(j for j, (op, _, _) in enumerate(commands) if op in _EXEC_QUEUE)
        group = commands[:first_exec]
        if any(op != "LOAD" for op, _, _ in group) or any(
                deps & {"pop_next", "pop_prev"} for _, deps, _ in group):
            raise InputError(f"op {names[i]!r}: its program does not begin with a group "
                             f"of loads free of tokens")
        target = program.activation_target
        group.sort(key=lambda command: command[2]["target"] == target)
        for command in group:
            command[1].discard("push_next")
        group[-1][1].add("push_next")
        if i > 0:
            group[0][1].add("pop_next")
            commands[first_exec][1].add("pop_next")
        activations = [c for c in group if c[2]["target"] == target]
        if (i in waits or i in peer_wait) and not activations:
            raise InputError(f"op {names[i]!r} loads no {target} operand to wait on")
        if i in waits:
            activations[0][1].add("pop_prev")
        if i in peer_wait:
            activations[0][1].add("peer")
        commands[:first_exec] = group
        for op, _, args in commands:
            if op in ("LOAD", "STORE"):
                args["dram_addr"] += base
        joined += [tuple(command) for command in commands]
        bases.append(base)
        base += program.words
    return joined, bases, base


@dataclasses.dataclass
class LayerProgram:
    """A layer's ops as one program: runs through
    :func:`~rooftile.sim.run.pipeline.run_programs` like any program, with one operand
    tuple per op; its output and expected value are every op's, flattened in order."""
    names: tuple
    programs: list
    bases: list       # DRAM word of each op's region
    instructions: list
    commands: list
    words: int
    top = "tile"

    def job(self, config, *operands):
        image, reads = [], []
        for program, base, ops in zip(self.programs, self.bases, operands):
            job = program.job(config, *ops)
            image += [(addr + base, word) for addr, word in job["dram"]]
            reads += [(addr + base, count) for addr, count in job["read"]]
        return {"dram": image, "program": self.instructions, "read": reads,
                "max_cycles": cycle_bound(config, self.commands)}

    def op_outputs(self, config, result):
        """Each op's output array, from the words of every op's read ranges."""
        reads, outputs = list(result["read"]), []
        for program in self.programs:
            count = len(program.read_ranges(config))
            outputs.append(program.output(config, {**result, "read": reads[:count]}))
            reads = reads[count:]
        return outputs

    def output(self, config, result):
        return np.concatenate([np.ravel(o) for o in self.op_outputs(config, result)])

    def expected(self, config, *operands):
        return np.concatenate([np.ravel(program.expected(config, *ops))
                               for program, ops in zip(self.programs, operands)])

    def random_operands(self, config, rng):
        return tuple(program.random_operands(config, rng) for program in self.programs)

    def predict(self, config):
        return predict_program(config, self.commands)

    def read_ranges(self, config):
        return [(addr + base, count) for program, base in zip(self.programs, self.bases)
                for addr, count in program.read_ranges(config)]


def compile_layer(config, names, programs):
    """Join ``programs`` (compiled for ``config``), the ops ``names`` of a layer in
    program order, into one :class:`LayerProgram`.

    Raises
    ------
    InputError
        An unknown op name, or a layer whose data or instructions do not fit the tile
        (naming the TileConfig field to raise).
    """
    names = tuple(names)
    if len(names) != len(programs) or not programs:
        raise InputError(f"a layer needs one program per op, got {len(programs)} programs "
                         f"for ops {names}")
    commands, bases, words = _join(config, programs, names, layer_waits(names))
    if words > config.dram_depth:
        raise InputError(f"the layer's ops need {words} DRAM words together, dram_depth "
                         f"is {config.dram_depth}")
    commands, instructions = assemble(config, commands, what=f"the layer ({', '.join(names)})")
    return LayerProgram(names, list(programs), bases, instructions, commands, words)
