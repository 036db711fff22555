"""Fused decode attention on the tile: scores, softmax and context without leaving the chip.

One *instance* is one (sequence, K/V head) pair: ``G`` query rows that share one key and
value matrix (``G = 1`` for MHA, the group size for GQA, every head for absorbed MLA),
attending over ``T`` cached tokens:

1. ``S^T = K @ Q^T`` on the systolic array: keys down the array rows (``M = T``),
   queries across its columns (``N = G``), the key dimension as the reduction. The scores
   stay in the accumulator, one row per key, one lane per query.
2. ``P^T = softmax(S^T)`` down the rows (:class:`~rooftile.hdl.isa.KeyAxis`
   ``ROWS``): the vector unit writes one scratchpad-B entry per key, one lane per query,
   which is the B operand of the next step as it stands.
3. ``O^T = V^T @ P^T``: value dimensions down the rows, queries across the columns, keys
   as the reduction; stored requantised (narrow) like any activation.

DRAM layout per instance (zero padded to whole blocks), in scratchpad entries packed
``PA`` (``PB``) to a word for the A (B) scratchpad
(:func:`~rooftile.sim.compile.packing.block_columns`), so that loads move whole words:

- ``K^T``, key block ``kb``: entry ``d`` is ``K[kb*R:(kb+1)*R, d]``, in word
  ``k_base + kb * ceil(dk / PA) + d // PA``;
- ``Q^T``, query block ``qb``: entry ``d`` is ``Q[qb*C:(qb+1)*C, d]``, in word
  ``q_base + qb * ceil(dk / PB) + d // PB``;
- ``V``, dimension block ``db``: entry ``t`` is ``V[t, db*R:(db+1)*R]``, in word
  ``v_base + db * ceil(T / PA) + t // PA``;
- ``O^T``, block ``(qb, db)``: word ``o_base + (qb * DB + db) * R + i`` holds
  ``O[qb*C:(qb+1)*C, db*R + i]``.

NB: the reduction of step 1 runs over key dimensions and that of step 3 over keys, and a
scratchpad entry is one reduction step, so keys are needed dimension-major and values
token-major. When the values are part of the keys (MLA's latent serves as both) the tile
still reads that part twice, once in each layout: an output-stationary array without a
transposing load path cannot share it. ``bytes_read`` shows the cost.

Weight-stationary tiles (``TileConfig.dataflow``) compute the same ``S^T``, ``P^T`` and
``O^T`` in the same accumulator rows and scratchpad-B entries, with the other operand
stationary: step 1 keeps ``rows`` key dimensions of ``Q^T`` in the array and streams
every key through it (accumulating over the dimension blocks), step 3 keeps ``rows``
keys of ``P^T`` and streams every value dimension. So the softmax and the stores are the
dataflows' own, and only K and V are laid out the other way round:

- ``K``, dimension block ``db``: entry ``t`` is ``K[t, db*R:(db+1)*R]``, in word
  ``k_base + db * ceil(T / PA) + t // PA``;
- ``V``, key block ``kb``: entry ``d`` is ``V[kb*R:(kb+1)*R, d]``, in word
  ``v_base + kb * ceil(dv / PA) + d // PA``.

The scores of a query block over the whole context must fit the accumulator (``T`` rows):
the softmax is exact over the full row, not an online (flash) softmax, so ``T`` is what
a scaled study shrinks. When not every query block fits at once, the program makes
several passes over K and V, each with as many query blocks as fit.
"""

import dataclasses
import math

import numpy as np

from ...hdl.isa import assemble
from ...hdl.fixed_point import softmax_scale
from ..model import golden
from ..model.tile_model import predict_program
from ..run.pipeline import random_operands
from .gemm import tile_job
from .packing import block_columns, operand, sizes, unpack_lanes

__all__ = ["AttentionShape", "AttentionProgram", "compile_attention"]


def _ceil_div(a, b):
    return -(-a // b)


@dataclasses.dataclass(frozen=True)
class AttentionShape:
    """One attention op as simulated.

    Members
    -------
    instances : int
        Independent (sequence, K/V head) pairs, each with its own K and V.
    queries : int
        ``G``: query rows sharing one K and V.
    context : int
        ``T``: cached tokens attended to.
    key_dim, value_dim : int
        ``dk`` and ``dv``.
    shared_values : bool
        The values are the first ``dv`` key dimensions (absorbed MLA's latent).
    """
    instances: int
    queries: int
    context: int
    key_dim: int
    value_dim: int
    shared_values: bool = False

    def __post_init__(self):
        sizes(**{name: getattr(self, name) for name in
                 ("instances", "queries", "context", "key_dim", "value_dim")})
        if self.shared_values and self.value_dim > self.key_dim:
            raise ValueError(f"shared values need value_dim <= key_dim, got "
                             f"{self.value_dim} > {self.key_dim}")

    @property
    def flop(self):
        """Score and context GEMMs, 2 per MAC (the softmax is not counted)."""
        return 2 * self.instances * self.queries * self.context * (self.key_dim
                                                                   + self.value_dim)

    def __str__(self):
        shared = " V=K[:, :dv]" if self.shared_values else ""
        return (f"{self.instances}x(G={self.queries} T={self.context} dk={self.key_dim} "
                f"dv={self.value_dim}{shared})")


@dataclasses.dataclass
class AttentionProgram:
    """A compiled attention op: instructions, DRAM layout and softmax parameters."""
    shape: AttentionShape
    instructions: list
    commands: list      # (opcode, deps, args), for the model and inspection
    bases: list         # per instance: dict of k, q, v, o word addresses
    words: int
    scale: int
    shift: int
    out_shift: int
    passes: int         # per instance: K and V are read once per pass
    top = "tile"
    #: The operand a layer's previous op produces (Q; K and V are the cache).
    activation_target = "B"

    def job(self, config, q, k, v):
        s = self.shape
        q = operand(config, "q", q, (s.instances, s.queries, s.key_dim))
        k = operand(config, "k", k, (s.instances, s.context, s.key_dim))
        v = operand(config, "v", v, (s.instances, s.context, s.value_dim))
        return tile_job(config, self, self.dram_image(config, q, k, v))

    def predict(self, config):
        return predict_program(config, self.commands)

    def dram_image(self, config, q, k, v):
        """``(addr, word)`` pairs for every instance's Q, K and V (``[I, G, dk]``,
        ``[I, T, dk]``, ``[I, T, dv]``)."""
        r, c, dw = config.rows, config.cols, config.data_width
        pa, pb = config.entries_per_word(r), config.entries_per_word(c)
        ws = config.dataflow == "weight_stationary"
        image = []
        for i, base in enumerate(self.bases):
            k_i, v_i = np.asarray(k[i]), np.asarray(v[i])
            # K: dimension-major (OS) or key rows per dimension block (WS).
            image += block_columns(k_i.T if ws else k_i, r, dw, base["k"], pa)
            image += block_columns(q[i], c, dw, base["q"], pb)    # Q^T
            # V: token-major (OS) or dimensions per token block (WS).
            image += block_columns(v_i if ws else v_i.T, r, dw, base["v"], pa)
        return image

    def read_ranges(self, config):
        blocks = _ceil_div(self.shape.queries, config.cols) * _ceil_div(self.shape.value_dim,
                                                                        config.rows)
        return [(base["o"], blocks * config.rows) for base in self.bases]

    def exchange_ranges(self, config):
        """``(first word, words)`` of what a chip's attention unit exchanges with the tile
        (the queries it reads, the outputs it writes); the rest is the KV cache."""
        return ([(base["q"], base["v"] - base["q"]) for base in self.bases]
                + self.read_ranges(config))

    def output(self, config, result):
        """``O`` of every instance, ``[I, G, dv]``, from the words of :meth:`read_ranges`."""
        reads = result["read"]
        s, r, c = self.shape, config.rows, config.cols
        dbs = _ceil_div(s.value_dim, r)
        out = np.zeros((s.instances, _ceil_div(s.queries, c) * c, dbs * r), dtype=np.int64)
        for i, words in enumerate(reads):
            for index, word in enumerate(words):
                block, row = divmod(index, r)
                qb, db = divmod(block, dbs)
                out[i, qb * c:(qb + 1) * c, db * r + row] = unpack_lanes(word, c,
                                                                         config.data_width)
        return out[:, :s.queries, :s.value_dim]

    def expected(self, config, q, k, v):
        """The golden ``O``: integer scores, the fixed-point softmax, integer context,
        the narrow store's requantisation."""
        scores = golden.matmul(np.asarray(q), np.swapaxes(np.asarray(k), 1, 2),
                               config.acc_width)
        p = golden.softmax_fixed(scores, self.scale, self.shift, config.data_width)
        context = golden.matmul(p, np.asarray(v), config.acc_width)
        return golden.requantize(context, self.out_shift, config.data_width)

    def random_operands(self, config, rng):
        """Uniform random ``q, k, v`` over the operand range (``v`` is part of ``k`` when
        the values are shared)."""
        s = self.shape
        q, k = random_operands(config, rng, (s.instances, s.queries, s.key_dim),
                               (s.instances, s.context, s.key_dim))
        if s.shared_values:
            return q, k, k[:, :, :s.value_dim]
        (v,) = random_operands(config, rng, (s.instances, s.context, s.value_dim))
        return q, k, v


def default_multiplier(config, key_dim):
    """A score multiplier that gives uniform random operands logits of standard
    deviation about 2, so the softmax is neither flat nor one-hot."""
    # Variance of a uniform integer on [-2**(w-1), 2**(w-1)): (4**w - 1) / 12.
    variance = ((1 << (2 * config.data_width)) - 1) / 12
    return 2.0 / (variance * math.sqrt(key_dim))


def compile_attention(config, shape, *, multiplier=None):
    """Compile fused decode attention for ``shape`` on ``config``.

    ``multiplier`` is the real value of one score unit (dequantisation scales times
    ``1/sqrt(dk)``); the default suits uniform random operands.

    Raises
    ------
    ValueError
        A shape whose scores, scratchpad regions, program or data do not fit the tile;
        the message names the limit and the TileConfig field to raise.
    """
    s, r, c = shape, config.rows, config.cols
    ws = config.dataflow == "weight_stationary"
    multiplier = default_multiplier(config, s.key_dim) if multiplier is None else multiplier
    scale, shift = softmax_scale(multiplier)
    # P sums to about 2**(w-1) - 1 along the keys: shifting by w - 1 keeps O in range.
    out_shift = config.data_width - 1
    kbs, qbs, dbs = _ceil_div(s.context, r), _ceil_div(s.queries, c), _ceil_div(s.value_dim, r)
    if max(s.key_dim, s.context) > config.max_reduction:
        raise ValueError(f"key_dim={s.key_dim} and context={s.context} must not exceed "
                         f"max_reduction={config.max_reduction}")
    # Loads fill whole words from word-aligned entries: Q^T blocks take ceil(dk / PB)
    # words and dq entries; see _layout for K and V.
    pa, pb = config.entries_per_word(r), config.entries_per_word(c)
    words_q = _ceil_div(s.key_dim, pb)
    dq = words_q * pb
    layout = _layout(config, s)
    # Scratchpad A: two slots, for K blocks and V blocks.
    slot = _ceil_div(layout["slot"], pa) * pa
    if 2 * slot > config.sp_depth:
        raise ValueError(f"{shape} needs {2 * slot} entries for two K/V slots of "
                         f"{layout['slot_is']} entries, sp_depth is {config.sp_depth}; "
                         f"raise sp_depth or shrink the context")
    # A pass takes `chunk` query blocks: scratchpad B holds their Q^T (dk entries each)
    # then P^T (T each) for two passes; the accumulator their S^T (kbs * R rows each)
    # and O^T (dbs * R each) for two passes. The most that fit: K and V are read once
    # per pass.
    per_block_sp, per_block_acc = dq + s.context, (kbs + 2 * dbs) * r
    chunk = min(qbs, config.sp_depth // 2 // pb * pb // per_block_sp,
                config.acc_depth // per_block_acc)
    if chunk < 1:
        raise ValueError(f"{shape} needs {2 * per_block_sp} scratchpad entries (sp_depth is "
                         f"{config.sp_depth}) and {per_block_acc} accumulator rows "
                         f"(acc_depth is {config.acc_depth}) for every score of one query "
                         f"block and two output regions; raise them or shrink the context")
    q_region, p_offset = _ceil_div(chunk * per_block_sp, pb) * pb, chunk * dq
    s_rows, o_rows = chunk * kbs * r, chunk * dbs * r

    per_instance = layout["k_words"] + qbs * words_q + layout["v_words"] + qbs * dbs * r
    words = s.instances * per_instance
    if words > config.dram_depth:
        raise ValueError(f"{shape} needs {words} DRAM words, dram_depth is "
                         f"{config.dram_depth}")
    bases = []
    for i in range(s.instances):
        k_base = i * per_instance
        q_base = k_base + layout["k_words"]
        v_base = q_base + qbs * words_q
        bases.append({"k": k_base, "q": q_base, "v": v_base, "o": v_base + layout["v_words"]})

    commands = []
    use = 0   # scratchpad-A slot uses so far: use u fills slot u % 2

    def stream_slot(loads, execs):
        """One use of a scratchpad-A slot: its loads, then the blocks that read it."""
        nonlocal use
        if use >= 2:
            loads[-1][1].add("pop_next")    # the slot was freed by use - 2
        loads[-1][1].add("push_next")
        execs[0][1].add("pop_prev")
        execs[-1][1].add("push_prev")
        commands.extend(loads + execs)
        use += 1

    passes = [(base, first) for base in bases for first in range(0, qbs, chunk)]
    scores, context = (_scores_ws, _context_ws) if ws else (_scores_os, _context_os)
    for step, (base, first) in enumerate(passes):
        q_sp = (step % 2) * q_region
        p_sp = q_sp + p_offset
        o_acc = s_rows + (step % 2) * o_rows
        blocks = range(first, min(first + chunk, qbs))   # this pass's query blocks

        # 1. Scores S^T into rows ((qb - first) * kbs + kb) * R + i, the Q^T of the
        # pass's blocks loaded with the first slot (one load each, each starts a word).
        q_loads = [("LOAD", set(), {
            "target": "B", "dram_addr": base["q"] + qb * words_q, "stride": 1,
            "sp_addr": q_sp + (qb - first) * dq, "rows": s.key_dim,
            "elems": min(c, s.queries - qb * c)}) for qb in blocks]
        for index, (loads, execs) in enumerate(scores(
                config, s, layout, base, blocks, first, lambda: (use % 2) * slot,
                lambda qb: q_sp + (qb - first) * dq)):
            stream_slot((q_loads if index == 0 else []) + loads, execs)

        # 2. Softmax down each query block's T score rows into P^T.
        commands.append(("SOFTMAX", set(), {
            "axis": "ROWS", "src": 0, "segments": s.context, "count": len(blocks),
            "row_step": kbs * r, "seg_step": 1, "pad": 0, "dst": p_sp,
            "scale": scale, "shift": shift}))

        # 3. Context O^T into rows o_acc + ((qb - first) * dbs + db) * R + i.
        # (Slots are taken as each use is generated, after the one before went in.)
        last_use = (kbs if ws else dbs) - 1
        for index, (loads, execs) in enumerate(context(
                config, s, layout, base, blocks, first, lambda: (use % 2) * slot,
                lambda qb: p_sp + (qb - first) * s.context,
                lambda qb: o_acc + (qb - first) * dbs * r)):
            if index == 0 and step >= 2:
                execs[0][1].add("pop_next")   # output region drained by pass step - 2
            if index == last_use:
                execs[-1][1].add("push_next")  # outputs written
            stream_slot(loads, execs)

        stores = [("STORE", set(), {
            "acc_addr": o_acc + ((qb - first) * dbs + db) * r,
            "dram_addr": base["o"] + (qb * dbs + db) * r, "stride": 1,
            "rows": min(r, s.value_dim - db * r), "elems": min(c, s.queries - qb * c),
            "narrow": 1, "shift": out_shift})
            for qb in blocks for db in range(dbs)]
        stores[0][1].add("pop_prev")
        stores[-1][1].add("push_prev")
        commands.extend(stores)

    commands, instructions = assemble(config, commands, what=str(shape))
    return AttentionProgram(shape, instructions, commands, bases, words, scale, shift,
                            out_shift, _ceil_div(qbs, chunk))


def _layout(config, s):
    """Where K and V lie in DRAM for ``config.dataflow`` (see the module notes): words
    per instance, words per block, and the entries one scratchpad-A slot holds."""
    r, pa = config.rows, config.entries_per_word(config.rows)
    kbs, dbs, dkbs = (_ceil_div(s.context, r), _ceil_div(s.value_dim, r),
                      _ceil_div(s.key_dim, r))
    if config.dataflow == "weight_stationary":
        # K by key rows per dimension block, V by dimension per token block.
        per_k, per_v = _ceil_div(s.context, pa), _ceil_div(s.value_dim, pa)
        return {"k_block": per_k, "k_words": dkbs * per_k, "v_block": per_v,
                "v_words": kbs * per_v, "slot": max(s.context, s.value_dim),
                "slot_is": "max(context, value_dim)"}
    per_k, per_v = _ceil_div(s.key_dim, pa), _ceil_div(s.context, pa)
    return {"k_block": per_k, "k_words": kbs * per_k, "v_block": per_v,
            "v_words": dbs * per_v, "slot": max(s.key_dim, s.context),
            "slot_is": "max(key_dim, context)"}


def _scores_os(config, s, layout, base, blocks, first, slot_sp, q_sp):
    """Output-stationary scores: per key block, its K^T (dk entries) against every
    query block's Q^T, one ``rows``-key output block each. Yields (loads, execs)."""
    r, c = config.rows, config.cols
    kbs = _ceil_div(s.context, r)
    for kb in range(kbs):
        keys = min(r, s.context - kb * r)
        sp = slot_sp()
        yield ([("LOAD", set(), {
            "target": "A", "dram_addr": base["k"] + kb * layout["k_block"], "stride": 1,
            "sp_addr": sp, "rows": s.key_dim, "elems": keys})],
            [("EXEC", set(), {
                "a_addr": sp, "b_addr": q_sp(qb), "steps": s.key_dim,
                "acc_addr": ((qb - first) * kbs + kb) * r, "accumulate": 0,
                "rows_used": keys, "cols_used": min(c, s.queries - qb * c)})
             for qb in blocks])


def _scores_ws(config, s, layout, base, blocks, first, slot_sp, q_sp):
    """Weight-stationary scores: per block of ``rows`` key dimensions, every key's
    (T entries) streams through each query block's Q^T rows, accumulating over the
    dimension blocks into one row per key. Yields (loads, execs)."""
    r, c = config.rows, config.cols
    kbs = _ceil_div(s.context, r)
    for db in range(_ceil_div(s.key_dim, r)):
        dims = min(r, s.key_dim - db * r)
        sp = slot_sp()
        yield ([("LOAD", set(), {
            "target": "A", "dram_addr": base["k"] + db * layout["k_block"], "stride": 1,
            "sp_addr": sp, "rows": s.context, "elems": dims})],
            [("EXEC", set(), {
                "a_addr": sp, "b_addr": q_sp(qb) + db * r, "steps": s.context,
                "acc_addr": (qb - first) * kbs * r, "accumulate": int(db > 0),
                "rows_used": dims, "cols_used": min(c, s.queries - qb * c)})
             for qb in blocks])


def _context_os(config, s, layout, base, blocks, first, slot_sp, p_sp, o_sp):
    """Output-stationary context: per block of ``rows`` value dimensions, its V (T
    entries) against every query block's P^T. Yields (loads, execs)."""
    r, c = config.rows, config.cols
    for db in range(_ceil_div(s.value_dim, r)):
        dims = min(r, s.value_dim - db * r)
        sp = slot_sp()
        yield ([("LOAD", set(), {
            "target": "A", "dram_addr": base["v"] + db * layout["v_block"], "stride": 1,
            "sp_addr": sp, "rows": s.context, "elems": dims})],
            [("EXEC", set(), {
                "a_addr": sp, "b_addr": p_sp(qb), "steps": s.context,
                "acc_addr": o_sp(qb) + db * r, "accumulate": 0, "rows_used": dims,
                "cols_used": min(c, s.queries - qb * c)}) for qb in blocks])


def _context_ws(config, s, layout, base, blocks, first, slot_sp, p_sp, o_sp):
    """Weight-stationary context: per block of ``rows`` keys, every value dimension's
    (dv entries) streams through each query block's P^T rows, accumulating over the
    key blocks into one row per dimension. Yields (loads, execs)."""
    r, c = config.rows, config.cols
    for tb in range(_ceil_div(s.context, r)):
        keys = min(r, s.context - tb * r)
        sp = slot_sp()
        yield ([("LOAD", set(), {
            "target": "A", "dram_addr": base["v"] + tb * layout["v_block"], "stride": 1,
            "sp_addr": sp, "rows": s.value_dim, "elems": keys})],
            [("EXEC", set(), {
                "a_addr": sp, "b_addr": p_sp(qb) + tb * r, "steps": s.value_dim,
                "acc_addr": o_sp(qb), "accumulate": int(tb > 0), "rows_used": keys,
                "cols_used": min(c, s.queries - qb * c)}) for qb in blocks])
