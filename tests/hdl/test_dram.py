# amaranth: UnusedElaboratable=no
"""Tier 1: the DRAM model (its Amaranth-memory storage) for data, latency, bandwidth and
write priority; requests come from producers that idle."""

from fractions import Fraction

import numpy as np
import pytest

from rooftile.hdl.dram import Dram, WordStorage, credit_cap
from rooftile.hdl.params import TileConfig

from streams import pauses, simulate, stream_put

CONFIG = TileConfig(rows=2, cols=3, dram_depth=64, dram_bytes_per_cycle=Fraction(5, 2),
                    dram_latency=4)
TAG_BITS = 5


def credit_model(config, costs):
    """Accept cycles of back-to-back reads of ``costs`` bytes under the token bucket."""
    num, den = config.dram_bytes_per_cycle.numerator, config.dram_bytes_per_cycle.denominator
    cap = credit_cap(config)
    credit, cycle, accepted = cap, 0, []
    for cost in costs:
        while credit < cost * den:
            credit = min(cap, credit + num)
            cycle += 1
        accepted.append(cycle)
        credit = min(cap, credit - cost * den + num)
        cycle += 1
    return accepted


async def host_fill(ctx, dut, words):
    ctx.set(dut.host_write, 1)
    for addr, word in words.items():
        ctx.set(dut.host_addr, addr)
        ctx.set(dut.host_wdata, word)
        await ctx.tick()
    ctx.set(dut.host_write, 0)


@pytest.mark.parametrize("idle", ["none", "alternate", "irregular"])
def test_reads_return_the_word_and_tag_after_the_latency(idle):
    dut = Dram(CONFIG, TAG_BITS, storage="memory")
    rng = np.random.default_rng(1)
    words = {a: int.from_bytes(rng.bytes(CONFIG.dram_word_bytes), "little")
             for a in range(CONFIG.dram_depth)}
    requests = [(int(a), int(b), t % 32) for t, (a, b) in enumerate(
        zip(rng.integers(0, CONFIG.dram_depth, 20), rng.integers(1, 13, 20)))]
    accepted, responses, filled = [], [], []

    async def producer(ctx):
        await host_fill(ctx, dut, words)
        filled.append(True)
        pause = pauses(idle)
        for addr, size, tag in requests:
            await stream_put(ctx, dut.read, {"addr": addr, "bytes": size, "tag": tag}, pause)
        await ctx.tick().repeat(CONFIG.dram_latency + 1)

    async def monitor(ctx):
        cycle = 0
        async for _, _, valid, ready, request, response_valid, response, bytes_read in \
                ctx.tick().sample(dut.read.valid, dut.read.ready, dut.read.payload,
                                  dut.response.valid, dut.response.payload, dut.bytes_read):
            if valid and ready:
                accepted.append(cycle)
                assert bytes_read == request.bytes
            else:
                assert bytes_read == 0
            if response_valid:
                responses.append((cycle, response.data, response.tag))
            cycle += 1

    simulate(dut, [producer], [monitor], cycles=600)
    assert len(responses) == len(requests)
    for (addr, _, tag), start, (cycle, data, got_tag) in zip(requests, accepted, responses):
        assert (cycle - start, data, got_tag) == (CONFIG.dram_latency, words[addr], tag)


def test_back_to_back_reads_follow_the_token_bucket():
    dut = Dram(CONFIG, TAG_BITS, storage="memory")
    costs = [12, 12, 1, 7, 12, 3, 3, 3, 12, 5]
    accepted = []

    async def producer(ctx):
        for size in costs:
            await stream_put(ctx, dut.read, {"addr": 0, "bytes": size, "tag": 0})

    async def monitor(ctx):
        cycle = 0
        async for _, _, valid, ready in ctx.tick().sample(dut.read.valid, dut.read.ready):
            if valid and ready:
                accepted.append(cycle)
            cycle += 1

    simulate(dut, [producer], [monitor], cycles=200)
    # Offered from cycle 0 on, every request waits only for its credits.
    assert accepted == credit_model(CONFIG, costs)
    # The sustained rate is the configured one: 12-byte reads at 5/2 bytes per cycle.
    assert accepted[-1] > sum(costs[:-1]) / CONFIG.dram_bytes_per_cycle - 5


def test_writes_land_and_win_over_reads():
    dut = Dram(CONFIG, TAG_BITS, storage="memory")
    writes = {3: 0xABCDEF, 9: 1 << 90, 10: 12345}
    read_back = {}

    async def writer(ctx):
        pause = pauses("irregular")
        for addr, word in writes.items():
            await stream_put(ctx, dut.write, {"addr": addr, "data": word, "bytes": 12}, pause)
        # A write and a read offered together: the read waits for the write.
        await ctx.tick().repeat(8)
        ctx.set(dut.read.payload, {"addr": 3, "bytes": 1, "tag": 1})
        ctx.set(dut.read.valid, 1)
        ctx.set(dut.write.payload, {"addr": 4, "data": 7, "bytes": 1})
        ctx.set(dut.write.valid, 1)
        assert ctx.get(dut.write.ready) and not ctx.get(dut.read.ready)
        assert ctx.get(dut.bytes_written) == 1 and ctx.get(dut.busy)
        await ctx.tick()
        ctx.set(dut.write.valid, 0)
        await ctx.tick().until(dut.read.ready)
        ctx.set(dut.read.valid, 0)
        await ctx.tick().repeat(CONFIG.dram_latency + 2)
        assert not ctx.get(dut.busy)
        ctx.set(dut.host_read, 1)
        for addr in (*writes, 4):
            ctx.set(dut.host_addr, addr)
            await ctx.tick()
            read_back[addr] = ctx.get(dut.host_rdata)

    simulate(dut, [writer], cycles=300)
    assert read_back == {**writes, 4: 7}


def test_storage_kind_is_checked():
    with pytest.raises(ValueError, match="storage kind must be one of primitive, memory; "
                                         "got 'verilog'"):
        WordStorage(8, 4, kind="verilog")


@pytest.mark.parametrize("kind", ["read", "write"])
@pytest.mark.parametrize("shape, rate, transfers", [
    ((4, 4), Fraction(7, 4), 150), ((2, 3), Fraction(5, 2), 150),
    ((2, 3), Fraction(128, 591), 150), ((2, 3), Fraction(3), 150)],
    ids=["4x4-7/4", "2x3-5/2", "2x3-128/591", "2x3-3"])
def test_full_words_back_to_back_sustain_the_documented_rate(kind, shape, rate, transfers):
    """Whole-word transfers offered every cycle move ``dram_bytes_per_cycle`` on average:
    over the run the bytes moved stay within one word of ``rate * cycles`` (a bucket
    that dropped its fractional credit would fall a word behind every few transfers)."""
    rows, cols = shape
    config = TileConfig(rows=rows, cols=cols, dram_depth=64, dram_bytes_per_cycle=rate,
                        dram_latency=3)
    word = config.dram_word_bytes
    dut = Dram(config, TAG_BITS, storage="memory")
    stream = getattr(dut, kind)
    payload = ({"addr": 1, "bytes": word, "tag": 0} if kind == "read"
               else {"addr": 1, "bytes": word, "data": 5})
    accepted = []

    async def producer(ctx):
        for _ in range(transfers):
            await stream_put(ctx, stream, payload)

    async def monitor(ctx):
        cycle = 0
        async for _, _, valid, ready in ctx.tick().sample(stream.valid, stream.ready):
            if valid and ready:
                accepted.append(cycle)
            cycle += 1

    simulate(dut, [producer], [monitor], cycles=int(2 * transfers * word / rate) + 100)
    assert len(accepted) == transfers
    # From the first transfer (full bucket) to the last: transfers - 1 words.
    cycles = accepted[-1] - accepted[0]
    assert abs((transfers - 1) * word - rate * cycles) <= word, \
        (f"{(transfers - 1) * word} bytes in {cycles} cycles: "
         f"{(transfers - 1) * word / cycles:.4f} B/cycle, documented {float(rate):.4f}")


def test_a_registered_grant_lets_the_granted_request_go_a_cycle_later():
    """The unit's DRAM in a chip: a request the channel grants goes next cycle, is not
    offered to the channel again meanwhile, and a write that comes in between does not
    take its place."""
    dut = Dram(CONFIG, TAG_BITS, storage="memory", sharing="all", registered_grant=True)

    async def bench(ctx):
        ctx.set(dut.read.payload, {"addr": 3, "bytes": 6, "tag": 2})
        ctx.set(dut.read.valid, 1)
        assert ctx.get(dut.channel_request.valid) and ctx.get(dut.channel_request.bytes) == 6
        await ctx.tick()                           # not granted: the read waits
        assert ctx.get(dut.waiting) and not ctx.get(dut.read.ready)
        ctx.set(dut.channel_grant, 1)
        assert not ctx.get(dut.read.ready)         # granted now, goes next cycle
        await ctx.tick()
        ctx.set(dut.channel_grant, 0)
        ctx.set(dut.write.payload, {"addr": 4, "data": 7, "bytes": 1})
        ctx.set(dut.write.valid, 1)                # a write comes: the read still goes
        assert not ctx.get(dut.channel_request.valid)
        assert ctx.get(dut.read.ready) and not ctx.get(dut.write.ready)
        assert ctx.get(dut.bytes_read) == 6 and ctx.get(dut.bytes_written) == 0
        await ctx.tick()
        ctx.set(dut.read.valid, 0)
        # Now the write asks the channel.
        assert ctx.get(dut.channel_request.valid) and ctx.get(dut.channel_request.bytes) == 1
        assert not ctx.get(dut.write.ready)

    simulate(dut, [bench], cycles=20)
