# amaranth: UnusedElaboratable=no
"""The simulated top level: registered inputs act a cycle later, the others pass straight
through, ``done`` is masked while a registered ``start`` is taken, bad names are refused."""

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from rooftile.hdl.errors import InputError
from rooftile.hdl.top import Registered

from streams import simulate


class Follower(wiring.Component):
    """``seen`` and ``also`` take ``start`` and ``other`` at each clock edge; ``done`` is
    always set."""
    start: In(1)
    other: In(4)
    seen: Out(1)
    also: Out(4)
    done: Out(1)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += [self.seen.eq(self.start), self.also.eq(self.other)]
        m.d.comb += self.done.eq(1)
        return m


def test_registered_inputs_act_a_cycle_later_and_start_masks_done():
    dut = Registered(Follower(), ("start",))
    trace = []

    async def bench(ctx):
        await ctx.tick().repeat(3)   # out of reset
        ctx.set(dut.start, 1)
        ctx.set(dut.other, 5)
        for _ in range(3):
            await ctx.tick()
            ctx.set(dut.start, 0)
            trace.append((ctx.get(dut.seen), ctx.get(dut.also), ctx.get(dut.done)))

    simulate(dut, [bench], cycles=20)
    # `other` is seen one edge after it is set, `start` two; `done` drops while the
    # registered start is held.
    assert trace == [(0, 5, 0), (1, 5, 1), (0, 5, 1)]


@pytest.mark.parametrize("name", ["missing", "seen"])
def test_only_input_ports_can_be_registered(name):
    with pytest.raises(InputError, match=f"registered input '{name}' is not an input port "
                                         f"of Follower"):
        Registered(Follower(), ("start", name))
