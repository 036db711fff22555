"""Tier-1 test helpers: stream drivers with idle and backpressure, a stream-rule checker
and one way to run a simulation.

``stream_put`` / ``stream_get`` are the Amaranth documentation's (which say to copy
them), with pause patterns as cocotbext-axi's ``set_pause_generator`` takes them: an
iterator of 0/1 per cycle, 1 meaning "not this cycle". A producer paused is *idle*
(valid low), a consumer paused applies *backpressure* (ready low); every test runs its
handshakes under both so that a unit that loses or repeats a transfer fails.
"""

import itertools
import os

from amaranth.sim import Simulator

__all__ = ["PATTERNS", "pauses", "stream_put", "stream_get", "stream_rules", "token_source",
           "put_instructions", "simulate"]

#: Pause patterns: none, every other cycle, three in four, and an irregular one.
PATTERNS = {"none": [0], "alternate": [1, 0], "mostly": [1, 1, 1, 0],
            "irregular": [0, 1, 1, 0, 0, 0, 1, 0, 1]}


def pauses(name):
    """An endless iterator over the pattern ``name`` of :data:`PATTERNS`."""
    return itertools.cycle(PATTERNS[name])


async def _pause(ctx, pause):
    while pause is not None and next(pause):
        await ctx.tick()


async def stream_put(ctx, stream, payload, pause=None):
    """Offer ``payload`` until it is taken, after the idle cycles ``pause`` asks for."""
    await _pause(ctx, pause)
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, pause=None):
    """Take one payload, holding ``ready`` low for the cycles ``pause`` asks for first."""
    await _pause(ctx, pause)
    ctx.set(stream.ready, 1)
    (payload,) = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


def stream_rules(stream, what="stream"):
    """A background testbench that fails the simulation when ``stream``'s producer
    breaks a transfer rule: valid once high stays high, and the payload holds, until
    the transfer."""
    async def check(ctx):
        offered = None
        async for _, _, valid, ready, payload in ctx.tick().sample(
                stream.valid, stream.ready, stream.payload):
            if offered is not None:
                assert valid, f"{what}: valid dropped before the transfer of {offered}"
                assert payload == offered, \
                    f"{what}: payload changed from {offered} to {payload}"
            offered = payload if valid and not ready else None
    return check


def token_source(stream, period, taken):
    """A background testbench that offers a unit's token input ``stream`` one more token
    every ``period`` cycles and appends the cycle of each token taken to ``taken``."""
    async def source(ctx):
        available, cycle = 0, 0
        while True:
            available += cycle % period == 0
            ctx.set(stream.valid, available > 0)
            _, _, ready = await ctx.tick().sample(stream.ready)
            if available and ready:
                available -= 1
                taken.append(cycle)
            cycle += 1
    return source


async def put_instructions(ctx, stream, config, opcode, instructions, pause=None):
    """Encode ``(fields, deps)`` pairs as ``opcode`` instructions and put them in turn."""
    from rooftile.hdl.isa import Instruction, encode
    layout = Instruction(config)
    for fields, deps in instructions:
        await stream_put(ctx, stream, layout.from_bits(encode(config, opcode, deps, **fields)),
                         pause)


def simulate(dut, testbenches, background=(), *, cycles, name="test"):
    """Run ``testbenches`` with ``background`` ones (monitors, models) on ``dut`` with a
    1 MHz clock until the testbenches finish, failing if that takes over ``cycles``
    cycles: a hang fails the test instead of never ending. With ``$ROOFTILE_VCD`` set
    to a folder, write ``<name>.vcd`` there."""
    async def watchdog(ctx):
        for _ in range(cycles):   # not tick().repeat(): closing it at the end warns
            await ctx.tick()
        raise AssertionError(f"the testbenches did not finish within {cycles} cycles")

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for bench in testbenches:
        sim.add_testbench(bench)
    for bench in (*background, watchdog):
        sim.add_testbench(bench, background=True)
    folder = os.environ.get("ROOFTILE_VCD")
    if folder:
        with sim.write_vcd(os.path.join(folder, f"{name}.vcd")):
            sim.run()
    else:
        sim.run()
