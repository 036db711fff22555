"""Tier 1: the dependency-token counters against a Python model, with producers that
idle and consumers that apply backpressure on every token."""

import itertools

import pytest

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal

from rooftile.hdl.counters import TOKENS
from rooftile.hdl.tokens import CrossingToken, Tokens

from streams import pauses, simulate


def driver(port, pattern, side, count):
    """A testbench that pushes (``side="push"``) or pops (``"pop"``) ``count`` tokens on
    ``port``, pausing as ``pattern`` says; a pop waits for a token to be offered."""
    async def bench(ctx):
        handshake = port.valid if side == "push" else port.ready
        for _ in range(count):
            while next(pattern):
                await ctx.tick()
            ctx.set(handshake, 1)
            await (ctx.tick() if side == "push" else ctx.tick().until(port.valid))
            ctx.set(handshake, 0)
    return bench


@pytest.mark.parametrize("producer, consumer",
                         [("none", "none"), ("mostly", "alternate"), ("alternate", "mostly"),
                          ("irregular", "irregular")])
def test_tokens_count_pushes_minus_pops(producer, consumer):
    dut = Tokens()
    pushes = 23
    trace = {name: [] for name in TOKENS}

    async def monitor(ctx):
        """The model: a counter moves by pushes minus pops, never below zero, and a
        pop is offered exactly when the count is not zero."""
        model = dict.fromkeys(TOKENS, 0)
        async for values in ctx.tick().sample(
                dut.counts, *itertools.chain.from_iterable(
                    (getattr(dut, f"{n}_push").valid, getattr(dut, f"{n}_pop").valid,
                     getattr(dut, f"{n}_pop").ready) for n in TOKENS)):
            counts, flags = values[2], values[3:]
            for index, name in enumerate(TOKENS):
                push, offered, taken = flags[3 * index: 3 * index + 3]
                assert counts[index] == model[name], name
                assert offered == (model[name] != 0), name
                model[name] += push - (offered and taken)
                trace[name].append(model[name])

    benches = [driver(getattr(dut, f"{n}_push"), pauses(producer), "push", pushes)
               for n in TOKENS]
    benches += [driver(getattr(dut, f"{n}_pop"), pauses(consumer), "pop", pushes)
                for n in TOKENS]
    simulate(dut, benches, [monitor], cycles=2000)
    for name in TOKENS:
        assert max(trace[name]) >= 1


def test_clear_empties_every_counter_and_wins_over_a_push():
    dut = Tokens()

    async def bench(ctx):
        for name in TOKENS:
            ctx.set(getattr(dut, f"{name}_push").valid, 1)
        await ctx.tick().repeat(3)
        assert list(ctx.get(dut.counts)) == [3] * len(TOKENS)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        assert list(ctx.get(dut.counts)) == [0] * len(TOKENS)
        assert not any(ctx.get(getattr(dut, f"{n}_pop").valid) for n in TOKENS)

    simulate(dut, [bench], cycles=20)


class _Engines(Elaboratable):
    """A :class:`CrossingToken` between two domains, ``pusher`` and ``popper``, on the
    simulator's clock (as a chip's engines are on its clock)."""

    def __init__(self):
        self.token = CrossingToken("pusher", "popper")

    def elaborate(self, platform):
        m = Module()
        for name in ("pusher", "popper"):
            m.domains += (domain := ClockDomain(name, local=True))
            m.d.comb += [domain.clk.eq(ClockSignal()), domain.rst.eq(ResetSignal())]
        m.submodules.token = self.token
        return m


@pytest.mark.parametrize("producer, consumer",
                         [("none", "none"), ("mostly", "alternate"), ("irregular", "irregular")])
def test_a_crossing_token_is_seen_a_cycle_after_its_push_and_never_popped_twice(producer,
                                                                                consumer):
    top = _Engines()
    token = top.token
    pushes = 23
    trace = []

    async def monitor(ctx):
        """The model: pushes counted at once, seen by the popper one cycle later; a pop
        is offered exactly when the pushes seen outnumber the pops."""
        pushed = seen = popped = 0
        async for _, _, push, offered, taken, count in ctx.tick().sample(
                token.push.valid, token.pop.valid, token.pop.ready, token.count):
            assert count == (pushed - popped) % 2 ** len(token.count)
            assert offered == (seen != popped)
            seen = pushed
            pushed += push
            popped += offered and taken
            trace.append((pushed, popped))

    simulate(top, [driver(token.push, pauses(producer), "push", pushes),
                   driver(token.pop, pauses(consumer), "pop", pushes)], [monitor], cycles=2000)
    assert trace[-1] == (pushes, pushes)


def test_clear_empties_a_crossing_token():
    top = _Engines()
    token = top.token

    async def bench(ctx):
        ctx.set(token.push.valid, 1)
        await ctx.tick().repeat(3)
        ctx.set(token.push.valid, 0)
        await ctx.tick()
        assert ctx.get(token.count) == 3 and ctx.get(token.pop.valid)
        ctx.set(token.clear_push, 1)
        ctx.set(token.clear_pop, 1)
        await ctx.tick()
        assert ctx.get(token.count) == 0 and not ctx.get(token.pop.valid)

    simulate(top, [bench], cycles=20)
