"""A DRAM model with configurable bandwidth and latency, and a wide host port."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["Dram"]


class Dram(wiring.Component):
    """Word-addressed memory behind a shared bandwidth budget and a fixed read latency.

    Bandwidth is a token bucket: each cycle adds ``numerator`` credits (capped at one
    word's worth, since idle cycles cannot be banked by a real DRAM); a request costs
    ``bytes * denominator`` credits, so the sustained rate is exactly
    ``dram_bytes_per_cycle = numerator / denominator``. Writes win over reads when both
    ask in one cycle. A read accepted in cycle ``t`` returns its data in cycle
    ``t + dram_latency`` with its ``tag``; responses cannot be refused.

    Members
    -------
    host_addr, host_wdata, host_write, host_rdata
        Testbench access, one word per cycle, outside the bandwidth budget.
    read_valid, read_ready, read_addr, read_bytes, read_tag : read requests
    resp_valid, resp_data, resp_tag : read responses
    write_valid, write_ready, write_addr, write_data, write_bytes : posted writes
    busy : Out(1)
        A request was accepted this cycle or a read is in flight (DMA busy).
    """

    def __init__(self, config, tag_width):
        self._config = config
        self._tag_width = tag_width
        addr = ceil_log2(config.dram_depth)
        word = config.dram_word_bits
        size = range(config.dram_word_bytes + 1)
        super().__init__({
            "host_addr": In(addr), "host_wdata": In(word), "host_write": In(1),
            "host_rdata": Out(word),
            "read_valid": In(1), "read_ready": Out(1), "read_addr": In(addr),
            "read_bytes": In(size), "read_tag": In(tag_width),
            "resp_valid": Out(1), "resp_data": Out(word), "resp_tag": Out(tag_width),
            "write_valid": In(1), "write_ready": Out(1), "write_addr": In(addr),
            "write_data": In(word), "write_bytes": In(size),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        num = cfg.dram_bytes_per_cycle.numerator
        den = cfg.dram_bytes_per_cycle.denominator
        cap = max(num, cfg.dram_word_bytes * den)
        m.submodules.storage = storage = memory.Memory(
            shape=cfg.dram_word_bits, depth=cfg.dram_depth, init=[])

        host_write = storage.write_port()
        host_read = storage.read_port()
        m.d.comb += [
            host_write.addr.eq(self.host_addr), host_write.data.eq(self.host_wdata),
            host_write.en.eq(self.host_write),
            host_read.addr.eq(self.host_addr), self.host_rdata.eq(host_read.data),
        ]

        credit = Signal(range(cap + 1), init=cap)
        write_cost = self.write_bytes * den
        read_cost = self.read_bytes * den
        write_go = Signal()
        read_go = Signal()
        m.d.comb += [
            self.write_ready.eq(credit >= write_cost),
            self.read_ready.eq(~self.write_valid & (credit >= read_cost)),
            write_go.eq(self.write_valid & self.write_ready),
            read_go.eq(self.read_valid & self.read_ready),
        ]
        spent = Signal(range(cap + 1))  # not Signal.like: that would copy init=cap
        with m.If(write_go):
            m.d.comb += spent.eq(write_cost)
        with m.Elif(read_go):
            m.d.comb += spent.eq(read_cost)
        after = credit - spent + num
        m.d.sync += credit.eq(Mux(after > cap, cap, after))

        data_port = storage.write_port()
        m.d.comb += [data_port.addr.eq(self.write_addr), data_port.data.eq(self.write_data),
                     data_port.en.eq(write_go)]

        # Reads wait dram_latency - 1 cycles as requests, then one in the memory.
        valid, addr, tag = read_go, self.read_addr, self.read_tag
        in_flight = []
        for stage in range(cfg.dram_latency - 1):
            next_valid = Signal(name=f"delay{stage}_valid")
            next_addr = Signal.like(self.read_addr, name=f"delay{stage}_addr")
            next_tag = Signal.like(self.read_tag, name=f"delay{stage}_tag")
            m.d.sync += [next_valid.eq(valid), next_addr.eq(addr), next_tag.eq(tag)]
            valid, addr, tag = next_valid, next_addr, next_tag
            in_flight.append(valid)
        read_port = storage.read_port()
        m.d.comb += [read_port.addr.eq(addr), read_port.en.eq(valid),
                     self.resp_data.eq(read_port.data)]
        m.d.sync += [self.resp_valid.eq(valid), self.resp_tag.eq(tag)]
        busy = read_go | write_go | valid
        for stage_valid in in_flight:
            busy = busy | stage_valid
        m.d.comb += self.busy.eq(busy)
        return m
