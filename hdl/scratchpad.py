"""An operand scratchpad that takes a whole DRAM word of entries per cycle."""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import Out
from amaranth.utils import ceil_log2, exact_log2

__all__ = ["word_write_signature", "Scratchpad"]


def word_write_signature(shape, depth, pack):
    """The port that writes up to ``pack`` entries of ``shape`` into one memory row of a
    ``depth``-entry :class:`Scratchpad`: ``addr`` is the row (entry address
    ``>> log2(pack)``), ``en`` has one bit per entry."""
    return memory.WritePort.Signature(addr_width=ceil_log2(-(-depth // pack)),
                                      shape=data.ArrayLayout(shape, pack), granularity=1)


class Scratchpad(wiring.Component):
    """``depth`` entries of ``shape`` (an operand row: one reduction step), stored ``pack``
    consecutive entries to a memory row, so that a load writes a whole DRAM word of
    entries in one cycle while the matrix unit still reads one entry per cycle.

    ``pack`` is a power of two (:meth:`~rooftile.hdl.params.TileConfig.entries_per_word`),
    so an entry's memory row and its place in the row are bit fields of its address.

    Members
    -------
    read : Out(memory.ReadPort.Signature(shape=shape))
        One entry by entry address, one cycle of latency; the data holds while ``en`` is
        low, as a ``Memory`` read port's does.
    write : Out(memory.WritePort.Signature(shape=shape))
        One entry by entry address (the host's and the vector unit's port).
    write_word : Out(word_write_signature(shape, depth, pack))
        Up to ``pack`` entries of one memory row (the load unit's port).
    """

    def __init__(self, shape, depth, pack):
        exact_log2(pack)   # raises unless a power of two
        self._entry = shape
        self._pack = pack
        self._rows = -(-depth // pack)
        self._memory = memory.Memory(shape=data.ArrayLayout(shape, pack), depth=self._rows,
                                     init=[])
        super().__init__({
            "read": Out(memory.ReadPort.Signature(addr_width=ceil_log2(depth), shape=shape)),
            "write": Out(memory.WritePort.Signature(addr_width=ceil_log2(depth), shape=shape)),
            "write_word": Out(word_write_signature(shape, depth, pack)),
        })

    @property
    def pack(self):
        return self._pack

    def stored(self, entry):
        """Entry ``entry`` of the memory, for a testbench to preload or inspect with
        ``ctx.set`` / ``ctx.get``."""
        row, place = divmod(entry, self._pack)
        return self._memory.data[row][place]

    def elaborate(self, platform):
        m = Module()
        pack, low = self._pack, exact_log2(self._pack)
        m.submodules.rows = rows = self._memory
        read, word, entry = (rows.read_port(), rows.write_port(granularity=1),
                             rows.write_port(granularity=1))
        m.d.comb += [read.addr.eq(self.read.addr >> low), read.en.eq(self.read.en),
                     word.addr.eq(self.write_word.addr), word.en.eq(self.write_word.en),
                     word.data.eq(self.write_word.data),
                     entry.addr.eq(self.write.addr >> low)]
        if pack == 1:
            m.d.comb += [self.read.data.eq(read.data[0]), entry.en.eq(self.write.en),
                         entry.data[0].eq(self.write.data)]
            return m
        # The entry within the row read, kept with the row as the port keeps its data.
        place = Signal(low)
        with m.If(self.read.en):
            m.d.sync += place.eq(self.read.addr[:low])
        m.d.comb += self.read.data.eq(read.data[place])
        for i in range(pack):
            m.d.comb += [entry.data[i].eq(self.write.data),
                         entry.en[i].eq(self.write.en & (self.write.addr[:low] == i))]
        return m
