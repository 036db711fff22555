"""The execute datapath: scratchpad reads -> skew -> systolic array -> de-skew -> accumulator."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .array import SystolicArray
from .isa import ExecCommand
from .pe import Control, ResultLayout
from .scratchpad import Scratchpad
from .skew import Skew

__all__ = ["operand_row", "acc_row", "MatrixUnit", "add_matrix_unit"]


def operand_row(config, lanes):
    return data.ArrayLayout(signed(config.data_width), lanes)


def acc_row(config):
    return data.ArrayLayout(signed(config.acc_width), config.cols)


class MatrixUnit(wiring.Component):
    """Runs :func:`ExecCommand` blocks back to back on a :class:`SystolicArray`.

    The feeder streams one reduction step per cycle; results of a block drain while the
    next block computes, so a stream of blocks with ``steps >= 2 * rows - 1`` keeps the
    array busy every cycle. A shorter block waits until ``drain_interval`` cycles have
    passed since the previous block's last step (``drain_stall``).

    Members
    -------
    cmd : In(stream.Signature(ExecCommand))
    sp_a, sp_b : memory.ReadPort.Signature, flipped
        Operand scratchpads; entry ``k`` holds A's column ``k`` (``rows`` wide) and B's
        row ``k`` (``cols`` wide).
    acc_read, acc_write : accumulator ports, flipped
        ``acc_read`` serves the read-modify-write of accumulating blocks.
    step : Out(1)
        A reduction step entered the array this cycle (array computing).
    useful_macs : Out(...)
        MACs of real data in this cycle's step (``rows_used * cols_used`` or 0).
    drain_stall : Out(1)
        The feeder holds a block's last step back to keep the result chain collision free.
    block_fed : Out(1)
        The last reduction step of a block was read from the scratchpads this cycle:
        its operand buffers may be refilled.
    block_written : Out(1)
        The last row of a block was written to the accumulator this cycle.
    idle : Out(1)
        No command being fed and no result in flight.
    """

    def __init__(self, config):
        self._config = config
        sp_bits = ceil_log2(config.sp_depth)
        acc_bits = ceil_log2(config.acc_depth)
        super().__init__({
            "cmd": In(stream.Signature(ExecCommand(config))),
            "sp_a": In(memory.ReadPort.Signature(addr_width=sp_bits,
                                                  shape=operand_row(config, config.rows))),
            "sp_b": In(memory.ReadPort.Signature(addr_width=sp_bits,
                                                  shape=operand_row(config, config.cols))),
            "acc_read": In(memory.ReadPort.Signature(addr_width=acc_bits,
                                                      shape=acc_row(config))),
            "acc_write": In(memory.WritePort.Signature(addr_width=acc_bits,
                                                        shape=acc_row(config))),
            "step": Out(1),
            "useful_macs": Out(range(config.rows * config.cols + 1)),
            "drain_stall": Out(1),
            "block_fed": Out(1),
            "block_written": Out(1),
            "idle": Out(1),
        })

    @property
    def blocks_in_flight(self):
        """Blocks that can sit between feeding and the accumulator write: the descriptor
        FIFO depth. Latency from a block's last step to its last row is about
        ``cols + 2 * rows``; blocks are at least ``drain_interval`` apart."""
        cfg = self._config
        return -(-(cfg.cols + 2 * cfg.rows + 4) // cfg.drain_interval) + 1

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        layout = ExecCommand(cfg)

        m.submodules.array = array = SystolicArray(cfg)
        lane = data.StructLayout({"a": signed(cfg.data_width), "ctl": Control})
        m.submodules.skew_a = skew_a = Skew(lane, range(cfg.rows))
        m.submodules.skew_b = skew_b = Skew(signed(cfg.data_width), range(cfg.cols))
        m.submodules.deskew = deskew = Skew(ResultLayout(cfg.acc_width),
                                            reversed(range(cfg.cols)))
        # Descriptors of blocks whose results are still on their way to the accumulator.
        m.submodules.pending = pending = fifo.SyncFIFO(
            width=layout.size, depth=self.blocks_in_flight)

        # --- Feeder: one reduction step per cycle from the scratchpads.
        current = Signal(layout)
        busy = Signal()
        k = Signal.like(current.steps)
        since_last = Signal(range(cfg.drain_interval + 1), init=cfg.drain_interval)
        is_last = Signal()
        issue = Signal()
        m.d.comb += [
            is_last.eq(k + 1 == current.steps),
            issue.eq(busy & (~is_last | (since_last >= cfg.drain_interval))),
            self.cmd.ready.eq((~busy | (issue & is_last)) & pending.w_rdy),
            # A zero-step command computes nothing and leaves no results to write.
            pending.w_en.eq(self.cmd.valid & self.cmd.ready & (self.cmd.payload.steps != 0)),
            pending.w_data.eq(self.cmd.payload),
            self.sp_a.addr.eq(current.a_addr + k),
            self.sp_b.addr.eq(current.b_addr + k),
            self.sp_a.en.eq(issue),
            self.sp_b.en.eq(issue),
            self.step.eq(issue),
            self.block_fed.eq(issue & is_last),
            self.useful_macs.eq(Mux(issue, current.rows_used * current.cols_used, 0)),
            self.drain_stall.eq(busy & ~issue),
        ]
        with m.If(since_last < cfg.drain_interval):
            m.d.sync += since_last.eq(since_last + 1)
        with m.If(issue):
            m.d.sync += k.eq(k + 1)
            with m.If(is_last):
                m.d.sync += [busy.eq(0), since_last.eq(1)]
        # The next block is taken in the cycle of the last step, so blocks stream with
        # no bubble between them (later assignments win).
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [current.eq(self.cmd.payload), busy.eq(self.cmd.payload.steps != 0),
                         k.eq(0)]

        # Scratchpad reads take one cycle: the control joins the data a cycle late.
        ctl = Signal(Control)
        m.d.sync += [ctl.valid.eq(issue), ctl.last.eq(issue & is_last)]
        for i in range(cfg.rows):
            m.d.comb += [skew_a.i[i].a.eq(self.sp_a.data[i]), skew_a.i[i].ctl.eq(ctl)]
            m.d.comb += [array.a_in[i].eq(skew_a.o[i].a), array.ctl_in[i].eq(skew_a.o[i].ctl)]
        m.d.comb += [skew_b.i.eq(self.sp_b.data), array.b_in.eq(skew_b.o),
                     deskew.i.eq(array.result_out)]

        # --- Writer: rows arrive de-skewed, one every two cycles, row 0 first.
        head = Signal(layout)
        m.d.comb += head.eq(pending.r_data)
        row = Signal(range(cfg.rows))
        arriving = Signal()
        m.d.comb += [
            arriving.eq(deskew.o[0].valid),
            self.acc_read.addr.eq(head.acc_addr + row),
            self.acc_read.en.eq(arriving),
        ]
        with m.If(arriving):
            with m.If(row == cfg.rows - 1):
                m.d.sync += row.eq(0)
                m.d.comb += pending.r_en.eq(1)
            with m.Else():
                m.d.sync += row.eq(row + 1)
        # The read-modify-write completes a cycle later, when the old row is out.
        write = Signal()
        write_addr = Signal.like(self.acc_write.addr)
        write_accumulate = Signal()
        write_last = Signal()
        values = Signal(acc_row(cfg))
        m.d.sync += [
            write.eq(arriving),
            write_addr.eq(self.acc_read.addr),
            write_accumulate.eq(head.accumulate),
            write_last.eq(arriving & (row == cfg.rows - 1)),
        ]
        m.d.sync += [values[j].eq(deskew.o[j].value) for j in range(cfg.cols)]
        m.d.comb += [
            self.acc_write.en.eq(write),
            self.acc_write.addr.eq(write_addr),
            self.block_written.eq(write_last),
        ]
        for j in range(cfg.cols):
            with m.If(write_accumulate):
                m.d.comb += self.acc_write.data[j].eq(self.acc_read.data[j] + values[j])
            with m.Else():
                m.d.comb += self.acc_write.data[j].eq(values[j])

        m.d.comb += self.idle.eq(~busy & ~pending.r_rdy & ~write)
        return m


def add_matrix_unit(m, config):
    """Add a :class:`MatrixUnit` wired to new operand scratchpads
    (:class:`~rooftile.hdl.scratchpad.Scratchpad`, a DRAM word of entries per row) and
    accumulator to module ``m``; return ``(unit, sp_a, sp_b, acc)`` so the caller can
    connect host, DMA or store ports to them (the scratchpads' ``write`` and
    ``write_word``, the accumulator's new ports)."""
    m.submodules.unit = unit = MatrixUnit(config)
    m.submodules.sp_a = sp_a = Scratchpad(operand_row(config, config.rows), config.sp_depth,
                                          config.entries_per_word(config.rows))
    m.submodules.sp_b = sp_b = Scratchpad(operand_row(config, config.cols), config.sp_depth,
                                          config.entries_per_word(config.cols))
    m.submodules.acc = acc = memory.Memory(shape=acc_row(config), depth=config.acc_depth,
                                           init=[])
    wiring.connect(m, unit.sp_a, sp_a.read)
    wiring.connect(m, unit.sp_b, sp_b.read)
    wiring.connect(m, unit.acc_read, acc.read_port())
    wiring.connect(m, unit.acc_write, acc.write_port())
    return unit, sp_a, sp_b, acc
