"""A matrix unit with its memories and a host port: the DUT for array-level tests."""

from amaranth.hdl import Module, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .counters import COUNTER_WIDTH
from .isa import ExecCommand
from .matrix_unit import add_matrix_unit

__all__ = ["MatrixHarness"]


class MatrixHarness(wiring.Component):
    """Operand scratchpads, accumulator and :class:`MatrixUnit`, loaded by a host port.

    The host writes operand rows and a list of :func:`ExecCommand` blocks, pulses
    ``start`` with the number of blocks, waits for ``done`` and reads accumulator rows
    back (one cycle read latency). Blocks stream from a command memory, so a whole batch
    runs with no testbench activity per cycle. Counters restart at ``start``.

    Members
    -------
    host_addr : In
    host_wdata : In(max(rows, cols) * data_width)
        Operand row; lane ``i`` in bits ``[i*w, (i+1)*w)``.
    host_write_a, host_write_b : In(1)
    host_rdata : Out(cols * acc_width)
        Accumulator row at ``host_addr`` of the previous cycle.
    host_cmd : In(ExecCommand)
    host_write_cmd : In(1)
        Write ``host_cmd`` into command slot ``host_addr``.
    start : In(1)
    count : In(...)
        Number of commands to run, sampled with ``start``.
    done : Out(1)
        All commands ran and their results are in the accumulator; cleared by ``start``.
    cycles, steps, useful_macs, drain_stalls : Out(COUNTER_WIDTH)
    """

    def __init__(self, config):
        self._config = config
        addr_bits = max(ceil_log2(config.sp_depth), ceil_log2(config.acc_depth))
        super().__init__({
            "host_addr": In(addr_bits),
            "host_wdata": In(max(config.rows, config.cols) * config.data_width),
            "host_write_a": In(1),
            "host_write_b": In(1),
            "host_rdata": Out(config.cols * config.acc_width),
            "host_cmd": In(ExecCommand(config)),
            "host_write_cmd": In(1),
            "start": In(1),
            "count": In(range(config.sp_depth + 1)),
            "done": Out(1),
            "cycles": Out(COUNTER_WIDTH),
            "steps": Out(COUNTER_WIDTH),
            "useful_macs": Out(COUNTER_WIDTH),
            "drain_stalls": Out(COUNTER_WIDTH),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        unit, sp_a, sp_b, acc = add_matrix_unit(m, cfg)

        # Command slots share the host address space; sp_depth slots is plenty for a
        # batch since each block reads at least one scratchpad entry.
        m.submodules.commands = commands = memory.Memory(
            shape=ExecCommand(cfg), depth=cfg.sp_depth, init=[])
        cmd_write = commands.write_port()
        m.d.comb += [cmd_write.addr.eq(self.host_addr), cmd_write.en.eq(self.host_write_cmd),
                     cmd_write.data.eq(self.host_cmd)]
        # Replay commands into the unit: a one-entry skid keeps the stream rules (valid
        # never waits on ready; payload held until taken) across the read latency.
        cmd_read = commands.read_port()
        issued = Signal.like(self.count)
        remaining = Signal.like(self.count)
        held = Signal()
        m.d.comb += [
            cmd_read.addr.eq(issued),
            cmd_read.en.eq(~held | unit.cmd.ready),
            unit.cmd.payload.eq(cmd_read.data),
            unit.cmd.valid.eq(held),
        ]
        running = Signal()
        with m.If(self.start):
            m.d.sync += [issued.eq(0), remaining.eq(self.count), held.eq(0),
                         running.eq(1), self.done.eq(0)]
        with m.Elif(running):
            with m.If(~held | unit.cmd.ready):
                # The read issued this cycle presents command `issued` next cycle.
                m.d.sync += held.eq(remaining != 0)
                with m.If(remaining != 0):
                    m.d.sync += [issued.eq(issued + 1), remaining.eq(remaining - 1)]
            with m.If((remaining == 0) & ~held & unit.idle):
                m.d.sync += [running.eq(0), self.done.eq(1)]

        for mem, enable, lanes in ((sp_a, self.host_write_a, cfg.rows),
                                   (sp_b, self.host_write_b, cfg.cols)):
            port = mem.write
            m.d.comb += [port.addr.eq(self.host_addr), port.en.eq(enable),
                         port.data.eq(self.host_wdata[:lanes * cfg.data_width])]
        host_read = acc.read_port()
        m.d.comb += [host_read.addr.eq(self.host_addr),
                     self.host_rdata.eq(host_read.data)]

        with m.If(self.start):
            m.d.sync += [counter.eq(0) for counter in
                         (self.cycles, self.steps, self.useful_macs, self.drain_stalls)]
        with m.Elif(running):
            m.d.sync += [
                self.cycles.eq(self.cycles + 1),
                self.steps.eq(self.steps + unit.step),
                self.useful_macs.eq(self.useful_macs + unit.useful_macs),
                self.drain_stalls.eq(self.drain_stalls + unit.drain_stall),
            ]
        return m
