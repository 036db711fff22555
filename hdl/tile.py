"""The tile: instruction fetch, decoupled load / execute / store units, DRAM and counters."""

from amaranth.hdl import ClockSignal, Instance, Module, Mux, Signal, signed
from amaranth.lib import data, fifo, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .dram import Dram
from .isa import Instruction, Opcode, Target
from .matrix_unit import add_matrix_unit
from .vector_unit import VectorUnit

__all__ = ["Tile", "COUNTERS", "TOKENS", "COUNTER_WIDTH"]

COUNTER_WIDTH = 48

#: Performance counters, in the order of the ``counters`` port's lanes.
COUNTERS = (
    "cycles",                # start to done
    "array_busy",            # a reduction step entered the array
    "useful_macs",           # MACs on real (unpadded) data
    "drain_stalls",          # execute held a block back for the result chain
    "dma_busy",              # a DRAM request was accepted or a read was in flight
    "bytes_read",            # DRAM bytes read by loads
    "bytes_written",         # DRAM bytes written by stores
    "exec_wait_load",        # execute waiting on a load token (operands not ready)
    "exec_wait_store",       # execute waiting on a store token (accumulator not free)
    "store_wait_exec",       # store waiting on an execute token (results not ready)
    "load_wait_exec",        # load waiting on an execute token (buffer not free)
    "vector_busy",           # the vector unit works on a softmax
)

#: Dependency-token counters, in the order of the ``tokens`` status port's lanes.
TOKENS = ("load_to_exec", "exec_to_load", "exec_to_store", "store_to_exec")

TOKEN_LIMIT = 255


class Tile(wiring.Component):
    """A systolic tile that runs programs of :mod:`~rooftile.hdl.isa` instructions.

    The host loads DRAM and the program, pulses ``start`` and waits for ``done``. Fetch
    dispatches instructions in order into per-unit queues; the load, execute and store
    units then run concurrently, ordered only by dependency tokens, so DMA overlaps
    compute when the program double-buffers.

    Members
    -------
    host_addr, host_wdata, host_write_dram, host_rdata : DRAM host port
    host_instr, host_write_instr : program memory host port (slot ``host_addr``)
    start : In(1)
    done : Out(1)
    counters : Out(ArrayLayout(COUNTER_WIDTH, len(COUNTERS)))
    status_pc : Out
        Next instruction to fetch; with ``status_tokens`` and ``status_units`` it tells
        which unit waits on what when a program hangs.
    status_tokens : Out(ArrayLayout(8, len(TOKENS)))
    status_units : Out(StructLayout)
        Busy flag and queue level of each unit.
    """

    def __init__(self, config):
        self._config = config
        addr = max(ceil_log2(config.dram_depth), ceil_log2(config.program_depth))
        level = range(config.queue_depth + 1)
        super().__init__({
            "host_addr": In(addr),
            "host_wdata": In(config.dram_word_bits),
            "host_write_dram": In(1),
            "host_rdata": Out(config.dram_word_bits),
            "host_instr": In(Instruction(config)),
            "host_write_instr": In(1),
            "start": In(1),
            "done": Out(1),
            "counters": Out(data.ArrayLayout(COUNTER_WIDTH, len(COUNTERS))),
            "status_pc": Out(range(config.program_depth + 1)),
            "status_tokens": Out(data.ArrayLayout(8, len(TOKENS))),
            "status_units": Out(data.StructLayout({
                "fetching": 1, "load_busy": 1, "exec_busy": 1, "store_busy": 1,
                "load_queue": level, "exec_queue": level, "store_queue": level})),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        layout = Instruction(cfg)

        # --- Memories and datapath.
        unit, sp_a, sp_b, acc = add_matrix_unit(m, cfg)

        tag = data.StructLayout({"target": Target, "sp_addr": ceil_log2(cfg.sp_depth),
                                 "push": 1})
        m.submodules.dram = dram = Dram(cfg, tag.size)
        m.d.comb += [dram.host_addr.eq(self.host_addr), dram.host_wdata.eq(self.host_wdata),
                     dram.host_write.eq(self.host_write_dram),
                     self.host_rdata.eq(dram.host_rdata)]

        # --- Program memory and in-order dispatch into per-unit queues.
        # The DRAM's storage primitive, not an Amaranth Memory: a program memory of
        # 64 Ki words would be emitted one initialiser line per word (see dram.py).
        fetch_addr = Signal(range(cfg.program_depth + 1))
        fetch_en = Signal()
        fetched_bits = Signal(layout.size)
        unused = Signal(layout.size)
        m.submodules.program = Instance(
            "rooftile_dram_storage", p_WIDTH=layout.size, p_DEPTH=cfg.program_depth,
            p_ABITS=ceil_log2(cfg.program_depth), i_clk=ClockSignal(),
            i_host_we=self.host_write_instr,
            i_host_addr=self.host_addr[:ceil_log2(cfg.program_depth)],
            i_host_wdata=self.host_instr, o_host_rdata=unused,
            i_dma_we=0, i_dma_waddr=0, i_dma_wdata=0,
            i_dma_re=fetch_en, i_dma_raddr=fetch_addr[:ceil_log2(cfg.program_depth)],
            o_dma_rdata=fetched_bits)
        queues = {}
        for name in ("load", "exec", "store"):
            queues[name] = m.submodules[f"{name}_queue"] = fifo.SyncFIFOBuffered(
                width=layout.size, depth=cfg.queue_depth)
        running = Signal()
        fetching = Signal()
        pc = Signal.like(self.status_pc)
        held = Signal()          # `fetched` holds the instruction read last cycle
        fetched = Signal(layout)
        m.d.comb += fetched.eq(fetched_bits)
        target_ready = Signal()
        with m.Switch(fetched.opcode):
            for opcodes, name in (((Opcode.LOAD,), "load"),
                                  ((Opcode.EXEC, Opcode.SOFTMAX), "exec"),
                                  ((Opcode.STORE,), "store")):
                with m.Case(*opcodes):
                    m.d.comb += [target_ready.eq(queues[name].w_rdy),
                                 queues[name].w_en.eq(held),
                                 queues[name].w_data.eq(fetched)]
            with m.Case(Opcode.FINISH):
                m.d.comb += target_ready.eq(1)
        advance = ~held | target_ready
        m.d.comb += [fetch_addr.eq(pc), fetch_en.eq(advance)]
        with m.If(self.start):
            m.d.sync += [pc.eq(0), held.eq(0), fetching.eq(1), running.eq(1),
                         self.done.eq(0)]
        with m.Elif(fetching & advance):
            with m.If(held & (fetched.opcode == Opcode.FINISH)):
                m.d.sync += [fetching.eq(0), held.eq(0)]
            with m.Elif(pc == cfg.program_depth):
                m.d.sync += [fetching.eq(0), held.eq(0)]  # ran off the end: stop
            with m.Else():
                m.d.sync += [held.eq(1), pc.eq(pc + 1)]

        # --- Dependency tokens: each a counter, pushed and popped by its two units.
        tokens = {name: Signal(range(TOKEN_LIMIT + 1), name=f"tokens_{name}")
                  for name in TOKENS}
        push = {name: Signal(name=f"push_{name}") for name in TOKENS}
        pop = {name: Signal(name=f"pop_{name}") for name in TOKENS}
        for name in TOKENS:
            with m.If(self.start):
                m.d.sync += tokens[name].eq(0)
            with m.Elif(push[name] & ~pop[name]):
                m.d.sync += tokens[name].eq(tokens[name] + 1)
            with m.Elif(pop[name] & ~push[name]):
                m.d.sync += tokens[name].eq(tokens[name] - 1)
            m.d.comb += self.status_tokens[TOKENS.index(name)].eq(tokens[name])

        def head(name):
            return layout(queues[name].r_data)

        # --- Load unit: strided DRAM reads into a scratchpad.
        load_head = head("load")
        load_args = Signal(layout["args"].shape["load"].shape)
        load_push = Signal()
        load_busy = Signal()
        load_row = Signal.like(load_args.rows)
        load_addr = Signal.like(load_args.dram_addr)
        load_ok = ~load_head.deps.pop_next | (tokens["exec_to_load"] != 0)
        load_take = ~load_busy & queues["load"].r_rdy & load_ok
        m.d.comb += [queues["load"].r_en.eq(load_take),
                     pop["exec_to_load"].eq(load_take & load_head.deps.pop_next)]
        with m.If(load_take):
            m.d.sync += [load_args.eq(load_head.args.load), load_row.eq(0),
                         load_addr.eq(load_head.args.load.dram_addr),
                         load_push.eq(load_head.deps.push_next),
                         load_busy.eq(1)]
        request_tag = Signal(tag)
        last_row = load_row + 1 == load_args.rows
        m.d.comb += [
            dram.read_valid.eq(load_busy),
            dram.read_addr.eq(load_addr),
            dram.read_bytes.eq(load_args.elems * cfg.data_bytes),
            request_tag.target.eq(load_args.target),
            request_tag.sp_addr.eq(load_args.sp_addr + load_row),
            request_tag.push.eq(load_push & last_row),
            dram.read_tag.eq(request_tag),
        ]
        with m.If(load_busy & dram.read_ready):
            m.d.sync += [load_row.eq(load_row + 1), load_addr.eq(load_addr + load_args.stride)]
            with m.If(last_row):
                m.d.sync += load_busy.eq(0)
        response = Signal(tag)
        m.d.comb += response.eq(dram.resp_tag)
        for mem, target, lanes in ((sp_a, Target.A, cfg.rows), (sp_b, Target.B, cfg.cols)):
            port = mem.write_port()
            m.d.comb += [port.addr.eq(response.sp_addr),
                         port.data.eq(dram.resp_data[:lanes * cfg.data_width]),
                         port.en.eq(dram.resp_valid & (response.target == target))]
        m.d.comb += push["load_to_exec"].eq(dram.resp_valid & response.push)

        # --- Execute unit: blocks to the matrix unit, softmax commands to the vector
        # unit. A block's operand buffers are free once its last step is read
        # (push_prev); its results are ready once its last row is written (push_next),
        # which may be several blocks later. A softmax waits for every earlier block's
        # results and holds back later blocks until its probabilities are written; its
        # tokens are pushed then.
        exec_head = head("exec")
        exec_ok = ((~exec_head.deps.pop_prev | (tokens["load_to_exec"] != 0)) &
                   (~exec_head.deps.pop_next | (tokens["store_to_exec"] != 0)))
        m.submodules.vector = vector = VectorUnit(cfg)
        wiring.connect(m, vector.acc_read, acc.read_port())
        wiring.connect(m, vector.sp_write, sp_b.write_port())
        softmax_pending = Signal()   # accepted, last probabilities not yet written
        softmax_push = Signal(data.StructLayout({"prev": 1, "next": 1}))
        m.submodules.exec_pushes = exec_pushes = fifo.SyncFIFO(
            width=1, depth=unit.blocks_in_flight + 1)
        is_softmax = exec_head.opcode == Opcode.SOFTMAX
        exec_valid = (queues["exec"].r_rdy & ~is_softmax & exec_ok & exec_pushes.w_rdy &
                      ~softmax_pending)
        exec_go = exec_valid & unit.cmd.ready
        softmax_valid = (queues["exec"].r_rdy & is_softmax & exec_ok & ~softmax_pending &
                         unit.idle & ~exec_pushes.r_rdy)
        softmax_go = softmax_valid & vector.cmd.ready
        exec_take = exec_go | softmax_go
        with m.If(softmax_go):
            m.d.sync += [softmax_pending.eq(1),
                         softmax_push.prev.eq(exec_head.deps.push_prev),
                         softmax_push.next.eq(exec_head.deps.push_next)]
        with m.Elif(vector.done):
            m.d.sync += softmax_pending.eq(0)
        feeding_push = Signal()
        with m.If(exec_go):
            m.d.sync += feeding_push.eq(exec_head.deps.push_prev)
        m.d.comb += [
            unit.cmd.valid.eq(exec_valid),
            unit.cmd.payload.eq(exec_head.args.exec),
            vector.cmd.valid.eq(softmax_valid),
            vector.cmd.payload.eq(exec_head.args.softmax),
            queues["exec"].r_en.eq(exec_take),
            pop["load_to_exec"].eq(exec_take & exec_head.deps.pop_prev),
            pop["store_to_exec"].eq(exec_take & exec_head.deps.pop_next),
            push["exec_to_load"].eq((unit.block_fed & feeding_push) |
                                    (vector.done & softmax_push.prev)),
            exec_pushes.w_en.eq(exec_go),
            exec_pushes.w_data.eq(exec_head.deps.push_next),
            exec_pushes.r_en.eq(unit.block_written),
            push["exec_to_store"].eq((unit.block_written & exec_pushes.r_data) |
                                     (vector.done & softmax_push.next)),
        ]

        # --- Store unit: accumulator rows to strided DRAM words.
        store_head = head("store")
        store_args = Signal(layout["args"].shape["store"].shape)
        store_push = Signal()
        store_busy = Signal()
        store_reading = Signal()  # the acc read for this row is out; write it next
        store_row = Signal.like(store_args.rows)
        store_addr = Signal.like(store_args.dram_addr)
        store_ok = ~store_head.deps.pop_prev | (tokens["exec_to_store"] != 0)
        store_take = ~store_busy & queues["store"].r_rdy & store_ok
        store_read = acc.read_port()
        m.d.comb += [queues["store"].r_en.eq(store_take),
                     pop["exec_to_store"].eq(store_take & store_head.deps.pop_prev)]
        with m.If(store_take):
            m.d.sync += [store_args.eq(store_head.args.store), store_row.eq(0),
                         store_addr.eq(store_head.args.store.dram_addr),
                         store_push.eq(store_head.deps.push_prev),
                         store_busy.eq(1), store_reading.eq(0)]
        store_last = store_row + 1 == store_args.rows
        # Requantised results: each lane shifted, saturated and packed as an operand.
        low, high = -(1 << (cfg.data_width - 1)), (1 << (cfg.data_width - 1)) - 1
        narrowed = Signal(data.ArrayLayout(signed(cfg.data_width), cfg.cols))
        for j in range(cfg.cols):
            shifted = Signal(signed(cfg.acc_width), name=f"store_shifted_{j}")
            m.d.comb += shifted.eq(store_read.data[j] >> store_args.shift)
            m.d.comb += narrowed[j].eq(Mux(shifted > high, high,
                                           Mux(shifted < low, low, shifted)))
        m.d.comb += [
            store_read.addr.eq(store_args.acc_addr + store_row),
            store_read.en.eq(store_busy & ~store_reading),
            dram.write_valid.eq(store_busy & store_reading),
            dram.write_addr.eq(store_addr),
            dram.write_data.eq(Mux(store_args.narrow, narrowed.as_value(),
                                   store_read.data.as_value())),
            dram.write_bytes.eq(store_args.elems * Mux(store_args.narrow, cfg.data_bytes,
                                                       cfg.acc_bytes)),
        ]
        with m.If(store_busy & ~store_reading):
            m.d.sync += store_reading.eq(1)
        with m.If(store_busy & store_reading & dram.write_ready):
            m.d.sync += [store_reading.eq(0), store_row.eq(store_row + 1),
                         store_addr.eq(store_addr + store_args.stride)]
            with m.If(store_last):
                m.d.sync += store_busy.eq(0)
                m.d.comb += push["store_to_exec"].eq(store_push)

        # --- Completion, counters and status.
        exec_busy = (queues["exec"].r_rdy | ~unit.idle | exec_pushes.r_rdy |
                     softmax_pending | ~vector.idle)
        quiet = (~fetching & ~load_busy & ~dram.busy & ~exec_busy & ~store_busy &
                 ~queues["load"].r_rdy & ~queues["store"].r_rdy)
        with m.If(~self.start & running & quiet):
            m.d.sync += [running.eq(0), self.done.eq(1)]
        events = {
            "cycles": 1,
            "array_busy": unit.step,
            "useful_macs": unit.useful_macs,
            "drain_stalls": unit.drain_stall,
            "dma_busy": dram.busy,
            "bytes_read": Mux(dram.read_valid & dram.read_ready, dram.read_bytes, 0),
            "bytes_written": Mux(dram.write_valid & dram.write_ready, dram.write_bytes, 0),
            "exec_wait_load": queues["exec"].r_rdy & exec_head.deps.pop_prev &
                              (tokens["load_to_exec"] == 0),
            "exec_wait_store": queues["exec"].r_rdy & exec_head.deps.pop_next &
                               (tokens["store_to_exec"] == 0),
            "store_wait_exec": ~store_busy & queues["store"].r_rdy &
                               store_head.deps.pop_prev & (tokens["exec_to_store"] == 0),
            "load_wait_exec": ~load_busy & queues["load"].r_rdy &
                              load_head.deps.pop_next & (tokens["exec_to_load"] == 0),
            "vector_busy": ~vector.idle,
        }
        for index, name in enumerate(COUNTERS):
            counter = self.counters[index]
            with m.If(self.start):
                m.d.sync += counter.eq(0)
            with m.Elif(running):
                m.d.sync += counter.eq(counter + events[name])
        m.d.comb += [
            self.status_pc.eq(pc),
            self.status_units.fetching.eq(fetching),
            self.status_units.load_busy.eq(load_busy | queues["load"].r_rdy),
            self.status_units.exec_busy.eq(exec_busy),
            self.status_units.store_busy.eq(store_busy | queues["store"].r_rdy),
            self.status_units.load_queue.eq(queues["load"].level),
            self.status_units.exec_queue.eq(queues["exec"].level),
            self.status_units.store_queue.eq(queues["store"].level),
        ]
        return m
