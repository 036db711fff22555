"""The chip: the tile and the attention unit's engine, each with its own program, on a
shared external memory channel, synchronised by tokens across engines."""

from amaranth.hdl import ClockDomain, ClockSignal, Module, Mux, ResetSignal, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .clock_gate import clock_gated
from .counters import COUNTER_WIDTH, COUNTERS, TOKEN_WIDTH, TRACE_DEPTH
from .dram import STORAGE_KINDS, DramSetting, SharedChannel, dram_setting
from .errors import InputError, one_of
from .tile import FREE_RUNNING, ROLES, Tile
from .tokens import CrossingToken

__all__ = ["ENGINES", "PEER_TOKENS", "Chip"]

#: The engines of a chip, in the order of its per-engine ports' lanes.
ENGINES = ("tile", "unit")
#: Tokens between the engines: pushed by one engine's STOREs, popped by the other's
#: LOADs (the ``peer`` flag of :mod:`~rooftile.hdl.isa`).
PEER_TOKENS = ("tile_to_unit", "unit_to_tile")


class _Held(wiring.Component):
    """``q`` takes ``d`` at every edge of its clock: the flops behind :class:`Chip`'s
    host ports."""

    def __init__(self, shape):
        super().__init__({"d": In(shape), "q": Out(shape)})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.q.eq(self.d)
        return m


class Chip(wiring.Component):
    """A tile and its attention unit's engine (:meth:`TileConfig.attention_unit_tile`),
    co-simulated as NeuPIMs and AttAcc pair an NPU with PIM attention.

    Each engine is a :class:`~rooftile.hdl.tile.Tile` with its own program, DRAM and
    counters. Where each byte lives:

    - the tile's DRAM is the external memory (weights and activations); all its
      traffic goes over the **shared channel** at the tile's rate
      (``config.dram_bytes_per_cycle``);
    - the unit's DRAM is the memory it sits in: the lower half of its words (the KV
      cache) is read at the unit's own rate (its ``dram_setting``); the upper half
      holds the queries it reads and the outputs it writes, whose transfers go over
      the shared channel too, ahead of the tile's (:class:`~rooftile.hdl.dram.SharedChannel`).

    A STORE with the ``peer`` flag on one engine lets one LOAD with it on the other go
    (QKV projection -> attention on the unit -> output projection on the tile).
    ``start`` starts both engines; ``done`` is set when both are done.

    Each engine has its own clock, gated while it is quiet (``Tile.quiet``: done, or
    waiting for the other's data) during a run; the tile engine's counters count on the
    free-running clock, the mostly asleep unit's catch up on the cycles its clock
    skipped (:class:`~rooftile.hdl.tile.Role`). What crosses between an engine and the rest of the chip crosses through a flop of the
    receiving clock, as between dies: an engine takes ``start`` and its setting a cycle
    later (so does the channel: all start together), the other engine's token a cycle
    after its push (:class:`~rooftile.hdl.tokens.CrossingToken`), and the unit the
    channel's grant a cycle after the channel gives it (``registered_grant`` of
    :class:`~rooftile.hdl.dram.Dram`; the tile's DRAM sits with the channel). Why: an
    engine's logic must read no register of another clock, or Verilator evaluates it
    at every edge of that clock, asleep or not (measured: 8.06 -> 7.43 G instructions
    for ``scripts/bench_chip.py``'s layer).

    NB: the engines exchange timing, not values: the unit reads its queries from its
    own memory (placed by the testbench), so that each engine's outputs are checked
    against numpy on its own inputs. Timing does not depend on data values.

    Members
    -------
    host_engine : In(range(2))
        Which engine's DRAM ``host_write_dram`` writes (:data:`ENGINES` order).
    host_addr, host_wdata, host_write_dram, host_load
        The engines' DRAM host port; ``host_load`` fills both engines' DRAM and program
        memories from their image files.
    host_rdata : Out(ArrayLayout(word, 2))
        Each engine's DRAM word at ``host_addr``, a lane per engine, between runs: a
        selecting multiplexer would depend on an input, which Verilator evaluates twice
        a cycle.
    tile_setting, unit_setting, channel_setting : In(DramSetting(...))
        The tile's DRAM setting is unused (its traffic is all on the shared channel).
    start : In(1)
    done : Out(1)
    counters : Out(ArrayLayout(ArrayLayout(COUNTER_WIDTH, len(COUNTERS)), 2))
        Each engine's counters, between runs (the ``status_*`` ports change during one).
    trace_addr, trace_data
        Each engine's trace (:class:`~rooftile.hdl.tile.Tile`), a lane per engine.
    status_done : Out(2)
        Each engine's ``done``.
    status_waiting_peer : Out(2)
        Each engine's LOAD waits for the other's token (its ``load_wait_peer`` event).
    status_awake : Out(2)
        Each engine's clock runs: low while the engine sleeps (it is quiet).
    status_pc : Out(ArrayLayout(32, 2))
    status_tokens : Out(ArrayLayout(TOKEN_WIDTH, len(PEER_TOKENS)))
        The tokens between the engines.
    """

    def __init__(self, config, *, storage="primitive"):
        if config.attention_unit is None:
            raise InputError("a chip needs a TileConfig with an attention_unit")
        self._config = config
        self._unit = config.attention_unit_tile()
        self._storage = one_of("storage", storage, STORAGE_KINDS)
        width = max(config.dram_word_bits, self._unit.dram_word_bits)
        depth = max(config.dram_depth, self._unit.dram_depth)
        super().__init__({
            "host_engine": In(range(2)),
            "host_addr": In(range(depth)),
            "host_wdata": In(width),
            "host_write_dram": In(1),
            "host_rdata": Out(data.ArrayLayout(width, len(ENGINES))),
            "host_load": In(1),
            "tile_setting": In(DramSetting(config), init=dram_setting(config)),
            "unit_setting": In(DramSetting(self._unit), init=dram_setting(self._unit)),
            "channel_setting": In(DramSetting(config), init=dram_setting(config)),
            "start": In(1),
            "done": Out(1),
            "counters": Out(data.ArrayLayout(
                data.ArrayLayout(COUNTER_WIDTH, len(COUNTERS)), len(ENGINES))),
            "trace_addr": In(range(TRACE_DEPTH)),
            "trace_data": Out(data.ArrayLayout(
                data.ArrayLayout(COUNTER_WIDTH, len(COUNTERS)), len(ENGINES))),
            "status_done": Out(len(ENGINES)),
            "status_waiting_peer": Out(len(ENGINES)),
            "status_awake": Out(len(ENGINES)),
            "status_pc": Out(data.ArrayLayout(32, len(ENGINES))),
            "status_tokens": Out(data.ArrayLayout(TOKEN_WIDTH, len(PEER_TOKENS))),
        })

    def elaborate(self, platform):
        m = Module()
        tile = Tile(self._config, storage=self._storage, role="tile")
        unit = Tile(self._unit, storage=self._storage, role="unit")
        # Tokens across engines, each counted on both engines' clocks.
        engines = {"tile": tile, "unit": unit}
        tokens = {}
        for index, name in enumerate(PEER_TOKENS):
            pusher, popper = name.split("_to_")
            m.submodules[name] = tokens[popper] = token = CrossingToken(
                f"{pusher}_engine", f"{popper}_engine")
            wiring.connect(m, engines[pusher].peer_out, token.push)
            wiring.connect(m, token.pop, engines[popper].peer_in)
            m.d.comb += [token.clear_push.eq(engines[pusher].start),
                         token.clear_pop.eq(engines[popper].start),
                         self.status_tokens[index].eq(token.count)]

        # An engine's clock runs between runs (the host loads and reads its memories)
        # and while it is not quiet (Tile.quiet); a quiet engine (done, or waiting for
        # the other's data) sleeps until `start` or the other's token arrives, and its
        # counters go on counting (or catch up: Role.mostly_asleep). Measured for bench_chip's layer: 8.63 G -> 8.04 G
        # instructions when a done engine slept, 7.15 G -> 6.75 G when a waiting one
        # sleeps too (the unit's clock ticks 157,578 times instead of 501,254).
        # Each engine takes start and its DRAM setting through flops of its own clock,
        # so that none of its logic reads a register of the free-running clock through
        # them (Verilator would evaluate that logic at every cycle, asleep or not); the
        # channel and the running flag take start through a flop too, so that all start
        # in the same cycle, one after `start`.
        m.domains.free = free = ClockDomain(FREE_RUNNING, local=True)
        m.d.comb += [free.clk.eq(ClockSignal()), free.rst.eq(ResetSignal())]
        started, running, finished = Signal(), Signal(), Signal()
        m.d.comb += finished.eq(tile.done & unit.done & ~self.start & ~started)
        m.d.sync += started.eq(self.start)
        with m.If(started):
            m.d.sync += running.eq(1)
        with m.Elif(finished):
            m.d.sync += running.eq(0)
        for index, (name, engine, setting) in enumerate((("tile", tile, self.tile_setting),
                                                         ("unit", unit, self.unit_setting))):
            domain = f"{name}_engine"
            start = Signal(name=f"{name}_start")
            clock_gated(m, name, engine, self.start | start | ~running | ~engine.quiet |
                        tokens[name].arriving, domain=domain,
                        enabled=self.status_awake[index])
            taken = Signal.like(setting, name=f"{name}_setting_q")
            m.d[domain] += [start.eq(self.start), taken.eq(setting)]
            m.d.comb += [engine.start.eq(start), engine.dram_setting.eq(taken)]
            if ROLES[name].mostly_asleep:
                # The free-running cycles the engine's clock skipped since its last edge.
                skipped = Signal.like(engine.skipped, name=f"{name}_skipped")
                m.d.sync += skipped.eq(Mux(self.status_awake[index], 0, skipped + 1))
                m.d.comb += engine.skipped.eq(skipped)
        m.submodules.channel = channel = SharedChannel(self._config, len(ENGINES))

        # The shared channel: port 0 the unit's, port 1 the tile's.
        for port, engine in enumerate((unit, tile)):
            m.d.comb += [channel.requests[port].eq(engine.channel_request),
                         engine.channel_grant.eq(channel.grants[port])]
        m.d.comb += [channel.setting.eq(self.channel_setting), channel.start.eq(started)]

        # Host ports, start and done. What the host reads after a run (done, counters,
        # traces, DRAM words) it reads through flops of a clock that runs only while
        # both engines are done: Verilator copies an engine's registers to a port at
        # every cycle they may change, 3,136 bits a cycle for these, and a flop of a
        # sleeping clock never. So done rises a cycle after both engines are done, with
        # their final counters; it falls with `start`.
        held = clock_gated(m, "held", _Held(data.StructLayout({
            "done": 1, "counters": self.counters.shape(), "host_rdata": self.host_rdata.shape(),
            "trace_data": self.trace_data.shape()})), finished, domain="host")
        m.d.comb += [held.d.done.eq(finished), self.done.eq(held.q.done),
                     self.counters.eq(held.q.counters), self.host_rdata.eq(held.q.host_rdata),
                     self.trace_data.eq(held.q.trace_data)]
        for index, engine in enumerate((tile, unit)):
            selected = self.host_engine == index
            m.d.comb += [
                engine.host_addr.eq(self.host_addr), engine.host_wdata.eq(self.host_wdata),
                engine.host_write_dram.eq(self.host_write_dram & selected),
                engine.host_load.eq(self.host_load),
                engine.trace_addr.eq(self.trace_addr),
                held.d.counters[index].eq(engine.counters),
                held.d.host_rdata[index].eq(engine.host_rdata),
                held.d.trace_data[index].eq(engine.trace_data),
                self.status_done[index].eq(engine.done),
                self.status_waiting_peer[index].eq(engine.waiting_peer),
                self.status_pc[index].eq(engine.status_pc),
            ]
        return m
