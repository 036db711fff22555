"""The load unit: strided DRAM reads into an operand scratchpad."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from .dram import ReadRequest, ReadResponse, StridedRows
from .isa import Instruction, LoadArgs, Target
from .matrix_unit import operand_row
from .scratchpad import word_write_signature
from .tokens import TokenSignature, take_when_free

__all__ = ["LoadTag", "LoadUnit"]


def LoadTag(config):
    """What a read request carries to its response: where the word goes (its first
    scratchpad entry and how many entries it holds), and whether it completes a LOAD
    that pushes its token (``push``)."""
    most = max(config.entries_per_word(config.rows), config.entries_per_word(config.cols))
    return data.StructLayout({"target": Target, "sp_addr": ceil_log2(config.sp_depth),
                              "entries": range(most + 1), "push": 1})


class LoadUnit(wiring.Component):
    """Runs LOAD instructions: ``rows`` consecutive scratchpad entries from DRAM words
    ``stride`` apart, a whole word per request (``entries_per_word`` entries, fewer in
    the last word), one request per cycle as the DRAM accepts them, each word written
    to its scratchpad in one cycle. ``sp_addr`` must be a multiple of the target's
    ``entries_per_word`` (the word fills one scratchpad memory row).

    An instruction with ``pop_next`` waits for a token from execute (its buffer is
    free), one with ``pop_prev`` for a token from store (the data it reads was written
    to DRAM by an earlier STORE: a layer program's next op reading the previous op's
    output). A ``push_next`` token goes to execute when the last row's data arrives,
    not when it is requested, so execute never reads a row still in flight.

    Members
    -------
    instr : In(stream.Signature(Instruction(config)))
    from_next : In(TokenSignature())
        Buffer-free tokens from execute.
    from_prev : In(TokenSignature())
        Data-written tokens from store.
    from_peer : In(TokenSignature())
        Data-written tokens from the other engine of a chip (``peer``).
    to_next : Out(TokenSignature(push=True))
        Operands-ready tokens to execute.
    read : Out(stream.Signature(ReadRequest(config, LoadTag(config))))
    response : In(stream.Signature(ReadResponse(config, LoadTag(config)), always_ready=True))
    sp_a, sp_b : word_write_signature, flipped
        The operand scratchpads the responses fill.
    waiting, waiting_store, waiting_peer : Out(1)
        An instruction waits for a token from execute / store / the peer (the
        ``load_wait_exec``, ``load_wait_store`` and ``load_wait_peer`` events).
    idle : Out(1)
        No instruction queued or running (reads may still be in flight in the DRAM).
    still : Out(1)
        No instruction running or taken and no response arriving: the next edge changes
        nothing of the unit.
    """

    def __init__(self, config):
        self._config = config
        tag = LoadTag(config)
        super().__init__({
            "instr": In(stream.Signature(Instruction(config))),
            "from_next": In(TokenSignature()),
            "from_prev": In(TokenSignature()),
            "from_peer": In(TokenSignature()),
            "to_next": Out(TokenSignature(push=True)),
            "read": Out(stream.Signature(ReadRequest(config, tag))),
            "response": In(stream.Signature(ReadResponse(config, tag), always_ready=True)),
            "sp_a": In(word_write_signature(operand_row(config, config.rows),
                                            config.sp_depth,
                                            config.entries_per_word(config.rows))),
            "sp_b": In(word_write_signature(operand_row(config, config.cols),
                                            config.sp_depth,
                                            config.entries_per_word(config.cols))),
            "waiting": Out(1),
            "waiting_store": Out(1),
            "waiting_peer": Out(1),
            "idle": Out(1),
            "still": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        head = self.instr.payload
        pack_a, pack_b = cfg.entries_per_word(cfg.rows), cfg.entries_per_word(cfg.cols)
        rows = StridedRows(LoadArgs(cfg), per_word=lambda args: Mux(
            args.target == Target.A, pack_a, pack_b))
        take, (wait_exec, wait_store, wait_peer) = take_when_free(
            m, self, rows.busy, (self.from_next, head.deps.pop_next),
            (self.from_prev, head.deps.pop_prev), (self.from_peer, head.deps.peer))
        m.d.comb += [self.waiting.eq(wait_exec), self.waiting_store.eq(wait_store),
                     self.waiting_peer.eq(wait_peer),
                     self.still.eq(~rows.busy & ~take & ~self.response.valid)]
        with m.If(take):
            rows.start(m, head.args.load, head.deps.push_next)

        # --- Requests: one word per accepted request; the tag says where it goes.
        remaining = rows.args.rows - rows.row
        entries = Signal(range(max(pack_a, pack_b) + 1))
        m.d.comb += entries.eq(Mux(rows.last, remaining, rows.per_word))
        request = self.read.payload
        m.d.comb += [
            self.read.valid.eq(rows.busy),
            request.addr.eq(rows.addr),
            request.bytes.eq(entries * rows.args.elems * cfg.data_bytes),
            request.tag.target.eq(rows.args.target),
            request.tag.sp_addr.eq(rows.args.sp_addr + rows.row),
            request.tag.entries.eq(entries),
            request.tag.push.eq(rows.push & rows.last),
        ]
        with m.If(self.read.valid & self.read.ready):
            rows.advance(m)

        # --- Responses: each word's entries into the scratchpad row its tag names.
        response = self.response.payload
        for port, target, lanes, pack in ((self.sp_a, Target.A, cfg.rows, pack_a),
                                          (self.sp_b, Target.B, cfg.cols, pack_b)):
            width = lanes * cfg.data_width
            ours = self.response.valid & (response.tag.target == target)
            m.d.comb += port.addr.eq(response.tag.sp_addr >> exact_log2(pack))
            for i in range(pack):
                m.d.comb += [port.data[i].eq(response.data[i * width:(i + 1) * width]),
                             port.en[i].eq(ours & (i < response.tag.entries))]
        m.d.comb += self.to_next.valid.eq(self.response.valid & response.tag.push)
        return m
