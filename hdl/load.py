"""The load unit: strided DRAM reads into an operand scratchpad."""

from amaranth.hdl import Module
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .dram import ReadRequest, ReadResponse, StridedRows
from .isa import Instruction, LoadArgs, Target
from .matrix_unit import operand_row
from .tokens import TokenSignature, take_when_free

__all__ = ["LoadTag", "LoadUnit"]


def LoadTag(config):
    """What a read request carries to its response: where the word goes, and whether it
    completes a LOAD that pushes its token (``push``)."""
    return data.StructLayout({"target": Target, "sp_addr": ceil_log2(config.sp_depth),
                              "push": 1})


class LoadUnit(wiring.Component):
    """Runs LOAD instructions: ``rows`` DRAM reads ``stride`` words apart into
    consecutive scratchpad entries, one request per cycle as the DRAM accepts them.

    An instruction with ``pop_next`` waits for a token from execute (its buffer is
    free). A ``push_next`` token goes to execute when the last row's data arrives, not
    when it is requested, so execute never reads a row still in flight.

    Members
    -------
    instr : In(stream.Signature(Instruction(config)))
    from_next : In(TokenSignature())
        Buffer-free tokens from execute.
    to_next : Out(TokenSignature(push=True))
        Operands-ready tokens to execute.
    read : Out(stream.Signature(ReadRequest(config, LoadTag(config))))
    response : In(stream.Signature(ReadResponse(config, LoadTag(config)), always_ready=True))
    sp_a, sp_b : memory.WritePort.Signature, flipped
        The operand scratchpads the responses fill.
    waiting : Out(1)
        An instruction waits for a token from execute (the ``load_wait_exec`` event).
    idle : Out(1)
        No instruction queued or running (reads may still be in flight in the DRAM).
    """

    def __init__(self, config):
        self._config = config
        tag = LoadTag(config)
        sp_bits = ceil_log2(config.sp_depth)
        super().__init__({
            "instr": In(stream.Signature(Instruction(config))),
            "from_next": In(TokenSignature()),
            "to_next": Out(TokenSignature(push=True)),
            "read": Out(stream.Signature(ReadRequest(config, tag))),
            "response": In(stream.Signature(ReadResponse(config, tag), always_ready=True)),
            "sp_a": In(memory.WritePort.Signature(addr_width=sp_bits,
                                                   shape=operand_row(config, config.rows))),
            "sp_b": In(memory.WritePort.Signature(addr_width=sp_bits,
                                                   shape=operand_row(config, config.cols))),
            "waiting": Out(1),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        head = self.instr.payload
        rows = StridedRows(LoadArgs(cfg))
        take = take_when_free(m, self, rows.busy, self.from_next, head.deps.pop_next)
        with m.If(take):
            rows.start(m, head.args.load, head.deps.push_next)

        # --- Requests: one row per accepted request; the tag says where it goes.
        request = self.read.payload
        m.d.comb += [
            self.read.valid.eq(rows.busy),
            request.addr.eq(rows.addr),
            request.bytes.eq(rows.args.elems * cfg.data_bytes),
            request.tag.target.eq(rows.args.target),
            request.tag.sp_addr.eq(rows.args.sp_addr + rows.row),
            request.tag.push.eq(rows.push & rows.last),
        ]
        with m.If(self.read.valid & self.read.ready):
            rows.advance(m)

        # --- Responses: each word into the scratchpad its tag names.
        response = self.response.payload
        for port, target, lanes in ((self.sp_a, Target.A, cfg.rows),
                                    (self.sp_b, Target.B, cfg.cols)):
            m.d.comb += [port.addr.eq(response.tag.sp_addr),
                         port.data.eq(response.data[:lanes * cfg.data_width]),
                         port.en.eq(self.response.valid & (response.tag.target == target))]
        m.d.comb += self.to_next.valid.eq(self.response.valid & response.tag.push)
        return m
