"""The vector unit: softmax of accumulator scores into scratchpad probabilities.

Attention scores leave the systolic array as ``acc_width``-bit integers in accumulator
rows of ``cols`` lanes. This unit turns them into ``data_width``-bit probabilities in
scratchpad rows of ``cols`` lanes, ready to be an operand of the context GEMM
(probabilities @ V), in integer arithmetic that :func:`rooftile.sim.golden.softmax_fixed`
mirrors bit for bit.

Fixed-point method
------------------
For one softmax over scores ``s_i`` (``i`` = key), with a per-command multiplier
``scale`` (``SCALE_BITS`` unsigned) and right shift ``shift`` (``SHIFT_BITS``):

1. **Max.** ``m = max_i s_i`` (exact).
2. **Scaled exponent.** ``y_i = (d_i * scale + 2**shift // 2) >> shift`` with
   ``d_i = s_i - m <= 0``: the logit difference in base-2 units with
   ``EXP_LUT_BITS`` fractional bits, rounded half up. ``scale / 2**shift`` therefore
   stands for ``c * log2(e) * 2**EXP_LUT_BITS`` where ``c`` is the real multiplier of
   the scores (dequantisation scales times ``1/sqrt(d_head)``); :func:`softmax_scale`
   picks the pair for a given ``c``.
3. **exp as a power of two.** Split ``y_i = -n_i * 2**EXP_LUT_BITS + f_i`` with
   ``0 <= f_i < 2**EXP_LUT_BITS``; then ``e_i = LUT[f_i] >> n_i`` where
   ``LUT[f] = round(2**(f / 2**EXP_LUT_BITS) * 2**E)`` and ``E = exp_bits(data_width)``
   (``e_i = 0`` once ``n_i > E``). The maximum maps to exactly ``2**E``. The 32-entry
   table quantises the exponent to 1/32 of an octave: a relative error of at most
   ``2**(1/64) - 1 = 1.1 %`` per term, which mostly cancels in the ratio.
4. **Sum.** ``S = sum_i e_i``, exact in a register wide enough for the longest row.
5. **Normalise by a reciprocal.** With ``z = floor(log2 S)`` a restoring divider
   computes ``R = floor(2**(z + RECIP_BITS) / S)`` (``RECIP_BITS + 1`` quotient bits,
   ``DIV_BITS_PER_CYCLE`` per cycle), once per softmax and not per lane; then
   ``p_i = round_half_up(e_i * P * R / 2**(z + RECIP_BITS))`` with
   ``P = 2**(data_width - 1) - 1``. ``R`` is within ``2**-(RECIP_BITS-1)`` of the true
   reciprocal (relative), so ``p_i`` is ``round(P * e_i / S)`` except at rare ties, and
   never exceeds ``P``. Padding lanes hold 0.

Measured against a float softmax of ``c * s``, ``p / P`` is within 0.0062 (int8) and
0.0034 (int16) over rows of 1 to 1000 keys (``tests/hdl/test_vector_unit.py`` requires
0.02). NB: the output step is ``1/P`` of the whole row, so with int8 a long, flat row
loses its mass: any key below ``1/254`` rounds to 0 (1000 equal keys give all zeros,
only 0.001 from the truth each). Long contexts want ``data_width = 16``, or normalising
after ``P @ V`` instead of before (a different command, not built).

The two layouts of scores (:class:`KeyAxis`) are explained in :class:`KeyAxis` and
:func:`SoftmaxCommand`.

Timing: three passes over the accumulator rows of a softmax (max, sum of exps,
normalise), one row per cycle each, plus ``PIPELINE_CYCLES`` to drain the sum and
``DIV_CYCLES`` for the reciprocal; see :func:`command_cycles`.
"""

import math

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .matrix_unit import acc_row, operand_row

__all__ = ["EXP_LUT_BITS", "SCALE_BITS", "SHIFT_BITS", "RECIP_BITS", "DIV_BITS_PER_CYCLE",
           "DIV_CYCLES", "PIPELINE_CYCLES", "DONE_LATENCY", "exp_bits", "exp2_table",
           "softmax_scale", "KeyAxis", "SoftmaxCommand", "softmax_fields", "softmax_command",
           "command_cycles", "VectorUnit"]

#: Fractional bits of the base-2 exponent: the exp table has ``2**EXP_LUT_BITS`` entries.
EXP_LUT_BITS = 5
#: Width of the unsigned score multiplier ``scale``.
SCALE_BITS = 16
#: Width of the right shift ``shift`` applied after the multiplier.
SHIFT_BITS = 6
#: The reciprocal ``R`` of the exp sum carries ``RECIP_BITS`` fractional bits below its
#: leading one (``R`` lies in ``[2**(RECIP_BITS-1), 2**RECIP_BITS]``).
RECIP_BITS = 15
#: Restoring-divider steps chained per cycle.
DIV_BITS_PER_CYCLE = 4
#: Cycles of the divider: ``RECIP_BITS + 1`` quotient bits.
DIV_CYCLES = (RECIP_BITS + 1) // DIV_BITS_PER_CYCLE
#: Register stages from an accumulator read to the sum update / scratchpad write:
#: the read itself, the scaled exponent ``y``, the exp ``e``.
PIPELINE_CYCLES = 3
#: Cycles from the last read of a command (its last normalise read) to its ``done``.
DONE_LATENCY = PIPELINE_CYCLES

assert (RECIP_BITS + 1) % DIV_BITS_PER_CYCLE == 0, "the divider runs whole cycles"


def exp_bits(data_width):
    """Bits of ``e`` below its maximum ``2**exp_bits``: seven more than the probability
    width, so that terms down to about ``2**-7`` of one output step still count in the
    sum."""
    return data_width + 7


def exp2_table(data_width):
    """``LUT[f] = round(2**(f / 2**EXP_LUT_BITS) * 2**exp_bits(data_width))``: the
    mantissa of ``2**(f/32)``, in ``[2**E, 2**(E+1))``."""
    entries = 1 << EXP_LUT_BITS
    return [round(2.0 ** (f / entries) * (1 << exp_bits(data_width))) for f in range(entries)]


def softmax_scale(multiplier):
    """The ``(scale, shift)`` pair that applies a real score multiplier.

    The unit computes ``softmax(multiplier * s)``; ``scale / 2**shift`` approximates
    ``multiplier * log2(e) * 2**EXP_LUT_BITS`` with the largest ``shift`` (the most
    significant bits of ``scale``) that keeps ``scale`` below ``2**SCALE_BITS``.

    Parameters
    ----------
    multiplier : float
        Real value of one score unit: for int8 Q and K with scales ``sq``, ``sk``,
        ``sq * sk / sqrt(d_head)``.

    Raises
    ------
    ValueError
        A multiplier that is not positive and finite, too large to reach with
        ``shift = 0`` or too small to leave a non-zero ``scale`` at the largest shift.
    """
    if not isinstance(multiplier, (int, float)) or not math.isfinite(multiplier) \
            or multiplier <= 0:
        raise ValueError(f"multiplier must be a positive finite number, got {multiplier!r}")
    target = multiplier * math.log2(math.e) * (1 << EXP_LUT_BITS)
    for shift in range((1 << SHIFT_BITS) - 1, -1, -1):
        scale = round(target * 2 ** shift)
        if scale < 1 << SCALE_BITS:
            break
    else:
        raise ValueError(f"multiplier {multiplier!r} is too large: even shift=0 needs "
                         f"scale={round(target)} >= 2**{SCALE_BITS}")
    if scale == 0:
        raise ValueError(f"multiplier {multiplier!r} is too small: scale rounds to 0 at "
                         f"the largest shift {(1 << SHIFT_BITS) - 1}")
    return scale, shift


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


def command_cycles(segments, count):
    """Cycles a command occupies the unit, from the cycle it is accepted to the first
    cycle the next one can be: ``1 + count * (3 * segments + PIPELINE_CYCLES +
    DIV_CYCLES)``. Its ``done`` pulses ``DONE_LATENCY - 1`` cycles after that; the
    next command's reads overlap those last writes."""
    return 1 + count * (3 * segments + PIPELINE_CYCLES + DIV_CYCLES)


class _Kind(enum.Enum, shape=2):
    NONE = 0
    MAX = 1
    SUM = 2
    NORM = 3


def _wire(m, value, name):
    """``value`` as a named comb signal. An expression used twice (``Mux(a > b, a, b)``)
    is copied into the netlist twice; naming it keeps trees and dividers linear."""
    wire = Signal(value.shape(), name=name)
    m.d.comb += wire.eq(value)
    return wire


def _tree(m, values, combine, name):
    """Balanced reduction: ``ceil(log2(len(values)))`` levels, not a chain."""
    values = list(values)
    level = 0
    while len(values) > 1:
        values = [_wire(m, combine(values[i], values[i + 1]), f"{name}_{level}_{i // 2}")
                  if i + 1 < len(values) else values[i] for i in range(0, len(values), 2)]
        level += 1
    return values[0]


class VectorUnit(wiring.Component):
    """Softmax of accumulator rows into scratchpad rows, by the module's fixed-point
    method.

    Per softmax group the unit makes three passes of one accumulator read per cycle:
    the running max, the sum of exps (recomputed rather than stored: an extra read is
    cheaper than a buffer of ``segments`` rows of exps), then the exps again times the
    reciprocal, written one scratchpad row per cycle. Every lane has its own max, sum
    and divider, so a ``ROWS`` group is ``cols`` independent softmaxes; in ``LANES``
    mode the lanes are first reduced by a tree and every lane holds the same values.

    Members
    -------
    cmd : In(stream.Signature(SoftmaxCommand(config)))
        Accepted only when the unit has issued every read of the previous command.
    acc_read : memory.ReadPort.Signature, flipped
        Accumulator rows (``cols`` lanes of ``acc_width``), one cycle read latency.
    sp_write : memory.WritePort.Signature, flipped
        Scratchpad rows of ``cols`` lanes of ``data_width`` (unsigned probabilities in
        ``[0, 2**(data_width-1) - 1]``, padding lanes 0).
    done : Out(1)
        Pulses with the last scratchpad write of a command.
    idle : Out(1)
        No command in progress and no write in flight.
    """

    def __init__(self, config):
        self._config = config
        super().__init__({
            "cmd": In(stream.Signature(SoftmaxCommand(config))),
            "acc_read": In(memory.ReadPort.Signature(addr_width=ceil_log2(config.acc_depth),
                                                      shape=acc_row(config))),
            "sp_write": In(memory.WritePort.Signature(addr_width=ceil_log2(config.sp_depth),
                                                       shape=operand_row(config, config.cols))),
            "done": Out(1),
            "idle": Out(1),
        })

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        lanes = cfg.cols
        layout = SoftmaxCommand(cfg)
        ebits = exp_bits(cfg.data_width)
        p_max = (1 << (cfg.data_width - 1)) - 1
        min_score = -(1 << (cfg.acc_width - 1))
        # Below y_floor every term is 0: n > ebits.
        y_floor = -((ebits + 1) << EXP_LUT_BITS)
        max_segments = (1 << Shape.cast(layout["segments"].shape).width) - 1
        sum_bits = (max_segments * lanes << ebits).bit_length()

        cmd = Signal(layout)
        seg = Signal.like(cmd.segments)
        row = Signal.like(cmd.count)
        row_base = Signal.like(self.acc_read.addr)
        addr = Signal.like(self.acc_read.addr)
        dst = Signal.like(self.sp_write.addr)
        countdown = Signal(range(max(PIPELINE_CYCLES, DIV_CYCLES) + 1))
        dividing = Signal()       # the divider steps this cycle
        first_divide = Signal()   # ... and starts from the sums

        # --- Issue: one accumulator read per cycle, with a tag that follows the data.
        tag_layout = data.StructLayout({
            "kind": _Kind, "first": 1, "mask": lanes, "last": 1,
            "dst": len(self.sp_write.addr)})
        issue = Signal(tag_layout)
        last_seg = seg + 1 == cmd.segments
        real_lanes = Signal(lanes)   # 1 for lanes below cols - pad
        m.d.comb += [real_lanes[j].eq(j + cmd.pad < lanes) for j in range(lanes)]
        m.d.comb += [
            issue.first.eq(seg == 0),
            issue.mask.eq(Mux((cmd.axis == KeyAxis.ROWS) | last_seg, real_lanes,
                                 Const((1 << lanes) - 1, lanes))),
            issue.last.eq(last_seg & (row + 1 == cmd.count)),
            issue.dst.eq(dst),
            self.acc_read.addr.eq(addr),
            self.acc_read.en.eq(issue.kind != _Kind.NONE),
        ]

        def pass_over_group(kind, then):
            """Read the group's next segment; after its last, rewind for the next pass."""
            m.d.comb += issue.kind.eq(kind)
            m.d.sync += [seg.eq(seg + 1), addr.eq(addr + cmd.seg_step)]
            with m.If(last_seg):
                m.d.sync += [seg.eq(0), addr.eq(row_base)]
                m.next = then

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    p = self.cmd.payload
                    m.d.sync += [cmd.eq(p), seg.eq(0), row.eq(0), row_base.eq(p.src),
                                 addr.eq(p.src), dst.eq(p.dst)]
                    with m.If((p.segments != 0) & (p.count != 0)):
                        m.next = "MAX"
            with m.State("MAX"):
                pass_over_group(_Kind.MAX, "SUM")
            with m.State("SUM"):
                pass_over_group(_Kind.SUM, "DRAIN")
                m.d.sync += countdown.eq(PIPELINE_CYCLES - 1)
            with m.State("DRAIN"):   # the last exps reach the sums
                m.d.sync += countdown.eq(countdown - 1)
                with m.If(countdown == 0):
                    m.d.sync += countdown.eq(DIV_CYCLES - 1)
                    m.next = "DIVIDE"
            with m.State("DIVIDE"):
                m.d.comb += [dividing.eq(1), first_divide.eq(countdown == DIV_CYCLES - 1)]
                m.d.sync += countdown.eq(countdown - 1)
                with m.If(countdown == 0):
                    m.next = "NORM"
            with m.State("NORM"):
                m.d.comb += issue.kind.eq(_Kind.NORM)
                m.d.sync += [seg.eq(seg + 1), addr.eq(addr + cmd.seg_step), dst.eq(dst + 1)]
                with m.If(last_seg):
                    following = row_base + cmd.row_step
                    m.d.sync += [seg.eq(0), row.eq(row + 1), row_base.eq(following),
                                 addr.eq(following)]
                    with m.If(row + 1 == cmd.count):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "MAX"

        # The command register changes only in IDLE, i.e. at the earliest in the cycle
        # the last read's data is in stage A; registers update at the end of the cycle,
        # so stage A still sees that command's scale and shift.

        # --- Stage A: the row is out of the accumulator.
        tag_a = Signal(tag_layout)
        m.d.sync += tag_a.eq(issue)
        scores = self.acc_read.data
        masked = [_wire(m, Mux(tag_a.mask[j], scores[j], min_score), f"masked_{j}")
                  for j in range(lanes)]
        row_max = _tree(m, masked, lambda a, b: Mux(a > b, a, b), "row_max")
        running_max = [Signal(range(min_score, -min_score), name=f"max_{j}")
                       for j in range(lanes)]
        half = (Const(1, 1) << cmd.shift) >> 1
        tag_b = Signal(tag_layout)
        ys = [Signal(range(y_floor, 1), name=f"y_{j}") for j in range(lanes)]
        m.d.sync += tag_b.eq(tag_a)
        for j in range(lanes):
            candidate = _wire(m, Mux(cmd.axis == KeyAxis.LANES, row_max, masked[j]),
                              f"max_candidate_{j}")
            with m.If(tag_a.kind == _Kind.MAX):
                with m.If(tag_a.first | (candidate > running_max[j])):
                    m.d.sync += running_max[j].eq(candidate)
            # Masked lanes may exceed the max (their y is garbage, zeroed in stage B).
            y = _wire(m, (((scores[j] - running_max[j]) * cmd.scale) + half) >> cmd.shift,
                      f"exponent_{j}")
            m.d.sync += ys[j].eq(Mux(y < y_floor, y_floor, y))

        # --- Stage B: exp as a table lookup and a right shift.
        table = memory.Memory(shape=ebits + 1, depth=1 << EXP_LUT_BITS,
                              init=exp2_table(cfg.data_width))
        m.submodules.exp2_table = table
        tag_c = Signal(tag_layout)
        m.d.sync += tag_c.eq(tag_b)
        exps = [Signal(ebits + 1, name=f"e_{j}") for j in range(lanes)]
        for j in range(lanes):
            port = table.read_port(domain="comb")
            integer = ys[j] >> EXP_LUT_BITS           # -n, floor
            m.d.comb += port.addr.eq(ys[j][:EXP_LUT_BITS])
            n = (-integer)[:ceil_log2(ebits + 1)]
            keep = tag_b.mask[j] & (integer >= -ebits)
            m.d.sync += exps[j].eq(Mux(keep, port.data >> n, 0))

        # --- Stage C: sums, or probabilities to the scratchpad.
        sums = [Signal(sum_bits, name=f"sum_{j}") for j in range(lanes)]
        row_sum = _tree(m, exps, lambda a, b: a + b, "row_sum")
        for j in range(lanes):
            term = Mux(cmd.axis == KeyAxis.LANES, row_sum, exps[j])
            with m.If(tag_c.kind == _Kind.SUM):
                m.d.sync += sums[j].eq(Mux(tag_c.first, term, sums[j] + term))

        # --- Divider: R = floor(2**(z + RECIP_BITS) / S), restoring, per lane.
        recips = [Signal(RECIP_BITS + 1, name=f"recip_{j}") for j in range(lanes)]
        shifts = [Signal(range(sum_bits + RECIP_BITS), name=f"norm_shift_{j}")
                  for j in range(lanes)]
        for j in range(lanes):
            total = sums[j]
            leading = Signal(range(sum_bits), name=f"log2_sum_{j}")
            for bit in range(sum_bits):
                with m.If(total[bit]):
                    m.d.comb += leading.eq(bit)
            remainder = Signal(sum_bits + 1, name=f"remainder_{j}")
            r = Mux(first_divide, (Const(1, 1) << leading)[:sum_bits + 1], remainder)
            q = Mux(first_divide, 0, recips[j])
            r = _wire(m, r, f"div_{j}_r0")
            for step in range(DIV_BITS_PER_CYCLE):
                fits = r >= total
                q = Cat(fits, q)[:RECIP_BITS + 1]
                r = _wire(m, (Mux(fits, r - total, r) << 1)[:sum_bits + 1],
                          f"div_{j}_r{step + 1}")
            with m.If(dividing):
                m.d.sync += [remainder.eq(r), recips[j].eq(q)]
                with m.If(first_divide):
                    # Round half up: (x >> (k - 1)) + 1 >> 1 == (x + 2**(k-1)) >> k.
                    m.d.sync += shifts[j].eq(leading + RECIP_BITS - 1)

        for j in range(lanes):
            scaled = (exps[j] * p_max * recips[j]) >> shifts[j]
            m.d.comb += self.sp_write.data[j].eq(((scaled + 1) >> 1)[:cfg.data_width])
        m.d.comb += [
            self.sp_write.en.eq(tag_c.kind == _Kind.NORM),
            self.sp_write.addr.eq(tag_c.dst),
            self.done.eq((tag_c.kind == _Kind.NORM) & tag_c.last),
            self.idle.eq(self.cmd.ready & (tag_a.kind == _Kind.NONE) &
                         (tag_b.kind == _Kind.NONE) & (tag_c.kind == _Kind.NONE)),
        ]
        return m
