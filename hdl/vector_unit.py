"""The vector unit: softmax of accumulator scores into scratchpad probabilities.

Attention scores leave the systolic array as ``acc_width``-bit integers in accumulator
rows of ``cols`` lanes. This unit turns them into ``data_width``-bit probabilities in
scratchpad rows of ``cols`` lanes, ready to be an operand of the context GEMM
(probabilities @ V), in integer arithmetic that :func:`rooftile.sim.model.golden.softmax_fixed`
mirrors bit for bit.

The fixed-point method is :mod:`rooftile.hdl.fixed_point`'s.

The two layouts of scores (:class:`KeyAxis`) are explained in :class:`KeyAxis` and
:func:`SoftmaxCommand`.

Timing: three passes over the accumulator rows of a softmax (max, sum of exps,
normalise), one row per cycle each, plus ``PIPELINE_CYCLES`` to drain the sum and
``DIV_CYCLES`` for the reciprocal; see :func:`command_cycles`.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .fixed_point import DIV_BITS_PER_CYCLE, DIV_CYCLES, EXP_LUT_BITS, RECIP_BITS, exp2_table, exp_bits
from .isa import KeyAxis, SoftmaxCommand
from .matrix_unit import acc_row, operand_row

__all__ = ["PIPELINE_CYCLES", "DONE_LATENCY", "command_cycles", "VectorUnit"]

#: Register stages from an accumulator read to the sum update / scratchpad write:
#: the read itself, the scaled exponent ``y``, the exp ``e``.
PIPELINE_CYCLES = 3
#: Cycles from the last read of a command (its last normalise read) to its ``done``.
DONE_LATENCY = PIPELINE_CYCLES


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
    awake : Out(1)
        The next clock edge may change the unit's state (a command waits or runs): it
        gates the unit's clock (:func:`~rooftile.hdl.clock_gate.clock_gated`).
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
            "awake": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        lanes = cfg.cols
        p_max = cfg.operand_range[1]
        cmd = Signal(SoftmaxCommand(cfg))
        tag_layout = data.StructLayout({
            "kind": _Kind, "first": 1, "mask": lanes, "last": 1,
            "dst": len(self.sp_write.addr)})
        issue, dividing, first_divide = self._sequence(m, cmd, tag_layout)
        # The command register changes only in IDLE, i.e. at the earliest in the cycle
        # the last read's data is in stage A; registers update at the end of the cycle,
        # so stage A still sees that command's scale and shift.
        tag_a, tag_b, tag_c, exps = self._exponents(m, cmd, issue, tag_layout)
        recips, shifts = self._reciprocals(m, cmd, tag_c, exps, dividing, first_divide)

        for j in range(lanes):
            scaled = (exps[j] * p_max * recips[j]) >> shifts[j]
            m.d.comb += self.sp_write.data[j].eq(((scaled + 1) >> 1)[:cfg.data_width])
        m.d.comb += [
            self.sp_write.en.eq(tag_c.kind == _Kind.NORM),
            self.sp_write.addr.eq(tag_c.dst),
            self.done.eq((tag_c.kind == _Kind.NORM) & tag_c.last),
            self.idle.eq(self.cmd.ready & (tag_a.kind == _Kind.NONE) &
                         (tag_b.kind == _Kind.NONE) & (tag_c.kind == _Kind.NONE)),
            self.awake.eq(self.cmd.valid | ~self.idle),
        ]
        return m

    def _sequence(self, m, cmd, tag_layout):
        """Take commands and issue one accumulator read per cycle, with a tag that
        follows the data: three passes per group (max, sum, normalise), the drain of
        the pipeline and the divider between the second and third. Returns the issue
        tag and the divider's step and start flags."""
        lanes = self._config.cols
        seg = Signal.like(cmd.segments)
        row = Signal.like(cmd.count)
        row_base = Signal.like(self.acc_read.addr)
        addr = Signal.like(self.acc_read.addr)
        dst = Signal.like(self.sp_write.addr)
        countdown = Signal(range(max(PIPELINE_CYCLES, DIV_CYCLES) + 1))
        dividing = Signal()       # the divider steps this cycle
        first_divide = Signal()   # ... and starts from the sums

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

        return issue, dividing, first_divide

    def _exponents(self, m, cmd, issue, tag_layout):
        """Stages A and B: the running max, then each lane's ``e`` (see
        :mod:`~rooftile.hdl.fixed_point`, steps 1 to 3). Returns the tags of the three
        stages and the exps."""
        cfg = self._config
        lanes = cfg.cols
        ebits = exp_bits(cfg.data_width)
        min_score = -(1 << (cfg.acc_width - 1))
        # Below y_floor every term is 0: n > ebits.
        y_floor = -((ebits + 1) << EXP_LUT_BITS)
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

        return tag_a, tag_b, tag_c, exps

    def _reciprocals(self, m, cmd, tag_c, exps, dividing, first_divide):
        """Stage C and the divider: each lane's exp sum and its reciprocal ``R`` with
        the shift that normalises by it (steps 4 and 5). Returns ``(recips, shifts)``."""
        lanes = self._config.cols
        ebits = exp_bits(self._config.data_width)
        max_segments = (1 << Shape.cast(cmd.segments.shape()).width) - 1
        sum_bits = (max_segments * lanes << ebits).bit_length()
        # --- Stage C: sums.
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

        return recips, shifts
