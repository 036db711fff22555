"""The store unit: accumulator rows to strided DRAM words, optionally requantised."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .dram import StridedRows, WriteRequest
from .isa import Instruction, StoreArgs
from .matrix_unit import acc_row
from .tokens import TokenSignature, take_when_free

__all__ = ["requantise", "StoreUnit"]


def requantise(m, config, values, shift):
    """``clamp(values[j] >> shift)`` per lane, as a row of ``data_width`` operands:
    the arithmetic shift rounds toward minus infinity, the clamp saturates (see
    :func:`~rooftile.hdl.isa.StoreArgs`)."""
    low, high = config.operand_range
    narrowed = Signal(data.ArrayLayout(signed(config.data_width), len(values)))
    for j in range(len(values)):
        shifted = Signal(signed(config.acc_width), name=f"shifted_{j}")
        m.d.comb += shifted.eq(values[j] >> shift)
        m.d.comb += narrowed[j].eq(Mux(shifted > high, high, Mux(shifted < low, low, shifted)))
    return narrowed


class StoreUnit(wiring.Component):
    """Runs STORE instructions: each of ``rows`` accumulator rows is read (one cycle)
    and written to DRAM ``stride`` words after the previous one, whole or requantised
    (``narrow``).

    An instruction with ``pop_prev`` waits for a token from execute (its results are
    written); its ``push_prev`` token goes back to execute (the accumulator rows are
    free) and its ``push_next`` token to load (the rows are in DRAM, for a LOAD that
    reads them) when the DRAM accepts the last row.

    Members
    -------
    instr : In(stream.Signature(Instruction(config)))
    from_prev : In(TokenSignature())
        Results-ready tokens from execute.
    to_prev : Out(TokenSignature(push=True))
        Accumulator-free tokens to execute.
    to_next : Out(TokenSignature(push=True))
        Data-written tokens to load.
    to_peer : Out(TokenSignature(push=True))
        Data-written tokens to the other engine of a chip (``peer``).
    acc_read : memory.ReadPort.Signature, flipped
    write : Out(stream.Signature(WriteRequest(config)))
    waiting : Out(1)
        An instruction waits for a token from execute (the ``store_wait_exec`` event).
    done : Out(1)
        The DRAM accepted an instruction's last row this cycle (the tile's trace).
    idle : Out(1)
        No instruction queued or running.
    still : Out(1)
        No instruction running or taken: the next edge changes nothing of the unit.
    """

    def __init__(self, config):
        self._config = config
        super().__init__({
            "instr": In(stream.Signature(Instruction(config))),
            "from_prev": In(TokenSignature()),
            "to_prev": Out(TokenSignature(push=True)),
            "to_next": Out(TokenSignature(push=True)),
            "to_peer": Out(TokenSignature(push=True)),
            "acc_read": In(memory.ReadPort.Signature(addr_width=ceil_log2(config.acc_depth),
                                                      shape=acc_row(config))),
            "write": Out(stream.Signature(WriteRequest(config))),
            "waiting": Out(1),
            "done": Out(1),
            "idle": Out(1),
            "still": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        head = self.instr.payload
        rows = StridedRows(StoreArgs(cfg))
        args = rows.args
        reading = Signal()  # the acc read for this row is out; write it next
        push_next = Signal()
        push_peer = Signal()
        take, (wait,) = take_when_free(m, self, rows.busy, (self.from_prev, head.deps.pop_prev))
        m.d.comb += [self.waiting.eq(wait), self.still.eq(~rows.busy & ~take)]
        with m.If(take):
            rows.start(m, head.args.store, head.deps.push_prev)
            m.d.sync += [reading.eq(0), push_next.eq(head.deps.push_next),
                         push_peer.eq(head.deps.peer)]

        # The row read stays on the port (en low) until the DRAM takes the write, so the
        # payload holds until the transfer.
        narrowed = requantise(m, cfg, self.acc_read.data, args.shift)
        request = self.write.payload
        m.d.comb += [
            self.acc_read.addr.eq(args.acc_addr + rows.row),
            self.acc_read.en.eq(rows.busy & ~reading),
            self.write.valid.eq(rows.busy & reading),
            request.addr.eq(rows.addr),
            request.data.eq(Mux(args.narrow, narrowed.as_value(),
                                self.acc_read.data.as_value())),
            request.bytes.eq(args.elems * Mux(args.narrow, cfg.data_bytes, cfg.acc_bytes)),
        ]
        with m.If(rows.busy & ~reading):
            m.d.sync += reading.eq(1)
        with m.If(self.write.valid & self.write.ready):
            m.d.sync += reading.eq(0)
            rows.advance(m)
            with m.If(rows.last):
                m.d.comb += [self.to_prev.valid.eq(rows.push),
                             self.to_next.valid.eq(push_next),
                             self.to_peer.valid.eq(push_peer), self.done.eq(1)]
        return m
