"""The tile's instruction set, defined once: the HDL decodes it, the compiler encodes it.

Three decoupled units (load, execute, store) run from one instruction stream, in the
spirit of the VTA accelerator. The execute unit runs both EXEC (a block on the systolic
array) and SOFTMAX (a command of the vector unit), in program order and one at a time:
a SOFTMAX starts once every earlier block is written to the accumulator, and the next
EXEC once the SOFTMAX wrote its last probabilities, so a program needs no token between
them. Each instruction may wait for (pop) and signal (push) dependency tokens with its
unit's neighbours in the ring load -> execute -> store -> load:

====================  ===========================  ===========================
unit                  ``prev`` neighbour           ``next`` neighbour
====================  ===========================  ===========================
load                  store: data written to DRAM  execute: operands ready / buffer free
execute               load                         store: results ready / accumulator free
store                 execute                      load: data written to DRAM
====================  ===========================  ===========================

The store -> load token orders a LOAD after the STORE whose output it reads (a layer
program's next op reading the previous op's result through DRAM); it has no way back.
A token pushed to ``next`` is popped by that unit's ``pop_prev`` and vice versa.

Every layout of the contract is defined here, once: the instruction word and the command
each unit takes from it (:func:`LoadArgs`, :func:`ExecCommand`, :func:`StoreArgs`,
:func:`SoftmaxCommand`), which the units' streams carry as their payloads.
"""

import functools

from amaranth.hdl import Shape
from amaranth.lib import data, enum
from amaranth.utils import ceil_log2

from .errors import InputError

from .fixed_point import SCALE_BITS, SHIFT_BITS

__all__ = ["Opcode", "Target", "KeyAxis", "DEPENDENCY_FLAGS", "Dependencies", "LoadArgs",
           "ExecCommand", "StoreArgs", "SoftmaxCommand", "Instruction",
           "softmax_fields", "softmax_command", "encode", "assemble", "decode"]


class Opcode(enum.Enum, shape=3):
    LOAD = 0
    EXEC = 1
    STORE = 2
    FINISH = 3
    SOFTMAX = 4


class Target(enum.Enum, shape=1):
    """Scratchpad a LOAD fills."""
    A = 0
    B = 1


#: ``peer`` crosses engines of a chip (:class:`~rooftile.hdl.chip.Chip`): a LOAD with it
#: waits for a token from the other engine (the data it reads is written there), a STORE
#: with it pushes one to the other engine when its last row is written. A tile alone
#: has no peer: a LOAD with the flag would wait forever, so the assembler refuses it.
DEPENDENCY_FLAGS = ("pop_prev", "pop_next", "push_prev", "push_next", "peer")
Dependencies = data.StructLayout({flag: 1 for flag in DEPENDENCY_FLAGS})


def LoadArgs(config):
    """Fill ``rows`` consecutive scratchpad entries from ``sp_addr`` on, from DRAM words
    ``stride`` apart: each word carries ``TileConfig.entries_per_word(lanes)`` entries
    (entry ``i`` of a word at its bits ``[i * lanes * data_width, ...)``), the last word
    of a LOAD fewer, and ``sp_addr`` is a multiple of that count. ``elems`` operands of
    each entry are real data: only their bytes count against DRAM bandwidth (the layout
    pads entries to the array width)."""
    return data.StructLayout({
        "target": Target,
        "dram_addr": ceil_log2(config.dram_depth),
        "stride": ceil_log2(config.dram_depth),
        "sp_addr": ceil_log2(config.sp_depth),
        "rows": ceil_log2(config.sp_depth + 1),
        "elems": ceil_log2(max(config.rows, config.cols) + 1),
    })


def ExecCommand(config):
    """One block on the systolic array; its meaning follows ``TileConfig.dataflow``.

    - output-stationary: ``steps`` reduction steps,
      ``acc[acc_addr + i, j] (+)= sum_k spA[a_addr + k][i] * spB[b_addr + k][j]``
      (``i < rows``, ``j < cols``); ``rows_used`` / ``cols_used`` are the rows of A and
      columns of B that are real data;
    - weight-stationary: ``rows`` weight rows ``spB[b_addr + k]`` stay in the array while
      ``steps`` activation rows stream,
      ``acc[acc_addr + i, j] (+)= sum_k spA[a_addr + i][k] * spB[b_addr + k][j]``
      (``i < steps``, ``k < rows``); ``rows_used`` / ``cols_used`` are the reduction rows
      and columns of B that are real data.

    ``rows_used`` / ``cols_used`` feed the useful-MAC counter only (edge blocks and
    one-row GEMVs use part of the array): ``rows_used * cols_used`` per step.
    """
    sp_bits = ceil_log2(config.sp_depth)
    return data.StructLayout({
        "a_addr": sp_bits,
        "b_addr": sp_bits,
        "steps": ceil_log2(config.sp_depth + 1),
        "acc_addr": ceil_log2(config.acc_depth),
        "accumulate": 1,
        "rows_used": ceil_log2(config.rows + 1),
        "cols_used": ceil_log2(config.cols + 1),
    })


def StoreArgs(config):
    """Copy ``rows`` accumulator rows to DRAM words ``stride`` apart; ``elems`` results of
    each row are real data and count against bandwidth.

    With ``narrow`` set, each result is requantised to an operand, as the next layer
    reads it: ``clamp(acc >> shift)`` (arithmetic shift, i.e. rounding toward minus
    infinity, saturated to ``data_width`` bits), packed like a loaded operand row, and
    ``elems * data_bytes`` count against bandwidth instead of ``elems * acc_bytes``.
    """
    return data.StructLayout({
        "acc_addr": ceil_log2(config.acc_depth),
        "dram_addr": ceil_log2(config.dram_depth),
        "stride": ceil_log2(config.dram_depth),
        "rows": ceil_log2(config.acc_depth + 1),
        "elems": ceil_log2(config.cols + 1),
        "narrow": 1,
        "shift": ceil_log2(config.acc_width),
    })


class KeyAxis(enum.Enum, shape=1):
    """Where the keys of one softmax lie in the accumulator.

    ``LANES``: across the lanes of a row, as ``S = Q @ K^T`` leaves them (one query per
    accumulator row, ``cols`` keys per row, a longer row in several *segments*). The
    output rows are rows of P: keys across lanes.

    ``ROWS``: down consecutive accumulator rows, as ``S^T = K @ Q^T`` leaves them (one
    key per row, one query per lane); every lane is its own softmax. The output rows
    are rows of ``P^T`` (entry = key, lane = query), which is the layout the matrix unit
    reads its reduction operand in (``sp_a[k] = A[:, k]``, ``sp_b[k] = B[k, :]``): the
    ``A`` operand of ``P @ V`` when ``rows == cols``, or the ``B`` operand of
    ``V^T @ P^T``, with no transpose.
    """
    LANES = 0
    ROWS = 1


def SoftmaxCommand(config):
    """One command: ``count`` softmax groups of ``segments`` accumulator rows each.

    Group ``r``'s segment ``s`` is read from accumulator row
    ``src + r * row_step + s * seg_step`` (modulo the accumulator's address range) and
    its probabilities are written to scratchpad entry ``dst + r * segments + s``.

    - ``axis = LANES``: a group is one softmax of ``segments * cols - pad`` keys; the
      last ``pad`` lanes of its last segment are padding. Contiguous rows have
      ``row_step = segments, seg_step = 1``; the output blocks of ``Q @ K^T`` (query
      ``i`` of key block ``j`` at ``base + j * rows + i``) have ``row_step = 1,
      seg_step = rows``.
    - ``axis = ROWS``: a group is ``cols - pad`` softmaxes of ``segments`` keys, one per
      lane; the last ``pad`` lanes of every row are padding.

    ``scale`` and ``shift`` apply the score multiplier (see :func:`softmax_scale`).
    Commands with ``segments == 0`` or ``count == 0`` are accepted and do nothing, with
    no ``done`` pulse; :func:`softmax_command` refuses them.
    """
    count_bits = ceil_log2(config.acc_depth + 1)
    acc_bits = ceil_log2(config.acc_depth)
    return data.StructLayout({
        "axis": KeyAxis,
        "src": acc_bits,
        "row_step": acc_bits,
        "seg_step": acc_bits,
        "segments": count_bits,
        "count": count_bits,
        "pad": ceil_log2(config.cols),
        "dst": ceil_log2(config.sp_depth),
        "scale": SCALE_BITS,
        "shift": SHIFT_BITS,
    })


def softmax_fields(config, *, axis, src, segments, count, dst, scale, shift, pad=0,
                   row_step=None, seg_step=1):
    """The fields of a :func:`SoftmaxCommand`, checked: refuses what the hardware would
    silently do wrong (nothing to do, addresses past the end, fields that overflow).

    ``row_step`` defaults to ``segments`` (groups one after another). The instruction
    encoder (:func:`rooftile.hdl.isa.encode`) and :func:`softmax_command` both use it.

    Raises
    ------
    ValueError, TypeError
        Naming the field, its value and the allowed range.
    """
    axis = KeyAxis[axis] if isinstance(axis, str) else KeyAxis(axis)
    row_step = segments if row_step is None else row_step
    fields = dict(src=src, row_step=row_step, seg_step=seg_step, segments=segments,
                  count=count, pad=pad, dst=dst, scale=scale, shift=shift)
    for name, value in fields.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an integer, got {value!r}")
    for name, low, high in (("segments", 1, config.acc_depth), ("count", 1, config.acc_depth),
                            ("pad", 0, config.cols - 1), ("scale", 0, (1 << SCALE_BITS) - 1),
                            ("shift", 0, (1 << SHIFT_BITS) - 1),
                            ("row_step", 0, config.acc_depth - 1),
                            ("seg_step", 0, config.acc_depth - 1)):
        if not low <= fields[name] <= high:
            raise ValueError(f"{name} must be in [{low}, {high}] for this TileConfig, "
                             f"got {fields[name]!r}")
    last_src = src + (count - 1) * row_step + (segments - 1) * seg_step
    if src < 0 or last_src >= config.acc_depth:
        raise ValueError(f"accumulator rows src={src}..{last_src} lie outside "
                         f"[0, acc_depth={config.acc_depth})")
    if dst < 0 or dst + count * segments > config.sp_depth:
        raise ValueError(f"scratchpad entries dst={dst}..{dst + count * segments - 1} lie "
                         f"outside [0, sp_depth={config.sp_depth})")
    return {"axis": axis, **fields}


def softmax_command(config, **fields):
    """Pack checked :func:`softmax_fields` into an int."""
    return SoftmaxCommand(config).const(softmax_fields(config, **fields)).as_value().value


@functools.lru_cache(maxsize=None)
def Instruction(config):
    return data.StructLayout({
        "opcode": Opcode,
        "deps": Dependencies,
        "args": data.UnionLayout({
            "load": LoadArgs(config),
            "exec": ExecCommand(config),
            "store": StoreArgs(config),
            "softmax": SoftmaxCommand(config),
        }),
    })


_ARGS = {"LOAD": "load", "EXEC": "exec", "STORE": "store", "SOFTMAX": "softmax"}
_ENUM_FIELDS = {"target": Target, "axis": KeyAxis}
#: Fields that count work: zero would leave a unit that never signals its tokens.
_COUNT_FIELDS = ("rows", "steps", "segments", "count")


@functools.lru_cache(maxsize=None)
def _bit_fields(config, member):
    """``{field: (offset, width)}`` of an argument member within the instruction word,
    read from the Amaranth layout once, so that encoding a long program packs ints
    instead of building a layout constant per instruction."""
    layout = Instruction(config)
    base = layout["args"].offset
    arg_layout = layout["args"].shape[member].shape
    return {name: (base + field.offset, Shape.cast(field.shape).width)
            for name, field in arg_layout}


def encode(config, opcode, deps=(), **args):
    """Pack one instruction into an int.

    ``deps`` names the dependency flags to set (e.g. ``("pop_prev", "push_next")``);
    ``args`` are the fields of the opcode's argument layout. Values that do not fit their
    field raise instead of being truncated.
    """
    opcode = Opcode[opcode] if isinstance(opcode, str) else Opcode(opcode)
    layout = Instruction(config)
    word = opcode.value << layout["opcode"].offset
    flags = layout["deps"].shape
    for flag in deps:
        if flag not in DEPENDENCY_FLAGS:
            raise ValueError(f"unknown dependency flag {flag!r}; "
                             f"allowed: {', '.join(DEPENDENCY_FLAGS)}")
        word |= 1 << (layout["deps"].offset + flags[flag].offset)
    if opcode is Opcode.FINISH:
        if args:
            raise ValueError(f"FINISH takes no arguments, got {sorted(args)}")
        return word
    fields = _bit_fields(config, _ARGS[opcode.name])
    if opcode is Opcode.SOFTMAX:
        args = softmax_fields(config, **args)
    for name, value in args.items():
        if name not in fields:
            raise ValueError(f"{opcode.name} has no field {name!r}; fields: "
                             f"{', '.join(fields)}")
        if name in _ENUM_FIELDS:
            kind = _ENUM_FIELDS[name]
            value = (kind[value] if isinstance(value, str) else kind(value)).value
        elif name in _COUNT_FIELDS and int(value) < 1:
            raise ValueError(f"{opcode.name}.{name} must be >= 1, got {value}")
        offset, width = fields[name]
        if not 0 <= int(value) < (1 << width):
            raise ValueError(f"{opcode.name}.{name}={value} does not fit in {width} bits "
                             f"(0..{(1 << width) - 1}) for this TileConfig")
        word |= int(value) << offset
    return word


def assemble(config, commands, what="the program", *, peer=False):
    """Close ``commands`` (``(opcode, deps, args)``, deps any iterable) with FINISH and
    encode them; return ``(commands, instructions)`` with deps as sorted tuples.

    Raises
    ------
    InputError
        More instructions than ``config.program_depth``, naming ``what`` needs them, a
        transfer that reaches past the end of DRAM, a scratchpad or the accumulator
        (the hardware would wrap its address silently), or a ``peer`` flag in a
        program for a tile alone (``peer`` False) or on another opcode than LOAD and
        STORE.
    """
    commands = [(op, tuple(sorted(deps)), args) for op, deps, args in commands]
    for index, (op, deps, _) in enumerate(commands):
        if "peer" in deps and (not peer or op not in ("LOAD", "STORE")):
            raise InputError(f"instruction {index} ({op}) has the peer flag: only a chip's "
                             f"engines have a peer, and only LOAD and STORE use it")
    commands.append(("FINISH", (), {}))
    if len(commands) > config.program_depth:
        raise InputError(f"{what} needs {len(commands)} instructions, program_depth is "
                         f"{config.program_depth}")
    for index, (op, _, args) in enumerate(commands):
        _check_ranges(config, index, op, dict(args))
    return commands, [encode(config, op, deps, **dict(args)) for op, deps, args in commands]


def _check_ranges(config, index, opcode, args):
    """Every address a LOAD or STORE touches lies inside its memories, and a LOAD starts
    at a whole scratchpad word (it fills whole words of entries)."""
    if opcode not in ("LOAD", "STORE"):
        return
    rows, stride = args.get("rows", 1), args.get("stride", 0)
    if opcode == "LOAD":
        target = args.get("target", "A")
        target = Target[target] if isinstance(target, str) else Target(target)
        per_word = config.entries_per_word(config.rows if target is Target.A else config.cols)
        first = args.get("sp_addr", 0)
        if first % per_word:
            raise InputError(f"instruction {index} (LOAD) starts at scratchpad entry {first}; "
                             f"a DRAM word fills {per_word} entries, so sp_addr must be a "
                             f"multiple of {per_word}")
        words = -(-rows // per_word)
        spans = [("sp_addr", "the scratchpad", config.sp_depth, first, rows)]
    else:
        words = rows
        spans = [("acc_addr", "the accumulator", config.acc_depth, args.get("acc_addr", 0),
                  rows)]
    spans.append(("dram_addr", "DRAM", config.dram_depth, args.get("dram_addr", 0),
                  (words - 1) * stride + 1))
    for field, memory, depth, first, count in spans:
        if first < 0 or first + count > depth:
            raise InputError(f"instruction {index} ({opcode}) reaches {memory} entries "
                             f"{first}..{first + count - 1} through {field}; {memory} has "
                             f"entries 0..{depth - 1}")


def decode(config, word):
    """Unpack an int into ``(opcode, deps, args)``: the inverse of :func:`encode`."""
    layout = Instruction(config)
    view = layout.from_bits(word)
    opcode = view.opcode
    deps = tuple(flag for flag in DEPENDENCY_FLAGS if view.deps[flag])
    if opcode is Opcode.FINISH:
        return opcode, deps, {}
    member = _ARGS[opcode.name]
    args_view = view.args[member]
    args = {name: args_view[name] for name in layout["args"].shape[member].shape.members}
    return opcode, deps, args
