"""A DRAM model with configurable bandwidth and latency, and a wide host port."""

from amaranth.hdl import ClockSignal, Instance, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

__all__ = ["Dram", "STORAGE_VERILOG"]

#: The DRAM array as a Verilog primitive, appended to every generated design by
#: :func:`rooftile.sim.flow.build`. An ``amaranth.lib.memory.Memory`` of DRAM size would
#: be emitted with one initialiser line per word: 4 MB of Verilog for 64 Ki words of a
#: 4x4 tile and over 25 minutes of yosys for 256 Ki words. The loop below zeroes the
#: array in a few lines (Icarus would otherwise read X from unwritten words). Read ports
#: are synchronous and return the old data on a same-cycle write, like the Amaranth
#: memory's non-transparent ports.
STORAGE_VERILOG = """
module rooftile_dram_storage #(parameter WIDTH = 8, parameter DEPTH = 2,
                               parameter ABITS = 1) (
  input clk,
  input host_we, input [ABITS-1:0] host_addr, input [WIDTH-1:0] host_wdata,
  output reg [WIDTH-1:0] host_rdata,
  input dma_we, input [ABITS-1:0] dma_waddr, input [WIDTH-1:0] dma_wdata,
  input dma_re, input [ABITS-1:0] dma_raddr, output reg [WIDTH-1:0] dma_rdata
);
  reg [WIDTH-1:0] words [0:DEPTH-1];
  integer i;
  initial begin
    for (i = 0; i < DEPTH; i = i + 1) words[i] = {WIDTH{1'b0}};
    host_rdata = {WIDTH{1'b0}};
    dma_rdata = {WIDTH{1'b0}};
  end
  always @(posedge clk) begin
    host_rdata <= words[host_addr];
    if (dma_re) dma_rdata <= words[dma_raddr];
    if (host_we) words[host_addr] <= host_wdata;
    if (dma_we) words[dma_waddr] <= dma_wdata;
  end
endmodule
"""


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
        storage = dict(
            p_WIDTH=cfg.dram_word_bits, p_DEPTH=cfg.dram_depth,
            p_ABITS=ceil_log2(cfg.dram_depth), i_clk=ClockSignal(),
            i_host_we=self.host_write, i_host_addr=self.host_addr,
            i_host_wdata=self.host_wdata, o_host_rdata=self.host_rdata)

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

        storage.update(i_dma_we=write_go, i_dma_waddr=self.write_addr,
                       i_dma_wdata=self.write_data)

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
        storage.update(i_dma_re=valid, i_dma_raddr=addr, o_dma_rdata=self.resp_data)
        m.submodules.storage = Instance("rooftile_dram_storage", **storage)
        m.d.sync += [self.resp_valid.eq(valid), self.resp_tag.eq(tag)]
        busy = read_go | write_go | valid
        for stage_valid in in_flight:
            busy = busy | stage_valid
        m.d.comb += self.busy.eq(busy)
        return m
