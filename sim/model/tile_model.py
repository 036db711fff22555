"""Analytical cycle model of the tile running a program.

It replays a program through the same three in-order units and four token counters as
the RTL, with each instruction's duration taken from the hardware's structure:

- a LOAD issues one DRAM request per cycle at most, each a whole word of
  ``entries_per_word`` scratchpad entries (the last one fewer), and no faster than the
  bandwidth allows (``max(words, bytes / bytes_per_cycle)`` cycles); its data lands
  ``dram_latency`` cycles after its last request;
- an EXEC streams one reduction step per cycle; its last step waits for
  ``drain_interval`` after the previous block's; its results are written
  ``2 * rows + cols`` cycles after its last step (skew, drain up the column, de-skew);
- a STORE takes two cycles per row (accumulator read, DRAM write), or longer when
  bandwidth-bound;
- a SOFTMAX (execute unit) starts once every earlier block is written and takes
  :func:`~rooftile.hdl.vector_unit.command_cycles`; the next EXEC starts after its
  last write.

The DRAM serves loads first-come first-served and follows the token bucket's credit
from one transfer to the next; a store's writes take priority and delay the loads
behind them, including the load in progress. What it ignores (NB): a store's delay
to a load whose completion an execute already waited for, and queue-full stalls of
instruction fetch
(``TileConfig.queue_depth`` holds a whole panel of the GEMM compiler's instructions).
The tests bound its error against the RTL.
"""

import dataclasses
from fractions import Fraction

from ...hdl.dram import credit_cap
from ...hdl.isa import Opcode
from ...hdl.vector_unit import DONE_LATENCY as SOFTMAX_DONE_LATENCY
from ...hdl.vector_unit import command_cycles

__all__ = ["Prediction", "predict_program", "cycle_bound"]

#: Cycles from start until instruction ``i`` can be taken by its unit: fetch reads the
#: program memory, dispatches into a buffered queue, and the unit sees it one cycle on.
FETCH_LATENCY = 4
#: Cycles after the last event until ``done`` is set and the cycle counter stops.
DONE_LATENCY = 2


@dataclasses.dataclass
class Prediction:
    """What the model expects the tile's counters to read."""
    cycles: int
    array_busy: int
    bytes_read: int
    bytes_written: int
    vector_busy: int


class _Dram:
    """The DRAM's token bucket, followed transfer by transfer.

    A load of ``words`` requests of ``word_bytes`` (the last of ``last_bytes``) starting
    at cycle ``start`` with ``credit`` bytes in the bucket sends request ``i`` at the
    earliest cycle ``start + t`` after request ``i - 1`` with ``credit + rate * t`` at
    least the bytes of requests ``0..i``;
    idle time refills the bucket up to the RTL's cap (:func:`~rooftile.hdl.dram.credit_cap`,
    a word and a cycle's refill), which a stream of requests never reaches, so a
    bandwidth-bound transfer runs at exactly the configured rate.
    """

    def __init__(self, config):
        self.rate = config.dram_bytes_per_cycle
        self.cap = Fraction(credit_cap(config), self.rate.denominator)
        self.free = 0          # first cycle with no request pending
        self.credit = self.cap  # bytes in the bucket at cycle `free`

    def transfer(self, start, words, word_bytes, last_bytes):
        """Reserve the DRAM for a load; return the cycle of its last request."""
        start = max(start, self.free)
        credit = min(self.cap, self.credit + self.rate * (start - self.free))

        def waited(need):   # cycles until the bucket holds `need` bytes
            return -(-(need - credit) // self.rate) if need > credit else 0

        total = (words - 1) * word_bytes + last_bytes
        last = max(words - 1, waited(total))
        if words > 1:   # a short last word still waits for the full ones before it
            last = max(last, waited((words - 1) * word_bytes) + 1)
        self.free = start + last + 1
        self.credit = min(self.cap, credit + self.rate * (last + 1) - total)
        return start + last

    def write(self, start, rows, row_bytes):
        """A store: its writes win over reads, one every other cycle (each row is read
        from the accumulator first), so it does not wait for a load in progress; the
        slots it takes delay the loads behind it instead. Returns the last write."""
        if self.free <= start:
            self.credit = min(self.cap, self.credit + self.rate * (start - self.free))
        need = rows * row_bytes - self.credit
        by_bandwidth = -(-need // self.rate) if need > 0 else 0
        last = start + max(2 * rows - 1, by_bandwidth)
        held = max(rows, by_bandwidth)
        self.free = self.free + held if self.free > start else start + held
        self.credit = max(0, min(self.cap, self.credit + self.rate * held
                                 - rows * row_bytes))
        return last


def predict_program(config, commands):
    """Predict the counters of ``commands`` (``(opcode, deps, args)`` triples, as kept in
    :class:`~rooftile.sim.compile.gemm.GemmProgram`)."""
    units = {Opcode.LOAD: [], Opcode.EXEC: [], Opcode.STORE: []}
    for index, (opcode, deps, args) in enumerate(commands):
        opcode = Opcode[opcode] if isinstance(opcode, str) else opcode
        if opcode is Opcode.SOFTMAX:   # runs in the execute unit's queue
            units[Opcode.EXEC].append((index + FETCH_LATENCY, set(deps),
                                       {"softmax": args}))
        elif opcode in units:
            units[opcode].append((index + FETCH_LATENCY, set(deps), args))

    # Token -> times at which each push becomes visible (in push order).
    pushes = {name: [] for name in ("l2e", "e2l", "e2s", "s2e")}
    popped = {name: 0 for name in pushes}
    # Which tokens a unit pops / pushes through its prev and next neighbours.
    links = {Opcode.LOAD: (None, "e2l", None, "l2e"),
             Opcode.EXEC: ("l2e", "s2e", "e2l", "e2s"),
             Opcode.STORE: ("e2s", None, "s2e", None)}
    position = {opcode: 0 for opcode in units}
    free = {opcode: 0 for opcode in units}
    dram = _Dram(config)
    last_step = None
    last_written = 0       # the latest block's last accumulator write
    last_load_push = None  # (token, index) of the latest load's push, to stretch it
    finish = 0
    array_busy = bytes_read = bytes_written = vector_busy = 0

    def ready_time(opcode):
        """Earliest take time of the unit's next instruction, or None if it waits on a
        token not yet pushed."""
        available, deps, _ = units[opcode][position[opcode]]
        time = max(available, free[opcode])
        pop_prev, pop_next = links[opcode][0], links[opcode][1]
        for flag, token in (("pop_prev", pop_prev), ("pop_next", pop_next)):
            if flag in deps:
                if popped[token] >= len(pushes[token]):
                    return None
                time = max(time, pushes[token][popped[token]])
        return time

    while any(position[op] < len(units[op]) for op in units):
        candidates = {op: ready_time(op) for op in units if position[op] < len(units[op])}
        candidates = {op: t for op, t in candidates.items() if t is not None}
        if not candidates:
            raise ValueError("the program deadlocks: every unit waits on a token that is "
                             "never pushed")
        opcode = min(candidates, key=candidates.get)
        take = candidates[opcode]
        _, deps, args = units[opcode][position[opcode]]
        position[opcode] += 1
        pop_prev, pop_next, push_prev, push_next = links[opcode]
        for flag, token in (("pop_prev", pop_prev), ("pop_next", pop_next)):
            if flag in deps:
                popped[token] += 1

        if opcode is Opcode.LOAD:
            row_bytes = args["elems"] * config.data_bytes
            target = getattr(args["target"], "name", args["target"])
            pack = config.entries_per_word(config.rows if target == "A" else config.cols)
            words = -(-args["rows"] // pack)
            last_request = dram.transfer(take + 1, words, pack * row_bytes,
                                         (args["rows"] - (words - 1) * pack) * row_bytes)
            free[opcode] = last_request + 1
            landed = last_request + config.dram_latency
            last_load_push = None
            if "push_next" in deps:
                pushes[push_next].append(landed + 1)
                last_load_push = (push_next, len(pushes[push_next]) - 1)
            bytes_read += args["rows"] * row_bytes
            finish = max(finish, landed)
        elif opcode is Opcode.EXEC and "softmax" in args:
            softmax = args["softmax"]
            take = max(take, last_written + 1)
            busy = command_cycles(softmax["segments"], softmax["count"])
            done = take + busy + SOFTMAX_DONE_LATENCY - 1
            vector_busy += busy + SOFTMAX_DONE_LATENCY - 1
            free[opcode] = done + 1
            for flag, token in (("push_prev", push_prev), ("push_next", push_next)):
                if flag in deps:
                    pushes[token].append(done + 1)
            finish = max(finish, done)
        elif opcode is Opcode.EXEC:
            steps = args["steps"]
            last = take + steps
            if last_step is not None:
                last = max(last, last_step + config.drain_interval)
            last_step = last
            free[opcode] = last
            array_busy += steps
            written = last + 2 * config.rows + config.cols
            last_written = max(last_written, written)
            if "push_prev" in deps:
                pushes[push_prev].append(last + 1)
            if "push_next" in deps:
                pushes[push_next].append(written + 1)
            finish = max(finish, written)
        else:
            row_bytes = args["elems"] * (config.data_bytes if args.get("narrow")
                                         else config.acc_bytes)
            busy_until = dram.free
            last_write = dram.write(take + 1, args["rows"], row_bytes)
            free[opcode] = last_write + 1
            if busy_until > take + 1 and last_load_push is not None:
                # The writes interleave with the load in progress and delay its end.
                token, index = last_load_push
                if popped[token] <= index:
                    delay = dram.free - busy_until
                    pushes[token][index] += delay
                    free[Opcode.LOAD] = max(free[Opcode.LOAD], busy_until) + delay
                    finish = max(finish, pushes[token][index] - 1)
            if "push_prev" in deps:
                pushes[push_prev].append(last_write + 1)
            bytes_written += args["rows"] * row_bytes
            finish = max(finish, last_write)
    return Prediction(cycles=int(round(finish)) + DONE_LATENCY, array_busy=array_busy,
                      bytes_read=bytes_read, bytes_written=bytes_written,
                      vector_busy=vector_busy)


def cycle_bound(config, commands):
    """A generous cycle limit for a hang check: every instruction run alone, one after
    another (its bytes at the DRAM rate, its steps, a full latency and array pass),
    times two."""
    serial = 0
    for opcode, _, args in commands:
        opcode = Opcode[opcode] if isinstance(opcode, str) else opcode
        if opcode is Opcode.LOAD:
            serial += args["rows"] * (args["elems"] * config.data_bytes
                                      / float(config.dram_bytes_per_cycle) + 1)
        elif opcode is Opcode.STORE:
            serial += args["rows"] * (args["elems"] * config.acc_bytes
                                      / float(config.dram_bytes_per_cycle) + 2)
        elif opcode is Opcode.EXEC:
            serial += args["steps"]
        elif opcode is Opcode.SOFTMAX:
            serial += command_cycles(args["segments"], args["count"])
        serial += config.dram_latency + 2 * config.rows + config.cols + 8
    return int(2 * serial) + 1000
