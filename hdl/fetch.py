"""Instruction fetch: program memory, in-order dispatch into one queue per unit, and the
run control that says when a program is done."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .dram import PROGRAM_IMAGE, STORAGE_KINDS, WordStorage
from .errors import one_of
from .isa import Instruction, Opcode

__all__ = ["UNITS", "Fetch"]

#: The units fetch dispatches to, with the opcodes each runs.
UNITS = {"load": (Opcode.LOAD,), "execute": (Opcode.EXEC, Opcode.SOFTMAX),
         "store": (Opcode.STORE,)}


class Fetch(wiring.Component):
    """Reads the program one instruction per cycle and dispatches it, in order, into the
    queue of the unit that runs it; a full queue holds fetch back. FINISH (or running
    off the end of the program memory) stops fetching; the program is done once fetch
    has stopped and every unit reports idle.

    The program memory is the DRAM's storage primitive, not an Amaranth ``Memory``: a
    program memory of 64 Ki words would be emitted one initialiser line per word (see
    :mod:`~rooftile.hdl.dram`).

    Parameters
    ----------
    config : TileConfig
    storage : str
        One of :data:`~rooftile.hdl.dram.STORAGE_KINDS`.
    image : str
        The file ``host_load`` reads.

    Members
    -------
    host_addr, host_instr, host_write : In
        Write ``host_instr`` into program slot ``host_addr``.
    host_load : In(1)
        Read ``image`` into the program memory in one cycle (the storage primitive
        only).
    start : In(1)
        Fetch from slot 0 on; clears ``done``.
    units_idle : In(1)
        No unit holds or runs an instruction and no DMA is in flight.
    load, execute, store : Out(stream.Signature(Instruction(config)))
        The heads of the units' queues.
    running : Out(1)
        From the cycle after ``start`` until the program is done.
    done : Out(1)
        The program is done; held until the next ``start``.
    fetching, pc, queue_levels : Out
        Whether fetch still reads, the next slot it reads and how full each queue is:
        they tell which unit waits on what when a program hangs.
    still : Out(1)
        Fetch neither reads nor dispatches, no unit takes an instruction, every queue's
        head has settled and the run does not end: the next edge changes nothing of it.
    """

    def __init__(self, config, *, storage="primitive", image=PROGRAM_IMAGE):
        self._config = config
        self._storage = one_of("storage", storage, STORAGE_KINDS)
        self._image = image
        layout = Instruction(config)
        level = range(config.queue_depth + 1)
        super().__init__({
            "host_addr": In(ceil_log2(config.program_depth)),
            "host_instr": In(layout),
            "host_write": In(1),
            "host_load": In(1),
            "start": In(1),
            "units_idle": In(1),
            **{unit: Out(stream.Signature(layout)) for unit in UNITS},
            "running": Out(1),
            "done": Out(1),
            "fetching": Out(1),
            "pc": Out(range(config.program_depth + 1)),
            "queue_levels": Out(data.StructLayout({unit: level for unit in UNITS})),
            "still": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        layout = Instruction(cfg)
        m.submodules.program = program = WordStorage(layout.size, cfg.program_depth,
                                                     kind=self._storage, image=self._image)
        m.d.comb += [program.load.eq(self.host_load),
                     program.host_write.eq(self.host_write),
                     program.host_addr.eq(self.host_addr),
                     program.host_wdata.eq(self.host_instr)]

        queues = {}
        settled = []   # no instruction moves to the queue's head, none is taken from it
        for unit in UNITS:
            queue = queues[unit] = m.submodules[f"{unit}_queue"] = fifo.SyncFIFOBuffered(
                width=layout.size, depth=cfg.queue_depth)
            head = getattr(self, unit)
            m.d.comb += [head.valid.eq(queue.r_rdy), head.payload.eq(queue.r_data),
                         queue.r_en.eq(head.valid & head.ready),
                         self.queue_levels[unit].eq(queue.level)]
            settled.append(~queue.r_en & (queue.r_rdy | (queue.level == 0)))

        held = Signal()          # `fetched` holds the instruction read last cycle
        fetched = Signal(layout)
        m.d.comb += fetched.eq(program.read_data)
        target_ready = Signal()
        with m.Switch(fetched.opcode):
            for unit, opcodes in UNITS.items():
                with m.Case(*opcodes):
                    m.d.comb += [target_ready.eq(queues[unit].w_rdy),
                                 queues[unit].w_en.eq(held),
                                 queues[unit].w_data.eq(fetched)]
            with m.Case(Opcode.FINISH):
                m.d.comb += target_ready.eq(1)
        advance = ~held | target_ready
        m.d.comb += [program.read_addr.eq(self.pc), program.read_en.eq(advance)]
        with m.If(self.start):
            m.d.sync += [self.pc.eq(0), held.eq(0), self.fetching.eq(1),
                         self.running.eq(1), self.done.eq(0)]
        with m.Elif(self.fetching & advance):
            with m.If(held & (fetched.opcode == Opcode.FINISH)):
                m.d.sync += [self.fetching.eq(0), held.eq(0)]
            with m.Elif(self.pc == cfg.program_depth):
                m.d.sync += [self.fetching.eq(0), held.eq(0)]  # ran off the end: stop
            with m.Else():
                m.d.sync += [held.eq(1), self.pc.eq(self.pc + 1)]
        ending = ~self.start & self.running & ~self.fetching & self.units_idle
        with m.If(ending):
            m.d.sync += [self.running.eq(0), self.done.eq(1)]
        m.d.comb += self.still.eq(~self.start & ~(self.fetching & advance) & ~ending &
                                  Cat(*settled).all())
        return m
