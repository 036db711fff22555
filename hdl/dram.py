"""A DRAM model with bandwidth and latency set at run time, and a wide host port."""

from amaranth.hdl import C, ClockSignal, Instance, Module, Mux, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .errors import one_of
from .params import MAX_DRAM_LATENCY, MAX_RATE_DENOMINATOR

__all__ = ["STORAGE_KINDS", "STORAGE_VERILOG", "DRAM_IMAGE", "PROGRAM_IMAGE", "WordStorage", "ReadRequest", "ReadResponse",
           "WriteRequest", "StridedRows", "DramSetting", "dram_setting", "credit_cap",
           "ChannelRequest", "SHARING", "Dram", "SharedChannel"]

#: How :class:`WordStorage` is built: ``"primitive"`` instantiates
#: :data:`STORAGE_VERILOG` (what Verilator and Icarus build); ``"memory"`` is an
#: ``amaranth.lib.memory.Memory`` with the same ports and timing, for Amaranth's own
#: simulator, which cannot run a Verilog instance.
STORAGE_KINDS = ("primitive", "memory")

#: Image files the tile's memories read on ``host_load`` (:data:`STORAGE_VERILOG`).
DRAM_IMAGE = "rooftile_dram.hex"
PROGRAM_IMAGE = "rooftile_program.hex"

#: Which of a :class:`Dram`'s requests go over a :class:`SharedChannel` instead of its
#: own token bucket: ``"none"`` (a tile alone), ``"all"`` (a chip's tile: its DRAM is
#: the external memory every engine shares) or ``"upper"`` (a chip's attention unit:
#: the lower half of its address space is the KV cache in its own memory, read at its
#: own rate; the upper half holds what it exchanges with the tile).
SHARING = ("none", "all", "upper")

#: The DRAM array as a Verilog primitive, appended to every generated design by
#: :func:`rooftile.sim.run.flow.build`. An ``amaranth.lib.memory.Memory`` of DRAM size would
#: be emitted with one initialiser line per word: 4 MB of Verilog for 64 Ki words of a
#: 4x4 tile and over 25 minutes of yosys for 256 Ki words. The loop below zeroes the
#: array in a few lines (Icarus would otherwise read X from unwritten words). Read ports
#: are synchronous and return the old data on a same-cycle write, like the Amaranth
#: memory's non-transparent ports. A cycle with ``load`` high reads the file ``IMAGE`` (in
#: the simulator's working directory) into the array with ``$readmemh``: a testbench
#: fills a memory in one cycle instead of one word per cycle through the host port.
STORAGE_VERILOG = """
module rooftile_dram_storage #(parameter WIDTH = 8, parameter DEPTH = 2,
                               parameter ABITS = 1, parameter IMAGE = "image.hex") (
  input clk, input load,
  input host_we, input host_re, input [ABITS-1:0] host_addr,
  input [WIDTH-1:0] host_wdata, output reg [WIDTH-1:0] host_rdata,
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
    if (load) $readmemh(IMAGE, words);
    if (host_re) host_rdata <= words[host_addr];
    if (dma_re) dma_rdata <= words[dma_raddr];
    if (host_we) words[host_addr] <= host_wdata;
    if (dma_we) words[dma_waddr] <= dma_wdata;
  end
endmodule
"""


class WordStorage(wiring.Component):
    """A word array with a host port and a DMA port: :data:`STORAGE_VERILOG` or its
    Amaranth equivalent (see :data:`STORAGE_KINDS`).

    Both read ports are synchronous and return the old word on a same-cycle write;
    the DMA read holds its data while ``read_en`` is low. ``load`` reads the file
    ``image`` into the primitive (Amaranth's memory ignores it: its simulator fills
    memories through the host port).

    Members
    -------
    host_write, host_addr, host_wdata : In
    host_read : In(1)
        Read the word at ``host_addr`` (off while a program runs: a wide word copied
        every cycle costs the simulator).
    host_rdata : Out(width)
        The word at ``host_addr`` of the last cycle with ``host_read``.
    write_en, write_addr, write_data : In
    read_en, read_addr : In
    read_data : Out(width)
    """

    def __init__(self, width, depth, *, kind="primitive", image=DRAM_IMAGE):
        self._width = width
        self._depth = depth
        self._image = image
        self._kind = one_of("storage kind", kind, STORAGE_KINDS)
        addr = ceil_log2(depth)
        super().__init__({
            "load": In(1),
            "host_write": In(1), "host_read": In(1), "host_addr": In(addr),
            "host_wdata": In(width), "host_rdata": Out(width),
            "write_en": In(1), "write_addr": In(addr), "write_data": In(width),
            "read_en": In(1), "read_addr": In(addr), "read_data": Out(width),
        })

    @property
    def kind(self):
        return self._kind

    def elaborate(self, platform):
        m = Module()
        if self._kind == "primitive":
            m.submodules.words = Instance(
                "rooftile_dram_storage", p_WIDTH=self._width, p_DEPTH=self._depth,
                p_ABITS=ceil_log2(self._depth), p_IMAGE=self._image,
                i_clk=ClockSignal(), i_load=self.load,
                i_host_we=self.host_write, i_host_re=self.host_read,
                i_host_addr=self.host_addr,
                i_host_wdata=self.host_wdata, o_host_rdata=self.host_rdata,
                i_dma_we=self.write_en, i_dma_waddr=self.write_addr,
                i_dma_wdata=self.write_data, i_dma_re=self.read_en,
                i_dma_raddr=self.read_addr, o_dma_rdata=self.read_data)
            return m
        m.submodules.words = words = memory.Memory(shape=self._width, depth=self._depth,
                                                   init=[])
        host_read, read = words.read_port(), words.read_port()
        # The host and the DMA never write one word in the same cycle.
        host_write, write = words.write_port(), words.write_port()
        m.d.comb += [
            host_read.addr.eq(self.host_addr), host_read.en.eq(self.host_read),
            self.host_rdata.eq(host_read.data),
            host_write.addr.eq(self.host_addr), host_write.data.eq(self.host_wdata),
            host_write.en.eq(self.host_write),
            write.addr.eq(self.write_addr), write.data.eq(self.write_data),
            write.en.eq(self.write_en),
            read.addr.eq(self.read_addr), read.en.eq(self.read_en),
            self.read_data.eq(read.data),
        ]
        return m


def ReadRequest(config, tag_shape):
    """Read the word at ``addr``, of which ``bytes`` count against bandwidth; ``tag``
    comes back with the data, so the requester needs no table of outstanding reads."""
    return data.StructLayout({"addr": ceil_log2(config.dram_depth),
                              "bytes": range(config.dram_word_bytes + 1), "tag": tag_shape})


def ReadResponse(config, tag_shape):
    """A word read and the tag of its request."""
    return data.StructLayout({"data": config.dram_word_bits, "tag": tag_shape})


def WriteRequest(config):
    """Write ``data`` to the word at ``addr``; ``bytes`` of it count against bandwidth."""
    return data.StructLayout({"addr": ceil_log2(config.dram_depth),
                              "data": config.dram_word_bits,
                              "bytes": range(config.dram_word_bytes + 1)})


class StridedRows:
    """Where a LOAD or STORE is: ``rows`` rows in DRAM words ``stride`` apart, one word
    per transfer, ``per_word`` rows to a word (the last word may be partly used).

    Parameters
    ----------
    args_layout : StructLayout
        The instruction's arguments; ``rows``, ``dram_addr`` and ``stride`` are used.
    per_word : callable or None
        Rows per word as a function of the running arguments (an int or a Value);
        None is one row per word.

    Attributes
    ----------
    args, push : the running instruction's arguments and token flag
    busy : an instruction runs
    row, addr : the first row of the word to move next, and that word
    per_word : rows per word of the running instruction
    last : the word at ``addr`` is the instruction's last
    """

    def __init__(self, args_layout, per_word=None):
        self.args = Signal(args_layout, name="args")
        self.push = Signal(name="push")
        self.busy = Signal(name="busy")
        self.row = Signal.like(self.args.rows, name="row")
        self.addr = Signal.like(self.args.dram_addr, name="addr")
        self.per_word = 1 if per_word is None else per_word(self.args)
        self.last = self.row + self.per_word >= self.args.rows

    def start(self, m, args, push):
        """Begin an instruction at its first row (under the condition that takes it)."""
        m.d.sync += [self.args.eq(args), self.row.eq(0), self.addr.eq(args.dram_addr),
                     self.push.eq(push), self.busy.eq(1)]

    def advance(self, m):
        """Move to the next word (under the condition of a transfer); the last frees it."""
        m.d.sync += [self.row.eq(self.row + self.per_word),
                     self.addr.eq(self.addr + self.args.stride)]
        with m.If(self.last):
            m.d.sync += self.busy.eq(0)


def DramSetting(config):
    """The DRAM's run-time setting, written by the testbench before ``start``: its rate
    ``num / den`` bytes per cycle and its read latency in cycles. One build serves
    every rate up to a word per cycle with a denominator up to
    :data:`~rooftile.hdl.params.MAX_RATE_DENOMINATOR`, and every latency up to
    :data:`~rooftile.hdl.params.MAX_DRAM_LATENCY`."""
    return data.StructLayout({
        "num": range(config.dram_word_bytes * MAX_RATE_DENOMINATOR + 1),
        "den": range(1, MAX_RATE_DENOMINATOR + 1),
        "latency": range(1, MAX_DRAM_LATENCY + 1)})


def dram_setting(config):
    """``config``'s rate and latency as the fields of :func:`DramSetting`."""
    rate = config.dram_bytes_per_cycle
    return {"num": rate.numerator, "den": rate.denominator, "latency": config.dram_latency}


def credit_cap(config):
    """The token bucket's largest credit, in units of ``1 / denominator`` bytes: a whole
    word plus one cycle's refill, less one unit.

    A request waits only while its credit is short of its cost (at most a word, i.e.
    ``word * denominator - 1`` units), so after that cycle's refill of ``numerator`` it
    holds at most this much: a stream of requests never loses credit to the cap, and
    an idle DRAM banks at most one word and one cycle's worth."""
    rate = config.dram_bytes_per_cycle
    return config.dram_word_bytes * rate.denominator + rate.numerator - 1


def ChannelRequest(config):
    """A request on a :class:`SharedChannel`: valid, and the bytes it costs."""
    return data.StructLayout({"valid": 1, "bytes": range(config.dram_word_bytes + 1)})


def _token_bucket(m, config, setting, start):
    """Add a token bucket counted in ``1 / setting.den`` bytes to ``m``: ``setting.num``
    added each cycle, capped at :func:`credit_cap`, full after ``start``, ``spent``
    taken this cycle. Returns ``(level, spent, full)``: the credit available this cycle,
    the signal the caller drives with what it takes, and whether the level is at the
    cap (a cycle that takes nothing leaves it there)."""
    num, den = setting.num, setting.den
    most = 2 * config.dram_word_bytes * MAX_RATE_DENOMINATOR  # above any cap
    cap = Signal(range(most + 1))
    m.d.comb += cap.eq(config.dram_word_bytes * den + num - 1)
    # Full at reset and at start whatever the setting: the bucket holds min(credit, cap).
    credit = Signal(range(most + 1), init=most)
    level = Signal(range(most + 1))
    spent = Signal(range(most + 1))
    m.d.comb += level.eq(Mux(credit > cap, cap, credit))
    after = level - spent + num
    with m.If(start):
        m.d.sync += credit.eq(most)
    with m.Else():
        m.d.sync += credit.eq(Mux(after > cap, cap, after))
    return level, spent, level == cap


class Dram(wiring.Component):
    """Word-addressed memory behind a shared bandwidth budget and a fixed read latency,
    both set at run time (``setting``, :func:`DramSetting`).

    Bandwidth is a token bucket counted in units of ``1 / den`` bytes: each cycle adds
    ``num`` credits and a request costs ``bytes * den``, so the sustained rate is
    exactly ``num / den`` bytes per cycle. Idle cycles cannot be banked by a real DRAM,
    so the credit is capped, at :func:`credit_cap`: one word's worth plus one cycle's
    refill less one unit, the most a request still waiting for a whole word can hold
    after the refill. A cap of exactly one word would drop the fractional credit of
    every wait for a whole word, and back-to-back word transfers would run at
    ``W / ceil(W / rate)`` instead of ``rate``. ``start`` fills the bucket. Writes win
    over reads when both ask in one cycle. A read accepted in cycle ``t`` returns its
    data in cycle ``t + latency`` with its ``tag``; responses cannot be refused.

    Parameters
    ----------
    config : TileConfig
        Shapes only: the rate and latency are the run-time ``setting``.
    tag_shape : ShapeLike
        What a read request carries back to its requester.
    storage : str
        One of :data:`STORAGE_KINDS`.
    sharing : str
        One of :data:`SHARING`: which requests wait for ``channel_grant`` instead of
        this DRAM's own token bucket (``"all"``: it has none).
    image : str
        The file ``host_load`` reads (:data:`DRAM_IMAGE` unless a chip has two DRAMs).
    registered_grant : bool
        ``channel_grant`` comes through a flop of this DRAM's clock: a request the
        channel grants in cycle ``t`` goes in ``t + 1``, when it is not offered to the
        channel again (the grant of an engine on another clock; see
        :class:`~rooftile.hdl.chip.Chip`).

    Members
    -------
    setting : In(DramSetting(config))
        Held while a program runs: the rate of the own token bucket, and the latency.
    start : In(1)
        Fills the token bucket (the tile's ``start``).
    host_addr, host_wdata, host_write, host_read, host_rdata
        Testbench access, one word per cycle, outside the bandwidth budget (see
        :class:`WordStorage`).
    host_load : In(1)
        Read :data:`DRAM_IMAGE` into the storage primitive in one cycle.
    read : In(stream.Signature(ReadRequest))
    response : Out(stream.Signature(ReadResponse, always_ready=True))
    write : In(stream.Signature(WriteRequest))
        Posted: nothing comes back.
    busy : Out(1)
        A request was accepted this cycle or a read is in flight (DMA busy).
    still : Out(1)
        Not busy, no response this cycle and the bucket full: the next edge changes
        nothing that matters (the latency ring's index moves, but with no read pending
        only differences of it do).
    bytes_read, bytes_written : Out
        Bytes of the request accepted this cycle, else 0 (the byte counters' events).
    waiting : Out(1)
        A request waits this cycle (for credit, or for the shared channel).
    channel_request : Out(ChannelRequest(config))
        The request this cycle, when it goes over the shared channel.
    channel_grant : In(1)
        The shared channel accepts ``channel_request`` this cycle.
    """

    def __init__(self, config, tag_shape, *, storage="primitive", sharing="none",
                 image=DRAM_IMAGE, registered_grant=False):
        self._config = config
        self._registered_grant = registered_grant
        self._tag_shape = tag_shape
        self._storage = one_of("storage", storage, STORAGE_KINDS)
        self._sharing = one_of("sharing", sharing, SHARING)
        self._image = image
        addr = ceil_log2(config.dram_depth)
        word = config.dram_word_bits
        size = range(config.dram_word_bytes + 1)
        super().__init__({
            "setting": In(DramSetting(config), init=dram_setting(config)), "start": In(1),
            "host_addr": In(addr), "host_wdata": In(word), "host_write": In(1),
            "host_read": In(1), "host_rdata": Out(word), "host_load": In(1),
            "read": In(stream.Signature(ReadRequest(config, tag_shape))),
            "response": Out(stream.Signature(ReadResponse(config, tag_shape),
                                             always_ready=True)),
            "write": In(stream.Signature(WriteRequest(config))),
            "busy": Out(1), "still": Out(1),
            "bytes_read": Out(size), "bytes_written": Out(size),
            "waiting": Out(1), "channel_request": Out(ChannelRequest(config)),
            "channel_grant": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        num, den = self.setting.num, self.setting.den
        m.submodules.storage = storage = WordStorage(cfg.dram_word_bits, cfg.dram_depth,
                                                     kind=self._storage, image=self._image)
        m.d.comb += [storage.load.eq(self.host_load),
                     storage.host_write.eq(self.host_write),
                     storage.host_read.eq(self.host_read),
                     storage.host_addr.eq(self.host_addr),
                     storage.host_wdata.eq(self.host_wdata),
                     self.host_rdata.eq(storage.host_rdata)]

        # The candidate: a valid write wins over a read, and blocks it while it waits;
        # a request granted through the flop goes next cycle even if a write came since.
        granted = Signal()          # the channel granted last cycle's request
        granted_write = Signal()    # ... and it was a write
        grant, is_write = self.channel_grant, self.write.valid
        if self._registered_grant:
            m.d.sync += [granted.eq(self.channel_grant), granted_write.eq(self.write.valid)]
            grant, is_write = granted, Mux(granted, granted_write, self.write.valid)
        candidate_bytes = Mux(is_write, self.write.payload.bytes, self.read.payload.bytes)
        candidate_addr = Mux(is_write, self.write.payload.addr, self.read.payload.addr)
        shared = {"none": 0, "all": 1,
                  "upper": candidate_addr[-1]}[self._sharing]
        go = Signal()
        own = Signal()
        if self._sharing == "all":
            full = 1    # no bucket of its own: the channel's meters every request
        else:
            level, spent, full = _token_bucket(m, cfg, self.setting, self.start)
            m.d.comb += [own.eq(level >= candidate_bytes * den),
                         spent.eq(Mux(go & ~shared, candidate_bytes * den, 0))]
        m.d.comb += [
            go.eq((self.write.valid | self.read.valid) & Mux(shared, grant, own)),
            self.write.ready.eq(go & is_write),
            self.read.ready.eq(go & ~is_write),
            self.channel_request.valid.eq((self.write.valid | self.read.valid) & shared &
                                          ~granted),
            self.channel_request.bytes.eq(candidate_bytes),
            self.waiting.eq((self.write.valid | self.read.valid) & ~go),
        ]
        write_go = is_write & go
        read_go = self.read.valid & ~is_write & go
        m.d.comb += [
            self.bytes_read.eq(Mux(read_go, self.read.payload.bytes, 0)),
            self.bytes_written.eq(Mux(write_go, self.write.payload.bytes, 0)),
        ]

        m.d.comb += [storage.write_en.eq(write_go),
                     storage.write_addr.eq(self.write.payload.addr),
                     storage.write_data.eq(self.write.payload.data)]

        # A read waits latency - 1 cycles in a ring of slots indexed by the cycle it is
        # due (slot `now` is due now), then one cycle in the memory.
        slots = MAX_DRAM_LATENCY
        wait = Signal(range(slots))
        m.d.comb += wait.eq(self.setting.latency - 1)
        now = Signal(range(slots))
        m.d.sync += now.eq(now + 1)   # wraps: slots is a power of two
        waiting = data.StructLayout({"addr": self.read.payload.addr.shape(),
                                     "tag": self._tag_shape})
        m.submodules.ring = ring = memory.Memory(shape=waiting, depth=slots, init=[])
        put, due = ring.write_port(), ring.read_port(domain="comb")
        pending = Signal(slots)
        queued = read_go & (wait != 0)
        due_now = pending.bit_select(now, 1)
        m.d.comb += [put.addr.eq((now + wait)[:ceil_log2(slots)]),
                     put.data.addr.eq(self.read.payload.addr),
                     put.data.tag.eq(self.read.payload.tag), put.en.eq(queued),
                     due.addr.eq(now)]
        landing = Signal(slots)
        leaving = Signal(slots)
        m.d.comb += [landing.eq(queued << put.addr), leaving.eq(due_now << now)]
        m.d.sync += pending.eq((pending & ~leaving) | landing)
        valid = Mux(wait == 0, read_go, due_now)
        m.d.comb += [storage.read_en.eq(valid),
                     storage.read_addr.eq(Mux(wait == 0, self.read.payload.addr,
                                              due.data.addr)),
                     self.response.payload.data.eq(storage.read_data)]
        m.d.sync += [self.response.valid.eq(valid),
                     self.response.payload.tag.eq(Mux(wait == 0, self.read.payload.tag,
                                                      due.data.tag))]
        m.d.comb += [self.busy.eq(read_go | write_go | (pending != 0)),
                     self.still.eq(~self.busy & ~self.response.valid & full & ~granted)]
        return m


class SharedChannel(wiring.Component):
    """The external memory channel of a chip, shared by its engines' DRAM ports: one
    token bucket at the external rate (``setting``), one request accepted per cycle.

    Requests are served in port order, strictly: the first valid request is the only
    one that may go, once the credit covers it, and holds every later port back while
    it waits (port 0 is the attention unit's: its query and output transfers are small
    and lie on the layer's critical path).

    Members
    -------
    setting : In(DramSetting(config))
    start : In(1)
        Fills the bucket.
    requests : In(ArrayLayout(ChannelRequest(config), ports))
    grants : Out(ports)
    waiting : Out(ports)
        Port ``i`` has a request that does not go this cycle.
    """

    def __init__(self, config, ports):
        self._config = config
        self._ports = ports
        super().__init__({
            "setting": In(DramSetting(config), init=dram_setting(config)), "start": In(1),
            "requests": In(data.ArrayLayout(ChannelRequest(config), ports)),
            "grants": Out(ports), "waiting": Out(ports),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        level, spent, _ = _token_bucket(m, cfg, self.setting, self.start)
        ahead = C(0, 1)   # a port before this one is valid
        for i in range(self._ports):
            request = self.requests[i]
            cost = request.bytes * self.setting.den
            grant = request.valid & ~ahead & (level >= cost)
            m.d.comb += [self.grants[i].eq(grant),
                         self.waiting[i].eq(request.valid & ~grant)]
            with m.If(grant):
                m.d.comb += spent.eq(cost)
            ahead = ahead | request.valid
        return m
