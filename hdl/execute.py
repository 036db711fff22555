"""The execute unit: blocks to the matrix unit, softmax commands to the vector unit."""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .isa import ExecCommand, Instruction, Opcode, SoftmaxCommand
from .tokens import TokenSignature

__all__ = ["ExecuteUnit"]


class ExecuteUnit(wiring.Component):
    """Dispatches EXEC and SOFTMAX instructions in program order, one at a time.

    A block's operand buffers are free once its last step is read (``block_fed``: its
    ``push_prev`` token goes to load; a weight-stationary unit takes the next block
    before that, to load its weights, so these flags wait in a queue too); its results are ready once its last row is
    written (``block_written``: its ``push_next`` token goes to store), which may be
    several blocks later, so the ``push_next`` flags of blocks in flight wait in a
    queue as deep as the matrix unit's. A softmax waits until every earlier block is
    written, and holds back later instructions until its last probabilities are
    written (``softmax_done``); both its tokens are pushed then.

    Parameters
    ----------
    config : TileConfig
    blocks_in_flight : int
        :attr:`MatrixUnit.blocks_in_flight` of the matrix unit it drives.

    Members
    -------
    instr : In(stream.Signature(Instruction(config)))
    from_prev, from_next : In(TokenSignature())
        Operands-ready tokens from load, accumulator-free tokens from store.
    to_prev, to_next : Out(TokenSignature(push=True))
        Buffer-free tokens to load, results-ready tokens to store.
    block : Out(stream.Signature(ExecCommand(config)))
    block_fed, block_written, matrix_idle : In(1)
        The matrix unit's progress (see :class:`~rooftile.hdl.matrix_unit.MatrixUnit`).
    softmax : Out(stream.Signature(SoftmaxCommand(config)))
    softmax_done, vector_idle : In(1)
        The vector unit's progress.
    wait_prev, wait_next : Out(1)
        An instruction waits for a load token / a store token (the ``exec_wait_load``
        and ``exec_wait_store`` events).
    idle : Out(1)
        No instruction queued, nothing in either unit, no token owed.
    still : Out(1)
        No instruction taken and no progress reported by either unit: the next edge
        changes nothing of this unit (the compute units' own state aside).
    """

    def __init__(self, config, blocks_in_flight):
        self._config = config
        self._blocks_in_flight = blocks_in_flight
        super().__init__({
            "instr": In(stream.Signature(Instruction(config))),
            "from_prev": In(TokenSignature()),
            "from_next": In(TokenSignature()),
            "to_prev": Out(TokenSignature(push=True)),
            "to_next": Out(TokenSignature(push=True)),
            "block": Out(stream.Signature(ExecCommand(config))),
            "block_fed": In(1),
            "block_written": In(1),
            "matrix_idle": In(1),
            "softmax": Out(stream.Signature(SoftmaxCommand(config))),
            "softmax_done": In(1),
            "vector_idle": In(1),
            "wait_prev": Out(1),
            "wait_next": Out(1),
            "idle": Out(1),
            "still": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        head = self.instr.payload
        deps = head.deps
        tokens_ok = ((~deps.pop_prev | self.from_prev.valid) &
                     (~deps.pop_next | self.from_next.valid))
        softmax_pending = Signal()   # accepted, last probabilities not yet written
        softmax_push = Signal(data.StructLayout({"prev": 1, "next": 1}))
        # push_next of each block between the matrix unit's feeder and its writer.
        m.submodules.written_pushes = written_pushes = fifo.SyncFIFO(
            width=1, depth=self._blocks_in_flight + 1)
        # push_prev of each block handed over and not yet fed: one for an output-
        # stationary unit, two for a weight-stationary one (a block streams while the
        # next one's weights load), and the block handed over in the cycle the
        # streaming one is fed (the FIFO's level drops only a cycle later).
        m.submodules.fed_pushes = fed_pushes = fifo.SyncFIFO(width=1, depth=3)
        is_softmax = head.opcode == Opcode.SOFTMAX
        ready_to_issue = self.instr.valid & tokens_ok & ~softmax_pending
        m.d.comb += [
            self.block.valid.eq(ready_to_issue & ~is_softmax & written_pushes.w_rdy &
                                fed_pushes.w_rdy),
            self.block.payload.eq(head.args.exec),
            self.softmax.valid.eq(ready_to_issue & is_softmax & self.matrix_idle &
                                  ~written_pushes.r_rdy),
            self.softmax.payload.eq(head.args.softmax),
        ]
        block_go = self.block.valid & self.block.ready
        softmax_go = self.softmax.valid & self.softmax.ready
        take = block_go | softmax_go
        with m.If(softmax_go):
            m.d.sync += [softmax_pending.eq(1), softmax_push.prev.eq(deps.push_prev),
                         softmax_push.next.eq(deps.push_next)]
        with m.Elif(self.softmax_done):
            m.d.sync += softmax_pending.eq(0)
        m.d.comb += [
            self.instr.ready.eq(take),
            self.from_prev.ready.eq(take & deps.pop_prev),
            self.from_next.ready.eq(take & deps.pop_next),
            fed_pushes.w_en.eq(block_go),
            fed_pushes.w_data.eq(deps.push_prev),
            fed_pushes.r_en.eq(self.block_fed),
            self.to_prev.valid.eq((self.block_fed & fed_pushes.r_data) |
                                  (self.softmax_done & softmax_push.prev)),
            written_pushes.w_en.eq(block_go),
            written_pushes.w_data.eq(deps.push_next),
            written_pushes.r_en.eq(self.block_written),
            self.to_next.valid.eq((self.block_written & written_pushes.r_data) |
                                  (self.softmax_done & softmax_push.next)),
            self.wait_prev.eq(self.instr.valid & deps.pop_prev & ~self.from_prev.valid),
            self.wait_next.eq(self.instr.valid & deps.pop_next & ~self.from_next.valid),
            self.idle.eq(~self.instr.valid & self.matrix_idle & ~written_pushes.r_rdy &
                         ~softmax_pending & self.vector_idle),
            self.still.eq(~take & ~self.block_fed & ~self.block_written & ~self.softmax_done),
        ]
        return m
