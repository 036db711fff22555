"""Dependency tokens: one counter per token, pushed by one unit and popped by another."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .counters import TOKEN_WIDTH, TOKENS

__all__ = ["CROSSING_CYCLES", "CrossingToken", "TokenSignature", "take_when_free", "Tokens"]

#: Cycles after its push that a :class:`CrossingToken` can be popped, beyond those of a
#: :class:`Tokens` counter (the flop of the popper's clock).
CROSSING_CYCLES = 1


def TokenSignature(*, push=False):
    """A token channel as a stream with no payload: a transfer moves one token.

    The pushing side (``push=True``) never waits: a unit signals a finished step and
    moves on, as VTA's dependency queues allow.
    """
    return stream.Signature(0, always_ready=push)


def take_when_free(m, unit, busy, *needs):
    """Drive the handshakes of a ``unit`` that runs one instruction at a time and may
    need tokens to start it: the head of ``unit.instr`` is taken when the unit is not
    ``busy`` and every ``(token, pops)`` of ``needs`` whose ``pops`` (the head's flag) is
    set has its ``token`` valid; those tokens are taken with it. Drives ``unit.idle``
    (nothing queued or running); returns ``(take, waits)``, ``waits[i]`` high while the
    head is held back by ``needs[i]``'s missing token (a wait counter's event)."""
    take = Signal()
    instr = unit.instr
    head = ~busy & instr.valid
    missing = [pops & ~token.valid for token, pops in needs]
    m.d.comb += [
        take.eq(head & ~Cat(*missing).any()),
        instr.ready.eq(take),
        unit.idle.eq(~busy & ~instr.valid),
    ]
    m.d.comb += [token.ready.eq(take & pops) for token, pops in needs]
    return take, [head & miss for miss in missing]


class Tokens(wiring.Component):
    """The counters of :data:`~rooftile.hdl.counters.TOKENS` (or of ``names``).

    A token offered on ``<name>_push`` adds one, a token taken from ``<name>_pop``
    removes one (both in one cycle cancel); ``<name>_pop`` is valid while the counter
    is not zero. NB: a counter wraps past :data:`~rooftile.hdl.counters.TOKEN_LIMIT`;
    the compilers never let a unit run that far ahead.

    Members
    -------
    clear : In(1)
        Empties every counter (the tile's ``start``).
    <name>_push : In(TokenSignature(push=True)), one per token
    <name>_pop : Out(TokenSignature()), one per token
    counts : Out(ArrayLayout(TOKEN_WIDTH, len(TOKENS)))
        Every counter, in :data:`TOKENS` order.
    """

    def __init__(self, names=TOKENS):
        self._names = tuple(names)
        members = {"clear": In(1)}
        for name in self._names:
            members[f"{name}_push"] = In(TokenSignature(push=True))
            members[f"{name}_pop"] = Out(TokenSignature())
        members["counts"] = Out(data.ArrayLayout(TOKEN_WIDTH, len(self._names)))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for index, name in enumerate(self._names):
            count = self.counts[index]
            push, pop = getattr(self, f"{name}_push"), getattr(self, f"{name}_pop")
            taken = pop.valid & pop.ready
            with m.If(self.clear):
                m.d.sync += count.eq(0)
            with m.Elif(push.valid & ~taken):
                m.d.sync += count.eq(count + 1)
            with m.Elif(taken & ~push.valid):
                m.d.sync += count.eq(count - 1)
            m.d.comb += pop.valid.eq(count != 0)
        return m


class CrossingToken(wiring.Component):
    """One token counter between units on two clocks (the engines of a
    :class:`~rooftile.hdl.chip.Chip`): pushes are counted on the pusher's clock, pops on
    the popper's, and the popper sees the pushes through a flop of its own clock, a
    cycle after they happen.

    Why not one :class:`Tokens` counter: its count is a register of a third clock, read
    by the popper's logic, and Verilator evaluates that logic at every edge of that
    clock, however long the popper's own clock is gated.

    Parameters
    ----------
    push_domain, pop_domain : str
        The pusher's and the popper's clock domains.

    Members
    -------
    push : In(TokenSignature(push=True))
    pop : Out(TokenSignature())
        Valid while the pushes seen outnumber the pops.
    clear_push, clear_pop : In(1)
        Empty the counter, each on its own clock (the engines' ``start``, which both
        see in the same cycle).
    arriving : Out(1)
        A push the popper has not seen yet: its clock must tick for it to.
    count : Out(TOKEN_WIDTH)
        Pushes minus pops (the host's view). NB: wraps past
        :data:`~rooftile.hdl.counters.TOKEN_LIMIT` like :class:`Tokens`.
    """

    def __init__(self, push_domain, pop_domain):
        self._push_domain, self._pop_domain = push_domain, pop_domain
        super().__init__({
            "push": In(TokenSignature(push=True)), "pop": Out(TokenSignature()),
            "clear_push": In(1), "clear_pop": In(1), "arriving": Out(1),
            "count": Out(TOKEN_WIDTH),
        })

    def elaborate(self, platform):
        m = Module()
        pushed, seen, popped = (Signal(TOKEN_WIDTH, name=name)
                                for name in ("pushed", "seen", "popped"))
        with m.If(self.clear_push):
            m.d[self._push_domain] += pushed.eq(0)
        with m.Elif(self.push.valid):
            m.d[self._push_domain] += pushed.eq(pushed + 1)
        with m.If(self.clear_pop):
            m.d[self._pop_domain] += [seen.eq(0), popped.eq(0)]
        with m.Else():
            m.d[self._pop_domain] += seen.eq(pushed)
            with m.If(self.pop.valid & self.pop.ready):
                m.d[self._pop_domain] += popped.eq(popped + 1)
        m.d.comb += [self.pop.valid.eq(seen != popped), self.arriving.eq(pushed != seen),
                     self.count.eq(pushed - popped)]
        return m
