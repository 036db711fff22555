"""Per-lane delay lines that skew operands into the array and de-skew results out."""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Skew"]


class Skew(wiring.Component):
    """Delay lane ``i`` of a vector by ``delays[i]`` cycles.

    Operand skew uses ``delays = range(n)``; result de-skew uses the reverse, so that a
    row leaving the array's columns staggered arrives at the accumulator all at once.

    Members
    -------
    i : ArrayLayout(shape, len(delays))
    o : ArrayLayout(shape, len(delays))
    """

    def __init__(self, shape, delays):
        self._shape = shape
        self._delays = tuple(delays)
        if any(d < 0 for d in self._delays):
            raise ValueError(f"delays must be >= 0, got {self._delays!r}")
        layout = data.ArrayLayout(shape, len(self._delays))
        super().__init__({"i": In(layout), "o": Out(layout)})

    def elaborate(self, platform):
        m = Module()
        for lane, delay in enumerate(self._delays):
            value = self.i[lane]
            for stage in range(delay):
                reg = Signal(self._shape, name=f"lane{lane}_stage{stage}")
                m.d.sync += reg.eq(value)
                value = reg
            m.d.comb += self.o[lane].eq(value)
        return m
