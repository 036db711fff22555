"""Tier 1: the counter file against a Python model, and the typed counters record."""

import numpy as np
import pytest
from amaranth.hdl import Shape

from rooftile.hdl.counters import (COUNTER_WIDTH, COUNTERS, CounterFile, Counters, EventLayout,
                                   split_lanes)
from rooftile.hdl.params import TileConfig

from streams import simulate

CONFIG = TileConfig(rows=2, cols=3)


def test_counter_file_adds_events_while_enabled_and_clears():
    dut = CounterFile(CONFIG)
    layout = EventLayout(CONFIG)
    rng = np.random.default_rng(3)
    names = [name for name in COUNTERS if name != "cycles"]
    limits = {name: (1 << Shape.cast(layout[name].shape).width) - 1 for name in names}
    assert limits["useful_macs"] == 7 and limits["exec_wait_load"] == 1

    async def bench(ctx):
        model = dict.fromkeys(COUNTERS, 0)
        for cycle in range(200):
            clear = cycle in (0, 120)
            enable = bool(rng.integers(0, 4))
            events = {name: int(rng.integers(0, limits[name] + 1)) for name in names}
            ctx.set(dut.clear, clear)
            ctx.set(dut.enable, enable)
            ctx.set(dut.events, events)
            await ctx.tick()
            for name in COUNTERS:
                if clear:
                    model[name] = 0
                elif enable:
                    model[name] += 1 if name == "cycles" else events[name]
            assert dict(zip(COUNTERS, ctx.get(dut.counters))) == model, cycle
        assert model["cycles"] > 50 and model["bytes_read"] > 100

    simulate(dut, [bench], cycles=300)


def test_catching_up_counter_file_adds_the_skipped_cycles_at_its_next_edge():
    """A chip engine's counters: ``skipped`` cycles before an edge had that edge's
    events and enable; they are added at the next edge, so between edges the counters
    lag by exactly those, and a clear drops them."""
    dut = CounterFile(CONFIG, catch_up=True)
    layout = EventLayout(CONFIG)
    rng = np.random.default_rng(5)
    names = [name for name in COUNTERS if name != "cycles"]
    limits = {name: (1 << Shape.cast(layout[name].shape).width) - 1 for name in names}

    async def bench(ctx):
        exact = dict.fromkeys(COUNTERS, 0)
        for edge in range(300):
            clear = edge in (0, 150)
            enable = clear or bool(rng.integers(0, 4))
            skipped = int(rng.integers(1, 60)) if clear or rng.integers(0, 3) == 0 else 0
            events = {name: int(rng.integers(0, limits[name] + 1)) for name in names}
            events["cycles"] = 1
            ctx.set(dut.clear, clear)
            ctx.set(dut.enable, enable)
            ctx.set(dut.skipped, skipped)
            ctx.set(dut.events, {name: events[name] for name in names})
            await ctx.tick()
            pending = dict.fromkeys(COUNTERS, 0)
            for name in COUNTERS:
                if clear:
                    exact[name] = 0
                elif enable:
                    exact[name] += events[name] * (1 + skipped)
                    pending[name] = events[name] * skipped
            lagging = {name: exact[name] - pending[name] for name in COUNTERS}
            assert dict(zip(COUNTERS, ctx.get(dut.counters))) == lagging, edge
        assert exact["cycles"] > 2 * 150   # some edges did skip cycles
        ctx.set(dut.skipped, 0)
        await ctx.tick()
        caught_up = {name: exact[name] + events[name] * enable for name in COUNTERS}
        assert dict(zip(COUNTERS, ctx.get(dut.counters))) == caught_up

    simulate(dut, [bench], cycles=400)


def test_counters_record_reads_the_port_lanes_in_order():
    values = list(range(1, len(COUNTERS) + 1))
    packed = sum(v << (i * COUNTER_WIDTH) for i, v in enumerate(values))
    record = Counters.from_bits(packed)
    assert record.to_json() == dict(zip(COUNTERS, values))
    assert split_lanes(packed, COUNTER_WIDTH, len(COUNTERS)) == values
    assert Counters.from_json(record.to_json()) == record
    assert record.bytes_moved == record.bytes_read + record.bytes_written


def test_counters_record_utilisations_keep_their_denominators_apart():
    record = Counters.from_json({**dict.fromkeys(COUNTERS, 0), "cycles": 100,
                                 "array_busy": 50, "useful_macs": 1200,
                                 "bytes_read": 300, "bytes_written": 100})
    assert record.mac_utilization(64) == 1200 / 6400
    assert record.mapping_efficiency(64) == 1200 / 3200
    assert record.bandwidth_bytes_per_cycle == 4
    assert record.bandwidth_utilization(8) == 0.5


@pytest.mark.parametrize("change, message", [
    ({"cycles": -1}, "counter cycles must be a non-negative integer, got -1"),
    ({"cycles": 1.5}, "counter cycles must be a non-negative integer"),
    ({"cycles": True}, "got True"),
])
def test_counters_record_refuses_what_no_counter_holds(change, message):
    with pytest.raises(ValueError, match=message):
        Counters.from_json({**dict.fromkeys(COUNTERS, 0), **change})
    with pytest.raises(ValueError, match="missing \\['cycles'\\], unknown \\['cycle'\\]"):
        Counters.from_json({**dict.fromkeys(COUNTERS[1:], 0), "cycle": 1})
