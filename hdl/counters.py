"""Performance counters and dependency tokens: names, widths and the typed record.

One definition for everyone who touches a counter: the tile's counter file counts the
events named here in this order, the testbenches unpack the ``counters`` port lane by
lane in this order, the cycle model fills the same record, and the analysis layer
derives utilisations from it. A counter counts one event per cycle (or bytes per
cycle) while a program runs, as gemmini's ``CounterFile`` does per event.
"""

import dataclasses

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["COUNTER_WIDTH", "COUNTERS", "TRACE_DEPTH", "TOKENS", "TOKEN_WIDTH", "TOKEN_LIMIT",
           "HARNESS_COUNTERS", "Counters", "ChipCounters", "HarnessCounters", "split_lanes", "EventLayout",
           "CounterFile"]

#: Bits of every counter: 2**48 cycles outlast any simulation.
COUNTER_WIDTH = 48

#: Performance counters of the tile, in the order of its ``counters`` port's lanes.
COUNTERS = (
    "cycles",                # start to done
    "array_busy",            # a reduction step entered the array (WS: or weights loaded)
    "useful_macs",           # MACs on real (unpadded) data
    "drain_stalls",          # a block held back: OS for the result chain, WS for weights
    "dma_busy",              # a DRAM request was accepted or a read was in flight
    "bytes_read",            # DRAM bytes read by loads
    "bytes_written",         # DRAM bytes written by stores
    "exec_wait_load",        # execute waiting on a load token (operands not ready)
    "exec_wait_store",       # execute waiting on a store token (accumulator not free)
    "store_wait_exec",       # store waiting on an execute token (results not ready)
    "load_wait_exec",        # load waiting on an execute token (buffer not free)
    "vector_busy",           # the vector unit works on a softmax
    "load_wait_store",       # load waiting on a store token (its data not yet in DRAM)
    "dram_wait",             # a DRAM request waited (for credit, or the shared channel)
    "load_wait_peer",        # load waiting on the other engine of a chip (its data)
)

#: Entries of a tile's trace: its counters as every STORE ends, the first this many
#: STOREs of a program (op boundaries of a layer program, without Python per cycle).
TRACE_DEPTH = 1024

#: Counters of the array-level harness (matrix unit alone), read as separate ports.
HARNESS_COUNTERS = ("cycles", "steps", "useful_macs", "drain_stalls")

#: Dependency-token counters, in the order of the tile's ``status_tokens`` lanes.
TOKENS = ("load_to_exec", "exec_to_load", "exec_to_store", "store_to_exec", "store_to_load")
#: Bits of one token counter on the status port, and the most tokens it holds.
TOKEN_WIDTH = 8
TOKEN_LIMIT = (1 << TOKEN_WIDTH) - 1


def split_lanes(value, width, count):
    """The ``count`` unsigned lanes of ``width`` bits packed into ``value``, lane 0 lowest."""
    mask = (1 << width) - 1
    return [(value >> (i * width)) & mask for i in range(count)]


def _check_counts(record, names):
    for name in names:
        value = getattr(record, name)
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise ValueError(f"counter {name} must be a non-negative integer, got {value!r}")
        object.__setattr__(record, name, int(value))   # numpy ints become plain ints


@dataclasses.dataclass(frozen=True)
class Counters:
    """The tile's counters after one program: one field per name in :data:`COUNTERS`.

    The utilisation helpers keep overall utilisation, mapping efficiency and bandwidth
    apart, as scale-sim's reports do.
    """

    cycles: int
    array_busy: int
    useful_macs: int
    drain_stalls: int
    dma_busy: int
    bytes_read: int
    bytes_written: int
    exec_wait_load: int
    exec_wait_store: int
    store_wait_exec: int
    load_wait_exec: int
    vector_busy: int
    load_wait_store: int
    dram_wait: int
    load_wait_peer: int

    def __post_init__(self):
        _check_counts(self, COUNTERS)

    @classmethod
    def from_bits(cls, value, width=COUNTER_WIDTH):
        """The record packed in the ``counters`` port's value (lane i = ``COUNTERS[i]``)."""
        return cls(*split_lanes(value, width, len(COUNTERS)))

    @classmethod
    def from_json(cls, data):
        """The record :meth:`to_json` wrote; a missing or unknown name raises ValueError."""
        missing = [name for name in COUNTERS if name not in data]
        extra = [name for name in data if name not in COUNTERS]
        if missing or extra:
            raise ValueError(f"counters need exactly {', '.join(COUNTERS)}; "
                             f"missing {missing}, unknown {extra}")
        return cls(**{name: data[name] for name in COUNTERS})

    def to_json(self):
        """``{name: int}`` in :data:`COUNTERS` order."""
        return {name: getattr(self, name) for name in COUNTERS}

    @property
    def bytes_moved(self):
        """DRAM bytes read and written."""
        return self.bytes_read + self.bytes_written

    def mac_utilization(self, peak_macs_per_cycle):
        """Useful MACs over the array's peak for the measured cycles: overall utilisation."""
        return self.useful_macs / (self.cycles * peak_macs_per_cycle)

    def mapping_efficiency(self, peak_macs_per_cycle):
        """Useful MACs per busy array step over the peak (1/rows for a one-row GEMV);
        NaN when the array never stepped."""
        if not self.array_busy:
            return float("nan")
        return self.useful_macs / (self.array_busy * peak_macs_per_cycle)

    @property
    def bandwidth_bytes_per_cycle(self):
        """DRAM bytes moved per measured cycle: the bandwidth the program achieved."""
        return self.bytes_moved / self.cycles

    def bandwidth_utilization(self, dram_bytes_per_cycle):
        """DRAM bytes moved over what the rate allows in the measured cycles."""
        return self.bytes_moved / (self.cycles * float(dram_bytes_per_cycle))


@dataclasses.dataclass(frozen=True)
class ChipCounters:
    """A chip's counters after one program: each engine's :class:`Counters` (a mapping
    is converted) and the cycles until both were done."""

    cycles: int
    tile: Counters
    unit: Counters

    def __post_init__(self):
        for name in ("tile", "unit"):
            value = getattr(self, name)
            if not isinstance(value, Counters):
                object.__setattr__(self, name, Counters.from_json(value))
        if self.cycles != max(self.tile.cycles, self.unit.cycles):
            raise ValueError(f"a chip's cycles ({self.cycles!r}) are its slower engine's "
                             f"({self.tile.cycles}, {self.unit.cycles})")

    def to_json(self):
        return {"cycles": self.cycles, "tile": self.tile.to_json(),
                "unit": self.unit.to_json()}


@dataclasses.dataclass(frozen=True)
class HarnessCounters:
    """The array harness's counters after one batch: one field per :data:`HARNESS_COUNTERS`."""

    cycles: int
    steps: int
    useful_macs: int
    drain_stalls: int

    def __post_init__(self):
        _check_counts(self, HARNESS_COUNTERS)

    def to_json(self):
        return {name: getattr(self, name) for name in HARNESS_COUNTERS}

    @property
    def array_utilization(self):
        """Fraction of cycles a reduction step entered the array."""
        return self.steps / self.cycles

    def mac_utilization(self, peak_macs_per_cycle):
        """Useful MACs over the array's peak for the run's cycles."""
        return self.useful_macs / (self.cycles * peak_macs_per_cycle)


def EventLayout(config):
    """One field per counter but ``cycles`` (which counts running cycles itself): what
    it adds this cycle, a flag or an amount (MACs, bytes)."""
    amounts = {"useful_macs": range(config.rows * config.cols + 1),
               "bytes_read": range(config.dram_word_bytes + 1),
               "bytes_written": range(config.dram_word_bytes + 1)}
    return data.StructLayout({name: amounts.get(name, 1)
                              for name in COUNTERS if name != "cycles"})


class CounterFile(wiring.Component):
    """The tile's counters, as gemmini's ``CounterFile``: events in, counters out.

    While ``enable`` is high each counter adds its event (``cycles`` adds one);
    ``clear`` zeroes them all and wins over ``enable``.

    Parameters
    ----------
    config : TileConfig
    catch_up : bool
        Count the cycles its clock skipped (a chip's engine, whose clock is gated while
        it is quiet): see ``skipped``.

    Members
    -------
    clear, enable : In(1)
    events : In(EventLayout(config))
    skipped : In(COUNTER_WIDTH), catch_up
        Cycles of the free-running clock without an edge of this one since its last
        edge. Those cycles had this cycle's events and enable (nothing changed while
        the clock was stopped), so each counter adds its event that many times more,
        at the next edge: its adder then reads only registers of its own clock, which
        Verilator evaluates only at its edges (a chip engine's counters on the
        free-running clock cost 150 instructions a cycle, asleep or not).
    counters : Out(ArrayLayout(COUNTER_WIDTH, len(COUNTERS)))
        In :data:`COUNTERS` order, as :meth:`Counters.from_bits` reads them; a
        catching-up file's lag the skipped cycles until its next edge.
    """

    def __init__(self, config, *, catch_up=False):
        self._config = config
        self._catch_up = catch_up
        super().__init__({
            "clear": In(1),
            "enable": In(1),
            "events": In(EventLayout(config)),
            **({"skipped": In(COUNTER_WIDTH)} if catch_up else {}),
            "counters": Out(data.ArrayLayout(COUNTER_WIDTH, len(COUNTERS))),
        })

    def elaborate(self, platform):
        m = Module()
        if self._catch_up:
            # The skipped cycles and the events they had, added at the next edge: the
            # rare edge that catches up takes its own branch, so the others cost what a
            # tile's counters cost.
            catching, skipped = Signal(), Signal(COUNTER_WIDTH)
            held = Signal(EventLayout(self._config))
            m.d.sync += [catching.eq(self.enable & ~self.clear & (self.skipped != 0)),
                         skipped.eq(self.skipped), held.eq(self.events)]
        for index, name in enumerate(COUNTERS):
            counter = self.counters[index]
            event = 1 if name == "cycles" else self.events[name]
            with m.If(self.clear):
                m.d.sync += counter.eq(0)
            if self._catch_up:
                caught_up = skipped * (1 if name == "cycles" else held[name])
                with m.Elif(catching):
                    m.d.sync += counter.eq(counter + Mux(self.enable, event, 0) + caught_up)
            with m.Elif(self.enable):
                m.d.sync += counter.eq(counter + event)
        return m
