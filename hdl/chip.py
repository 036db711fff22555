"""The chip: the tile and the attention unit's engine, each with its own program, on a
shared external memory channel, synchronised by tokens across engines."""

from amaranth.hdl import Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .clock_gate import clock_gated
from .counters import COUNTER_WIDTH, COUNTERS, TOKEN_WIDTH, TRACE_DEPTH
from .dram import STORAGE_KINDS, DramSetting, SharedChannel, dram_setting
from .errors import InputError, one_of
from .tile import Tile
from .tokens import Tokens

__all__ = ["ENGINES", "PEER_TOKENS", "Chip"]

#: The engines of a chip, in the order of its per-engine ports' lanes.
ENGINES = ("tile", "unit")
#: Tokens between the engines: pushed by one engine's STOREs, popped by the other's
#: LOADs (the ``peer`` flag of :mod:`~rooftile.hdl.isa`).
PEER_TOKENS = ("tile_to_unit", "unit_to_tile")


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

    NB: the engines exchange timing, not values: the unit reads its queries from its
    own memory (placed by the testbench), so that each engine's outputs are checked
    against numpy on its own inputs. Timing does not depend on data values.

    Members
    -------
    host_engine : In(range(2))
        Which engine the host ports reach (:data:`ENGINES` order).
    host_addr, host_wdata, host_write_dram, host_rdata, host_load
        The selected engine's DRAM host port; ``host_load`` fills both engines' DRAM
        and program memories from their image files.
    tile_setting, unit_setting, channel_setting : In(DramSetting(...))
        The tile's DRAM setting is unused (its traffic is all on the shared channel).
    start : In(1)
    done : Out(1)
    counters : Out(ArrayLayout(ArrayLayout(COUNTER_WIDTH, len(COUNTERS)), 2))
        Each engine's counters.
    trace_addr, trace_data
        The selected engine's trace (:class:`~rooftile.hdl.tile.Tile`).
    status_done : Out(2)
        Each engine's ``done``.
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
            "host_rdata": Out(width),
            "host_load": In(1),
            "tile_setting": In(DramSetting(config), init=dram_setting(config)),
            "unit_setting": In(DramSetting(self._unit), init=dram_setting(self._unit)),
            "channel_setting": In(DramSetting(config), init=dram_setting(config)),
            "start": In(1),
            "done": Out(1),
            "counters": Out(data.ArrayLayout(
                data.ArrayLayout(COUNTER_WIDTH, len(COUNTERS)), len(ENGINES))),
            "trace_addr": In(range(TRACE_DEPTH)),
            "trace_data": Out(data.ArrayLayout(COUNTER_WIDTH, len(COUNTERS))),
            "status_done": Out(len(ENGINES)),
            "status_pc": Out(data.ArrayLayout(32, len(ENGINES))),
            "status_tokens": Out(data.ArrayLayout(TOKEN_WIDTH, len(PEER_TOKENS))),
        })

    def elaborate(self, platform):
        m = Module()
        tile = Tile(self._config, storage=self._storage, role="tile")
        unit = Tile(self._unit, storage=self._storage, role="unit")
        # An engine whose program is done sleeps while the other's runs (its clock is
        # gated, hdl.clock_gate): nothing of it changes until the next start, and the host
        # reads the engines' memories only when both are done. Measured: 8.63 G -> 8.04 G
        # instructions for bench_chip's layer, whose unit is done a third of the way in.
        for name, engine, other in (("tile", tile, unit), ("unit", unit, tile)):
            clock_gated(m, name, engine, self.start | ~engine.done | other.done,
                        domain=f"{name}_engine")
        m.submodules.channel = channel = SharedChannel(self._config, len(ENGINES))
        m.submodules.peer_tokens = tokens = Tokens(PEER_TOKENS)

        # The shared channel: port 0 the unit's, port 1 the tile's.
        for port, engine in enumerate((unit, tile)):
            m.d.comb += [channel.requests[port].eq(engine.channel_request),
                         engine.channel_grant.eq(channel.grants[port])]
        m.d.comb += [channel.setting.eq(self.channel_setting), channel.start.eq(self.start),
                     tile.dram_setting.eq(self.tile_setting),
                     unit.dram_setting.eq(self.unit_setting)]
        # Tokens across engines.
        for name, pusher, popper in (("tile_to_unit", tile, unit), ("unit_to_tile", unit, tile)):
            wiring.connect(m, pusher.peer_out, getattr(tokens, f"{name}_push"))
            wiring.connect(m, getattr(tokens, f"{name}_pop"), popper.peer_in)
        m.d.comb += [tokens.clear.eq(self.start), self.status_tokens.eq(tokens.counts)]

        # Host ports, start and done.
        for index, engine in enumerate((tile, unit)):
            selected = self.host_engine == index
            m.d.comb += [
                engine.host_addr.eq(self.host_addr), engine.host_wdata.eq(self.host_wdata),
                engine.host_write_dram.eq(self.host_write_dram & selected),
                engine.host_load.eq(self.host_load), engine.start.eq(self.start),
                engine.trace_addr.eq(self.trace_addr),
                self.counters[index].eq(engine.counters),
                self.status_done[index].eq(engine.done),
                self.status_pc[index].eq(engine.status_pc),
            ]
            with m.If(selected):
                m.d.comb += [self.host_rdata.eq(engine.host_rdata),
                             self.trace_data.eq(engine.trace_data)]
        # Each engine's done is held until the next start.
        m.d.comb += self.done.eq(tile.done & unit.done)
        return m
