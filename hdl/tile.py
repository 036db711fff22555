"""The tile: fetch, decoupled load / execute / store units, DRAM, tokens and counters."""

from typing import NamedTuple

from amaranth.hdl import DomainRenamer, Module, Signal
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .clock_gate import clock_gated
from .counters import COUNTER_WIDTH, COUNTERS, TOKEN_WIDTH, TOKENS, TRACE_DEPTH, CounterFile
from .dram import (DRAM_IMAGE, PROGRAM_IMAGE, STORAGE_KINDS, ChannelRequest, Dram,
                   DramSetting, dram_setting)
from .errors import one_of
from .execute import ExecuteUnit
from .fetch import Fetch
from .isa import Instruction
from .load import LoadTag, LoadUnit
from .matrix_unit import add_matrix_unit
from .store import StoreUnit
from .tokens import Tokens, TokenSignature
from .vector_unit import VectorUnit

__all__ = ["FREE_RUNNING", "ROLES", "Role", "Tile"]

#: The clock domain of a chip's free-running clock (a :class:`~rooftile.hdl.chip.Chip`
#: defines it), which ticks while an engine's own clock is gated: the engine latches
#: its compute units' clock enables on it, and the tile engine counts on it.
FREE_RUNNING = "free"


class Role(NamedTuple):
    """How a tile is built as one engine of a chip, or alone."""

    #: Which of its DRAM requests go over the chip's shared channel
    #: (:data:`~rooftile.hdl.dram.SHARING`).
    sharing: str
    #: The image files its DRAM and program memory read.
    dram_image: str
    program_image: str
    #: The channel's grant reaches it through a flop (the unit's die;
    #: ``registered_grant`` of :class:`~rooftile.hdl.dram.Dram`).
    registered_grant: bool
    #: Its clock ticks in few of a run's cycles (the unit's: 157,578 of bench_chip's
    #: layer's 1,453,485). Its counters then catch up on the cycles it skipped
    #: (``catch_up`` of :class:`~rooftile.hdl.counters.CounterFile`) rather than count on
    #: :data:`FREE_RUNNING` at every cycle, and its compute units run on its clock
    #: rather than on gated clocks of their own, each of which Verilator checks several
    #: times a cycle. The tile engine's clock ticks in 95% of the cycles, where both
    #: would cost more than they save (measured for bench_chip's layer: catching up
    #: +0.145 G instructions on the tile engine, its clock's triggers -0.077 G on the
    #: unit's).
    mostly_asleep: bool


#: What a tile is built as: alone (``None``), or one engine of a
#: :class:`~rooftile.hdl.chip.Chip`.
ROLES = {None: Role("none", DRAM_IMAGE, PROGRAM_IMAGE, False, False),
         "tile": Role("all", DRAM_IMAGE, PROGRAM_IMAGE, False, False),
         "unit": Role("upper", "rooftile_unit_dram.hex", "rooftile_unit_program.hex", True,
                      True)}


class Tile(wiring.Component):
    """A systolic tile that runs programs of :mod:`~rooftile.hdl.isa` instructions.

    The host loads DRAM and the program, pulses ``start`` and waits for ``done``. Fetch
    dispatches instructions in order into per-unit queues; the load, execute and store
    units then run concurrently, ordered only by dependency tokens, so DMA overlaps
    compute when the program double-buffers. The tile only instantiates and connects
    its units, as VTA's ``Core`` wires Fetch / Load / Compute / Store.

    Parameters
    ----------
    config : TileConfig
    storage : str
        How DRAM and program memory are built, one of
        :data:`~rooftile.hdl.dram.STORAGE_KINDS`: ``"memory"`` lets Amaranth's
        simulator run the whole tile.
    role : str or None
        A key of :data:`ROLES`; a chip's engines have the members below marked *chip*.

    Members
    -------
    host_addr, host_wdata, host_write_dram, host_rdata : DRAM host port
        Read back between programs (not while one runs).
    host_instr, host_write_instr : program memory host port (slot ``host_addr``)
    host_load : In(1)
        Fill DRAM and the program memory from their image files in one cycle
        (:data:`~rooftile.hdl.dram.DRAM_IMAGE`, :data:`~rooftile.hdl.dram.PROGRAM_IMAGE`;
        the storage primitive only).
    dram_setting : In(DramSetting(config))
        The DRAM's rate and latency (:func:`~rooftile.hdl.dram.dram_setting`), held
        while a program runs; ``config``'s where nothing drives it (Amaranth's
        simulator).
    start : In(1)
    done : Out(1)
    counters : Out(ArrayLayout(COUNTER_WIDTH, len(COUNTERS)))
    status_pc : Out
        Next instruction to fetch; with ``status_tokens`` and ``status_units`` it tells
        which unit waits on what when a program hangs.
    status_tokens : Out(ArrayLayout(TOKEN_WIDTH, len(TOKENS)))
    status_units : Out(StructLayout)
        Busy flag and queue level of each unit.
    trace_addr : In(range(TRACE_DEPTH))
    trace_data : Out(ArrayLayout(COUNTER_WIDTH, len(COUNTERS)))
        The counters as the program's STORE number ``trace_addr`` ended (the first
        :data:`~rooftile.hdl.counters.TRACE_DEPTH`), a cycle after the address, between
        programs.
    peer_in : In(TokenSignature()), chip
        Data-written tokens from the other engine, for LOADs with the ``peer`` flag.
    peer_out : Out(TokenSignature(push=True)), chip
        Pushed by STOREs with the ``peer`` flag.
    channel_request : Out(ChannelRequest(config)), chip
    channel_grant : In(1), chip
        The DRAM's requests over the chip's shared channel.
    waiting_peer : Out(1), chip
        A LOAD waits for the other engine's token (the ``load_wait_peer`` event).
    quiet : Out(1), chip
        For this cycle and the last, no unit runs or takes an instruction, no DRAM
        transfer is in flight and the compute units' clocks have stopped: until an
        input changes (``start``, a token from the other engine), the engine's next
        edge changes nothing but its counters, which count on :data:`FREE_RUNNING` or
        catch up (``skipped``). A quiet engine's clock can stop: one that waits for
        the other's data, or one that is done.
    skipped : In(COUNTER_WIDTH), chip, ``mostly_asleep`` roles
        Cycles without an edge of the engine's clock since its last one, which its
        counters catch up on (``catch_up`` of :class:`~rooftile.hdl.counters.CounterFile`).
    """

    def __init__(self, config, *, storage="primitive", role=None):
        self._config = config
        self._storage = one_of("storage", storage, STORAGE_KINDS)
        self._role = one_of("role", role, ROLES)
        chip = {} if role is None else {
            "peer_in": In(TokenSignature()), "peer_out": Out(TokenSignature(push=True)),
            "channel_request": Out(ChannelRequest(config)), "channel_grant": In(1),
            "waiting_peer": Out(1), "quiet": Out(1)}
        if ROLES[role].mostly_asleep:
            chip["skipped"] = In(COUNTER_WIDTH)
        addr = max(ceil_log2(config.dram_depth), ceil_log2(config.program_depth))
        level = range(config.queue_depth + 1)
        super().__init__({
            "host_addr": In(addr),
            "host_wdata": In(config.dram_word_bits),
            "host_write_dram": In(1),
            "host_rdata": Out(config.dram_word_bits),
            "host_instr": In(Instruction(config)),
            "host_write_instr": In(1),
            "host_load": In(1),
            "dram_setting": In(DramSetting(config), init=dram_setting(config)),
            "start": In(1),
            "done": Out(1),
            "counters": Out(data.ArrayLayout(COUNTER_WIDTH, len(COUNTERS))),
            "status_pc": Out(range(config.program_depth + 1)),
            "status_tokens": Out(data.ArrayLayout(TOKEN_WIDTH, len(TOKENS))),
            "status_units": Out(data.StructLayout({
                "fetching": 1, "load_busy": 1, "exec_busy": 1, "store_busy": 1,
                "load_queue": level, "exec_queue": level, "store_queue": level})),
            "trace_addr": In(range(TRACE_DEPTH)),
            "trace_data": Out(data.ArrayLayout(COUNTER_WIDTH, len(COUNTERS))),
            **chip,
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        role = ROLES[self._role]
        # A chip's engine latches its compute units' clock enables on the chip's
        # free-running clock (its own is gated); see Role for the mostly asleep.
        free = "sync" if self._role is None else FREE_RUNNING
        gated = not role.mostly_asleep
        matrix, sp_a, sp_b, acc = add_matrix_unit(m, cfg, free, gated=gated)
        m.submodules.dram = dram = Dram(cfg, LoadTag(cfg), storage=self._storage,
                                        sharing=role.sharing, image=role.dram_image,
                                        registered_grant=role.registered_grant)
        m.submodules.fetch = fetch = Fetch(cfg, storage=self._storage,
                                           image=role.program_image)
        m.submodules.tokens = tokens = Tokens()
        m.submodules.load = load = LoadUnit(cfg)
        m.submodules.execute = execute = ExecuteUnit(cfg, matrix.blocks_in_flight)
        # The compute units are clocked only while awake (hdl.clock_gate); gating the
        # control units and the DRAM as well measured slower (Verilator evaluates every
        # gated clock's trigger twice a cycle, and they are mostly awake).
        vector = clock_gated(m, "vector", VectorUnit(cfg), free=free, gated=gated)
        m.submodules.store = store = StoreUnit(cfg)
        counter_file = CounterFile(cfg, catch_up=role.mostly_asleep)
        m.submodules.counter_file = counter_file = (
            counter_file if role.mostly_asleep else DomainRenamer(free)(counter_file))

        # Host ports, start and done.
        m.d.comb += [
            dram.host_addr.eq(self.host_addr), dram.host_wdata.eq(self.host_wdata),
            dram.host_write.eq(self.host_write_dram), self.host_rdata.eq(dram.host_rdata),
            dram.host_read.eq(~fetch.running),
            dram.setting.eq(self.dram_setting), dram.start.eq(self.start),
            dram.host_load.eq(self.host_load), fetch.host_load.eq(self.host_load),
            fetch.host_addr.eq(self.host_addr), fetch.host_instr.eq(self.host_instr),
            fetch.host_write.eq(self.host_write_instr),
            fetch.start.eq(self.start), tokens.clear.eq(self.start),
            fetch.units_idle.eq(load.idle & execute.idle & store.idle & ~dram.busy),
            self.done.eq(fetch.done),
        ]
        if self._role is None:
            m.d.comb += load.from_peer.valid.eq(0)   # refused by the assembler
        else:
            wiring.connect(m, wiring.flipped(self.peer_in), load.from_peer)
            wiring.connect(m, store.to_peer, wiring.flipped(self.peer_out))
            m.d.comb += [self.channel_request.eq(dram.channel_request),
                         dram.channel_grant.eq(self.channel_grant),
                         self.waiting_peer.eq(load.waiting_peer)]
            if role.mostly_asleep:
                m.d.comb += counter_file.skipped.eq(self.skipped)
            # Quiet two cycles running: the compute units' clocks, which tick once
            # more after their last awake cycle (hdl.clock_gate), have stopped too.
            still, was_still = Signal(), Signal()
            m.d.comb += [still.eq(fetch.still & load.still & execute.still & store.still &
                                  dram.still & ~matrix.awake & ~vector.awake),
                         self.quiet.eq(still & was_still)]
            m.d.sync += was_still.eq(still)
        # Instructions, tokens and DRAM traffic.
        wiring.connect(m, fetch.load, load.instr)
        wiring.connect(m, fetch.execute, execute.instr)
        wiring.connect(m, fetch.store, store.instr)
        routes = {"load_to_exec": (load.to_next, execute.from_prev),
                  "exec_to_load": (execute.to_prev, load.from_next),
                  "exec_to_store": (execute.to_next, store.from_prev),
                  "store_to_exec": (store.to_prev, execute.from_next),
                  "store_to_load": (store.to_next, load.from_prev)}
        for name in TOKENS:
            pusher, popper = routes[name]
            wiring.connect(m, pusher, getattr(tokens, f"{name}_push"))
            wiring.connect(m, getattr(tokens, f"{name}_pop"), popper)
        wiring.connect(m, load.read, dram.read)
        wiring.connect(m, dram.response, load.response)
        wiring.connect(m, load.sp_a, sp_a.write_word)
        wiring.connect(m, load.sp_b, sp_b.write_word)
        # The vector unit's accumulator reads are clocked with it: their data then
        # changes only while it is awake, and so does the logic that reads it.
        wiring.connect(m, vector.acc_read, acc.read_port(domain="vector"))
        wiring.connect(m, vector.sp_write, sp_b.write)
        wiring.connect(m, store.acc_read, acc.read_port())
        wiring.connect(m, store.write, dram.write)
        # Execute drives the two compute units and follows their progress.
        wiring.connect(m, execute.block, matrix.cmd)
        wiring.connect(m, execute.softmax, vector.cmd)
        m.d.comb += [
            execute.block_fed.eq(matrix.block_fed),
            execute.block_written.eq(matrix.block_written),
            execute.matrix_idle.eq(matrix.idle),
            execute.softmax_done.eq(vector.done),
            execute.vector_idle.eq(vector.idle),
        ]

        # The trace: the counters as each STORE ends.
        m.submodules.trace = trace = memory.Memory(
            shape=data.ArrayLayout(COUNTER_WIDTH, len(COUNTERS)), depth=TRACE_DEPTH, init=[])
        record, read = trace.write_port(), trace.read_port()
        stores = Signal(range(TRACE_DEPTH + 1))
        with m.If(self.start):
            m.d.sync += stores.eq(0)
        with m.Elif(store.done & (stores < TRACE_DEPTH)):
            m.d.sync += stores.eq(stores + 1)
        m.d.comb += [record.en.eq(store.done & (stores < TRACE_DEPTH)),
                     record.addr.eq(stores), record.data.eq(counter_file.counters),
                     read.addr.eq(self.trace_addr), read.en.eq(~fetch.running),
                     self.trace_data.eq(read.data)]

        # Counters and status.
        events = {
            "array_busy": matrix.step,
            "useful_macs": matrix.useful_macs,
            "drain_stalls": matrix.drain_stall,
            "dma_busy": dram.busy,
            "bytes_read": dram.bytes_read,
            "bytes_written": dram.bytes_written,
            "exec_wait_load": execute.wait_prev,
            "exec_wait_store": execute.wait_next,
            "store_wait_exec": store.waiting,
            "load_wait_exec": load.waiting,
            "vector_busy": ~vector.idle,
            "load_wait_store": load.waiting_store,
            "dram_wait": dram.waiting,
            "load_wait_peer": load.waiting_peer,
        }
        m.d.comb += [counter_file.events[name].eq(value) for name, value in events.items()]
        m.d.comb += [
            counter_file.clear.eq(self.start),
            counter_file.enable.eq(fetch.running),
            self.counters.eq(counter_file.counters),
            self.status_pc.eq(fetch.pc),
            self.status_tokens.eq(tokens.counts),
            self.status_units.fetching.eq(fetch.fetching),
            self.status_units.load_busy.eq(~load.idle),
            self.status_units.exec_busy.eq(~execute.idle),
            self.status_units.store_busy.eq(~store.idle),
            self.status_units.load_queue.eq(fetch.queue_levels.load),
            self.status_units.exec_queue.eq(fetch.queue_levels.execute),
            self.status_units.store_queue.eq(fetch.queue_levels.store),
        ]
        return m
