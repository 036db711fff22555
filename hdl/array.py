"""An R x C output-stationary systolic array: a grid of processing elements."""

from amaranth.hdl import Module, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .pe import Control, ProcessingElement, ResultLayout

__all__ = ["SystolicArray"]


class SystolicArray(wiring.Component):
    """Grid of :class:`ProcessingElement`, wired as in gemmini's ``Mesh``.

    Inputs must already be skewed: row ``i`` of A (and its control) ``i`` cycles late,
    column ``j`` of B ``j`` cycles late. Results leave at the top edge; column ``j``
    delivers row ``i`` of a block ``j + 2 * i`` cycles after row 0's PE(0, 0) finished.

    Members
    -------
    a_in : ArrayLayout(signed(data_width), rows)
    ctl_in : ArrayLayout(Control, rows)
    b_in : ArrayLayout(signed(data_width), cols)
    result_out : ArrayLayout(ResultLayout(acc_width), cols)
    """

    def __init__(self, config):
        self._config = config
        operand = signed(config.data_width)
        super().__init__({
            "a_in": In(data.ArrayLayout(operand, config.rows)),
            "ctl_in": In(data.ArrayLayout(Control, config.rows)),
            "b_in": In(data.ArrayLayout(operand, config.cols)),
            "result_out": Out(data.ArrayLayout(ResultLayout(config.acc_width), config.cols)),
        })

    def elaborate(self, platform):
        m = Module()
        rows, cols = self._config.rows, self._config.cols
        grid = [[ProcessingElement(self._config.data_width, self._config.acc_width)
                 for _ in range(cols)] for _ in range(rows)]
        for i in range(rows):
            for j in range(cols):
                pe = grid[i][j]
                m.submodules[f"pe_{i}_{j}"] = pe
                if j == 0:
                    m.d.comb += [pe.a_in.eq(self.a_in[i]), pe.ctl_in.eq(self.ctl_in[i])]
                else:
                    left = grid[i][j - 1]
                    m.d.comb += [pe.a_in.eq(left.a_out), pe.ctl_in.eq(left.ctl_out)]
                if i == 0:
                    m.d.comb += [pe.b_in.eq(self.b_in[j]),
                                 self.result_out[j].eq(pe.result_out)]
                else:
                    m.d.comb += pe.b_in.eq(grid[i - 1][j].b_out)
                if i + 1 < rows:
                    m.d.comb += pe.result_in.eq(grid[i + 1][j].result_out)
        return m
