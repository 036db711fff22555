"""Clock gating: a unit's registers are clocked only while it has work."""

from amaranth.hdl import ClockDomain, ClockSignal, DomainRenamer, ResetSignal, Signal

__all__ = ["GATING", "clock_gated"]

#: Whether :func:`clock_gated` gates: off, every gated clock is the free-running one
#: (the same domains and logic), which the tests compare against to show that gating
#: changes no cycle, counter or output.
GATING = True


def clock_gated(m, name, unit, awake=None, *, domain=None, enabled=None, free="sync",
                gated=True):
    """Add ``unit`` (of the ``sync`` domain) to ``m`` as submodule ``name``, in a local
    domain ``domain`` (``name`` if None) whose clock ticks in the cycles after those with
    ``awake`` (the unit's own ``awake`` port if None) set, and one more; return ``unit``,
    to connect.

    ``awake`` says the unit's next clock edge may change a register that matters (a
    command waits, or one is in flight): with it low, an edge would change nothing
    observable, so the gated unit runs the same cycles with the same outputs. Real
    accelerators gate idle units' clocks to save power; a simulator then evaluates
    nothing of them, which is where a chip's idle engine spends its simulation time.
    The enable is latched while the clock is low, as an integrated clock gate cell does,
    so the gated clock has no glitch; the one extra cycle lets registers that follow
    the last busy cycle (valid flags of a pipeline) settle.

    The unit's reset is a flop of its own clock, a cycle behind ``sync``'s; the clock
    runs until it falls. Why: every register's next-state logic reads the reset, and
    Verilator evaluates a combinational block at each edge of any clock that drives one
    of its inputs: with ``sync``'s reset, all of an asleep unit's logic would be
    evaluated at every cycle.

    With ``gated`` False the unit runs on the caller's clock, in a domain ``domain``
    that only renames it: for a unit whose caller's clock itself ticks rarely (a
    chip's mostly asleep engine, :class:`~rooftile.hdl.tile.Role`), where a gated
    clock would cost Verilator a trigger checked several times a cycle for little."""
    domain = name if domain is None else domain
    if not gated:
        clocked = ClockDomain(domain, local=True)
        m.domains += clocked
        m.d.comb += [clocked.clk.eq(ClockSignal()), clocked.rst.eq(ResetSignal())]
        m.submodules[name] = DomainRenamer(domain)(unit)
        return unit
    latch = ClockDomain(f"{domain}_latch", clk_edge="neg", reset_less=True, local=True)
    gated = ClockDomain(domain, local=True)
    m.domains += [latch, gated]
    awake = unit.awake if awake is None else awake
    was_awake = Signal(name=f"{domain}_was_awake")
    enable = Signal(name=f"{domain}_enabled", init=1)
    reset = Signal(name=f"{domain}_reset", reset_less=True)
    m.d.sync += was_awake.eq(awake)
    m.d[domain] += reset.eq(ResetSignal())
    m.d.comb += [latch.clk.eq(ClockSignal(free)),
                 gated.clk.eq(ClockSignal() & enable), gated.rst.eq(reset)]
    if enabled is not None:
        m.d.comb += enabled.eq(enable)
    m.d[latch.name] += enable.eq(awake | was_awake | ResetSignal() | reset | (not GATING))
    m.submodules[name] = DomainRenamer(domain)(unit)
    return unit
