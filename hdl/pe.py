"""Processing elements: one for each dataflow (:data:`~rooftile.hdl.params.DATAFLOWS`)."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Control", "ResultLayout", "ProcessingElement", "WeightLayout",
           "WeightStationaryPE"]


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


def WeightLayout(data_width, rows):
    """A weight travelling down a column to the PE of array row ``row``, where it
    lands in the shadow register (``valid`` marks a real load)."""
    return data.StructLayout({"valid": 1, "row": range(rows), "value": signed(data_width)})


class WeightStationaryPE(wiring.Component):
    """Multiply-accumulate cell of a weight-stationary systolic array.

    The PE holds one weight (``active``) and a shadow register for the next block's,
    so the next weights load while the current block computes (double buffering, as
    gemmini's ``propagate`` and the TPU's weight FIFO do). Weights travel down the
    column tagged with their array row; the PE of that row keeps its own, the others
    pass it on, so each shadow register is written exactly once per block, whenever
    its weight passes. Activations enter from the left with ``swap`` set on the first
    step of a block: that step, and every one after, uses the shadow weight (which
    becomes the active one). Partial sums come from above and leave below, registered:
    ``psum_out = psum_in + a_in * weight``, wrapping at ``acc_width`` like the numpy
    golden model.

    Parameters
    ----------
    data_width, acc_width : int
    rows : int
        Rows of the array (the width of the weight's row tag).
    row : int
        This PE's row: it keeps the weights tagged with it.

    Members
    -------
    a_in, a_out : signed(data_width)
    swap_in, swap_out : 1
    w_in, w_out : WeightLayout(data_width, rows)
    psum_in : signed(acc_width)
        From the PE above (zero in the top row).
    psum_out : signed(acc_width)
        To the PE below, or out of the array's bottom edge.
    """

    def __init__(self, data_width, acc_width, rows, row):
        self._data_width = data_width
        self._acc_width = acc_width
        self._row = row
        operand, weight = signed(data_width), WeightLayout(data_width, rows)
        super().__init__({
            "a_in": In(operand), "swap_in": In(1), "w_in": In(weight),
            "psum_in": In(signed(self._acc_width)),
            "a_out": Out(operand), "swap_out": Out(1), "w_out": Out(weight),
            "psum_out": Out(signed(self._acc_width)),
        })

    def elaborate(self, platform):
        m = Module()
        active = Signal(signed(self._data_width))
        shadow = Signal.like(active)
        # Next state as comb logic, registered below (see ProcessingElement).
        weight = Signal.like(active)
        shadow_next = Signal.like(active)
        m.d.comb += [
            weight.eq(Mux(self.swap_in, shadow, active)),
            shadow_next.eq(Mux(self.w_in.valid & (self.w_in.row == self._row),
                               self.w_in.value, shadow)),
        ]
        m.d.sync += [
            active.eq(weight),
            shadow.eq(shadow_next),
            self.a_out.eq(self.a_in),
            self.swap_out.eq(self.swap_in),
            self.w_out.eq(self.w_in),
            self.psum_out.eq(self.psum_in + self.a_in * weight),
        ]
        return m
