"""The simulated top level: a design whose reset and run controls pass through flops."""

from amaranth.hdl import ClockDomain, ClockSignal, DomainRenamer, Module, ResetSignal, Signal
from amaranth.lib import wiring

from .errors import InputError

__all__ = ["Registered"]


class Registered(wiring.Component):
    """``design`` with its reset and the inputs named in ``registered`` taken through a
    flop, as a chip synchronises what comes from outside; every other port is wired
    straight through, so the design keeps its interface.

    Why: a simulator cannot know which top-level input changed, so Verilator evaluates
    every combinational path from an input at every evaluation, twice a clock cycle.
    A synchronous reset reaches every register's next-state logic, and ``start`` or a
    DRAM setting reach most of the control: through flops, all of it is evaluated once,
    at the clock edge. Each registered input acts a cycle later; ``done`` falls in the
    cycle a registered ``start`` is taken, so the host sees the protocol unchanged.

    Parameters
    ----------
    design : wiring.Component
        Its ``sync`` domain becomes this top's local ``core`` domain.
    registered : tuple of str
        Input ports of ``design`` to register (``"start"`` also masks ``"done"``).

    Raises
    ------
    InputError
        A name in ``registered`` is not an input port of ``design``.
    """

    def __init__(self, design, registered=()):
        members = design.signature.members
        if not all(member.is_port for member in members.values()):
            raise InputError(f"{type(design).__name__} has interface members; a top level "
                             f"has ports only")
        for name in registered:
            if name not in members or members[name].flow != wiring.In:
                raise InputError(f"registered input {name!r} is not an input port of "
                                 f"{type(design).__name__}")
        self._design = design
        self._registered = tuple(registered)
        super().__init__(design.signature)

    def elaborate(self, platform):
        m = Module()
        m.domains.core = core = ClockDomain("core", local=True)
        # The reset flop starts set and holds the core in reset a cycle past `rst`.
        reset = Signal(init=1)
        m.d.sync += reset.eq(ResetSignal("sync"))
        m.d.comb += [core.clk.eq(ClockSignal("sync")), core.rst.eq(reset)]
        m.submodules.design = DomainRenamer("core")(self._design)
        start = None
        for name, member in self.signature.members.items():
            outer, inner = getattr(self, name), getattr(self._design, name)
            if member.flow == wiring.Out:
                continue
            if name in self._registered:
                taken = Signal.like(inner, name=f"{name}_q")
                m.d.core += taken.eq(outer)
                outer = taken
                start = taken if name == "start" else start
            m.d.comb += inner.eq(outer)
        for name, member in self.signature.members.items():
            if member.flow == wiring.Out:
                value = getattr(self._design, name)
                if name == "done" and start is not None:
                    value = value & ~start
                m.d.comb += getattr(self, name).eq(value)
        return m
