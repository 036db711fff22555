"""The execute datapath: scratchpad reads -> skew -> systolic array -> de-skew -> accumulator,
one matrix unit per dataflow (chosen by :attr:`TileConfig.dataflow`)."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .array import SystolicArray, WeightStationaryArray
from .clock_gate import clock_gated
from .isa import ExecCommand
from .pe import Control, ResultLayout, WeightLayout
from .scratchpad import Scratchpad
from .skew import Skew

__all__ = ["operand_row", "acc_row", "MatrixUnit", "WeightStationaryUnit", "MATRIX_UNITS",
           "add_matrix_unit"]


def operand_row(config, lanes):
    return data.ArrayLayout(signed(config.data_width), lanes)


def acc_row(config):
    return data.ArrayLayout(signed(config.acc_width), config.cols)


class MatrixUnit(wiring.Component):
    """Runs :func:`ExecCommand` blocks back to back on a :class:`SystolicArray`.

    The feeder streams one reduction step per cycle; results of a block drain while the
    next block computes, so a stream of blocks with ``steps >= 2 * rows - 1`` keeps the
    array busy every cycle. A shorter block waits until ``drain_interval`` cycles have
    passed since the previous block's last step (``drain_stall``).

    Members
    -------
    cmd : In(stream.Signature(ExecCommand))
    sp_a, sp_b : memory.ReadPort.Signature, flipped
        Operand scratchpads; entry ``k`` holds A's column ``k`` (``rows`` wide) and B's
        row ``k`` (``cols`` wide).
    acc_read, acc_write : accumulator ports, flipped
        ``acc_read`` serves the read-modify-write of accumulating blocks.
    step : Out(1)
        A reduction step entered the array this cycle (array computing).
    useful_macs : Out(...)
        MACs of real data in this cycle's step (``rows_used * cols_used`` or 0).
    drain_stall : Out(1)
        The feeder holds a block's last step back to keep the result chain collision free.
    block_fed : Out(1)
        The last reduction step of a block was read from the scratchpads this cycle:
        its operand buffers may be refilled.
    block_written : Out(1)
        The last row of a block was written to the accumulator this cycle.
    idle : Out(1)
        No command being fed and no result in flight.
    awake : Out(1)
        The next clock edge may change the unit's state: it gates the unit's clock
        (:func:`~rooftile.hdl.clock_gate.clock_gated`).
    """

    def __init__(self, config):
        self._config = config
        sp_bits = ceil_log2(config.sp_depth)
        acc_bits = ceil_log2(config.acc_depth)
        super().__init__({
            "cmd": In(stream.Signature(ExecCommand(config))),
            "sp_a": In(memory.ReadPort.Signature(addr_width=sp_bits,
                                                  shape=operand_row(config, config.rows))),
            "sp_b": In(memory.ReadPort.Signature(addr_width=sp_bits,
                                                  shape=operand_row(config, config.cols))),
            "acc_read": In(memory.ReadPort.Signature(addr_width=acc_bits,
                                                      shape=acc_row(config))),
            "acc_write": In(memory.WritePort.Signature(addr_width=acc_bits,
                                                        shape=acc_row(config))),
            "step": Out(1),
            "useful_macs": Out(range(config.rows * config.cols + 1)),
            "drain_stall": Out(1),
            "block_fed": Out(1),
            "block_written": Out(1),
            "idle": Out(1),
            "awake": Out(1),
        })

    @property
    def blocks_in_flight(self):
        """Blocks that can sit between feeding and the accumulator write: the descriptor
        FIFO depth. Latency from a block's last step to its last row is about
        ``cols + 2 * rows``; blocks are at least ``drain_interval`` apart."""
        cfg = self._config
        return -(-(cfg.cols + 2 * cfg.rows + 4) // cfg.drain_interval) + 1

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        layout = ExecCommand(cfg)

        m.submodules.array = array = SystolicArray(cfg)
        lane = data.StructLayout({"a": signed(cfg.data_width), "ctl": Control})
        m.submodules.skew_a = skew_a = Skew(lane, range(cfg.rows))
        m.submodules.skew_b = skew_b = Skew(signed(cfg.data_width), range(cfg.cols))
        m.submodules.deskew = deskew = Skew(ResultLayout(cfg.acc_width),
                                            reversed(range(cfg.cols)))
        # Descriptors of blocks whose results are still on their way to the accumulator.
        m.submodules.pending = pending = fifo.SyncFIFO(
            width=layout.size, depth=self.blocks_in_flight)

        # --- Feeder: one reduction step per cycle from the scratchpads.
        current = Signal(layout)
        busy = Signal()
        k = Signal.like(current.steps)
        since_last = Signal(range(cfg.drain_interval + 1), init=cfg.drain_interval)
        is_last = Signal()
        issue = Signal()
        m.d.comb += [
            is_last.eq(k + 1 == current.steps),
            issue.eq(busy & (~is_last | (since_last >= cfg.drain_interval))),
            self.cmd.ready.eq((~busy | (issue & is_last)) & pending.w_rdy),
            # A zero-step command computes nothing and leaves no results to write.
            pending.w_en.eq(self.cmd.valid & self.cmd.ready & (self.cmd.payload.steps != 0)),
            pending.w_data.eq(self.cmd.payload),
            self.sp_a.addr.eq(current.a_addr + k),
            self.sp_b.addr.eq(current.b_addr + k),
            self.sp_a.en.eq(issue),
            self.sp_b.en.eq(issue),
            self.step.eq(issue),
            self.block_fed.eq(issue & is_last),
            self.useful_macs.eq(Mux(issue, current.rows_used * current.cols_used, 0)),
            self.drain_stall.eq(busy & ~issue),
        ]
        with m.If(since_last < cfg.drain_interval):
            m.d.sync += since_last.eq(since_last + 1)
        with m.If(issue):
            m.d.sync += k.eq(k + 1)
            with m.If(is_last):
                m.d.sync += [busy.eq(0), since_last.eq(1)]
        # The next block is taken in the cycle of the last step, so blocks stream with
        # no bubble between them (later assignments win).
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [current.eq(self.cmd.payload), busy.eq(self.cmd.payload.steps != 0),
                         k.eq(0)]

        # Scratchpad reads take one cycle: the control joins the data a cycle late.
        ctl = Signal(Control)
        m.d.sync += [ctl.valid.eq(issue), ctl.last.eq(issue & is_last)]
        for i in range(cfg.rows):
            m.d.comb += [skew_a.i[i].a.eq(self.sp_a.data[i]), skew_a.i[i].ctl.eq(ctl)]
            m.d.comb += [array.a_in[i].eq(skew_a.o[i].a), array.ctl_in[i].eq(skew_a.o[i].ctl)]
        m.d.comb += [skew_b.i.eq(self.sp_b.data), array.b_in.eq(skew_b.o),
                     deskew.i.eq(array.result_out)]

        # --- Writer: rows arrive de-skewed, one every two cycles, row 0 first.
        write = _accumulator_writer(m, self, pending, deskew.o[0].valid, cfg.rows,
                                    [lane.value for lane in deskew.o])
        m.d.comb += [self.idle.eq(~busy & ~pending.r_rdy & ~write),
                     self.awake.eq(self.cmd.valid | ~self.idle |
                                   (since_last < cfg.drain_interval))]
        return m


def _accumulator_writer(m, unit, pending, arriving, rows, lanes):
    """The read-modify-write of arriving result rows into ``unit``'s accumulator ports:
    ``lanes`` (one value per column) are a row of the block at the head of ``pending``
    in a cycle with ``arriving`` set; rows come in order and a block has ``rows`` of
    them (an int; None: the head's ``steps``). Pops the head with its last row and
    sets ``block_written`` when that row is written; returns the signal of a write in
    this cycle."""
    cfg = unit._config
    head = Signal(ExecCommand(cfg))
    m.d.comb += head.eq(pending.r_data)
    row = Signal(range(cfg.sp_depth) if rows is None else range(rows))
    last = Signal()
    m.d.comb += [
        last.eq(row == (head.steps if rows is None else rows) - 1),
        unit.acc_read.addr.eq(head.acc_addr + row),
        unit.acc_read.en.eq(arriving),
    ]
    with m.If(arriving):
        with m.If(last):
            m.d.sync += row.eq(0)
            m.d.comb += pending.r_en.eq(1)
        with m.Else():
            m.d.sync += row.eq(row + 1)
    # The read-modify-write completes a cycle later, when the old row is out.
    write = Signal()
    write_addr = Signal.like(unit.acc_write.addr)
    write_accumulate = Signal()
    write_last = Signal()
    values = Signal(acc_row(cfg))
    m.d.sync += [
        write.eq(arriving),
        write_addr.eq(unit.acc_read.addr),
        write_accumulate.eq(head.accumulate),
        write_last.eq(arriving & last),
    ]
    m.d.sync += [values[j].eq(lanes[j]) for j in range(cfg.cols)]
    m.d.comb += [
        unit.acc_write.en.eq(write),
        unit.acc_write.addr.eq(write_addr),
        unit.block_written.eq(write_last),
    ]
    for j in range(cfg.cols):
        with m.If(write_accumulate):
            m.d.comb += unit.acc_write.data[j].eq(unit.acc_read.data[j] + values[j])
        with m.Else():
            m.d.comb += unit.acc_write.data[j].eq(values[j])
    return write


class WeightStationaryUnit(MatrixUnit):
    """Runs :func:`ExecCommand` blocks back to back on a :class:`WeightStationaryArray`.

    Same ports and contract as :class:`MatrixUnit` (so the execute unit, the tile and
    the tokens serve both dataflows); a block means (see :func:`ExecCommand`): load
    the weights ``spB[b_addr + r]``, ``r < rows``, into the array's shadow registers,
    one entry per cycle, then stream ``steps`` activation rows ``spA[a_addr + i]``
    through it, one per cycle, each leaving one accumulator row ``acc_addr + i``.

    The weights of the next block load while the current block streams, so blocks
    run back to back when each streams at least ``rows`` steps; a shorter block waits
    for the next one's weights (``drain_stall`` counts those cycles, and the first
    block's load). Result rows reach the accumulator one per cycle, a fixed
    :attr:`result_latency` after their step.

    ``step`` counts the cycles the array holds a block: its steps and the weight loads
    no step hides. So useful MACs per ``step`` cycle is this dataflow's mapping
    efficiency: a block of ``M`` rows takes ``max(M, rows)`` cycles, and a one-row
    GEMV fills ``1 / rows`` of the array, as it does output-stationary.
    """

    @property
    def result_latency(self):
        """Cycles from an activation row's scratchpad read to its result row's arrival
        at the accumulator: the read, the skew into the array, down the column
        (``rows``) and along the row (``cols``), and the de-skew."""
        return self._config.rows + self._config.cols

    @property
    def blocks_in_flight(self):
        """Descriptors between acceptance and the accumulator write: the block whose
        weights load, the one streaming, and those whose rows are still in the
        array; blocks start at least ``rows`` cycles apart."""
        cfg = self._config
        return -(-(self.result_latency + 2) // cfg.rows) + 2

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        layout = ExecCommand(cfg)

        m.submodules.array = array = WeightStationaryArray(cfg)
        lane = data.StructLayout({"a": signed(cfg.data_width), "swap": 1})
        m.submodules.skew_a = skew_a = Skew(lane, range(cfg.rows))
        m.submodules.skew_w = skew_w = Skew(WeightLayout(cfg.data_width, cfg.rows),
                                            range(cfg.cols))
        m.submodules.deskew = deskew = Skew(signed(cfg.acc_width), reversed(range(cfg.cols)))
        m.submodules.arrival = arrival = Skew(1, [self.result_latency])
        m.submodules.pending = pending = fifo.SyncFIFO(
            width=layout.size, depth=self.blocks_in_flight)

        # --- Weight loader: one weight row per cycle into the shadow registers.
        loading = Signal(layout)
        loading_valid = Signal()
        loaded = Signal()           # all `rows` weight rows read
        r = Signal(range(cfg.rows))
        w_issue = Signal()
        w_last = Signal()
        # --- Streamer: one activation row per cycle.
        streaming = Signal(layout)
        streaming_valid = Signal()
        i = Signal.like(streaming.steps)
        s_last = Signal()
        move = Signal()             # the loaded block starts streaming next cycle
        take = Signal()
        m.d.comb += [
            w_issue.eq(loading_valid & ~loaded),
            w_last.eq(w_issue & (r == cfg.rows - 1)),
            s_last.eq(streaming_valid & (i + 1 == streaming.steps)),
            move.eq(loading_valid & (loaded | w_last) & (~streaming_valid | s_last)),
            self.cmd.ready.eq((~loading_valid | move) & pending.w_rdy),
            take.eq(self.cmd.valid & self.cmd.ready),
            # A zero-step command computes nothing and leaves no results to write.
            pending.w_en.eq(take & (self.cmd.payload.steps != 0)),
            pending.w_data.eq(self.cmd.payload),
            self.sp_b.addr.eq(loading.b_addr + r),
            self.sp_b.en.eq(w_issue),
            self.sp_a.addr.eq(streaming.a_addr + i),
            self.sp_a.en.eq(streaming_valid),
            self.step.eq(streaming_valid | loading_valid),
            self.block_fed.eq(s_last),
            self.useful_macs.eq(Mux(streaming_valid,
                                    streaming.rows_used * streaming.cols_used, 0)),
            self.drain_stall.eq(loading_valid & ~streaming_valid),
        ]
        with m.If(w_issue):
            m.d.sync += r.eq(Mux(w_last, 0, r + 1))
        with m.If(w_last):
            m.d.sync += loaded.eq(1)
        with m.If(streaming_valid):
            m.d.sync += i.eq(i + 1)
            with m.If(s_last):
                m.d.sync += streaming_valid.eq(0)
        # Later assignments win: a block moves on in the cycle the previous one
        # streams its last step, and a command is taken in the cycle the loader frees.
        with m.If(move):
            m.d.sync += [streaming.eq(loading), streaming_valid.eq(1), i.eq(0),
                         loading_valid.eq(0)]
        with m.If(take):
            m.d.sync += [loading.eq(self.cmd.payload), loaded.eq(0),
                         loading_valid.eq(self.cmd.payload.steps != 0)]

        # Scratchpad reads take one cycle: tags join the data a cycle late.
        swap = Signal()
        w_valid = Signal()
        w_row = Signal.like(r)
        m.d.sync += [swap.eq(streaming_valid & (i == 0)), w_valid.eq(w_issue), w_row.eq(r)]
        for row in range(cfg.rows):
            m.d.comb += [skew_a.i[row].a.eq(self.sp_a.data[row]), skew_a.i[row].swap.eq(swap),
                         array.a_in[row].eq(skew_a.o[row].a),
                         array.swap_in[row].eq(skew_a.o[row].swap)]
        for col in range(cfg.cols):
            m.d.comb += [skew_w.i[col].valid.eq(w_valid), skew_w.i[col].row.eq(w_row),
                         skew_w.i[col].value.eq(self.sp_b.data[col])]
        m.d.comb += [array.w_in.eq(skew_w.o), deskew.i.eq(array.psum_out),
                     arrival.i[0].eq(streaming_valid)]

        # --- Writer: result rows arrive de-skewed, one per cycle, in step order.
        write = _accumulator_writer(m, self, pending, arrival.o[0], None, deskew.o)
        m.d.comb += [self.idle.eq(~loading_valid & ~streaming_valid & ~pending.r_rdy & ~write),
                     self.awake.eq(self.cmd.valid | ~self.idle)]
        return m


#: The matrix unit of each dataflow of :data:`~rooftile.hdl.params.DATAFLOWS`.
MATRIX_UNITS = {"output_stationary": MatrixUnit, "weight_stationary": WeightStationaryUnit}


def add_matrix_unit(m, config, free="sync", gated=True):
    """Add the matrix unit of ``config.dataflow`` (:data:`MATRIX_UNITS`) wired to new operand scratchpads
    (:class:`~rooftile.hdl.scratchpad.Scratchpad`, a DRAM word of entries per row) and
    accumulator to module ``m``; return ``(unit, sp_a, sp_b, acc)`` so the caller can
    connect host, DMA or store ports to them (the scratchpads' ``write`` and
    ``write_word``, the accumulator's new ports). The unit's clock is gated
    (:func:`~rooftile.hdl.clock_gate.clock_gated`, whose ``free`` and ``gated`` these
    are)."""
    unit = MATRIX_UNITS[config.dataflow](config)
    clock_gated(m, "unit", unit, free=free, gated=gated)
    m.submodules.sp_a = sp_a = Scratchpad(operand_row(config, config.rows), config.sp_depth,
                                          config.entries_per_word(config.rows))
    m.submodules.sp_b = sp_b = Scratchpad(operand_row(config, config.cols), config.sp_depth,
                                          config.entries_per_word(config.cols))
    m.submodules.acc = acc = memory.Memory(shape=acc_row(config), depth=config.acc_depth,
                                           init=[])
    wiring.connect(m, unit.sp_a, sp_a.read)
    wiring.connect(m, unit.sp_b, sp_b.read)
    write = acc.write_port()
    # Weight-stationary result rows arrive one per cycle, so a row may be read in the
    # cycle the row before it, the same one, is written (blocks accumulating one-step
    # blocks into one row, or overlapping rows): the read sees that write. Output-
    # stationary rows arrive two cycles apart and never need it.
    transparent = (write,) if config.dataflow == "weight_stationary" else ()
    wiring.connect(m, unit.acc_read, acc.read_port(transparent_for=transparent))
    wiring.connect(m, unit.acc_write, write)
    return unit, sp_a, sp_b, acc
