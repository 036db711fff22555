"""R x C systolic arrays: grids of processing elements, one per dataflow."""

from amaranth.hdl import Module, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .pe import Control, ProcessingElement, ResultLayout, WeightLayout, WeightStationaryPE

__all__ = ["SystolicArray", "WeightStationaryArray"]


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


class WeightStationaryArray(wiring.Component):
    """Grid of :class:`WeightStationaryPE`: activations move right, weights and partial
    sums move down.

    Inputs must already be skewed: row ``i``'s activation (and its ``swap``) ``i``
    cycles late, column ``j``'s weights ``j`` cycles late. A weight tagged for row
    ``r`` entering column ``j`` at cycle ``t`` lands at ``t + r``; an activation row
    entering row 0 at cycle ``t`` leaves column ``j``'s sum at the bottom edge at
    ``t + rows + j``.

    Members
    -------
    a_in : ArrayLayout(signed(data_width), rows)
    swap_in : ArrayLayout(1, rows)
    w_in : ArrayLayout(WeightLayout(data_width, rows), cols)
    psum_out : ArrayLayout(signed(acc_width), cols)
    """

    def __init__(self, config):
        self._config = config
        operand = signed(config.data_width)
        super().__init__({
            "a_in": In(data.ArrayLayout(operand, config.rows)),
            "swap_in": In(data.ArrayLayout(1, config.rows)),
            "w_in": In(data.ArrayLayout(WeightLayout(config.data_width, config.rows),
                                        config.cols)),
            "psum_out": Out(data.ArrayLayout(signed(config.acc_width), config.cols)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        grid = [[WeightStationaryPE(cfg.data_width, cfg.acc_width, cfg.rows, i)
                 for _ in range(cfg.cols)] for i in range(cfg.rows)]
        for i in range(cfg.rows):
            for j in range(cfg.cols):
                pe = grid[i][j]
                m.submodules[f"pe_{i}_{j}"] = pe
                if j == 0:
                    m.d.comb += [pe.a_in.eq(self.a_in[i]), pe.swap_in.eq(self.swap_in[i])]
                else:
                    left = grid[i][j - 1]
                    m.d.comb += [pe.a_in.eq(left.a_out), pe.swap_in.eq(left.swap_out)]
                if i == 0:
                    m.d.comb += pe.w_in.eq(self.w_in[j])   # psum_in stays zero
                else:
                    above = grid[i - 1][j]
                    m.d.comb += [pe.w_in.eq(above.w_out), pe.psum_in.eq(above.psum_out)]
                if i == cfg.rows - 1:
                    m.d.comb += self.psum_out[j].eq(pe.psum_out)
        return m
