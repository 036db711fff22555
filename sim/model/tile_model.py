"""Analytical cycle model of the tile running a program.

It replays a program through the same three in-order units and four token counters as
the RTL, with each instruction's duration taken from the hardware's structure:

- a LOAD issues one DRAM request per cycle at most, each a whole word of
  ``entries_per_word`` scratchpad entries (the last one fewer), and no faster than the
  bandwidth allows (``max(words, bytes / bytes_per_cycle)`` cycles); its data lands
  ``dram_latency`` cycles after its last request;
- an EXEC streams one step per cycle, timed by :func:`block_timing` for the tile's
  dataflow (output-stationary: its last step waits for ``drain_interval`` after the
  previous block's, its results are written ``2 * rows + cols`` cycles after it;
  weight-stationary: its weights load under the previous block's steps, its results
  are written ``rows + cols + 1`` cycles after its last step);
- a STORE takes two cycles per row (accumulator read, DRAM write), or longer when
  bandwidth-bound; the program is done a cycle after its last write;
- a SOFTMAX (execute unit) starts once every earlier block is written and takes
  :func:`~rooftile.hdl.vector_unit.command_cycles`; the next EXEC starts after its
  last write.

The DRAM channel (:class:`_Channel`) is followed request by request, as the RTL's
token bucket and arbitration run it: a store's writes win over reads and block them
while they wait for credit, and reads go in the cycles between writes. A transfer
that begins while another runs re-times the other's end; the units it unblocks have
not been timed yet, since nothing can take a token before its push. What it ignores
(NB): queue-full stalls of instruction fetch (``TileConfig.queue_depth`` holds a
whole panel of the GEMM compiler's instructions). On the seeded fuzz and the default
study's programs it is exact to the cycle or within a few cycles.
The tests bound its error against the RTL.
"""

import dataclasses

from ...hdl.dram import credit_cap
from ...hdl.isa import Opcode
from ...hdl.tokens import CROSSING_CYCLES
from ...hdl.vector_unit import DONE_LATENCY as SOFTMAX_DONE_LATENCY
from ...hdl.vector_unit import command_cycles

__all__ = ["Prediction", "ChipPrediction", "block_timing", "predict_program", "predict_chip",
           "cycle_bound"]

#: Cycles from start until instruction ``i`` can be taken by its unit: fetch reads the
#: program memory, dispatches into a buffered queue, and the unit sees it one cycle on.
FETCH_LATENCY = 4
#: Cycles after the last busy cycle of any unit or the DRAM (a program's last STORE
#: write) until ``done`` is set and the cycle counter stops.
DONE_LATENCY = 1


@dataclasses.dataclass
class Prediction:
    """What the model expects the tile's counters to read."""
    cycles: int
    array_busy: int
    bytes_read: int
    bytes_written: int
    vector_busy: int
    #: Cycles at which the STOREs with the ``peer`` flag let the other engine of a chip go.
    peer_out: tuple = ()


class _Transfer:
    """One LOAD's requests or one STORE's writes on the DRAM channel: the cost of each
    (in ``1 / denominator`` bytes), the next one's index, the first cycle it may be
    valid, and the cycle the last accepted one went."""

    def __init__(self, start, costs, spacing):
        self.costs = costs
        self.index = 0
        self.next = start
        self.spacing = spacing  # cycles from one accepted request to the next valid one
        self.last = None

    @property
    def pending(self):
        return self.index < len(self.costs)


class _Channel:
    """The DRAM's token bucket and arbitration, as the RTL (:class:`~rooftile.hdl.dram.Dram`)
    runs them, from one accepted request to the next.

    The credit grows by the rate's numerator each cycle up to
    :func:`~rooftile.hdl.dram.credit_cap`; a request goes when the credit covers its
    cost. A LOAD asks for a word every cycle from its first; a STORE's write is valid
    every other cycle (each row is read from the accumulator first) and, while valid,
    wins over reads and blocks them even when it waits for credit. So a store does
    not simply delay the loads behind it: reads go in the cycles between its writes
    and take credit the writes then wait for.
    """

    def __init__(self, config):
        rate = config.dram_bytes_per_cycle
        self.num, self.den = rate.numerator, rate.denominator
        self.cap = credit_cap(config)
        self.time = 0           # the next cycle not yet decided
        self.credit = self.cap  # the bucket at the start of cycle `time`
        self.load = self.store = None

    def begin_load(self, start, words, word_bytes, last_bytes):
        self.load = _Transfer(start, [word_bytes * self.den] * (words - 1)
                              + [last_bytes * self.den], 1)

    def begin_store(self, start, rows, row_bytes):
        # Cycle `start` reads the first row; its write is valid from the next.
        self.store = _Transfer(start + 1, [row_bytes * self.den] * rows, 2)

    def _ready(self, transfer):
        """The earliest cycle ``transfer``'s next request is valid and covered."""
        at = max(self.time, transfer.next)
        credit = min(self.cap, self.credit + self.num * (at - self.time))
        cost = transfer.costs[transfer.index]
        return at if credit >= cost else at - (credit - cost) // self.num

    def _next(self):
        """The transfer whose request the DRAM accepts next, and the cycle; None if idle."""
        load = self.load if self.load and self.load.pending else None
        store = self.store if self.store and self.store.pending else None
        if load is None and store is None:
            return None
        if load is not None:
            at = self._ready(load)
            # A read goes only in a cycle with no write valid.
            if store is None or at < max(self.time, store.next):
                return load, at
        return store, self._ready(store)

    def _accept(self, transfer, at):
        credit = min(self.cap, self.credit + self.num * (at - self.time))
        self.credit = min(self.cap, credit - transfer.costs[transfer.index] + self.num)
        self.time = at + 1
        transfer.index += 1
        transfer.next = at + transfer.spacing
        transfer.last = at

    def _load_alone(self):
        """The rest of a load with no store in progress, in closed form: its last
        request's cycle and the credit after it. Requests go one per cycle at most,
        each once the credit since ``time`` covers its cost and those before it; the
        cap never binds while a request waits (a request costs at most a word)."""
        load = self.load
        costs = load.costs[load.index:]
        first = max(self.time, load.next)
        credit = min(self.cap, self.credit + self.num * (first - self.time))

        def covered(need):   # cycles after `first` until the credit reaches `need`
            return max(0, -((credit - need) // self.num))

        last = max(len(costs) - 1, covered(sum(costs)))
        if len(costs) > 1:   # a short last word still waits for the full ones before it
            last = max(last, covered(sum(costs) - costs[-1]) + 1)
        return first + last, min(self.cap, credit + self.num * (last + 1) - sum(costs))

    def _step(self, until=None):
        """Accept the next request (all of a load running alone) if it goes before
        ``until``; return whether one did."""
        store_pending = self.store is not None and self.store.pending
        if self.load is not None and self.load.pending and not store_pending:
            last, credit = self._load_alone()
            if until is not None and last >= until:
                return False
            self.load.index, self.load.next, self.load.last = len(self.load.costs), last + 1, last
            self.time, self.credit = last + 1, credit
            return True
        step = self._next()
        if step is None or (until is not None and step[1] >= until):
            return False
        self._accept(*step)
        return True

    def advance(self, until):
        """Decide every request accepted before cycle ``until``: later transfers start
        no earlier, so these are final."""
        while self._step(until):
            pass
        if until > self.time and not (self.load is not None and self.load.pending):
            self.credit = min(self.cap, self.credit + self.num * (until - self.time))
            self.time = until

    def finish(self):
        """The cycles of the last accepted request of the load and of the store in
        progress (None when there is none) if nothing else begins."""
        saved = (self.time, self.credit, [(t, t.index, t.next, t.last)
                                          for t in (self.load, self.store) if t])
        while self._step():
            pass
        ends = tuple(t.last if t else None for t in (self.load, self.store))
        self.time, self.credit, states = saved
        for transfer, index, next_, last in states:
            transfer.index, transfer.next, transfer.last = index, next_, last
        return ends


def block_timing(config, take, steps, last_step):
    """When one EXEC block runs on the matrix unit of ``config.dataflow``, as
    ``(last, free, written, busy)``: the cycle of its last step, the cycle the unit
    takes the next block, the cycle its last result row is written to the accumulator,
    and the busy array cycles it adds (its steps; weight-stationary: also its weight
    load's cycles that no earlier block's steps hide).

    ``take`` is the cycle the unit takes the block, ``last_step`` the previous block's
    last step (None for the first).

    - output-stationary: steps follow at once, the last one at least
      ``drain_interval`` after the previous block's; results cross the array
      (``2 * rows + cols``: skew, up the column at one row per two cycles, de-skew);
      the next block is taken with the last step;
    - weight-stationary: ``rows`` cycles of weight loading, which overlap the previous
      block's steps, then the steps; the next block is taken (and its weights load)
      as this one's first step goes; a row's result is written ``rows + cols + 1``
      cycles after its step (:attr:`~rooftile.hdl.matrix_unit.WeightStationaryUnit.result_latency`
      and the accumulator's read-modify-write).
    """
    if config.dataflow == "weight_stationary":
        start = take + config.rows
        if last_step is not None:
            start = max(start, last_step)
        last = start + steps
        busy = last - (take if last_step is None else max(take, last_step))
        return last, start, last + config.rows + config.cols + 1, busy
    last = take + steps
    if last_step is not None:
        last = max(last, last_step + config.drain_interval)
    return last, last, last + 2 * config.rows + config.cols, steps


def predict_program(config, commands, peer_in=()):
    """Predict the counters of ``commands`` (``(opcode, deps, args)`` triples, as kept in
    :class:`~rooftile.sim.compile.gemm.GemmProgram`); ``peer_in`` are the cycles at
    which the other engine of a chip lets this one's LOADs with the ``peer`` flag go,
    in order (:func:`predict_chip`)."""
    units = {Opcode.LOAD: [], Opcode.EXEC: [], Opcode.STORE: []}
    for index, (opcode, deps, args) in enumerate(commands):
        opcode = Opcode[opcode] if isinstance(opcode, str) else opcode
        if opcode is Opcode.SOFTMAX:   # runs in the execute unit's queue
            units[Opcode.EXEC].append((index + FETCH_LATENCY, set(deps),
                                       {"softmax": args}))
        elif opcode in units:
            units[opcode].append((index + FETCH_LATENCY, set(deps), args))

    # Token -> times at which each push becomes visible (in push order).
    pushes = {name: [] for name in ("l2e", "e2l", "e2s", "s2e", "s2l", "peer_out")}
    pushes["peer_in"] = list(peer_in)
    popped = {name: 0 for name in pushes}
    # Which tokens a unit pops / pushes through its prev and next neighbours.
    links = {Opcode.LOAD: ("s2l", "e2l", None, "l2e"),
             Opcode.EXEC: ("l2e", "s2e", "e2l", "e2s"),
             Opcode.STORE: ("e2s", None, "s2e", "s2l")}
    position = {opcode: 0 for opcode in units}
    free = {opcode: 0 for opcode in units}
    dram = _Channel(config)
    last_step = None
    last_written = 0       # the latest block's last accumulator write
    # The LOAD and the STORE on the channel: the pushes each makes when it ends, as
    # (token, index) pairs, and the index of its end in `ends`.
    on_channel = {Opcode.LOAD: None, Opcode.STORE: None}
    ends = []              # the last event of every LOAD (data landed) and STORE
    finish = 0
    array_busy = bytes_read = bytes_written = vector_busy = 0

    def ready_time(opcode):
        """Earliest take time of the unit's next instruction, or None if it waits on a
        token not yet pushed."""
        available, deps, _ = units[opcode][position[opcode]]
        time = max(available, free[opcode])
        pop_prev, pop_next = links[opcode][0], links[opcode][1]
        for flag, token in (("pop_prev", pop_prev), ("pop_next", pop_next),
                            ("peer", "peer_in" if opcode is Opcode.LOAD else None)):
            if flag in deps and token is not None:
                if popped[token] >= len(pushes[token]):
                    return None
                time = max(time, pushes[token][popped[token]])
        return time

    def pending_pushes(deps, push_prev, push_next, peer=None):
        """Reserve the pushes of a transfer whose end is not timed yet."""
        reserved = []
        for flag, token in (("push_prev", push_prev), ("push_next", push_next),
                            ("peer", peer)):
            if flag in deps and token is not None:
                pushes[token].append(None)
                reserved.append((token, len(pushes[token]) - 1))
        return reserved

    def settle():
        """Time the ends of the LOAD and the STORE on the channel, as they are now
        that one of them began. The other's end may move: its push has not been
        popped yet, since its unit's consumer cannot take before the push."""
        last = dict(zip((Opcode.LOAD, Opcode.STORE), dram.finish()))
        for unit, state in on_channel.items():
            if state is None or last[unit] is None:
                continue
            # A load's data lands `dram_latency` cycles after its last request, the
            # DRAM busy until the cycle before; its token is seen the cycle after.
            (unit_pushes, end), latency = state, (config.dram_latency
                                                  if unit is Opcode.LOAD else 0)
            if ends[end] == last[unit] + max(0, latency - 1):
                continue
            free[unit] = last[unit] + 1
            ends[end] = last[unit] + max(0, latency - 1)
            for token, index in unit_pushes:
                assert popped[token] <= index, "a push was popped before its time"
                pushes[token][index] = last[unit] + latency + 1

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
        for flag, token in (("pop_prev", pop_prev), ("pop_next", pop_next),
                            ("peer", "peer_in" if opcode is Opcode.LOAD else None)):
            if flag in deps and token is not None:
                popped[token] += 1

        if opcode is Opcode.LOAD:
            row_bytes = args["elems"] * config.data_bytes
            target = getattr(args["target"], "name", args["target"])
            pack = config.entries_per_word(config.rows if target == "A" else config.cols)
            words = -(-args["rows"] // pack)
            dram.advance(take + 1)
            dram.begin_load(take + 1, words, pack * row_bytes,
                            (args["rows"] - (words - 1) * pack) * row_bytes)
            on_channel[opcode] = (pending_pushes(deps, push_prev, push_next), len(ends))
            ends.append(None)
            bytes_read += args["rows"] * row_bytes
            settle()
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
            last, free[opcode], written, busy = block_timing(config, take, steps,
                                                             last_step)
            last_step = last
            array_busy += busy
            last_written = max(last_written, written)
            if "push_prev" in deps:
                pushes[push_prev].append(last + 1)
            if "push_next" in deps:
                pushes[push_next].append(written + 1)
            finish = max(finish, written)
        else:
            row_bytes = args["elems"] * (config.data_bytes if args.get("narrow")
                                         else config.acc_bytes)
            dram.advance(take + 1)
            dram.begin_store(take + 1, args["rows"], row_bytes)
            on_channel[opcode] = (pending_pushes(deps, push_prev, push_next, "peer_out"), len(ends))
            ends.append(None)
            bytes_written += args["rows"] * row_bytes
            settle()
    finish = max([finish] + ends)
    return Prediction(cycles=int(round(finish)) + DONE_LATENCY, array_busy=array_busy,
                      bytes_read=bytes_read, bytes_written=bytes_written,
                      vector_busy=vector_busy, peer_out=tuple(pushes["peer_out"]))


@dataclasses.dataclass
class ChipPrediction:
    """What the model expects a chip's engines to count."""
    tile: Prediction
    unit: Prediction

    @property
    def cycles(self):
        return max(self.tile.cycles, self.unit.cycles)


def _crossed(pushes):
    """The cycles at which the other engine sees the peer tokens pushed at ``pushes``."""
    return [cycle + CROSSING_CYCLES for cycle in pushes]


def predict_chip(config, tile_commands, unit_commands):
    """Predict a chip's run (:class:`~rooftile.hdl.chip.Chip`): each engine through
    :func:`predict_program`, the cycles at which one engine's peer STOREs let the
    other's LOADs go handed back and forth until they settle (each round can only
    delay them, and the tokens form no cycle, so a few rounds do).

    NB: each engine's transfers are timed on its own token bucket: the unit's query
    and output transfers at its own rate rather than the shared channel's (and without
    the cycle its grant takes to reach it), and the tile's without the unit's traffic
    ahead of them on the shared channel.

    Raises
    ------
    ValueError
        The engines deadlock on each other's tokens.
    """
    unit_config = config.attention_unit_tile()

    def count(commands, opcode):
        return sum(1 for op, deps, _ in commands
                   if getattr(op, "name", op) == opcode and "peer" in deps)

    tile_waits, unit_waits = count(tile_commands, "LOAD"), count(unit_commands, "LOAD")
    tile_pushes, unit_pushes = count(tile_commands, "STORE"), count(unit_commands, "STORE")
    if (tile_pushes, unit_pushes) != (unit_waits, tile_waits):
        raise ValueError(f"the engines' peer tokens do not match: the tile pushes "
                         f"{tile_pushes} and the unit waits for {unit_waits}; the unit "
                         f"pushes {unit_pushes} and the tile waits for {tile_waits}")
    # Gauss-Seidel: each engine is predicted with the other's latest peer times, from
    # none waited for; a push precedes the waits that follow from it, so this settles in
    # as many rounds as the tokens cross the engines.
    # A token reaches the other engine CROSSING_CYCLES later than a tile's own.
    tile_in, unit_in = [0] * tile_waits, None
    for _ in range(2 * (tile_waits + unit_waits + 1)):
        tile = predict_program(config, tile_commands, tile_in)
        if _crossed(tile.peer_out) == unit_in:
            return ChipPrediction(tile, unit)
        unit_in = _crossed(tile.peer_out)
        unit = predict_program(unit_config, unit_commands, unit_in)
        if _crossed(unit.peer_out) == tile_in:
            return ChipPrediction(tile, unit)
        tile_in = _crossed(unit.peer_out)
    raise ValueError("the engines deadlock: their peer tokens never settle")


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
