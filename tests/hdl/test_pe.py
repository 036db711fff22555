"""Tier 1: one processing element against a Python model of its registers."""

import numpy as np

from rooftile.hdl.pe import ProcessingElement, WeightStationaryPE

from streams import simulate


def wrap(value, width):
    """``value`` as a signed ``width``-bit two's complement integer."""
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


def test_pe_accumulates_hands_off_and_forwards():
    data_width, acc_width = 8, 20      # a narrow accumulator, so that sums wrap
    dut = ProcessingElement(data_width, acc_width)
    rng = np.random.default_rng(12)
    cycles = 300

    async def bench(ctx):
        acc = 0
        for _ in range(cycles):
            a, b = (int(v) for v in rng.integers(-128, 128, 2))
            valid, last = bool(rng.integers(0, 4)), not rng.integers(0, 5)
            chain = {"valid": int(rng.integers(2)), "value": int(rng.integers(-1000, 1000))}
            ctx.set(dut.a_in, a)
            ctx.set(dut.b_in, b)
            ctx.set(dut.ctl_in, {"valid": valid, "last": last})
            ctx.set(dut.result_in, chain)
            await ctx.tick()
            # Operands and control leave registered, one cycle later.
            assert (ctx.get(dut.a_out), ctx.get(dut.b_out)) == (a, b)
            assert (ctx.get(dut.ctl_out.valid), ctx.get(dut.ctl_out.last)) == (valid, last)
            result = ctx.get(dut.result_out)
            if valid and last:
                # The finished sum goes up the chain and the PE restarts from zero.
                assert (result.valid, result.value) == (1, wrap(acc + a * b, acc_width))
                acc = 0
            else:
                assert (result.valid, result.value) == (chain["valid"], chain["value"])
                if valid:
                    acc = wrap(acc + a * b, acc_width)

    simulate(dut, [bench], cycles=cycles + 10)


def test_pe_sum_of_a_long_reduction_is_exact():
    dut = ProcessingElement(8, 32)
    k = 200

    async def bench(ctx):
        ctx.set(dut.a_in, -128)
        ctx.set(dut.b_in, -128)
        for step in range(k):
            ctx.set(dut.ctl_in, {"valid": 1, "last": step == k - 1})
            await ctx.tick()
        assert ctx.get(dut.result_out.valid) and ctx.get(dut.result_out.value) == k * 128 * 128

    simulate(dut, [bench], cycles=k + 10)


def test_weight_stationary_pe_swaps_keeps_its_own_weight_and_adds_down():
    """Against a model of its registers: the shadow takes only weights tagged with the
    PE's row, ``swap`` makes it the active weight for that step and after, and the
    partial sum from above leaves below with this PE's product added (wrapping)."""
    data_width, acc_width, rows, row = 8, 20, 4, 2
    dut = WeightStationaryPE(data_width, acc_width, rows, row)
    rng = np.random.default_rng(21)
    cycles = 300

    async def bench(ctx):
        active = shadow = 0
        for _ in range(cycles):
            a = int(rng.integers(-128, 128))
            swap = not rng.integers(0, 4)
            load = {"valid": int(rng.integers(2)), "row": int(rng.integers(rows)),
                    "value": int(rng.integers(-128, 128))}
            psum = int(rng.integers(-1 << 19, 1 << 19))
            ctx.set(dut.a_in, a)
            ctx.set(dut.swap_in, swap)
            ctx.set(dut.w_in, load)
            ctx.set(dut.psum_in, psum)
            await ctx.tick()
            weight = shadow if swap else active
            assert ctx.get(dut.psum_out) == wrap(psum + a * weight, acc_width)
            assert (ctx.get(dut.a_out), ctx.get(dut.swap_out)) == (a, swap)
            out = ctx.get(dut.w_out)
            assert (out.valid, out.row, out.value) == (load["valid"], load["row"],
                                                       load["value"])
            active = weight
            if load["valid"] and load["row"] == row:
                shadow = load["value"]

    simulate(dut, [bench], cycles=cycles + 10)
