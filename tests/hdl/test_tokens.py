"""Tier 1: the dependency-token counters against a Python model, with producers that
idle and consumers that apply backpressure on every token."""

import itertools

import pytest

from rooftile.hdl.counters import TOKENS
from rooftile.hdl.tokens import Tokens

from streams import pauses, simulate


@pytest.mark.parametrize("producer, consumer",
                         [("none", "none"), ("mostly", "alternate"), ("alternate", "mostly"),
                          ("irregular", "irregular")])
def test_tokens_count_pushes_minus_pops(producer, consumer):
    dut = Tokens()
    pushes = 23
    trace = {name: [] for name in TOKENS}

    def driver(name, pattern, side):
        """Pushes (``side="push"``) or pops (``"pop"``) ``pushes`` tokens of ``name``,
        pausing as ``pattern`` says; a pop waits for a token to be offered."""
        async def bench(ctx):
            port = getattr(dut, f"{name}_{side}")
            handshake = port.valid if side == "push" else port.ready
            for _ in range(pushes):
                while next(pattern):
                    await ctx.tick()
                ctx.set(handshake, 1)
                await (ctx.tick() if side == "push" else ctx.tick().until(port.valid))
                ctx.set(handshake, 0)
        return bench

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

    benches = [driver(n, pauses(producer), "push") for n in TOKENS]
    benches += [driver(n, pauses(consumer), "pop") for n in TOKENS]
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
