"""One output-stationary processing element."""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Control", "ResultLayout", "ProcessingElement"]


class Control(data.Struct):
    """Travels with the A operand along a row.

    ``valid`` marks a reduction step; ``last`` marks the final step of an output block,
    when the PE hands its sum to the result chain and restarts from zero.
    """
    valid: 1
    last: 1


def ResultLayout(acc_width):
    """A finished sum travelling up a column towards the array's top edge."""
    return data.StructLayout({"valid": 1, "value": signed(acc_width)})


class ProcessingElement(wiring.Component):
    """Multiply-accumulate cell of an output-stationary systolic array.

    A enters from the left with its :class:`Control`, B from the top; both leave
    registered on the opposite side, so a grid of PEs forms the systolic wavefront.
    Finished sums move one PE *up* per cycle on the result chain. Moving against the
    operand skew means that a PE whose neighbour below finished one cycle later never
    receives a value on the cycle it captures its own, provided blocks finish at least
    ``2 * rows - 1`` cycles apart (:attr:`TileConfig.drain_interval`).

    Members
    -------
    a_in, a_out : signed(data_width)
    ctl_in, ctl_out : Control
    b_in, b_out : signed(data_width)
    result_in : ResultLayout
        From the PE below (tie to zero in the bottom row).
    result_out : ResultLayout
        To the PE above, or out of the array's top edge.
    """

    def __init__(self, data_width, acc_width):
        self._data_width = data_width
        self._acc_width = acc_width
        operand = signed(data_width)
        super().__init__({
            "a_in": In(operand), "ctl_in": In(Control), "b_in": In(operand),
            "result_in": In(ResultLayout(acc_width)),
            "a_out": Out(operand), "ctl_out": Out(Control), "b_out": Out(operand),
            "result_out": Out(ResultLayout(acc_width)),
        })

    def elaborate(self, platform):
        m = Module()
        acc = Signal(signed(self._acc_width))
        # Sums wrap at acc_width like the numpy golden model; TileConfig guarantees no
        # overflow within max_reduction.
        total = Signal(signed(self._acc_width))
        m.d.comb += total.eq(acc + self.a_in * self.b_in)
        # The next state is comb logic that the sync domain only registers. Written as
        # sync assignments under If, it would land in one Verilog process with the
        # top-level `rst` input, which Verilator then re-evaluates on every eval() call
        # (its input-combinational region): this form simulates a 16x16 harness about
        # 1.2x faster, with the same logic.
        acc_next = Signal.like(acc)
        result_next = Signal.like(self.result_out)
        m.d.comb += [acc_next.eq(acc), result_next.eq(self.result_in)]
        with m.If(self.ctl_in.valid):
            with m.If(self.ctl_in.last):
                m.d.comb += [
                    acc_next.eq(0),
                    result_next.valid.eq(1),
                    result_next.value.eq(total),
                ]
            with m.Else():
                m.d.comb += acc_next.eq(total)
        m.d.sync += [
            self.a_out.eq(self.a_in),
            self.ctl_out.eq(self.ctl_in),
            self.b_out.eq(self.b_in),
            self.result_out.eq(result_next),
            acc.eq(acc_next),
        ]
        return m
